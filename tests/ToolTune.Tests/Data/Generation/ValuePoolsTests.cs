using System.Text.Json.Nodes;
using ToolTune.Data.Generation;

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
}
