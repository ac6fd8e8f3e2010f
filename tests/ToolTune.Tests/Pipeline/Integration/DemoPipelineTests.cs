using System.Text.Json.Nodes;
using ToolTune.Data;
using ToolTune.Demo;

namespace ToolTune.Tests.Pipeline.Integration;

/// <summary>
/// The embedded default through real <c>dotnet build Pipeline.proj</c> processes on a temporary copy of the repository,
/// exactly the README's main job (no <c>-p:Config</c>: the embedded default, configs/demo.yaml):
/// 1. all five stages run and the report tells the story: the base code-dumps and never emits <c>&lt;tool_call&gt;</c>,
///    the tuned model passes the config's hard gates on held-out prompts (the build itself fails when a gate misses);
/// 2. a second build runs nothing;
/// 3. a whitespace-only edit of the demo data reruns PrepareData but not TrainLora (its shards are the same bytes),
///    and an edit of one conversation's text makes TrainLora onward stale because the shards changed.
/// </summary>
[TestClass]
[TestCategory("Integration")]
[DoNotParallelize]
public sealed class DemoPipelineTests
{
    public TestContext TestContext { get; set; } = null!;

    private static readonly string[] Stages = ["PrepareData", "VerifyTokens", "TrainLora", "MergeAdapter", "Evaluate"];
    private const string ToolData = "data/demo/hermes_tools.json";

    [TestMethod]
    public void EmbeddedDefaultTeachesTheCodeDumpingBaseToEmitToolCalls()
    {
        using var sandbox = PipelineSandbox.Create(testStages: false, "data");
        sandbox.Timeout = TimeSpan.FromMinutes(15);

        // 1. The whole default, gates enforced by the build.
        var first = sandbox.BuildDefault();
        TestContext.WriteLine(first.ToString());
        Assert.IsTrue(first.Succeeded, first.ToString());
        foreach (var s in Stages) Assert.IsTrue(first.Ran(s), $"{s} should run\n{first}");
        Assert.IsFalse(first.Output.Contains("warning TT7000", StringComparison.Ordinal), $"a gate missed\n{first}");
        // The project's own data is clean: no-call conversations are training data (data.keep_no_call), held-out prompts are
        // left out with one counted line, so a newcomer's first build prints no data warning.
        Assert.IsFalse(System.Text.RegularExpressions.Regex.IsMatch(first.Output, @"warning TT\d{4}"), $"the default build warned\n{first}");

        var metrics = JsonNode.Parse(File.ReadAllText(sandbox.PathOf("artifacts/demo/eval/metrics.json")))!;
        double M(string model, string name) => (double)metrics[model]!["metrics"]![name]!;
        TestContext.WriteLine($"base: emission {M("base", "emission_rate")}, code-dump {M("base", "code_dump_rate")}, start {M("base", "start_token_rate")}");
        TestContext.WriteLine($"tuned: emission {M("tuned", "emission_rate")}, name F1 {M("tuned", "name_f1")}, JSON-valid {M("tuned", "json_valid")}, " +
                              $"hallucination {M("tuned", "hallucination_rate")}, call F1 {M("tuned", "tool_call_f1")}, args exact {M("tuned", "args_exact_match")}, " +
                              $"intent preserved {M("tuned", "intent_preserved")}; base intent correct {M("base", "base_intent_correct")}");
        Assert.AreEqual(0, M("base", "emission_rate"), "the base must never emit a parsable call");
        Assert.AreEqual(0, M("base", "start_token_rate"), "the base must never produce <tool_call>");
        // Every tool request gets Python (measured: all 35), after tool responses too: the base trained on whole conversations.
        Assert.IsTrue(M("base", "code_dump_rate") >= 0.9, "the base should answer tool requests with Python code");
        // The tuned side: configs/demo.yaml's hard gates held (the build would have failed), and the story in numbers.
        Assert.IsTrue(M("tuned", "start_token_rate") >= 0.95, "the tuned model should open its calls with <tool_call>");
        Assert.IsTrue(M("tuned", "code_dump_rate") <= 0.05, "the tuned model should no longer answer with Python");
        Assert.IsTrue(M("tuned", "emission_rate") >= 0.7, "the tuned model should call on the held-out emission prompts");
        Assert.IsTrue(M("tuned", "emission_tool_match") >= 0.55, "the tuned model should call the emission prompt's own tool");
        Assert.IsTrue(M("tuned", "name_f1") >= 0.9, "the tuned model should name the right tools");
        Assert.IsTrue(M("tuned", "json_valid") >= 0.95, "the tuned model should write parsable JSON");
        Assert.IsTrue(M("tuned", "args_schema_valid") >= 0.9, "the tuned model's arguments should fit their tool's parameters");
        Assert.IsTrue(M("tuned", "hallucination_rate") <= 0.05, "the tuned model should not call when no call is expected");
        // The story in the intent metrics: the base's Python means the right calls (measured 32 of 35), and the tuned model
        // makes them as <tool_call> calls with the request's values.
        Assert.IsTrue(M("base", "base_intent_correct") >= 0.85, "the base's code should make the gold calls");
        Assert.IsTrue(M("tuned", "tool_call_f1") >= 0.8, "the tuned model's calls should be the gold calls");
        Assert.IsTrue(M("tuned", "args_exact_match") >= 0.85, "the tuned model should keep the request's argument values");
        Assert.IsTrue(M("tuned", "intent_preserved") >= 0.55, "the tuned model should make the calls the base wrote as code");
        // base_intent_correct measures copying, not recall: the base never trained on a held-out request for a call
        // (DemoBase.LoraRequests; small talk and general questions come from small pools and do recur).
        var trained = DemoBase.TrainingConversations(new DemoBaseOptions())
            .SelectMany(c => c.Messages).Where(m => m.Role == Roles.User).Select(m => m.Content).ToHashSet(StringComparer.Ordinal);
        var heldOut = File.ReadLines(sandbox.PathOf("artifacts/demo/prepared/tool_eval.jsonl")).Select(l => JsonNode.Parse(l)!)
            .Where(item => (bool)item["expect_call"]!)
            .Select(item => item["messages"]!.AsArray().Last(m => (string)m!["role"]! == "user")!["content"]!.GetValue<string>())
            .Distinct().ToList();
        Assert.IsTrue(heldOut.Count >= 30, $"{heldOut.Count} held-out requests for a call");
        CollectionAssert.AreEqual(Array.Empty<string>(), heldOut.Where(trained.Contains).ToArray(), "held-out requests the base was trained on");
        var report = File.ReadAllText(sandbox.PathOf("artifacts/demo/eval/report.md"));
        StringAssert.Contains(report, "emission_rate");
        StringAssert.Contains(report, "Code → tool call");

        // 2. Nothing to do.
        var second = sandbox.BuildDefault();
        TestContext.WriteLine(second.ToString());
        Assert.IsTrue(second.Succeeded, second.ToString());
        foreach (var s in Stages) Assert.IsTrue(second.Skipped(s) && !second.Ran(s), $"{s} should be skipped\n{second}");

        // 3a. The same records with trailing blank lines (every record keeps its line): PrepareData reruns (its
        // input file changed), its shards are the same bytes, so nothing downstream reruns.
        File.AppendAllText(sandbox.PathOf(ToolData), "\n\n");
        var third = sandbox.BuildDefault();
        TestContext.WriteLine(third.ToString());
        Assert.IsTrue(third.Succeeded, third.ToString());
        Assert.IsTrue(third.Ran("PrepareData"), third.ToString());
        foreach (var s in Stages.Skip(1)) Assert.IsFalse(third.Ran(s), $"{s} should not rerun: the shards did not change\n{third}");

        // 3b. One conversation's answer edited: PrepareData's shards change, so TrainLora onward is stale
        // because of that (checked without paying for the retraining: -t:VerifyTokens, then the Status target).
        var records = JsonNode.Parse(File.ReadAllText(sandbox.PathOf(ToolData)))!.AsArray();
        var edited = records.Select(r => r!["conversations"]!.AsArray()).First(c => c.Count > 4);
        var last = edited[^1]!;
        last["value"] = (string)last["value"]! + " Anything else?";
        File.WriteAllText(sandbox.PathOf(ToolData), records.ToJsonString());
        var fourth = sandbox.MSBuild(null, "-t:VerifyTokens");
        TestContext.WriteLine(fourth.ToString());
        Assert.IsTrue(fourth.Succeeded && fourth.Ran("PrepareData"), fourth.ToString());
        var status = sandbox.MSBuild(null, "-t:Status");
        TestContext.WriteLine(status.ToString());
        Assert.IsTrue(status.Succeeded, status.ToString());
        StringAssert.Matches(status.Output, new System.Text.RegularExpressions.Regex(@"TrainLora\s+STALE\s+(?:.*\n)*?.*output of upstream stage PrepareData changed"));
        StringAssert.Matches(status.Output, new System.Text.RegularExpressions.Regex(@"PrepareData\s+up to date"));
    }
}
