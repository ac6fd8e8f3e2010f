using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Data.Selection;
using ToolTune.Data.Shards;
using ToolTune.IO;

namespace ToolTune.Data.Generation;

/// <summary>
/// Deterministic generator of Hermes-Function-Calling-V1-style ShareGPT conversations (the exact system prompt,
/// <c>&lt;tools&gt;</c> block, <c>&lt;tool_call&gt;</c> / <c>&lt;tool_response&gt;</c> tags) and of general instruct records.
/// Same seed → same bytes. Used for the demo sample file, the embedded default and throughput/mix tests.
/// </summary>
public static partial class HermesGenerator
{
    /// <summary>Hermes V1's system prompt, verbatim, around the tools JSON.</summary>
    public const string SystemPrefix =
        "You are a function calling AI model. You are provided with function signatures within <tools> </tools> XML tags. " +
        "You may call one or more functions to assist with the user query. Don't make assumptions about what values to plug into functions.\n<tools>\n";

    public const string SystemSuffix =
        "\n</tools>\nFor each function call return a json object with function name and arguments within <tool_call> </tool_call> tags with the following schema:\n" +
        "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-dict>}\n</tool_call>\n";

    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    public static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private sealed record ToolDef(
        string Name,
        string Category,
        string Description,
        JsonObject Parameters,
        Func<SplitMix64, (string Ask, JsonObject Args)> Request,
        Func<JsonObject, SplitMix64, JsonObject> Result,
        Func<JsonObject, JsonObject, string> Answer)
    {
        /// <summary>The demo stream's request: many phrasings, values from <paramref name="pools"/> (<see cref="VariedRequests"/>).</summary>
        public (string Ask, JsonObject Args) VariedRequest(SplitMix64 r, ValuePools pools) => VariedRequests[Name](r, pools);
    }

    private static readonly string[] Cities = ["Paris", "Tokyo", "Zurich", "New York", "Nairobi", "São Paulo", "Oslo", "Mumbai", "Sydney", "Toronto", "Berlin", "Lima"];
    private static readonly string[] Symbols = ["TSLA", "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "SAP", "ASML"];
    private static readonly string[] Rooms = ["living room", "kitchen", "bedroom", "office", "hallway"];
    private static readonly string[] Colors = ["warm", "cool white", "blue", "amber", "green"];
    private static readonly string[] Currencies = ["USD", "EUR", "CHF", "JPY", "GBP", "INR"];
    private static readonly string[] Topics = ["renewable energy", "space exploration", "AI safety", "football", "climate policy", "chip manufacturing"];
    private static readonly string[] Languages = ["French", "German", "Japanese", "Spanish", "Swahili"];
    private static readonly string[] Phrases = ["Where is the train station?", "Thank you for your help.", "The meeting starts at nine.", "I would like a coffee, please."];
    private static readonly string[] Restaurants = ["Le Petit Bistro", "Sakura Sushi", "Trattoria Roma", "The Green Fork"];
    private static readonly string[] People = ["alice@example.com", "bob@example.org", "team@example.net"];

    private static T Pick<T>(SplitMix64 r, T[] a) => a[r.NextInt(a.Length)];

    private static JsonObject Schema(params (string Name, string Type, string Desc, string[]? Enum, bool Required)[] props)
    {
        var p = new JsonObject();
        var req = new JsonArray();
        foreach (var (name, type, desc, en, required) in props)
        {
            var o = new JsonObject { ["type"] = type, ["description"] = desc };
            if (en is not null) o["enum"] = new JsonArray(en.Select(e => (JsonNode)JsonValue.Create(e)!).ToArray());
            p[name] = o;
            if (required) req.Add(name);
        }
        return new JsonObject { ["type"] = "object", ["properties"] = p, ["required"] = req };
    }

    private static readonly ToolDef[] Catalog =
    [
        new("get_current_weather", "Weather", "Get the current weather for a city.",
            Schema(("location", "string", "City name", null, true), ("unit", "string", "Temperature unit", ["celsius", "fahrenheit"], true)),
            r =>
            {
                var city = Pick(r, Cities);
                var unit = r.NextInt(2) == 0 ? "celsius" : "fahrenheit";
                return ($"What's the weather like in {city} right now? Please use {unit}.", new JsonObject { ["location"] = city, ["unit"] = unit });
            },
            (a, r) => new JsonObject { ["temperature"] = 5 + r.NextInt(25), ["condition"] = Pick(r, new[] { "sunny", "cloudy", "light rain", "windy" }), ["humidity"] = 30 + r.NextInt(60) },
            (a, res) => $"It is currently {res["temperature"]} degrees {a["unit"]} and {res["condition"]} in {a["location"]}, with {res["humidity"]}% humidity."),
        new("get_stock_price", "Finance", "Get the latest stock price for a ticker symbol.",
            Schema(("symbol", "string", "Ticker symbol, e.g. AAPL", null, true)),
            r =>
            {
                var s = Pick(r, Symbols);
                return ($"How much is {s} trading at today?", new JsonObject { ["symbol"] = s });
            },
            (a, r) => new JsonObject { ["symbol"] = a["symbol"]!.DeepClone(), ["price"] = Math.Round(50 + r.NextDouble() * 900, 2), ["currency"] = "USD" },
            (a, res) => $"{a["symbol"]} is trading at {((double)res["price"]!).ToString("0.00", CultureInfo.InvariantCulture)} USD."),
        new("set_smart_light_color", "Smart home", "Set the colour and brightness of the lights in a room.",
            Schema(("room", "string", "Room name", null, true), ("brightness", "string", "Brightness level", ["dim", "medium", "bright"], true), ("color", "string", "Light colour", null, true)),
            r =>
            {
                var room = Pick(r, Rooms);
                var b = Pick(r, new[] { "dim", "medium", "bright" });
                var c = Pick(r, Colors);
                return ($"Make the {room} lights {b} and {c}, please.", new JsonObject { ["room"] = room, ["brightness"] = b, ["color"] = c });
            },
            (a, r) => new JsonObject { ["status"] = "ok", ["room"] = a["room"]!.DeepClone() },
            (a, res) => $"Done: the {a["room"]} lights are now {a["brightness"]} and {a["color"]}."),
        new("convert_currency", "Finance", "Convert an amount from one currency to another.",
            Schema(("amount", "number", "Amount to convert", null, true), ("from_currency", "string", "ISO code", null, true), ("to_currency", "string", "ISO code", null, true)),
            r =>
            {
                var amt = 10 * (1 + r.NextInt(100));
                var from = Pick(r, Currencies);
                var to = Pick(r, Currencies.Where(c => c != from).ToArray());
                return ($"Convert {amt} {from} to {to}.", new JsonObject { ["amount"] = amt, ["from_currency"] = from, ["to_currency"] = to });
            },
            (a, r) => new JsonObject { ["converted_amount"] = Math.Round((int)a["amount"]! * (0.5 + r.NextDouble()), 2), ["currency"] = a["to_currency"]!.DeepClone() },
            (a, res) => $"{a["amount"]} {a["from_currency"]} is about {((double)res["converted_amount"]!).ToString("0.00", CultureInfo.InvariantCulture)} {a["to_currency"]}."),
        new("search_news", "News", "Search recent news articles on a topic.",
            Schema(("topic", "string", "Topic to search", null, true), ("limit", "integer", "Maximum number of articles", null, false)),
            r =>
            {
                var t = Pick(r, Topics);
                var n = 2 + r.NextInt(4);
                return ($"Find me the {n} latest news articles about {t}.", new JsonObject { ["topic"] = t, ["limit"] = n });
            },
            (a, r) =>
            {
                var arts = new JsonArray();
                for (var i = 0; i < (int)a["limit"]!; i++) arts.Add(new JsonObject { ["title"] = $"{a["topic"]} update #{1 + r.NextInt(99)}", ["source"] = Pick(r, new[] { "Reuters", "AP", "BBC" }) });
                return new JsonObject { ["articles"] = arts };
            },
            (a, res) => $"Here are the latest {a["limit"]} articles about {a["topic"]}: " + string.Join("; ", res["articles"]!.AsArray().Select(x => (string)x!["title"]!)) + "."),
        new("translate_text", "Language", "Translate text into a target language.",
            Schema(("text", "string", "Text to translate", null, true), ("target_language", "string", "Language name", null, true)),
            r =>
            {
                var p = Pick(r, Phrases);
                var l = Pick(r, Languages);
                return ($"How do I say \"{p}\" in {l}?", new JsonObject { ["text"] = p, ["target_language"] = l });
            },
            (a, r) => new JsonObject { ["translation"] = $"[{a["target_language"]}] {a["text"]}" },
            (a, res) => $"In {a["target_language"]}: {res["translation"]}"),
        new("book_restaurant", "Travel", "Reserve a table at a restaurant.",
            Schema(("restaurant", "string", "Restaurant name", null, true), ("time", "string", "Time, HH:MM", null, true), ("party_size", "integer", "Number of guests", null, true), ("outdoor", "boolean", "Outdoor seating", null, false)),
            r =>
            {
                var rest = Pick(r, Restaurants);
                var t = $"{18 + r.NextInt(4)}:{(r.NextInt(2) == 0 ? "00" : "30")}";
                var n = 1 + r.NextInt(8);
                var outdoor = r.NextInt(2) == 0;
                return ($"Book a table for {n} at {rest} at {t}{(outdoor ? ", outside if possible" : "")}.",
                    new JsonObject { ["restaurant"] = rest, ["time"] = t, ["party_size"] = n, ["outdoor"] = outdoor });
            },
            (a, r) => new JsonObject { ["confirmed"] = true, ["reservation_id"] = $"R{1000 + r.NextInt(9000)}" },
            (a, res) => $"Your table for {a["party_size"]} at {a["restaurant"]} at {a["time"]} is confirmed (reservation {res["reservation_id"]})."),
        new("send_email", "Productivity", "Send an email.",
            Schema(("to", "string", "Recipient address", null, true), ("subject", "string", "Subject line", null, true), ("body", "string", "Message body", null, true)),
            r =>
            {
                var to = Pick(r, People);
                var topic = Pick(r, Topics);
                return ($"Email {to} that the report on {topic} is ready.",
                    new JsonObject { ["to"] = to, ["subject"] = $"Report on {topic}", ["body"] = $"Hi,\nthe report on {topic} is ready.\nBest" });
            },
            (a, r) => new JsonObject { ["sent"] = true },
            (a, res) => $"I sent the email to {a["to"]} with the subject \"{a["subject"]}\"."),
    ];

    private static readonly (string Ask, string Answer)[] SmallTalk =
    [
        ("Thanks! That's all for now.", "You're welcome! Let me know if you need anything else."),
        ("What can you help me with?", "I can look things up and take actions with the tools I have, such as the ones listed above. Just ask."),
        ("Can you tell me a fun fact?", "Sure: octopuses have three hearts and blue blood."),
        ("Explain what an API is in one sentence.", "An API is a defined way for one program to ask another program to do something or return data."),
    ];

    private static JsonObject ToolSchema(ToolDef t) =>
        new() { ["type"] = "function", ["function"] = new JsonObject { ["name"] = t.Name, ["description"] = t.Description, ["parameters"] = t.Parameters.DeepClone() } };

    /// <summary>The Hermes system prompt with the tools JSON inside <c>&lt;tools&gt;</c>.</summary>
    public static string SystemPrompt(JsonArray tools) => SystemPrefix + tools.ToJsonString(Compact) + SystemSuffix;

    private static JsonObject Turn(string from, string value) => new() { ["from"] = from, ["value"] = value };

    private static string CallJson(string name, JsonObject args) =>
        $"<tool_call>\n{new JsonObject { ["name"] = name, ["arguments"] = args.DeepClone() }.ToJsonString(Compact)}\n</tool_call>";

    private static string ResponseJson(string name, JsonObject content) =>
        $"<tool_response>\n{new JsonObject { ["name"] = name, ["content"] = content.DeepClone() }.ToJsonString(Compact)}\n</tool_response>";

    /// <summary>Python repr of a JSON value (single quotes, True/False/None), as old Hermes data wrote calls.</summary>
    public static string PythonRepr(JsonNode? n)
    {
        switch (n)
        {
            case null: return "None";
            case JsonObject o: return "{" + string.Join(", ", o.Select(kv => PyStr(kv.Key) + ": " + PythonRepr(kv.Value))) + "}";
            case JsonArray a: return "[" + string.Join(", ", a.Select(PythonRepr)) + "]";
            case JsonValue v:
                if (v.TryGetValue(out string? s)) return PyStr(s);
                if (v.GetValueKind() == JsonValueKind.True) return "True";
                if (v.GetValueKind() == JsonValueKind.False) return "False";
                return v.ToJsonString();
        }
        return "None";
    }

    private static string PyStr(string s)
    {
        var sb = new StringBuilder("'");
        foreach (var c in s)
            sb.Append(c switch { '\\' => "\\\\", '\'' => "\\'", '\n' => "\\n", '\t' => "\\t", '\r' => "\\r", _ => c.ToString() });
        return sb.Append('\'').ToString();
    }

    /// <summary>Conversation shapes the bulk generator draws from.</summary>
    public enum Shape { Single, Parallel, MultiTurn, PythonDict, ContentBeforeCall, NoCall }

    /// <summary>Builds one Hermes record of the given shape.</summary>
    public static JsonObject Conversation(string id, Shape shape, SplitMix64 r) => Conversation(id, shape, r, null, pools: null);

    /// <param name="pools">Non-null for the demo stream: every tool (the extra ones too) may be offered beside the called one,
    /// requests are drawn from <see cref="ToolDef.VariedRequest"/> with these values and small talk from a longer list.</param>
    private static JsonObject Conversation(string id, Shape shape, SplitMix64 r, ToolDef? firstTool, ValuePools? pools)
    {
        var varied = pools is not null;
        // 2–4 tools offered, including the ones called.
        var pool = varied ? AllTools : Catalog;
        var first = firstTool ?? Catalog[r.NextInt(Catalog.Length)];
        var others = pool.Where(t => t.Name != first.Name).ToArray();
        var second = others[r.NextInt(others.Length)];
        var offered = new List<ToolDef> { first, second };
        var extra = pool.Where(t => t != first && t != second).ToArray();
        for (var i = r.NextInt(3); i > 0; i--)
        {
            var t = extra[r.NextInt(extra.Length)];
            if (!offered.Contains(t)) offered.Add(t);
        }
        SplitMixShuffle(offered, r);
        var tools = new JsonArray(offered.Select(t => (JsonNode)ToolSchema(t)).ToArray());
        var turns = new JsonArray { Turn("system", SystemPrompt(tools)) };

        void CallRound(ToolDef[] defs, bool pyDict, string? preface)
        {
            var reqs = defs.Select(d => (Def: d, Req: pools is not null ? d.VariedRequest(r, pools) : d.Request(r))).ToArray();
            var ask = reqs.Length == 1 ? reqs[0].Req.Ask : string.Join(" Also, ", reqs.Select(x => x.Req.Ask.TrimEnd('.', '?', '!'))) + ".";
            if (pools is not null) ask = Framed(r, pools, ask);
            turns.Add(Turn("human", ask));
            var calls = string.Join("\n", reqs.Select(x => pyDict
                ? $"<tool_call>\n{PythonRepr(new JsonObject { ["arguments"] = x.Req.Args.DeepClone(), ["name"] = x.Def.Name })}\n</tool_call>"
                : CallJson(x.Def.Name, x.Req.Args)));
            turns.Add(Turn("gpt", (preface is null ? "" : preface + "\n") + calls + "\n"));
            var results = reqs.Select(x => x.Def.Result(x.Req.Args, r)).ToArray();
            turns.Add(Turn("tool", string.Join("\n", reqs.Select((x, i) => ResponseJson(x.Def.Name, results[i]))) + "\n"));
            turns.Add(Turn("gpt", string.Join(" ", reqs.Select((x, i) => x.Def.Answer(x.Req.Args, results[i])))));
        }

        switch (shape)
        {
            case Shape.Single:
                CallRound([first], false, null);
                break;
            case Shape.Parallel:
                CallRound([first, second], false, null);
                break;
            case Shape.MultiTurn:
                CallRound([first], false, null);
                CallRound([second], false, null);
                var st = PickSmallTalk(r, varied);
                turns.Add(Turn("human", st.Ask));
                turns.Add(Turn("gpt", st.Answer));
                break;
            case Shape.PythonDict:
                CallRound([first], true, null);
                break;
            case Shape.ContentBeforeCall:
                CallRound([first], false, "Let me check that for you.");
                break;
            case Shape.NoCall:
                var s = PickSmallTalk(r, varied);
                turns.Add(Turn("human", s.Ask));
                turns.Add(Turn("gpt", s.Answer));
                break;
        }
        return new JsonObject
        {
            ["id"] = id,
            ["conversations"] = turns,
            ["tools"] = tools.ToJsonString(Compact),
            ["category"] = first.Category,
            ["subcategory"] = first.Name,
            ["task"] = shape.ToString(),
        };
    }

    private static void SplitMixShuffle<T>(List<T> list, SplitMix64 r) => r.Shuffle(list);

    /// <summary>
    /// <paramref name="count"/> Hermes-style conversations: mostly single calls, with parallel, multi-turn,
    /// Python-dict, content-before-call and (about 4%) no-call conversations.
    /// </summary>
    public static IEnumerable<JsonObject> Generate(int count, long seed) => Generate(count, seed, "hermes-generator", _ => null, pools: null);

    // File, settings, timer and calendar tools (requests in HermesGenerator.Varied.cs): the emission prompts
    // (data/eval/emission_prompts.jsonl) ask for them in words no generated conversation uses, as seed 000 checks SmolLM3 on
    // write_file and save_config.
    private static readonly ToolDef[] ExtraCatalog =
    [
        new("write_file", "Files", "Write text content to a file, creating or overwriting it.",
            Schema(("path", "string", "File path", null, true), ("content", "string", "Text to write", null, true)),
            r => WriteFileRequest(r, ValuePools.Demo),
            (a, r) => new JsonObject { ["bytes_written"] = ((string)a["content"]!).Length },
            (a, res) => $"Wrote {res["bytes_written"]} bytes to {a["path"]}."),
        new("save_config", "Settings", "Save a configuration object under a name.",
            Schema(("name", "string", "Configuration name", null, true), ("config", "object", "Key/value settings", null, true)),
            r => SaveConfigRequest(r, ValuePools.Demo),
            (a, r) => new JsonObject { ["saved"] = true },
            (a, res) => $"Saved the '{a["name"]}' configuration."),
        new("delete_file", "Files", "Delete a file.",
            Schema(("path", "string", "File path", null, true)),
            r => DeleteFileRequest(r, ValuePools.Demo),
            (a, r) => new JsonObject { ["deleted"] = true },
            (a, res) => $"Deleted {a["path"]}."),
        new("set_timer", "Productivity", "Start a countdown timer.",
            Schema(("minutes", "integer", "Duration in minutes", null, true)),
            r => SetTimerRequest(r, ValuePools.Demo),
            (a, r) => new JsonObject { ["started"] = true },
            (a, res) => $"Your {a["minutes"]} minute timer is running."),
        new("create_calendar_event", "Productivity", "Create a calendar event.",
            Schema(("title", "string", "Event title", null, true), ("date", "string", "Date, YYYY-MM-DD", null, true), ("time", "string", "Start time, HH:MM", null, true)),
            r => CalendarRequest(r, ValuePools.Demo),
            (a, r) => new JsonObject { ["created"] = true },
            (a, res) => $"Added \"{a["title"]}\" on {a["date"]} at {a["time"]}."),
    ];

    // After both catalogs: static fields initialise in text order.
    private static readonly ToolDef[] AllTools = [.. Catalog, .. ExtraCatalog];

    /// <summary>The shipped demo data's share of conversations that call one of <see cref="ExtraToolNames"/> first.</summary>
    public const double DefaultExtraToolShare = 0.4;

    /// <summary>
    /// Like <see cref="Generate"/> (another random stream), but in about <paramref name="extraShare"/> of the conversations the
    /// (first) tool called is one of <see cref="ExtraToolNames"/> (write_file, save_config, delete_file, set_timer,
    /// create_calendar_event), any of the thirteen tools may be offered beside it, and requests come in several phrasings
    /// with wide value pools (<c>HermesGenerator.Varied.cs</c>). The embedded demo's base and LoRA data.
    /// </summary>
    /// <param name="pools">The values requests draw from: <see cref="ValuePools.Demo"/> (null) or, for the demo base's copy
    /// lessons, <see cref="ValuePools.Wide"/>.</param>
    public static IEnumerable<JsonObject> GenerateExtended(int count, long seed, double extraShare, ValuePools? pools = null) =>
        // The stream label is part of the shipped recipe (data/demo, data/demo-model).
        Generate(count, seed, "hermes-generator-base", r => r.NextDouble() < extraShare ? Pick(r, ExtraCatalog) : null, pools ?? ValuePools.Demo);

    /// <summary>The bulk loop: a shape, then (<paramref name="firstTool"/>, which may draw nothing) the first tool, per record.</summary>
    private static IEnumerable<JsonObject> Generate(int count, long seed, string stream, Func<SplitMix64, ToolDef?> firstTool, ValuePools? pools)
    {
        var r = SplitMix64.For(seed, stream);
        for (var i = 0; i < count; i++)
        {
            var shape = DrawShape(r);
            yield return Conversation($"gen-{seed}-{i:D6}", shape, r, firstTool(r), pools);
        }
    }

    /// <summary>The tool names <see cref="GenerateExtended"/> adds to the catalog (never in <see cref="Generate"/>'s output).</summary>
    public static IEnumerable<string> ExtraToolNames => ExtraCatalog.Select(t => t.Name);

    private static Shape DrawShape(SplitMix64 r) => r.NextInt(100) switch
    {
        < 40 => Shape.Single,
        < 60 => Shape.Parallel,
        < 80 => Shape.MultiTurn,
        < 88 => Shape.PythonDict,
        < 96 => Shape.ContentBeforeCall,
        _ => Shape.NoCall,
    };

    /// <summary><paramref name="count"/> general instruct records (<c>messages</c> chat format, no tools).</summary>
    public static IEnumerable<JsonObject> GenerateGeneral(int count, long seed)
    {
        var r = SplitMix64.For(seed, "general-generator");
        string[] subjects = ["photosynthesis", "the water cycle", "binary search", "compound interest", "plate tectonics", "recursion", "the French Revolution", "vaccines"];
        string[] styles = ["in one paragraph", "to a ten-year-old", "in three bullet points", "briefly"];
        for (var i = 0; i < count; i++)
        {
            var subj = Pick(r, subjects);
            var style = Pick(r, styles);
            var msgs = new JsonArray
            {
                new JsonObject { ["role"] = "user", ["content"] = $"Explain {subj} {style}." },
                new JsonObject { ["role"] = "assistant", ["content"] = $"Here is an explanation of {subj}, {style}: it is a topic worth knowing, and the key idea is simple once broken into steps." },
            };
            yield return new JsonObject { ["id"] = $"general-{seed}-{i:D6}", ["messages"] = msgs };
        }
    }

    /// <summary>
    /// The demo sample file: every shape once (single, parallel, multi-turn follow-ups, a Python-dict call, content before a call,
    /// a conversation that offers tools but never calls one) plus a broken call that must be reported and skipped.
    /// </summary>
    public static JsonArray SampleFile(long seed = 3)
    {
        var r = SplitMix64.For(seed, "hermes-sample");
        var arr = new JsonArray
        {
            Conversation("sample-single", Shape.Single, r),
            Conversation("sample-parallel", Shape.Parallel, r),
            Conversation("sample-multiturn", Shape.MultiTurn, r),
            Conversation("sample-pydict", Shape.PythonDict, r),
            Conversation("sample-content-before-call", Shape.ContentBeforeCall, r),
            Conversation("sample-no-call", Shape.NoCall, r),
        };
        // A broken record: the call payload is neither JSON nor a Python dict (truncated, unbalanced).
        var broken = Conversation("sample-broken-call", Shape.Single, r);
        var turns = broken["conversations"]!.AsArray();
        turns[2] = Turn("gpt", "<tool_call>\n{\"name\": \"get_stock_price\", \"arguments\": {\"symbol\": \"TSLA\"\n</tool_call>\n");
        arr.Add(broken);
        arr.Add(Conversation("sample-single-2", Shape.Single, r));
        return arr;
    }

    /// <summary>Writes records as an indented JSON array (Hermes' published layout), atomically.</summary>
    public static void WriteJsonArray(string path, IEnumerable<JsonObject> records) =>
        WriteJsonArray(path, new JsonArray(records.Select(x => (JsonNode)(x.Parent is null ? x : x.DeepClone())).ToArray()));

    /// <summary>Writes an array as indented JSON (LF line ends), atomically.</summary>
    public static void WriteJsonArray(string path, JsonArray arr)
    {
        var bytes = new UTF8Encoding(false).GetBytes(arr.ToJsonString(Indented).ReplaceLineEndings("\n") + "\n");
        AtomicFile.Write(path, fs => fs.Write(bytes));
    }

    /// <summary>Writes records one per line (JSONL), atomically.</summary>
    public static void WriteJsonl(string path, IEnumerable<JsonObject> records)
    {
        AtomicFile.Write(path, fs =>
        {
            using var w = new StreamWriter(fs, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
            foreach (var rec in records) w.WriteLine(rec.ToJsonString(Compact));
        });
    }
}
