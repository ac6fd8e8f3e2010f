using System.Text.Json.Nodes;
using ToolTune.Evaluation;
using ToolTune.Python;

namespace ToolTune.Tests.Evaluation;

[TestClass]
public sealed class PythonJsonTests
{
    private static bool Ok(string s) => PythonJson.TryLoads(s, out _, out _);

    [TestMethod]
    public void AcceptsWhatPythonAccepts()
    {
        foreach (var s in new[]
                 {
                     "{}", "[]", "0", "-0", "1.5e10", "1E+2", "\"x\"", "null", "true", " \t\r\n{\"a\" : [1 , 2]}\n ",
                     "NaN", "Infinity", "-Infinity", "{\"a\": NaN}", "\"\\ud800\"", "123456789012345678901234567890",
                     "\"\\u00e9\\n\\t\\/\"", "{\"a\": 1, \"a\": 2}", "\"\u2028\"",
                 })
            Assert.IsTrue(Ok(s), s);
    }

    [TestMethod]
    public void RejectsWhatPythonRejects()
    {
        foreach (var s in new[]
                 {
                     "", " ", "{\"a\": 1,}", "[1, 2,]", "{'a': 1}", "{a: 1}", "True", "None", "nan", "+1", "01", ".5", "1.",
                     "1e", "{\"a\": 1} x", "{} {}", "\"a\nb\"", "\"tab\there\"", "// c\n{}", "\uFEFF{}", "{\"a\" 1}", "[1 2]",
                     "\"\\x41\"", "\"\\u12\"", "\"unterminated", "{\"a\": 1", "\u00a0{}", "-", "-NaN",
                 })
            Assert.IsFalse(Ok(s), s.Replace("\n", "\\n"));
    }

    [TestMethod]
    public void DuplicateKeysLastWinsAtFirstPosition()
    {
        var o = (JsonObject)PythonJson.Loads("{\"a\": 1, \"b\": 2, \"a\": 3}")!;
        Assert.AreEqual("{\"a\": 3, \"b\": 2}", PythonJson.Dumps(o));
    }

    [TestMethod]
    public void CanonicalEqualityComparesNumbersAsValues()
    {
        static bool Eq(string a, string b) => PythonJson.CanonicalEquals(PythonJson.Loads(a), PythonJson.Loads(b));
        Assert.IsTrue(Eq("{\"a\": 1, \"b\": [1, 2]}", "{\"b\": [1.0, 2e0], \"a\": 100e-2}"));
        // Python semantics: ints exact, floats are doubles, int == float compares values.
        Assert.IsFalse(Eq("123456789012345678901234567890", "1.23456789012345678901234567890e29"));
        Assert.IsTrue(Eq("100000000000000000000", "1e20"));
        Assert.IsTrue(Eq("0.1", "0.1000000000000000000001"));
        Assert.IsFalse(Eq("123456789012345678901234567890", "123456789012345678901234567891"));
        Assert.IsFalse(Eq("[1, 2]", "[2, 1]"));
        Assert.IsFalse(Eq("1", "true"));
        Assert.IsFalse(Eq("\"1\"", "1"));
        Assert.IsFalse(Eq("{\"a\": 1}", "{\"a\": 1, \"b\": null}"));
        Assert.IsTrue(Eq("0", "-0.0"));
        Assert.AreEqual("{\"a\":\"é\",\"b\":15e-1}", PythonJson.Canonical(PythonJson.Loads("{\"b\": 1.50, \"a\": \"é\"}")));
    }

    [TestMethod]
    public void DumpsLikePython()
    {
        Assert.AreEqual("{\"a\": [1, 2.5, true, null], \"b\": \"q\\\"\\n\\b\"}", PythonJson.Dumps(PythonJson.Loads("{\"a\":[1,2.5,true,null],\"b\":\"q\\\"\\n\\b\"}")));
        Assert.AreEqual("-Infinity", PythonJson.Dumps(PythonJson.Loads("-Infinity")));
        // Gold calls come from System.Text.Json (JsonElement-backed values): booleans and null are not numbers.
        Assert.AreEqual("{\"outdoor\": false, \"ok\": true, \"n\": null, \"x\": 1.5, \"i\": 7}",
            PythonJson.Dumps(System.Text.Json.Nodes.JsonNode.Parse("{\"outdoor\":false,\"ok\":true,\"n\":null,\"x\":1.50,\"i\":7}")!));
        // ... and values built in code (int, long, double, decimal) print as Python would after json.loads.
        var built = new System.Text.Json.Nodes.JsonObject { ["i"] = 5, ["l"] = 12345678901L, ["d"] = 2.0, ["m"] = 1.50m, ["f"] = 0.5f, ["b"] = false };
        Assert.AreEqual("{\"i\": 5, \"l\": 12345678901, \"d\": 2.0, \"m\": 1.5, \"f\": 0.5, \"b\": false}", PythonJson.Dumps(built));
    }

    [TestMethod]
    public void DeepNestingFailsLikeRecursionError()
    {
        Assert.IsTrue(Ok(new string('[', 500) + new string(']', 500)));
        Assert.IsFalse(Ok(new string('[', 5000) + new string(']', 5000)));
    }
}
