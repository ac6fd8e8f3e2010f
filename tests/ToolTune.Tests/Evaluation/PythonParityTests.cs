using System.Text.Json.Nodes;
using ToolTune.Evaluation;
using static ToolTune.Tests.Evaluation.EvalTestUtil;
using ToolTune.Python;

namespace ToolTune.Tests.Evaluation;

/// <summary>
/// Parity with Python: <c>Fixtures/evaluation/gen_hermes_cases.py</c> ran CPython's <c>json</c> and a transcription of
/// vLLM's <c>extract_tool_calls</c> on sample outputs; the C# parser must agree on every field.
/// </summary>
[TestClass]
public sealed class PythonParityTests
{
    private static IEnumerable<JsonObject> Cases(string file) =>
        File.ReadAllLines(SharedFixtures.Fixture("evaluation", file)).Where(l => l.Length > 0).Select(l => (JsonObject)JsonNode.Parse(l)!);

    [TestMethod]
    public void JsonLoadsAndDumpsMatchCPython()
    {
        var n = 0;
        foreach (var c in Cases("json_loads_cases.jsonl"))
        {
            var input = c["input"]!.GetValue<string>();
            var ok = PythonJson.TryLoads(input, out var value, out var error);
            Assert.AreEqual(c["ok"]!.GetValue<bool>(), ok, $"{input.Replace("\n", "\\n")}: {error}");
            if (ok) Assert.AreEqual(c["dumps"]!.GetValue<string>(), PythonJson.Dumps(value), input);
            n++;
        }
        Assert.IsGreaterThan(50, n);
    }

    [TestMethod]
    public void ExtractToolCallsMatchesVllmReference()
    {
        var parser = HermesToolCallParser.FromTokenizer(Tok);
        var n = 0;
        foreach (var c in Cases("hermes_cases.jsonl"))
        {
            var text = c["text"]!.GetValue<string>();
            // The model emits the delimiters as their special ids: encoding the text recognises them as added tokens.
            var ids = Tok.EncodeToIds(text);
            var r = parser.Parse(ids);
            Assert.AreEqual(text, r.Text, "round trip");
            Assert.AreEqual(c["tools_called"]!.GetValue<bool>(), r.ToolsCalled, $"{text}: {r.Error}");
            Assert.AreEqual(c["content"]?.GetValue<string>(), r.Content, text);
            var calls = c["calls"]!.AsArray();
            Assert.AreEqual(calls.Count, r.Calls.Count, text);
            for (var i = 0; i < calls.Count; i++)
            {
                Assert.AreEqual(calls[i]!["name"]!.GetValue<string>(), r.Calls[i].Name, text);
                Assert.AreEqual(calls[i]!["arguments"]!.GetValue<string>(), r.Calls[i].ArgumentsJson, text);
            }
            n++;
        }
        Assert.IsGreaterThan(25, n);
    }

    [TestMethod]
    public void FloatReprMatchesPython()
    {
        Assert.AreEqual("0.1", PythonJson.FloatRepr(0.1));
        Assert.AreEqual("1e+16", PythonJson.FloatRepr(1e16));
        Assert.AreEqual("1000000000000000.0", PythonJson.FloatRepr(1e15));
        Assert.AreEqual("1e-05", PythonJson.FloatRepr(1e-5));
        Assert.AreEqual("0.0001", PythonJson.FloatRepr(1e-4));
        Assert.AreEqual("-2.5", PythonJson.FloatRepr(-2.5));
        Assert.AreEqual("1.2345e+20", PythonJson.FloatRepr(1.2345e20));
        Assert.AreEqual("-0.0", PythonJson.FloatRepr(-0.0));
    }
}
