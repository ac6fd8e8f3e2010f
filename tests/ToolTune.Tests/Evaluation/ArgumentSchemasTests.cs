using System.Text.Json.Nodes;
using ToolTune.Evaluation;
using ToolTune.Evaluation.Reporting;
using static ToolTune.Tests.Evaluation.EvalTestUtil;

namespace ToolTune.Tests.Evaluation;

/// <summary>
/// <see cref="ArgumentSchemas"/> against Python's jsonschema (Draft 2020-12): <c>Fixtures/evaluation/gen_schema_cases.py</c>
/// checked the demo data's calls for its 13 tools, seeded mutations of them and hand-written schemas.
/// </summary>
[TestClass]
public sealed class ArgumentSchemasTests
{
    private static JsonArray Declare(string name, JsonNode parameters) =>
        [new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = name, ["parameters"] = parameters.DeepClone() } }];

    private static ParsedToolCall Parsed(string name, string argumentsJson) => new(name, JsonNode.Parse(argumentsJson), argumentsJson);

    [TestMethod]
    public void AgreesWithPythonJsonschema()
    {
        int n = 0, valid = 0;
        foreach (var line in File.ReadLines(SharedFixtures.Fixture("evaluation", "schema_cases.jsonl")).Where(l => l.Length > 0))
        {
            var c = (JsonObject)JsonNode.Parse(line)!;
            var name = c["tool"]!.GetValue<string>();
            var args = c["arguments"]!.ToJsonString();
            var (isChecked, error) = new ArgumentSchemas(Declare(name, c["parameters"]!)).Check(Parsed(name, args));
            Assert.IsTrue(isChecked, $"{name} {args}");
            var expected = c["valid"]!.GetValue<bool>();
            Assert.AreEqual(expected, error is null, $"{name} {args}: {error}");
            n++;
            if (expected) valid++;
        }
        Assert.IsGreaterThan(300, n);
        Assert.IsGreaterThan(50, valid);
        Assert.IsGreaterThan(50, n - valid);
    }

    [TestMethod]
    public void SaysWhichParameterIsWrong()
    {
        var schemas = new ArgumentSchemas(Tools());
        Assert.AreEqual("'target_language' is not a parameter of write_file",
            schemas.Check(Parsed("write_file", """{"path": "a.txt", "content": "x", "target_language": "Paris"}""")).Error);
        Assert.IsNull(schemas.Check(Parsed("write_file", """{"path": "a.txt", "content": "x"}""")).Error);

        var typed = new ArgumentSchemas(Declare("set_timer", JsonNode.Parse(
            """{"type": "object", "properties": {"minutes": {"type": "integer"}}, "required": ["minutes"]}""")!));
        StringAssert.Contains(typed.Check(Parsed("set_timer", """{"minutes": "15"}""")).Error, "/minutes");
        StringAssert.Contains(typed.Check(Parsed("set_timer", "{}")).Error, "required");
        Assert.IsNull(typed.Check(Parsed("set_timer", """{"minutes": 15.0}""")).Error, "15.0 is an integer in JSON Schema, as in Python's jsonschema");
    }

    [TestMethod]
    public void LeavesUncheckableCallsOut()
    {
        var schemas = new ArgumentSchemas(Tools());
        Assert.AreEqual((false, (string?)null), schemas.Check(Parsed("send_email", """{"to": "a@b.c"}""")), "a tool the prompt does not declare");
        Assert.AreEqual((false, (string?)null), schemas.Check(Parsed("write_file", "\"a.txt\"")), "arguments that are not an object");
        var unreadable = new ArgumentSchemas(Declare("f", JsonNode.Parse("""{"type": "object", "properties": {"a": {"type": 7}}}""")!));
        Assert.IsFalse(unreadable.Check(Parsed("f", """{"a": 1}""")).Checked, "a schema JsonSchema.Net cannot read");
        Assert.IsFalse(new ArgumentSchemas(null).Check(Parsed("f", "{}")).Checked);
    }

    [TestMethod]
    public void MetricCountsToolEvalAndEmissionCalls()
    {
        var set = new[]
        {
            Score(Item("A", "Weather in Paris?", G("get_weather", """{"city": "Paris"}""")), Call("get_weather", """{"city": "Paris"}""")),
            Score(Item("B", "Weather?", G("get_weather", """{"city": "Paris"}""")), Call("get_weather", """{"city": "Paris", "country": "FR"}""")),
            Score(Emission("E", "Write a.txt", "write_file"), Call("write_file", """{"path": "a.txt", "content": "x", "target_language": "Paris"}""")),
            Score(Item("H", "Time in UTC?", G("get_time", """{"timezone": "UTC"}""")), Call("get_time", """{"timezone": "UTC"}""")),
            Score(Emission("F", "Send it", "send_email"), Call("send_email", """{"to": "a@b.c"}""")), // undeclared tool: not checked
            Score(Item("G", "Search cats", G("search", """{"query": "cats"}""")), "Cats are small domesticated"),
        };
        Assert.AreEqual("'country' is not a parameter of get_weather", set[1].SchemaError);
        Assert.AreEqual(Verdict.ExactMatch, set[2].Verdict, "an emission prompt has no gold arguments: the verdict stays");
        Assert.AreEqual("'target_language' is not a parameter of write_file", set[2].SchemaError);
        var m = EvalMetrics.Compute(set);
        Assert.AreEqual(2 / 4.0, m["args_schema_valid"]!.Value, 1e-12); // A and H of 4 checked calls
        Assert.AreEqual(4, m.Counts["schema_checked_calls"]);
        CollectionAssert.AreEqual(new[] { "B", "E" }, GateEvaluator.WorstExamples("args_schema_valid", set, 5).Select(s => s.Id).ToArray());
        Assert.IsNull(EvalMetrics.Compute([set[^1]])["args_schema_valid"], "no call, nothing to check");

        var evaluation = new ModelEvaluation("tuned", "m", set, m, [], new EvalSpeed(1, 0, 0, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.FromSeconds(1)));
        var md = ReportWriter.Render(new ReportInput { Tuned = evaluation, Options = new GenerationOptions(64, 0, [], 1) });
        StringAssert.Contains(md, "## Arguments outside the tool's schema");
        StringAssert.Contains(md, "(`args_schema_valid`: 50.0 %)");
        StringAssert.Contains(md, """- `E`: `<tool_call>{"name": "write_file", "arguments": {"path": "a.txt", "content": "x", "target_language": "Paris"}}</tool_call>` — 'target_language' is not a parameter of write_file""");
        CollectionAssert.AreEqual(new[] { "B", "E" }, ReportWriter.SchemaExamples(set).Select(l => l[1..2]).ToArray());
        var clean = EvalMetrics.Compute([set[0]]);
        Assert.IsFalse(ReportWriter.Render(new ReportInput { Tuned = new ModelEvaluation("tuned", "m", [set[0]], clean, [], new EvalSpeed(1, 0, 0, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.FromSeconds(1))), Options = new GenerationOptions(64, 0, [], 1) })
            .Contains("outside the tool's schema"));
    }
}
