using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Data.Selection;

namespace ToolTune.Data.Generation;

// The demo stream's requests (GenerateExtended): several phrasings per tool and value pools too wide to memorise, so a
// model trained on them has to read the tool list and copy values from the request instead of recalling one sentence
// per tool. Generate's fixed requests stay as they were (fixtures and the demo tokenizer's corpus depend on them).
public static partial class HermesGenerator
{
    private static readonly string[] Extensions = [".md", ".txt", ".csv", ".json", ".log"];

    private static string Email(SplitMix64 r, ValuePools p) => $"{Pick(r, p.FirstNames)}@{Pick(r, p.MailDomains)}";

    /// <summary>A file path such as <c>logs/plan.csv</c> (a quarter without a folder): 9 × 12 × 5 folders, stems and extensions.</summary>
    private static string FilePath(SplitMix64 r, ValuePools p)
    {
        var name = Pick(r, p.Stems) + Pick(r, Extensions);
        return r.NextInt(4) == 0 ? name : $"{Pick(r, p.Folders)}/{name}";
    }

    private static string Phrase(SplitMix64 r, params string[] forms) => forms[r.NextInt(forms.Length)];

    /// <summary>One of <paramref name="forms"/>, or with <see cref="ValuePools.ManyPhrasings"/> one of both lists.</summary>
    private static string Phrase(SplitMix64 r, ValuePools p, string[] forms, string[] moreForms) =>
        p.ManyPhrasings ? Phrase(r, [.. forms, .. moreForms]) : Phrase(r, forms);

    private static readonly string[] Openings = ["Hi! ", "Hey, ", "Quick one: ", "Hello. ", "One more thing: ", "Okay, "];
    private static readonly string[] Closings = [" Thanks!", " Thank you.", " Cheers.", " Much appreciated."];

    /// <summary>With <see cref="ValuePools.ManyPhrasings"/>, about half the requests get an opening, a closing or both.</summary>
    private static string Framed(SplitMix64 r, ValuePools p, string ask)
    {
        if (!p.ManyPhrasings) return ask;
        var k = r.NextInt(6);
        if (k is 0 or 1)
        {
            // "Hey, delete x", "Hello. Delete x"; a request that opens with a name or a path keeps its case.
            var opening = Pick(r, Openings);
            var word = ask.TakeWhile(c => c != ' ').ToArray();
            var lower = opening.EndsWith(", ", StringComparison.Ordinal) || opening.EndsWith(": ", StringComparison.Ordinal);
            ask = opening + (lower && word.Length > 1 && char.IsUpper(word[0]) && word.Skip(1).All(char.IsLower) ? char.ToLowerInvariant(ask[0]) + ask[1..] : ask);
        }
        if (k is 1 or 2) ask += Pick(r, Closings);
        return ask;
    }

    /// <summary>One to three settings (typed values) and how a user says them.</summary>
    private static (JsonObject Config, string Said) Settings(SplitMix64 r, ValuePools p)
    {
        (string Key, Func<(JsonNode Value, string Said)> Draw)[] all =
        [
            ("port", () => { var n = 3000 + 10 * r.NextInt(p.Ports); return (n, $"port {n}"); }),
            ("verbose", () => { var v = r.NextInt(2) == 0; return (v, $"verbose {(v ? "on" : "off")}"); }),
            ("debug", () => { var v = r.NextInt(2) == 0; return (v, $"debug {(v ? "enabled" : "disabled")}"); }),
            ("theme", () => { var t = Pick(r, p.Themes); return (t, $"the {t} theme"); }),
            ("timeout", () => { var t = 5 * (1 + p.Number(r, p.Timeouts)); return (t, $"a timeout of {t} seconds"); }),
            ("region", () => { var g = Pick(r, p.Regions); return (g, $"region {g}"); }),
            ("retries", () => { var n = 1 + p.Number(r, p.Retries); return (n, $"{n} retries"); }),
        ];
        if (p.ManyPhrasings) all = [.. all, MadeUpSetting(r, p), MadeUpSetting(r, p)];
        var count = 1 + r.NextInt(3);
        var chosen = new List<int>();
        while (chosen.Count < count)
        {
            var k = r.NextInt(all.Length);
            if (!chosen.Any(c => all[c].Key == all[k].Key)) chosen.Add(k);
        }
        var settings = new JsonObject();
        var said = new List<string>();
        foreach (var k in chosen)
        {
            var (value, text) = all[k].Draw();
            settings[all[k].Key] = value;
            said.Add(p.ManyPhrasings && r.NextInt(2) == 0 ? SaySetting(r, all[k].Key, value) : text);
        }
        var list = said.Count == 1 ? said[0] : string.Join(", ", said.Take(said.Count - 1)) + " and " + said[^1];
        return (settings, list);
    }

    /// <summary>A setting under a made-up key of one or two words ("kelimo", "tab limit" → <c>tab_limit</c>) with a number,
    /// a word or a switch: the base has to copy the key as well as the value.</summary>
    private static (string Key, Func<(JsonNode Value, string Said)> Draw) MadeUpSetting(SplitMix64 r, ValuePools p)
    {
        var words = r.NextInt(3) == 0 ? $"{Pick(r, p.Stems)} {Pick(r, p.Stems)}" : Pick(r, p.Stems);
        var key = words.Replace(' ', '_');
        return (key, r.NextInt(3) switch
        {
            0 => () => { var n = 1 + p.Number(r, 500); return (n, $"{words} {n}"); },
            1 => () => { var w = Pick(r, p.Colors); return (w, $"{words} {w}"); },
            _ => () => { var v = r.NextInt(2) == 0; return (v, $"{words} {(v ? "on" : "off")}"); },
        });
    }

    /// <summary>A setting said another way: "port set to 8080", "debug: true", "retries = 3".</summary>
    private static string SaySetting(SplitMix64 r, string key, JsonNode value)
    {
        var words = key.Replace('_', ' ');
        var v = value.GetValueKind() switch
        {
            JsonValueKind.True => Pick(r, new[] { "true", "on", "enabled" }),
            JsonValueKind.False => Pick(r, new[] { "false", "off", "disabled" }),
            _ => value.ToString(),
        };
        return Phrase(r, $"{words} set to {v}", $"{words}: {v}", $"{words} = {v}", $"{words} {v}", $"{v} for {words}");
    }

    private static string Clock(SplitMix64 r) => $"{8 + r.NextInt(11):D2}:{15 * r.NextInt(4):D2}";

    private static string Date(SplitMix64 r) => $"2025-{1 + r.NextInt(12):D2}-{1 + r.NextInt(28):D2}";

    private static (string Ask, JsonObject Args) WriteFileRequest(SplitMix64 r, ValuePools p)
    {
        var path = FilePath(r, p);
        var text = Pick(r, p.Texts);
        var ask = Phrase(r, p, [$"Put '{text}' into {path}.", $"Store the line '{text}' in the file {path}.", $"Write '{text}' to {path}.",
            $"Create {path} with the text '{text}'.", $"I need {path} to contain '{text}'.", $"Overwrite {path} with '{text}'."],
            [$"Save '{text}' to {path}.", $"Please write {path} with the content '{text}'.", $"Make a file {path} holding '{text}'.",
            $"Can you put the text '{text}' in {path}?", $"{path} should contain '{text}'.", $"Fill {path} with '{text}'.",
            $"Write a file named {path}: '{text}'.", $"Set the contents of {path} to '{text}'.", $"Type '{text}' into {path}.",
            $"New file {path}, content '{text}'.", $"The text for {path} is '{text}'. Save it.", $"Dump \"{text}\" into {path}.",
            $"Write \"{text}\" in a file called {path}.", $"Could you create {path}? It should read '{text}'."]);
        return (ask, new JsonObject { ["path"] = path, ["content"] = text });
    }

    private static (string Ask, JsonObject Args) SaveConfigRequest(SplitMix64 r, ValuePools p)
    {
        var name = Pick(r, p.ConfigNames);
        var (config, said) = Settings(r, p);
        var ask = Phrase(r, p, [$"Keep the settings for '{name}': {said}.", $"Save the {name} configuration with {said}.",
            $"Remember {said} as config '{name}'.", $"Update config {name} so it has {said}.", $"Store a '{name}' profile: {said}."],
            [$"Create a configuration '{name}': {said}.", $"Please store config {name} with {said}.", $"Config '{name}' should have {said}.",
            $"Set up a '{name}' config with {said}.", $"Write the {name} settings: {said}.", $"I want a config named '{name}' that has {said}.",
            $"Save my {name} preferences: {said}.", $"Make a settings profile '{name}' with {said}.", $"Put {said} into the '{name}' config.",
            $"The '{name}' config needs {said}. Save it.", $"Save {said} under the name '{name}'.", $"New config '{name}': {said}."]);
        return (ask, new JsonObject { ["name"] = name, ["config"] = config });
    }

    private static (string Ask, JsonObject Args) DeleteFileRequest(SplitMix64 r, ValuePools p)
    {
        var path = FilePath(r, p);
        var ask = Phrase(r, p, [$"Remove {path} from disk.", $"Please delete {path}.", $"Get rid of the file {path}.",
            $"Erase {path}, I no longer need it.", $"{path} can go: delete it."],
            [$"Delete {path}.", $"Remove the file {path}, please.", $"Could you delete {path} for me?", $"{path} is not needed anymore, remove it.",
            $"Trash {path}.", $"Wipe {path} from the disk.", $"Discard the file {path}.", $"Get {path} deleted.", $"I don't need {path}; delete it.",
            $"Clean up {path} by deleting it.", $"Drop the file {path}.", $"Can {path} be removed?"]);
        return (ask, new JsonObject { ["path"] = path });
    }

    private static (string Ask, JsonObject Args) SetTimerRequest(SplitMix64 r, ValuePools p)
    {
        var m = 1 + p.Number(r, p.Minutes);
        var what = p.ManyPhrasings ? Pick(r, p.Topics) : "";
        var ask = Phrase(r, p, [$"Start a {m} minute countdown.", $"Count down {m} minutes for me.", $"I need a {m}-minute timer.",
            $"Timer: {m} minutes, please.", $"Ring in {m} minutes.", $"Could you time {m} minutes?"],
            [$"Set a {m} minute timer.", $"A timer of {m} minutes, please.", $"Start a timer: {m} minutes.", $"Alert me in {m} minutes.",
            $"Wake me in {m} minutes.", $"Run a {m}-minute timer for the {what}.", $"I need {m} minutes on the clock.", $"Countdown of {m} minutes.",
            $"Let me know once {m} minutes have passed.", $"Time my {what}: {m} minutes.", $"{m} minutes on the timer, please.",
            $"Beep after {m} minutes."]);
        return (ask, new JsonObject { ["minutes"] = m });
    }

    private static (string Ask, JsonObject Args) CalendarRequest(SplitMix64 r, ValuePools p)
    {
        var who = Pick(r, p.Invitees);
        var title = $"{Pick(r, p.EventKinds)} with {who}";
        // Titles that name no one: "Budget review", "Tennis".
        if (p.ManyPhrasings && r.NextInt(3) == 0) title = ValuePools.Capitalize(Pick(r, p.Topics)) + (r.NextInt(2) == 0 ? " " + Pick(r, p.EventKinds).ToLowerInvariant() : "");
        var date = Date(r);
        var time = Clock(r);
        var ask = Phrase(r, p, [$"Add a {title.ToLowerInvariant()} on {date} at {time} to my schedule.", $"Schedule '{title}' for {date}, {time}.",
            $"Block {date} at {time} in my calendar: {title}.", $"Create an event '{title}' on {date} starting {time}.",
            $"Note a {title.ToLowerInvariant()} at {time} on {date}."],
            [$"Add '{title}' to my calendar: {date}, {time}.", $"New event: '{title}', {date} at {time}.", $"Book {time} on {date} for '{title}'.",
            $"Please add an appointment '{title}' on {date}, {time}.", $"Make a calendar event for {date} {time}: {title}.",
            $"Remember '{title}' on {date} at {time} in the calendar.", $"Set up '{title}' on {date} at {time}.",
            $"I have '{title}' on {date} at {time}; add it.", $"Calendar: {title}, {date}, {time}.", $"Pencil in '{title}' for {date} at {time}."]);
        return (ask, new JsonObject { ["title"] = title, ["date"] = date, ["time"] = time });
    }

    private static readonly Dictionary<string, Func<SplitMix64, ValuePools, (string Ask, JsonObject Args)>> VariedRequests = new()
    {
        ["write_file"] = WriteFileRequest,
        ["save_config"] = SaveConfigRequest,
        ["delete_file"] = DeleteFileRequest,
        ["set_timer"] = SetTimerRequest,
        ["create_calendar_event"] = CalendarRequest,
        ["get_current_weather"] = (r, p) =>
        {
            var city = Pick(r, p.Cities);
            var unit = r.NextInt(2) == 0 ? "celsius" : "fahrenheit";
            var ask = Phrase(r, $"What's the weather like in {city} right now? Please use {unit}.", $"How warm is it in {city}? Answer in {unit}.",
                $"Give me the current weather for {city} in {unit}.", $"Is it raining in {city}? Temperatures in {unit}, please.",
                $"{city} weather now, {unit}.");
            return (ask, new JsonObject { ["location"] = city, ["unit"] = unit });
        },
        ["get_stock_price"] = (r, p) =>
        {
            var s = Pick(r, p.Symbols);
            var ask = Phrase(r, $"How much is {s} trading at today?", $"What's the current price of {s}?", $"Quote me {s}.",
                $"Check the share price for {s}.", $"Where is {s} stock right now?");
            return (ask, new JsonObject { ["symbol"] = s });
        },
        ["set_smart_light_color"] = (r, p) =>
        {
            var room = Pick(r, p.Rooms);
            var b = Pick(r, new[] { "dim", "medium", "bright" });
            var c = Pick(r, p.Colors);
            var ask = Phrase(r, $"Make the {room} lights {b} and {c}, please.", $"Set the {room} lighting to {c}, {b}.",
                $"Turn the {room} lights {c} at {b} brightness.", $"I want {b} {c} light in the {room}.");
            return (ask, new JsonObject { ["room"] = room, ["brightness"] = b, ["color"] = c });
        },
        ["convert_currency"] = (r, p) =>
        {
            var amt = 1 + p.Number(r, p.Amount);
            var from = Pick(r, p.Currencies);
            var to = Pick(r, p.Currencies.Where(c => c != from).ToArray());
            var ask = Phrase(r, $"Convert {amt} {from} to {to}.", $"How many {to} do I get for {amt} {from}?", $"What is {amt} {from} in {to}?",
                $"Exchange {amt} {from} into {to} for me.");
            return (ask, new JsonObject { ["amount"] = amt, ["from_currency"] = from, ["to_currency"] = to });
        },
        ["search_news"] = (r, p) =>
        {
            var t = Pick(r, p.Topics);
            var n = 2 + r.NextInt(p.Articles);
            var ask = Phrase(r, $"Find me the {n} latest news articles about {t}.", $"Any news on {t}? Show {n} articles.",
                $"Search the news for {t}, {n} results.", $"Give me {n} recent headlines about {t}.");
            return (ask, new JsonObject { ["topic"] = t, ["limit"] = n });
        },
        ["translate_text"] = (r, p) =>
        {
            var text = Pick(r, p.Phrases);
            var l = Pick(r, p.Languages);
            var ask = Phrase(r, $"How do I say \"{text}\" in {l}?", $"Translate \"{text}\" into {l}.", $"What is \"{text}\" in {l}?",
                $"Please put \"{text}\" into {l}.");
            return (ask, new JsonObject { ["text"] = text, ["target_language"] = l });
        },
        ["book_restaurant"] = (r, p) =>
        {
            var rest = Pick(r, p.Restaurants);
            var t = $"{17 + r.NextInt(5)}:{15 * r.NextInt(4):D2}";
            var n = 1 + p.Number(r, p.Guests);
            var outdoor = r.NextInt(2) == 0;
            var ask = Phrase(r, $"Book a table for {n} at {rest} at {t}{(outdoor ? ", outside if possible" : "")}.",
                $"Reserve {rest} for {n} people at {t}{(outdoor ? " on the terrace" : "")}.",
                $"Get us a table at {rest}, {n} guests, {t}{(outdoor ? ", outdoors" : "")}.");
            return (ask, new JsonObject { ["restaurant"] = rest, ["time"] = t, ["party_size"] = n, ["outdoor"] = outdoor });
        },
        ["send_email"] = (r, p) =>
        {
            var to = Email(r, p);
            var topic = Pick(r, p.Topics);
            var ask = Phrase(r, $"Email {to} that the report on {topic} is ready.", $"Send {to} a note: the {topic} report is ready.",
                $"Let {to} know by email that the report on {topic} is done.");
            return (ask, new JsonObject { ["to"] = to, ["subject"] = $"Report on {topic}", ["body"] = $"Hi,\nthe report on {topic} is ready.\nBest" });
        },
    };

    private static readonly (string Ask, string Answer)[] MoreSmallTalk =
    [
        ("Good morning!", "Good morning! How can I help you today?"),
        ("Who are you?", "I am an assistant that can answer questions and use the tools listed above."),
        ("Never mind, thanks.", "No problem. I am here if you need anything."),
        ("What is 12 times 12?", "12 times 12 is 144."),
    ];

    private static (string Ask, string Answer) PickSmallTalk(SplitMix64 r, bool varied)
    {
        if (!varied) return SmallTalk[r.NextInt(SmallTalk.Length)];
        var k = r.NextInt(SmallTalk.Length + MoreSmallTalk.Length);
        return k < SmallTalk.Length ? SmallTalk[k] : MoreSmallTalk[k - SmallTalk.Length];
    }
}
