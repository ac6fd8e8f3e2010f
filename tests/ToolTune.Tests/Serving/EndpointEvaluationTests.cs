using System.Text.Json.Nodes;
using ToolTune.Cli.Serving;
using ToolTune.Evaluation.Endpoint;
using ToolTune.Pipeline;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Tests.Serving;

/// <summary>
/// The Evaluate stage through <c>eval.endpoint</c> pointing at <c>tooltune serve</c> gives the in-process Evaluate's
/// metrics on the same models: the raw path (token-id completions, ids back) every metric and every verdict, the served
/// path (chat completions, the server's <c>tool_calls</c>) every metric the API can show; base and tuned as two endpoints.
/// </summary>
[TestClass]
public sealed class EndpointEvaluationTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task EvaluateThroughServeEqualsInProcess()
    {
        var model = QuickDemoModel.Get();
        var baseOverrides = string.Join(';', QuickDemoModel.Overrides);

        PipelineApi.RunStage(model.Config, model.Root, baseOverrides, "Evaluate", NullPipelineLog.Instance, CancellationToken.None);
        var evalDir = Path.Combine(model.Root, "artifacts", "demo", "eval");
        var inProcess = JsonNode.Parse(File.ReadAllText(Path.Combine(evalDir, "metrics.json")))!;
        var inProcessSamples = Verdicts(Path.Combine(evalDir, "samples.jsonl"), served: false);

        await using var host = await ServedTestHost.StartAsync(model.MergedDir, new ServerOptions { Concurrency = 2, MaxQueue = 8 }, name: "tuned");
        await using var baseHost = await ServedTestHost.StartAsync(Path.Combine(model.Root, "data", "demo-model"), new ServerOptions { Concurrency = 2, MaxQueue = 8 }, name: "base");
        var endpoint = $"eval.endpoint={{url: \"{host.BaseUrl}/v1\", model: tuned, base_url: \"{baseHost.BaseUrl}/v1\", base_model: base, concurrency: 2, timeout_s: 120}}";
        PipelineApi.RunStage(model.Config, model.Root, baseOverrides + ";" + endpoint, "Evaluate", NullPipelineLog.Instance, CancellationToken.None);
        var through = JsonNode.Parse(File.ReadAllText(Path.Combine(evalDir, "metrics.json")))!;
        var report = File.ReadAllText(Path.Combine(evalDir, "report.md"));
        TestContext.WriteLine(report[report.IndexOf("## Raw vs served", StringComparison.Ordinal)..]);

        Assert.AreEqual(128, inProcess["tuned"]!["counts"]!["samples"]!.GetValue<int>(), "108 tool-eval items + 20 emission prompts");
        Assert.IsTrue(inProcess["tuned"]!["metrics"]!["emission_rate"]!.GetValue<double>() >= 0.7, "the quick model emits calls (measured 0.75)");
        Assert.AreEqual(0.0, inProcess["base"]!["metrics"]!["emission_rate"]!.GetValue<double>(), "the demo base code-dumps");
        foreach (var who in new[] { "tuned", "base" })
        {
            var expected = (JsonObject)inProcess[who]!["metrics"]!;
            var raw = (JsonObject)through[who]!["metrics"]!;
            var served = (JsonObject)through["served"]![who]!["metrics"]!;
            foreach (var (name, value) in expected)
            {
                if (name is "eval_loss" or "perplexity") continue; // in-process only: validation loss needs the weights here
                Assert.IsTrue(JsonNode.DeepEquals(value, raw[name]), $"{who} raw path {name}: {raw[name]} vs in-process {value}");
                if (ServedEvaluation.RawOnlyMetrics.Contains(name)) Assert.IsNull(served[name], $"{name} is not observable on the served path");
                else Assert.IsTrue(JsonNode.DeepEquals(value, served[name]), $"{who} served path {name}: {served[name]} vs in-process {value}");
            }
        }
        Assert.AreEqual(256, inProcessSamples.Count, "base and tuned samples");
        CollectionAssert.AreEqual(inProcessSamples, Verdicts(Path.Combine(evalDir, "samples.jsonl"), served: false), "raw verdicts");
        CollectionAssert.AreEqual(inProcessSamples, Verdicts(Path.Combine(evalDir, "samples.jsonl"), served: true), "served verdicts");
        StringAssert.Contains(report, "Tuned verdicts that differ between the paths: 0 of 128.");
        StringAssert.Contains(report, EndpointRawGenerator.PathDescription);
        StringAssert.Contains(report, ServedEvaluation.PathDescription);
    }

    private static List<string> Verdicts(string samplesJsonl, bool served) =>
        File.ReadLines(samplesJsonl).Select(l => JsonNode.Parse(l)!)
            .Where(n => (n["path"]?.GetValue<string>() == "served") == served)
            .Select(n => $"{n["model"]} {n["id"]}: {n["verdict"]}").ToList();
}
