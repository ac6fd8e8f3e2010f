using System.Text.Json.Nodes;
using ToolTune.Evaluation;
using ToolTune.Evaluation.Endpoint;
using ToolTune.Tests.Pipeline;

namespace ToolTune.Tests.Serving;

[TestClass]
public sealed class ServedOnlyEvaluationTests
{
    /// <summary>
    /// <c>raw: false</c> (a server that cannot return token ids): the served path alone is the evaluation, and gates apply to
    /// it. On the code-dumping demo base it finds what the in-process evaluation finds, from the server's content alone:
    /// the same code dumps and missing calls, item by item.
    /// </summary>
    [TestMethod]
    public async Task ServedPathAloneMatchesInProcessOnTheCodeDumpingBase()
    {
        var model = Path.Combine(SharedFixtures.RepoRoot, "data", "demo-model");
        var prompts = Path.Combine(SharedFixtures.RepoRoot, "data", "eval", "emission_prompts.jsonl");
        using var dir = new TempDir("tt-served-only-");
        var date = DateTime.ParseExact(QuickDemoModel.TemplateDate, "yyyy-MM-dd", null);
        var eval = new EvaluationOptions { MaxNewTokens = 96, Gates = [GateEvaluator.Parse("emission_rate <= 0.1")] };
        var inProcess = new StandaloneEvaluation
        {
            ModelDir = model, PromptsFile = prompts, OutputDir = Path.Combine(dir.Path, "in-process"), Eval = eval,
            TemplateKwargs = new JsonObject { ["enable_thinking"] = false }, TemplateDate = date,
        }.Run(CancellationToken.None);

        await using var host = await ServedTestHost.StartAsync(model, new ToolTune.Cli.Serving.ServerOptions { Concurrency = 2 }, name: "base");
        var served = new StandaloneEvaluation
        {
            ModelDir = model, PromptsFile = prompts, OutputDir = Path.Combine(dir.Path, "served"), Eval = eval,
            TemplateKwargs = new JsonObject { ["enable_thinking"] = false }, TemplateDate = date,
            Endpoint = new EndpointOptions { Url = host.BaseUrl + "/v1", Model = "base", Concurrency = 2, Raw = false },
        }.Run(CancellationToken.None);

        Assert.AreEqual(ServedEvaluation.PathDescription, served.Tuned.Path);
        Assert.IsNull(served.ServedTuned, "served is the primary path, not a second one");
        Assert.AreEqual(1, served.Gates.Count);
        Assert.IsTrue(served.Gates[0].Passed, "gates apply to the served path");
        var dumps = inProcess.Tuned.Samples.Count(s => s.Verdict == Verdict.CodeDump);
        Assert.IsTrue(dumps >= 5, $"the demo base code-dumps: {dumps}; " + string.Join(", ", inProcess.Tuned.Samples.Select(s => s.Verdict)));
        CollectionAssert.AreEqual(inProcess.Tuned.Samples.Select(s => $"{s.Id} {s.Verdict} {s.CodeDump?.ToolName}").ToList(),
            served.Tuned.Samples.Select(s => $"{s.Id} {s.Verdict} {s.CodeDump?.ToolName}").ToList());
        foreach (var (name, value) in inProcess.Tuned.Metrics.Values)
            if (!ServedEvaluation.RawOnlyMetrics.Contains(name))
                Assert.AreEqual(value, served.Tuned.Metrics[name], name);
        var report = File.ReadAllText(Path.Combine(dir.Path, "served", EvaluationRun.ReportMd));
        StringAssert.Contains(report, "Path of these metrics: " + ServedEvaluation.PathDescription);
        Assert.IsFalse(report.Contains("## Raw vs served"));
    }
}
