using ToolTune.Diagnostics;
using ToolTune.Pipeline;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Fingerprints;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Tests.Pipeline;

[TestClass]
public sealed class StageRunnerTests
{
    /// <summary>A stage that copies the data like Snapshot, then optionally fails or waits for cancellation.</summary>
    private sealed class ProbeStage(string name, Func<StageContext, bool> beforeCommit, IReadOnlyCollection<string>? runRecords = null, bool keepsFailedOutput = false) : IStage
    {
        public string Name => name;
        public IReadOnlyCollection<string> RunRecordOutputs => runRecords ?? [];
        public bool KeepsFailedOutput(ToolTuneException failure) => keepsFailedOutput && failure.Code == ErrorCodes.StageFailed;
        public string Version => "1";
        public string OutputFolder => name.ToLowerInvariant();
        public IReadOnlyList<string> Upstream => [];
        public IReadOnlyList<string> ConfigKeys => ["data.sources", "run.seed"];
        public IEnumerable<string> InputFiles(LoadedConfig config) => SourceFiles.All(config);

        public void Run(StageContext context)
        {
            foreach (var f in InputFiles(context.Config))
                File.Copy(f, Path.Combine(context.OutputDir, Path.GetFileName(f)));
            if (!beforeCommit(context)) throw new ToolTuneException(ErrorCodes.StageFailed, "probe failure");
        }
    }

    private static LoadedConfig Setup(TempDir dir, string extra = "")
    {
        dir.File("data/a.jsonl", "{\"a\":1}\n");
        dir.File("data/b.jsonl", "{\"b\":1}\n");
        dir.File("configs/t.yaml", $"run:\n  name: unit\ndata:\n  sources:\n    - path: data\n{extra}");
        return ConfigLoader.Load("configs/t.yaml", dir.Path);
    }

    [TestMethod]
    public void RunRecordOutputsDoNotDefeatTheEarlyCutoff()
    {
        using var dir = new TempDir();
        var config = Setup(dir);
        var layout = RunLayout.For(config);
        var run = 0;
        bool WriteLog(StageContext c)
        {
            File.WriteAllText(Path.Combine(c.OutputDir, "log.csv"), $"elapsed,{++run}\n"); // differs on every run
            return true;
        }
        StageRegistry.Register(new ProbeStage("RecordProbe", WriteLog, ["log.csv"]));
        Assert.IsTrue(StageRunner.Run(config, "RecordProbe", NullPipelineLog.Instance).OutputChanged);
        var second = StageRunner.Run(config, "RecordProbe", NullPipelineLog.Instance);
        Assert.IsFalse(second.OutputChanged, "only the run record changed");
        Assert.IsTrue(PipelineManifest.Load(layout.ManifestPath).Stages["RecordProbe"].Outputs.ContainsKey("recordprobe/log.csv"));

        StageRegistry.Register(new ProbeStage("PlainProbe", WriteLog));
        StageRunner.Run(config, "PlainProbe", NullPipelineLog.Instance);
        Assert.IsTrue(StageRunner.Run(config, "PlainProbe", NullPipelineLog.Instance).OutputChanged, "without the declaration the log counts");
    }

    [TestMethod]
    public void AKeptFailureLeavesItsOutputsInTheFailedFolderUntilTheNextSuccess()
    {
        using var dir = new TempDir();
        var config = Setup(dir);
        var layout = RunLayout.For(config);
        var fail = false;
        bool Probe(StageContext c)
        {
            File.WriteAllText(Path.Combine(c.OutputDir, "report.md"), fail ? "failed\n" : "passed\n");
            return !fail;
        }
        StageRegistry.Register(new ProbeStage("KeptProbe", Probe, keepsFailedOutput: true));
        StageRegistry.Register(new ProbeStage("DroppedProbe", _ => false));
        var good = Path.Combine(layout.RunDir, "keptprobe");
        var failed = Path.Combine(layout.RunDir, "keptprobe-failed");
        StageRunner.Run(config, "KeptProbe", NullPipelineLog.Instance);

        fail = true;
        for (var i = 0; i < 2; i++) // the second failure replaces the first one's folder
        {
            Assert.ThrowsExactly<ToolTuneException>(() => StageRunner.Run(config, "KeptProbe", NullPipelineLog.Instance));
            Assert.AreEqual("failed\n", File.ReadAllText(Path.Combine(failed, "report.md")));
            Assert.IsTrue(File.Exists(Path.Combine(failed, "a.jsonl")), "the whole failed output is kept");
            Assert.AreEqual("passed\n", File.ReadAllText(Path.Combine(good, "report.md")), "the good output stays");
            Assert.AreEqual(0, Directory.GetDirectories(layout.RunDir, ".tmp-*").Length);
        }

        Assert.ThrowsExactly<ToolTuneException>(() => StageRunner.Run(config, "DroppedProbe", NullPipelineLog.Instance));
        Assert.IsFalse(Directory.Exists(Path.Combine(layout.RunDir, "droppedprobe-failed")), "a stage that keeps nothing leaves no folder");

        fail = false;
        StageRunner.Run(config, "KeptProbe", NullPipelineLog.Instance);
        Assert.IsFalse(Directory.Exists(failed), "a success removes the last failure's folder");
    }

    [TestMethod]
    public void SnapshotRunCommitsOutputsManifestAndStamps()
    {
        using var dir = new TempDir();
        var config = Setup(dir);
        var layout = RunLayout.For(config);
        var first = StageRunner.Run(config, "Snapshot", NullPipelineLog.Instance);
        Assert.IsTrue(first.OutputChanged);
        Assert.IsTrue(File.Exists(Path.Combine(layout.RunDir, "snapshot", "manifest.json")));
        Assert.IsTrue(File.Exists(layout.DoneStamp("Snapshot")));
        var record = PipelineManifest.Load(layout.ManifestPath).Stages["Snapshot"];
        Assert.AreEqual(3, record.Outputs.Count);
        Assert.IsTrue(record.Inputs.ContainsKey("file:data/a.jsonl"));
        Assert.IsTrue(record.Inputs.ContainsKey("config:data.sources"));
        Assert.AreEqual(0, Directory.GetDirectories(layout.RunDir, ".tmp-*").Length);

        // Same inputs again: the .out stamp keeps its content and timestamp (early cutoff for downstream stages).
        var outTime = DateTime.UtcNow.AddHours(-1);
        File.SetLastWriteTimeUtc(layout.OutStamp("Snapshot"), outTime);
        var second = StageRunner.Run(config, "Snapshot", NullPipelineLog.Instance);
        Assert.IsFalse(second.OutputChanged);
        Assert.AreEqual(outTime, File.GetLastWriteTimeUtc(layout.OutStamp("Snapshot")));
        Assert.IsTrue(File.GetLastWriteTimeUtc(layout.DoneStamp("Snapshot")) > outTime);

        var status = PipelineStatus.Compute(config, ["Snapshot"]).Single();
        Assert.IsFalse(status.Stale, string.Join("; ", status.Reasons));
    }

    [TestMethod]
    public void AFailedRunLeavesThePreviousGoodState()
    {
        using var dir = new TempDir();
        var config = Setup(dir);
        var layout = RunLayout.For(config);
        StageRegistry.Register(new ProbeStage("ProbeFail", _ => true));
        StageRunner.Run(config, "ProbeFail", NullPipelineLog.Instance);
        var manifestBefore = File.ReadAllText(layout.ManifestPath);
        var doneBefore = File.GetLastWriteTimeUtc(layout.DoneStamp("ProbeFail"));

        File.WriteAllText(Path.Combine(dir.Path, "data", "a.jsonl"), "{\"a\":2}\n");
        StageRegistry.Register(new ProbeStage("ProbeFail", _ => false));
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => StageRunner.Run(config, "ProbeFail", NullPipelineLog.Instance));
        Assert.AreEqual(ErrorCodes.StageFailed, ex.Code);
        Assert.AreEqual("{\"a\":1}\n", File.ReadAllText(Path.Combine(layout.RunDir, "probefail", "a.jsonl")), "old output kept");
        Assert.AreEqual(manifestBefore, File.ReadAllText(layout.ManifestPath));
        Assert.AreEqual(doneBefore, File.GetLastWriteTimeUtc(layout.DoneStamp("ProbeFail")));
        Assert.AreEqual(0, Directory.GetDirectories(layout.RunDir, ".tmp-*").Length);
        var status = PipelineStatus.Compute(config, ["ProbeFail"]).Single();
        Assert.IsTrue(status.Stale);
        CollectionAssert.Contains(status.Reasons.ToList(), "file data/a.jsonl content changed");
    }

    [TestMethod]
    public void CancellationLeavesThePreviousGoodState()
    {
        using var dir = new TempDir();
        var config = Setup(dir);
        var layout = RunLayout.For(config);
        StageRegistry.Register(new ProbeStage("ProbeCancel", _ => true));
        StageRunner.Run(config, "ProbeCancel", NullPipelineLog.Instance);

        using var cts = new CancellationTokenSource();
        StageRegistry.Register(new ProbeStage("ProbeCancel", ctx =>
        {
            cts.Cancel();
            ctx.Cancellation.ThrowIfCancellationRequested();
            return true;
        }));
        Assert.ThrowsExactly<OperationCanceledException>(() => StageRunner.Run(config, "ProbeCancel", NullPipelineLog.Instance, cts.Token));
        Assert.IsTrue(File.Exists(Path.Combine(layout.RunDir, "probecancel", "a.jsonl")));
        Assert.AreEqual(0, Directory.GetDirectories(layout.RunDir, ".tmp-*").Length);
    }

    [TestMethod]
    public void StatusExplainsWhy()
    {
        using var dir = new TempDir();
        var config = Setup(dir);
        Assert.AreEqual("never run for this run name", PipelineStatus.Compute(config, ["Snapshot"]).Single().Reasons.Single());
        StageRunner.Run(config, "Snapshot", NullPipelineLog.Instance);

        File.Delete(Path.Combine(dir.Path, "data", "b.jsonl"));
        var reasons = PipelineStatus.Compute(config, ["Snapshot"]).Single().Reasons;
        CollectionAssert.Contains(reasons.ToList(), "file data/b.jsonl was deleted");

        var overridden = ConfigLoader.Load("configs/t.yaml", dir.Path, ["data.sources=[{path: data/a.jsonl, kind: general}]"]);
        var configReasons = PipelineStatus.Compute(overridden, ["Snapshot"]).Single().Reasons;
        Assert.IsTrue(configReasons.Any(r => r.Contains("data.sources[0].kind: \"tool\" -> \"general\"")), string.Join("\n", configReasons));

        // Every product stage has an implementation now (Evaluate was the last): none reports "no implementation".
        Assert.IsFalse(PipelineStatus.Compute(config, ["Evaluate"]).Single().Reasons.Any(r => r.Contains("no implementation")));
        var text = PipelineStatus.Format(config, PipelineStatus.Compute(config, ["Snapshot"]));
        StringAssert.Contains(text, "Snapshot  STALE");
    }

    [TestMethod]
    public void DeletedOutputInvalidatesTheDoneStamp()
    {
        using var dir = new TempDir();
        var config = Setup(dir);
        var layout = RunLayout.For(config);
        StageRunner.Run(config, "Snapshot", NullPipelineLog.Instance);
        FingerprintService.Compute(config, ["Snapshot"], NullPipelineLog.Instance);
        Assert.IsTrue(File.Exists(layout.DoneStamp("Snapshot")));

        File.Delete(Path.Combine(layout.RunDir, "snapshot", "manifest.json"));
        var result = FingerprintService.Compute(config, ["Snapshot"], NullPipelineLog.Instance).Single();
        Assert.AreEqual("output snapshot/manifest.json was deleted", result.Invalidated);
        Assert.IsFalse(result.FileChanged);
        Assert.IsFalse(File.Exists(layout.DoneStamp("Snapshot")));
    }

    [TestMethod]
    public void UnknownAndUnimplementedStagesAreCodedErrors()
    {
        using var dir = new TempDir();
        var config = Setup(dir);
        // StageNotImplemented (TT2071) has no case left: every pipeline stage is registered.
        foreach (var stage in StageRegistry.PipelineStages) Assert.IsTrue(StageRegistry.TryGet(stage, out _), stage);
        Assert.AreEqual(ErrorCodes.StageUnknown,
            Assert.ThrowsExactly<ToolTuneException>(() => StageRunner.Run(config, "Nope", NullPipelineLog.Instance)).Code);
    }
}
