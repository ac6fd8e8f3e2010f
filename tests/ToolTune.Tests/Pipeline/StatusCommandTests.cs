using ToolTune.Pipeline.Stages;

namespace ToolTune.Tests.Pipeline;

[TestClass]
[DoNotParallelize] // redirects Console
public sealed class StatusCommandTests
{
    private static (int Exit, string Out, string Err) Invoke(params string[] args) => CliInvoker.Invoke(args);

    [TestMethod]
    public void ReportsLikeTheStatusTargetAndLocatesConfigErrors()
    {
        using var dir = new TempDir();
        dir.File("Pipeline.proj", "<Project />");
        dir.File("data/a.jsonl", "{}\n");
        var config = dir.File("configs/c.yaml", "run:\n  name: cli\ndata:\n  sources:\n    - path: data/a.jsonl\n");

        var fresh = Invoke("status", "--config", config, "--stage", "Snapshot");
        Assert.AreEqual(0, fresh.Exit, fresh.Err);
        StringAssert.Contains(fresh.Out, "ToolTune status: run 'cli' (configs/c.yaml)");
        StringAssert.Contains(fresh.Out, "never run for this run name");

        StageRunner.Run(ToolTune.Pipeline.Config.ConfigLoader.Load(config, dir.Path), "Snapshot", NullPipelineLog.Instance);
        StringAssert.Contains(Invoke("status", "--config", config, "--stage", "Snapshot").Out, "Snapshot  up to date");
        var overridden = Invoke("status", "--config", config, "--stage", "Snapshot", "--set", "data.sources=[{path: data/a.jsonl, kind: general}]");
        StringAssert.Contains(overridden.Out, "data.sources[0].kind: \"tool\" -> \"general\"");
        Assert.IsFalse(Directory.Exists(Path.Combine(dir.Path, "artifacts", "cli", ".tmp-Snapshot")));

        var bad = Invoke("status", "--config", config, "--set", "data.tool_ratio=2");
        Assert.AreEqual(1, bad.Exit);
        StringAssert.Contains(bad.Err, "error TT2004: in override 'data.tool_ratio=2'");
    }
}
