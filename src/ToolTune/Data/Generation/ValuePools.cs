using System.Text.RegularExpressions;
using ToolTune.Data.Selection;

namespace ToolTune.Data.Generation;

/// <summary>
/// The argument values the demo stream's requests draw from (<see cref="HermesGenerator.GenerateExtended"/>). <see cref="Demo"/>
/// holds the shipped data's pools. <see cref="Wide"/> mixes them across kinds (optionally with made-up words, names, codes
/// and sentences) and widens the number ranges: from such pools no value can be guessed from the kind of slot, so a model
/// trained on them has to copy each value from the request (the demo base's copy lessons).
/// </summary>
public sealed record ValuePools
{
    public required string[] Cities { get; init; }
    public required string[] Symbols { get; init; }
    public required string[] Rooms { get; init; }
    public required string[] Colors { get; init; }
    public required string[] Currencies { get; init; }
    public required string[] Topics { get; init; }
    public required string[] Languages { get; init; }
    public required string[] Phrases { get; init; }
    public required string[] Restaurants { get; init; }
    public required string[] FirstNames { get; init; }
    public required string[] MailDomains { get; init; }
    public required string[] Folders { get; init; }
    public required string[] Stems { get; init; }
    public required string[] Texts { get; init; }
    public required string[] ConfigNames { get; init; }
    public required string[] Invitees { get; init; }
    public required string[] EventKinds { get; init; }
    public required string[] Themes { get; init; }
    public required string[] Regions { get; init; }

    /// <summary>Upper bounds (exclusive) of the random numbers a request says: minutes of a timer, articles, guests, amounts,
    /// ports (in tens above 3000), retries, timeouts (in fives).</summary>
    public int Minutes { get; init; } = 90;
    public int Articles { get; init; } = 7;
    public int Guests { get; init; } = 10;
    public int Amount { get; init; } = 5000;
    public int Ports { get; init; } = 700;
    public int Retries { get; init; } = 6;
    public int Timeouts { get; init; } = 24;

    /// <summary>Requests come in many more phrasings (<c>HermesGenerator.Varied.cs</c>): more sentence frames per tool, openings
    /// and closings around them, settings said in several ways and under made-up keys. A small model answers the phrasings it
    /// was trained on; with these it has to find the tool from the request's content words and copy values wherever they stand.</summary>
    public bool ManyPhrasings { get; init; }

    /// <summary>Numbers have as many digits as a bound allows, each length as likely (4, 38 and 512 under 900) instead of
    /// uniform draws, where nine in ten have the bound's length: a model trained on uniform draws writes a number of that
    /// length whatever the request says.</summary>
    public bool SpreadNumbers { get; init; }

    /// <summary>A number in [0, <paramref name="bound"/>): uniform, or with <see cref="SpreadNumbers"/> a uniform digit count first.</summary>
    internal int Number(SplitMix64 r, int bound)
    {
        if (!SpreadNumbers || bound <= 10) return r.NextInt(bound);
        var digits = (bound - 1).ToString(System.Globalization.CultureInfo.InvariantCulture).Length;
        var d = 1 + r.NextInt(digits);
        var low = d == 1 ? 0 : (int)Math.Pow(10, d - 1);
        var high = (int)Math.Min(Math.Pow(10, d), bound);
        return low + r.NextInt(high - low);
    }

    /// <summary>The shipped demo data's pools (data/demo, data/demo-model): same values, same draws.</summary>
    public static ValuePools Demo { get; } = new()
    {
        Cities = ["Paris", "Tokyo", "Zurich", "New York", "Nairobi", "São Paulo", "Oslo", "Mumbai", "Sydney", "Toronto", "Berlin", "Lima",
            "Cairo", "Madrid", "Seoul", "Dublin", "Lisbon", "Vienna", "Chicago", "Accra", "Hanoi", "Prague", "Denver", "Perth"],
        Symbols = ["TSLA", "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "SAP", "ASML", "IBM", "INTC", "ORCL", "NFLX", "AMD", "SONY"],
        Rooms = ["living room", "kitchen", "bedroom", "office", "hallway", "bathroom", "garage", "nursery", "porch"],
        Colors = ["warm", "cool white", "blue", "amber", "green", "red", "purple", "daylight", "pink"],
        Currencies = ["USD", "EUR", "CHF", "JPY", "GBP", "INR", "CAD", "AUD", "SEK", "BRL"],
        Topics = ["renewable energy", "space exploration", "AI safety", "football", "climate policy", "chip manufacturing",
            "electric cars", "public health", "cyber security", "ocean research", "tennis", "housing prices"],
        Languages = ["French", "German", "Japanese", "Spanish", "Swahili", "Italian", "Korean", "Dutch", "Polish"],
        Phrases = ["Where is the train station?", "Thank you for your help.", "The meeting starts at nine.", "I would like a coffee, please.",
            "How much does this cost?", "See you tomorrow.", "My name is Alex.", "The museum opens at ten.", "Is this seat free?"],
        Restaurants = ["Le Petit Bistro", "Sakura Sushi", "Trattoria Roma", "The Green Fork", "Casa Luna", "Blue Elephant", "Noodle Bar", "Chez Marie"],
        FirstNames = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"],
        MailDomains = ["example.com", "example.org", "example.net", "mail.test"],
        Folders = ["notes", "docs", "data", "logs", "backup", "src", "out", "tmp", "reports"],
        Stems = ["todo", "report", "results", "intro", "list", "summary", "plan", "draft", "readme", "points", "ideas", "budget"],
        Texts = ["buy milk", "all tests pass", "id,score", "Welcome to the project.", "draft v2", "hello there", "version 1.2.0",
            "call the bank", "x,y,z", "meeting at noon", "TODO: fix login", "done", "name,age", "Ship it!", "first line"],
        ConfigNames = ["prod", "staging", "editor", "ci", "local", "test", "backend", "laptop", "build", "web"],
        Invitees = ["Sam", "Priya", "Lee", "the design team", "Omar", "Mia", "the board", "Jonas", "Ana"],
        EventKinds = ["Call", "Lunch", "Review", "Meeting", "Coffee", "Interview"],
        Themes = ["dark", "light", "solarized", "high contrast"],
        Regions = ["eu-west", "us-east", "ap-south", "eu-central"],
    };

    /// <summary>
    /// Pools no slot can be guessed from: each kind keeps its demo values, takes every other kind's words of the same form
    /// (a room may be "tennis", a city "Mia"), and adds <paramref name="madeUp"/> made-up ones (consonant–vowel words such as
    /// "tavoren", names, capital-letter codes, short sentences). Numbers span about ten times the demo's ranges (a search's article count keeps its own).
    /// With <paramref name="recombined"/> the made-up values are built from the demo pools' own words instead of syllables
    /// ("call milk", "notes/there.txt", "Budget Oslo"): a value that starts like a familiar one and goes on otherwise, so
    /// writing the familiar value's next word is wrong where copying the request's is right.
    /// </summary>
    public static ValuePools Wide(long seed, int madeUp = 0, bool recombined = false)
    {
        var r = SplitMix64.For(seed, "value-pools-wide");
        var d = Demo;
        string[] lowerWords = [.. d.Rooms, .. d.Colors, .. d.Topics, .. d.FirstNames, .. d.Folders, .. d.Stems, .. d.ConfigNames, .. d.Themes];
        string[] names = [.. d.Cities, .. d.Languages, .. d.Invitees.Where(n => char.IsUpper(n[0])), .. d.EventKinds];
        string[] bag = recombined ? PoolWords(d) : [];
        string Word() => recombined ? bag[r.NextInt(bag.Length)] : MadeUpWord(r);
        string Name() => Capitalize(Word());
        string Code() => new([.. Enumerable.Range(0, 3 + r.NextInt(2)).Select(_ => (char)('A' + r.NextInt(26)))]);
        string Sentence()
        {
            var words = Enumerable.Range(0, 2 + r.NextInt(4)).Select(_ => r.NextInt(2) == 0 ? Word() : lowerWords[r.NextInt(lowerWords.Length)]);
            return Capitalize(string.Join(' ', words)) + (r.NextInt(3) == 0 ? "?" : ".");
        }
        string[] Many(Func<string> make) => [.. Enumerable.Range(0, madeUp).Select(_ => make())];
        string[] Mix(string[] own, string[] others, Func<string> make) => [.. own.Union(others).Union(Many(make))];
        return new ValuePools
        {
            Cities = Mix(d.Cities, names, () => r.NextInt(4) == 0 ? $"{Name()} {Name()}" : Name()),
            Symbols = Mix(d.Symbols, d.Currencies, Code),
            Rooms = Mix(d.Rooms, lowerWords, () => r.NextInt(3) == 0 ? $"{Word()} room" : Word()),
            Colors = Mix(d.Colors, lowerWords, Word),
            Currencies = Mix(d.Currencies, d.Symbols, () => Code()[..3]),
            Topics = Mix(d.Topics, lowerWords, () => r.NextInt(2) == 0 ? $"{Word()} {Word()}" : Word()),
            Languages = Mix(d.Languages, names, () => Name() + "ish"),
            Phrases = Mix(d.Phrases, d.Texts.Where(t => char.IsUpper(t[0])).ToArray(), Sentence),
            Restaurants = Mix(d.Restaurants, names, () => $"{Name()} {Name()}"),
            FirstNames = Mix(d.FirstNames, d.Stems, Word),
            MailDomains = Mix(d.MailDomains, [], () => $"{Word()}.{d.MailDomains[r.NextInt(3)].Split('.')[1]}"),
            Folders = Mix(d.Folders, d.Stems, Word),
            Stems = Mix(d.Stems, d.Folders, Word),
            Texts = Mix(d.Texts, d.Phrases, () => r.NextInt(2) == 0 ? Sentence() : $"{Word()} {Word()}"),
            ConfigNames = Mix(d.ConfigNames, lowerWords, Word),
            Invitees = Mix(d.Invitees, names, Name),
            EventKinds = Mix(d.EventKinds, [], Name),
            Themes = Mix(d.Themes, lowerWords, Word),
            Regions = Mix(d.Regions, [], () => $"{Word()}-{Word()}"),
            // Articles keep the demo range: a search's tool response lists that many results.
            Minutes = 10 * d.Minutes, Guests = 10 * d.Guests, Amount = 10 * d.Amount,
            Ports = 6000, Retries = 10 * d.Retries, Timeouts = 10 * d.Timeouts,
        };
    }

    /// <summary>Every word of two or more letters in <paramref name="p"/>'s string pools, lowercased, once each, in ordinal order.</summary>
    private static string[] PoolWords(ValuePools p)
    {
        string[][] pools = [p.Cities, p.Symbols, p.Rooms, p.Colors, p.Currencies, p.Topics, p.Languages, p.Phrases, p.Restaurants, p.FirstNames,
            p.Folders, p.Stems, p.Texts, p.ConfigNames, p.Invitees, p.EventKinds, p.Themes, p.Regions];
        return [.. pools.SelectMany(pool => pool).SelectMany(v => Regex.Split(v, @"[^\p{L}]+"))
            .Where(w => w.Length >= 2).Select(w => w.ToLowerInvariant()).Distinct().Order(StringComparer.Ordinal)];
    }

    private const string Consonants = "bdfgklmnprstvz";
    private const string Vowels = "aeiou";

    /// <summary>Two or three consonant–vowel syllables, sometimes closed by a consonant: "tavoren", "kelimo".</summary>
    private static string MadeUpWord(SplitMix64 r)
    {
        var chars = new List<char>();
        for (var s = 2 + r.NextInt(2); s > 0; s--)
        {
            chars.Add(Consonants[r.NextInt(Consonants.Length)]);
            chars.Add(Vowels[r.NextInt(Vowels.Length)]);
        }
        if (r.NextInt(2) == 0) chars.Add(Consonants[r.NextInt(Consonants.Length)]);
        return new string([.. chars]);
    }

    internal static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];
}
