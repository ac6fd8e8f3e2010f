using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Evaluation;
using ToolTune.Pipeline;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Tests.Pipeline;

/// <summary>
/// The Evaluate stage class on the embedded default config (demo tokenizer, fixed template, emission prompts) with the demo
/// base model standing in for the merged model: PrepareData runs for real (tool_eval.jsonl + val shards), the demo model is
/// copied to <c>artifacts/&lt;run&gt;/merged/</c> as MergeAdapter would write it, and Evaluate runs directly (its MSBuild
/// target: <c>EvaluateIntegrationTests</c>).
/// </summary>
[TestClass]
public sealed class EvaluateStageTests
{
    private sealed class ListLog : IPipelineLog
    {
        public List<string> Warnings { get; } = [];
        public List<string> Messages { get; } = [];
        public void Message(string text, bool important = false) => Messages.Add(text);
        public void Warning(string code, string message, string? file = null, int line = 0, int column = 0) => Warnings.Add($"{file}: warning {code}: {message}");
    }

    private static (TempDir Dir, string Prepared) Setup()
    {
        var repo = SharedFixtures.RepoRoot;
        var dir = new TempDir();
        dir.File("Pipeline.proj", "<Project />");
        foreach (var f in new[] { "configs/sample.yaml", "configs/templates/smollm3-tool-fixed.jinja", "data/samples/hermes_sample.json",
                     "data/samples/general_sample.jsonl", "data/eval/emission_prompts.jsonl" })
            File.Copy(Path.Combine(repo, f), dir.File(f));
        foreach (var f in Directory.EnumerateFiles(Path.Combine(repo, "data", "demo-model")))
            File.Copy(f, dir.File("data/demo-model/" + Path.GetFileName(f)));
        PipelineApi.RunStage(dir.File("configs/sample.yaml"), dir.Path, null, "PrepareData", NullPipelineLog.Instance, CancellationToken.None);
        var run = Path.Combine(dir.Path, "artifacts", "sample");
        foreach (var f in Directory.EnumerateFiles(Path.Combine(dir.Path, "data", "demo-model")))
            File.Copy(f, dir.File("artifacts/sample/merged/" + Path.GetFileName(f)));
        dir.File("artifacts/sample/adapter/loss.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
        return (dir, Path.Combine(run, "prepared"));
    }

    private static string RunEvaluate(TempDir dir, IPipelineLog log, params string[] overrides)
    {
        var temp = Path.Combine(dir.Path, "artifacts", "sample", ".tmp-Evaluate-test-" + Guid.NewGuid().ToString("N")[..6]);
        RunEvaluateIn(dir, log, temp, overrides);
        return temp;
    }

    private static void RunEvaluateIn(TempDir dir, IPipelineLog log, string temp, params string[] overrides)
    {
        var config = ConfigLoader.Load("configs/sample.yaml", dir.Path, overrides);
        Directory.CreateDirectory(temp);
        new EvaluateStage().Run(new StageContext(config, RunLayout.For(config), temp, log, CancellationToken.None));
    }

    [TestMethod]
    public void EvaluateWritesBaseAndTunedMetricsReportAndServingCommand()
    {
        var (dir, _) = Setup();
        using var _d = dir;
        var log = new ListLog();
        var outDir = RunEvaluate(dir, log);

        foreach (var f in new[] { "metrics.json", "metrics.csv", "samples.jsonl", "report.md", "metrics.svg", "loss.svg" })
            Assert.IsTrue(File.Exists(Path.Combine(outDir, f)), f);
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "metrics.json")))!;
        Assert.IsNotNull(metrics["base"]?["metrics"], "base metrics");
        Assert.IsNotNull(metrics["tuned"]?["metrics"], "tuned metrics");
        Assert.IsNotNull(metrics["tuned"]!["metrics"]!["emission_rate"], "emission prompts were evaluated");
        Assert.IsTrue(metrics["tuned"]!["metrics"]!["perplexity"]!.GetValue<double>() > 1, "validation perplexity from the val shards");
        var samples = File.ReadAllLines(Path.Combine(outDir, "samples.jsonl"));
        var items = File.ReadLines(dir.File("data/eval/emission_prompts.jsonl")).Count(l => l.Trim().Length > 0) + EvalItem.ReadFile(Path.Combine(dir.Path, "artifacts/sample/prepared/tool_eval.jsonl"), EvalItemKind.ToolEval).Count;
        Assert.AreEqual(2 * items, samples.Length, "one line per model x item");

        var report = File.ReadAllText(Path.Combine(outDir, "report.md"));
        StringAssert.Contains(report, "## Before / after");
        StringAssert.Contains(report, "| metric | base | tuned | Δ |");
        StringAssert.Contains(report, "vllm serve artifacts/sample/merged --enable-auto-tool-choice --tool-call-parser hermes");
        StringAssert.Contains(report, "](loss.svg)");
        // The default's gates are warn-only (random-init demo base): misses are warnings located at the config.
        Assert.IsTrue(log.Warnings.Any(w => w.Contains("warning TT7000") && w.Contains("emission_rate") && w.Contains("sample.yaml")), string.Join("\n", log.Warnings));
    }

    [TestMethod]
    public void MissedGateThrowsTT7000NamingMetricThresholdAndActualAndKeepsTheReport()
    {
        var (dir, _) = Setup();
        using var _d = dir;
        var outDir = Path.Combine(dir.Path, "artifacts", "sample", ".tmp-Evaluate-test");
        var e = Assert.ThrowsExactly<ToolTuneException>(() =>
            RunEvaluateIn(dir, new ListLog(), outDir, "eval.gates=[\"emission_rate >= 0.5\"]", "eval.compare_base=false", "eval.max_new_tokens=8"));
        Assert.AreEqual(ErrorCodes.EvalGateFailed, e.Code);
        StringAssert.Contains(e.Message, "emission_rate");
        StringAssert.Contains(e.Message, "0.5");
        StringAssert.Contains(e.Message, "emit-");       // worst examples
        StringAssert.EndsWith(e.File!, "sample.yaml");
        // The report is written before the gates are enforced; StageRunner keeps it as eval-failed/ (the integration
        // test checks the folder), which the error names.
        Assert.IsTrue(File.Exists(Path.Combine(outDir, "report.md")));
        Assert.IsTrue(new EvaluateStage().KeepsFailedOutput(e));
        StringAssert.Contains(e.Message, Path.Combine(dir.Path, "artifacts", "sample", "eval-failed", "report.md"));
    }
}
