namespace ToolTune.Tests.Pipeline.Integration;

/// <summary>
/// Real `dotnet build Pipeline.proj` processes on a temporary copy of the repository, with the Snapshot test
/// stage (TestPipeline.targets). The copy is built once per class; each test uses its own run name and data.
/// </summary>
[TestClass]
[TestCategory("Integration")]
[DoNotParallelize]
public sealed class PipelineIntegrationTests
{
    private static PipelineSandbox? _sandbox;
    private static BuildRun? _warmUp;

    public TestContext TestContext { get; set; } = null!;

    private static PipelineSandbox Sandbox => _sandbox ?? throw new InvalidOperationException("ClassInitialize did not run.");

    [ClassInitialize]
    public static void BuildOnce(TestContext _)
    {
        _sandbox = PipelineSandbox.Create();
        WriteRun("warm");
        // First build of the copy: restore phase, task assembly + library + CLI compile, then the stage.
        _warmUp = Sandbox.Build("configs/warm.yaml");
    }

    [ClassCleanup]
    public static void Cleanup() => _sandbox?.Dispose();

    /// <summary>A config <c>configs/&lt;run&gt;.yaml</c> reading the folder <c>data-&lt;run&gt;/</c> (two JSONL files).</summary>
    private static string WriteRun(string run, string evalBlock = "eval:\n  max_new_tokens: 64\n")
    {
        Sandbox.Write($"data-{run}/a.jsonl", "{\"id\": 1}\n{\"id\": 2}\n");
        Sandbox.Write($"data-{run}/b.jsonl", "{\"id\": 3}\n");
        Sandbox.Write($"configs/{run}.yaml", $"""
            # integration-test run
            run:
              name: {run}
              seed: 1
            data:
              sources:
                - path: data-{run}
                  format: hermes
              tool_ratio: 0.7
            {evalBlock}
            """);
        return $"configs/{run}.yaml";
    }

    private void Log(BuildRun run) => TestContext.WriteLine(run.ToString());

    private BuildRun AssertBuild(BuildRun run, bool ran)
    {
        Log(run);
        Assert.IsTrue(run.Succeeded, run.ToString());
        if (ran) Assert.IsTrue(run.Ran("Snapshot"), "expected the stage to run\n" + run);
        else Assert.IsFalse(run.Ran("Snapshot"), "expected the stage to be skipped\n" + run);
        return run;
    }

    [TestMethod]
    public void FirstBuildRunsTheStageAndTheSecondSkipsIt()
    {
        Log(_warmUp!);
        Assert.IsTrue(_warmUp!.Succeeded, _warmUp.ToString());
        Assert.IsTrue(_warmUp.Ran("Snapshot"), _warmUp.ToString());
        Assert.IsTrue(File.Exists(Sandbox.PathOf("artifacts/warm/snapshot/manifest.json")));
        Assert.IsTrue(File.Exists(Sandbox.PathOf("artifacts/warm/pipeline.lock.json")));

        var second = AssertBuild(Sandbox.Build("configs/warm.yaml"), ran: false);
        Assert.IsTrue(second.Skipped("Snapshot"), second.ToString());
        TestContext.WriteLine($"no-op `dotnet build Pipeline.proj`: {second.Elapsed.TotalSeconds:0.00} s");
        var third = AssertBuild(Sandbox.MSBuild("configs/warm.yaml"), ran: false);
        TestContext.WriteLine($"no-op `dotnet msbuild Pipeline.proj`: {third.Elapsed.TotalSeconds:0.00} s");
        Assert.IsTrue(second.Elapsed < TimeSpan.FromSeconds(60), "a no-op build must stay cheap");
    }

    [TestMethod]
    public void TouchSkipsEditRerunsUnrelatedConfigSkipsDeletedOutputReruns()
    {
        var config = WriteRun("incr");
        AssertBuild(Sandbox.MSBuild(config), ran: true);

        // touch: content unchanged -> skipped.
        File.SetLastWriteTimeUtc(Sandbox.PathOf("data-incr/a.jsonl"), DateTime.UtcNow.AddSeconds(5));
        AssertBuild(Sandbox.MSBuild(config), ran: false);

        // A real edit of one record -> reruns.
        Sandbox.Write("data-incr/a.jsonl", "{\"id\": 1}\n{\"id\": 20}\n");
        AssertBuild(Sandbox.MSBuild(config), ran: true);

        // Editing an unrelated section (eval:), a comment and key order -> nothing reruns.
        Sandbox.Write(config, File.ReadAllText(Sandbox.PathOf(config))
            .Replace("max_new_tokens: 64", "max_new_tokens: 128  # longer")
            .Replace("  seed: 1\n", "  seed: 1\n  # a comment\n"));
        AssertBuild(Sandbox.MSBuild(config), ran: false);
        AssertBuild(Sandbox.MSBuild(config, "-p:Override=eval.temperature=0.7"), ran: false);

        // A deleted output -> its stage reruns (and restores it).
        File.Delete(Sandbox.PathOf("artifacts/incr/snapshot/manifest.json"));
        AssertBuild(Sandbox.MSBuild(config), ran: true);
        Assert.IsTrue(File.Exists(Sandbox.PathOf("artifacts/incr/snapshot/manifest.json")));
        AssertBuild(Sandbox.MSBuild(config), ran: false);

        // A deleted input file -> reruns; an override of a key the stage reads -> reruns (MSBuild splits -p: values on
        // ',' and ';', so an override list with commas is quoted).
        File.Delete(Sandbox.PathOf("data-incr/b.jsonl"));
        AssertBuild(Sandbox.MSBuild(config), ran: true);
        AssertBuild(Sandbox.MSBuild(config, "-p:Override=\"data.sources=[{path: data-incr/a.jsonl, kind: general}];eval.temperature=0.5\""), ran: true);
    }

    [TestMethod]
    public void DownstreamStageFollowsUpstreamOutputsNotUpstreamRuns()
    {
        var config = WriteRun("chain");
        var first = AssertBuild(Sandbox.MSBuild(config), ran: true);
        Assert.IsTrue(first.Ran("SnapshotSummary"), first.ToString());

        // Upstream re-runs (its output was deleted) but produces the same bytes: downstream is skipped (early cutoff).
        File.Delete(Sandbox.PathOf("artifacts/chain/snapshot/manifest.json"));
        var cutoff = AssertBuild(Sandbox.MSBuild(config), ran: true);
        Assert.IsFalse(cutoff.Ran("SnapshotSummary"), cutoff.ToString());
        Assert.IsTrue(cutoff.Skipped("SnapshotSummary"), cutoff.ToString());

        // A key only the downstream stage reads (run.seed): only it re-runs.
        var seed = AssertBuild(Sandbox.MSBuild(config, "-p:Override=run.seed=2"), ran: false);
        Assert.IsTrue(seed.Ran("SnapshotSummary"), seed.ToString());

        // Data edit, asking for the downstream target alone: both run, upstream first.
        Sandbox.Write("data-chain/b.jsonl", "{\"id\": 3}\n{\"id\": 4}\n");
        var single = AssertBuild(Sandbox.MSBuild(config, "-p:Override=run.seed=2", "-t:SnapshotSummary"), ran: true);
        Assert.IsTrue(single.Ran("SnapshotSummary"), single.ToString());
        Assert.IsTrue(single.Output.IndexOf("Stage Snapshot: running", StringComparison.Ordinal)
                      < single.Output.IndexOf("Stage SnapshotSummary: running", StringComparison.Ordinal));
        StringAssert.Contains(File.ReadAllText(Sandbox.PathOf("artifacts/chain/snapshot-summary/summary.json")), "\"lines\":4");
    }

    [TestMethod]
    public void SingleStageTargetStatusAndClean()
    {
        var config = WriteRun("single");
        AssertBuild(Sandbox.MSBuild(config, "-t:Snapshot"), ran: true);

        var upToDate = Sandbox.MSBuild(config, "-t:Status");
        Log(upToDate);
        StringAssert.Contains(upToDate.Output, "Snapshot         up to date");
        StringAssert.Contains(upToDate.Output, "SnapshotSummary  STALE"); // -t:Snapshot ran only the upstream stage

        Sandbox.Write("data-single/b.jsonl", "{\"id\": 30}\n");
        var lockBefore = File.ReadAllText(Sandbox.PathOf("artifacts/single/pipeline.lock.json"));
        var stale = Sandbox.MSBuild(config, "-t:Status");
        Log(stale);
        Assert.IsTrue(stale.Succeeded, stale.ToString());
        StringAssert.Contains(stale.Output, "Snapshot         STALE");
        StringAssert.Contains(stale.Output, "upstream stage Snapshot is stale");
        StringAssert.Contains(stale.Output, "file data-single/b.jsonl content changed");
        Assert.IsFalse(stale.Ran("Snapshot"), "Status must not run stages");
        Assert.AreEqual(lockBefore, File.ReadAllText(Sandbox.PathOf("artifacts/single/pipeline.lock.json")));

        // The CLI reports the same.
        var cli = Sandbox.Cli("status", "--config", Sandbox.PathOf(config), "--stage", "Snapshot", "--stage", "SnapshotSummary");
        Log(cli);
        Assert.IsTrue(cli.Succeeded, cli.ToString());
        StringAssert.Contains(cli.Output, "file data-single/b.jsonl content changed");

        var clean = Sandbox.MSBuild(config, "-t:Clean");
        Log(clean);
        Assert.IsTrue(clean.Succeeded, clean.ToString());
        Assert.IsFalse(Directory.Exists(Sandbox.PathOf("artifacts/single")));
        Assert.IsTrue(Directory.Exists(Sandbox.PathOf("artifacts/warm")), "Clean removes only the selected run");
    }

    [TestMethod]
    public void ConfigTypoFailsTheBuildWithFileLineAndColumn()
    {
        var config = WriteRun("typo", evalBlock: "eval:\n  max_new_tokns: 64\n");
        var run = Sandbox.MSBuild(config);
        Log(run);
        Assert.AreNotEqual(0, run.ExitCode);
        StringAssert.Contains(run.Output, "typo.yaml(11,3): error TT2002: Unknown key 'max_new_tokns' in 'eval'. Did you mean 'max_new_tokens'?");
        Assert.IsFalse(run.Ran("Snapshot"));
        Assert.IsFalse(Directory.Exists(Sandbox.PathOf("artifacts/typo")), "nothing half written");
    }
}
