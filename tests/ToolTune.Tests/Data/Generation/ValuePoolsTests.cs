using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ToolTune.Data.Generation;
using ToolTune.Data.Selection;

namespace ToolTune.Tests.Data.Generation;

/// <summary>
/// The demo stream's value pools: the shipped pools give the shipped stream, and the wide pools (the demo base's copy
/// lessons) keep every demo value, mix kinds and are deterministic, so only copying the request predicts a call's values.
/// </summary>
[TestClass]
public sealed class ValuePoolsTests
{
    [TestMethod]
    public void TheDemoPoolsAreTheDefaultStream()
    {
        var plain = HermesGenerator.GenerateExtended(60, 5, 0.4).Select(r => r.ToJsonString()).ToList();
        var demo = HermesGenerator.GenerateExtended(60, 5, 0.4, ValuePools.Demo).Select(r => r.ToJsonString()).ToList();
        CollectionAssert.AreEqual(plain, demo);
    }

    [TestMethod]
    public void WidePoolsKeepTheDemoValuesMixKindsAndAreDeterministic()
    {
        var a = ValuePools.Wide(21, madeUp: 50);
        var b = ValuePools.Wide(21, madeUp: 50);
        CollectionAssert.AreEqual(a.Cities, b.Cities);
        CollectionAssert.AreEqual(a.Phrases, b.Phrases);
        CollectionAssert.IsSubsetOf(ValuePools.Demo.Cities, a.Cities);
        CollectionAssert.IsSubsetOf(ValuePools.Demo.Rooms, a.Rooms);
        Assert.IsTrue(a.Cities.Contains("French") && a.Rooms.Contains("tennis"), "kinds are mixed");
        Assert.AreEqual(a.Cities.Length, a.Cities.Distinct().Count(), "no duplicates");
        Assert.IsTrue(a.Cities.Length >= ValuePools.Demo.Cities.Length + 50 - 5, $"{a.Cities.Length} cities");
        CollectionAssert.AreNotEqual(ValuePools.Wide(22, madeUp: 50).Cities, a.Cities);
        Assert.IsTrue(a.Minutes > ValuePools.Demo.Minutes);
    }

    [TestMethod]
    public void WideStreamValuesStillAppearInTheirRequests()
    {
        var pools = ValuePools.Wide(21);
        int calls = 0, copied = 0, outsideDemo = 0;
        var demoCities = ValuePools.Demo.Cities.ToHashSet();
        foreach (var rec in HermesGenerator.GenerateExtended(200, 9, 0.4, pools))
        {
            var turns = rec["conversations"]!.AsArray();
            for (var i = 1; i < turns.Count; i++)
            {
                var value = (string)turns[i]!["value"]!;
                if ((string)turns[i]!["from"]! != "gpt" || !value.Contains("<tool_call>") || value.Contains("'arguments'")) continue;
                var ask = (string)turns[i - 1]!["value"]!;
                foreach (var block in value.Split("<tool_call>", StringSplitOptions.RemoveEmptyEntries).Skip(value.StartsWith("<tool_call>") ? 0 : 1))
                {
                    var call = JsonNode.Parse(block.Split("</tool_call>")[0])!;
                    if ((string)call["name"]! != "get_current_weather") continue;
                    var city = (string)call["arguments"]!["location"]!;
                    calls++;
                    if (ask.Contains(city, StringComparison.Ordinal)) copied++;
                    if (!demoCities.Contains(city)) outsideDemo++;
                }
            }
        }
        Assert.IsTrue(calls >= 10, $"{calls} weather calls");
        Assert.AreEqual(calls, copied, "every location is said in its request");
        Assert.IsTrue(outsideDemo * 4 > calls, $"{outsideDemo} of {calls} locations outside the demo pool");
    }

    [TestMethod]
    public void ManyPhrasingsSayEveryValueInMoreWays()
    {
        string[] extra = [.. HermesGenerator.ExtraToolNames];
        var few = SaidAround(ValuePools.Wide(21));
        var many = SaidAround(ValuePools.Wide(21) with { ManyPhrasings = true });
        foreach (var tool in extra)
            Assert.IsTrue(2 * many.Words[tool].Count >= 3 * few.Words[tool].Count, $"{tool}: {many.Words[tool].Count} words around the values, {few.Words[tool].Count} without");
        Assert.AreEqual(0, few.MadeUpKeys);
        Assert.IsTrue(many.MadeUpKeys >= 10, $"{many.MadeUpKeys} settings under made-up keys");
        Assert.IsTrue(many.Values >= 500, $"{many.Values} values");
    }

    [TestMethod]
    public void SpreadNumbersGiveEveryLengthTheSameShare()
    {
        var uniform = ValuePools.Wide(21);
        var spread = uniform with { SpreadNumbers = true };
        int[] Lengths(ValuePools p)
        {
            var r = SplitMix64.For(3, "numbers");
            var counts = new int[4];
            for (var i = 0; i < 3000; i++)
            {
                var n = p.Number(r, 900);
                Assert.IsTrue(n is >= 0 and < 900, $"{n}");
                counts[n.ToString(System.Globalization.CultureInfo.InvariantCulture).Length]++;
            }
            return counts;
        }
        var u = Lengths(uniform);
        var s = Lengths(spread);
        Assert.IsTrue(u[3] > 2400, $"uniform: {u[3]} of 3000 have three digits");
        for (var d = 1; d <= 3; d++) Assert.IsTrue(s[d] is > 850 and < 1150, $"spread: {s[d]} of 3000 have {d} digit(s)");
        // Off, a draw is the plain uniform one: the demo stream keeps its bytes.
        var (a, b) = (SplitMix64.For(4, "n"), SplitMix64.For(4, "n"));
        for (var i = 0; i < 100; i++) Assert.AreEqual(b.NextInt(900), uniform.Number(a, 900));
    }

    [TestMethod]
    public void RecombinedPoolsPutThePoolsWordsTogetherAnew()
    {
        var a = ValuePools.Wide(31, madeUp: 100, recombined: true);
        CollectionAssert.AreEqual(a.Texts, ValuePools.Wide(31, madeUp: 100, recombined: true).Texts);
        CollectionAssert.IsSubsetOf(ValuePools.Demo.Texts, a.Texts);
        var d = ValuePools.Demo;
        var words = new[] { d.Cities, d.Symbols, d.Rooms, d.Colors, d.Currencies, d.Topics, d.Languages, d.Phrases, d.Restaurants, d.FirstNames,
            d.Folders, d.Stems, d.Texts, d.ConfigNames, d.Invitees, d.EventKinds, d.Themes, d.Regions }
            .SelectMany(p => p).SelectMany(WordsOf).ToHashSet();
        var added = a.Texts.Except(ValuePools.Wide(31).Texts).ToList();
        Assert.IsTrue(added.Count >= 90, $"{added.Count} recombined texts");
        foreach (var text in added)
            foreach (var w in WordsOf(text))
                Assert.IsTrue(words.Contains(w), $"'{w}' in '{text}' is no pool word");
        // Made-up syllables are another matter: "tavoren" is no pool word.
        Assert.IsTrue(ValuePools.Wide(31, madeUp: 100).Texts.Except(ValuePools.Wide(31).Texts)
            .Any(t => WordsOf(t).Any(w => !words.Contains(w))));
        // Every value and setting is still said in its request.
        var said = SaidAround(a with { ManyPhrasings = true, SpreadNumbers = true });
        Assert.IsTrue(said.Values >= 500, $"{said.Values} values");
    }

    private static IEnumerable<string> WordsOf(string value) => Regex.Split(value.ToLowerInvariant(), @"[^\p{L}]+").Where(w => w.Length > 0);

    private static readonly HashSet<string> KnownKeys = ["port", "verbose", "debug", "theme", "timeout", "region", "retries"];

    /// <summary>The words each extra tool's single requests say around their values, after checking every value and every
    /// setting's key (spoken with spaces for underscores) is said in the request.</summary>
    private static (Dictionary<string, HashSet<string>> Words, int MadeUpKeys, int Values) SaidAround(ValuePools pools)
    {
        var words = HermesGenerator.ExtraToolNames.ToDictionary(t => t, _ => new HashSet<string>(StringComparer.OrdinalIgnoreCase));
        int madeUp = 0, values = 0;
        foreach (var rec in HermesGenerator.GenerateExtended(600, 9, 0.6, pools))
        {
            var turns = rec["conversations"]!.AsArray();
            for (var i = 1; i < turns.Count; i++)
            {
                var value = (string)turns[i]!["value"]!;
                if ((string)turns[i]!["from"]! != "gpt" || !value.StartsWith("<tool_call>", StringComparison.Ordinal) || value.Contains("'arguments'")) continue;
                var ask = (string)turns[i - 1]!["value"]!;
                var blocks = value.Split("<tool_call>", StringSplitOptions.RemoveEmptyEntries);
                var frame = ask;
                foreach (var block in blocks)
                {
                    var call = JsonNode.Parse(block.Split("</tool_call>")[0])!;
                    var name = (string)call["name"]!;
                    var said = new List<string>();
                    foreach (var (key, v) in call["arguments"]!.AsObject())
                    {
                        if (v is JsonObject config)
                            foreach (var (k, setting) in config)
                            {
                                said.Add(k.Replace('_', ' '));
                                if (!KnownKeys.Contains(k)) madeUp++;
                                if (setting!.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False)) said.Add(setting.ToString());
                            }
                        else if (name != "send_email" && v!.GetValueKind() is JsonValueKind.String or JsonValueKind.Number)
                            said.Add(v.ToString());
                    }
                    foreach (var text in said)
                    {
                        // Case aside: "Add a lunch with sam on …" calls it "Lunch with Sam".
                        Assert.IsTrue(ask.Contains(text, StringComparison.OrdinalIgnoreCase), $"'{text}' ({name}) is not in: {ask}");
                        values++;
                    }
                    foreach (var text in said.OrderByDescending(t => t.Length)) frame = frame.Replace(text, "_", StringComparison.OrdinalIgnoreCase);
                    if (blocks.Length == 1 && words.TryGetValue(name, out var set))
                        set.UnionWith(frame.Split([' ', ',', '.', ':', ';', '?', '!', '\''], StringSplitOptions.RemoveEmptyEntries).Where(w => w.All(char.IsLetter)));
                }
            }
        }
        return (words, madeUp, values);
    }
}
