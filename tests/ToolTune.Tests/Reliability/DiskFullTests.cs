using System.Diagnostics;
using ToolTune.Diagnostics;
using ToolTune.Pipeline;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Tests.Reliability;

/// <summary>
/// A full disk or a read-only output file system fails every stage with a coded error naming the path
/// and the OS reason (TT2060 ENOSPC, TT2061 EROFS), leaves every earlier file byte-identical and no temporaries behind,
/// and the next run after space is freed (or the file system is writable again) succeeds with the same outputs. The
/// artifacts live on a real tmpfs (root only); where mounting is impossible the test is inconclusive, or fails under CI=true.
/// </summary>
[TestClass]
[TestCategory("Integration")]
[DoNotParallelize]
public sealed class DiskFullTests
{
    public TestContext TestContext { get; set; } = null!;

    private static string Config => Environment.GetEnvironmentVariable("TOOLTUNE_CRASH_CONFIG") is { Length: > 0 } c ? c : "configs/sample.yaml";

    [TestMethod]
    public void FullDiskAndReadOnlyOutputFailEveryStageCleanlyAndTheNextRunRecovers()
    {
        var root = SharedFixtures.RepoRoot;
        // run.artifacts_dir must stay inside the project (TT2007): the tmpfs is mounted under artifacts/.
        using var mount = TmpfsMount.Create("64m", Path.Combine(root, "artifacts"));
        var overrides = $"run.artifacts_dir={Path.GetRelativePath(root, mount.Path).Replace('\\', '/')};run.name=disk";
        var runDir = PipelineApi.RunDir(Config, root, overrides);
        void RunAll()
        {
            foreach (var stage in StageRegistry.PipelineStages)
                PipelineApi.RunStage(Config, root, overrides, stage, NullPipelineLog.Instance, CancellationToken.None);
        }
        RunAll();
        var outputs = RunOutputs.Hashes(runDir, StageRegistry.PipelineStages);

        // Disk full: every stage (each would rewrite its outputs) fails with TT2060 and touches nothing.
        var filler = Path.Combine(mount.Path, "filler");
        var before = RunOutputs.Everything(runDir);
        TmpfsMount.Fill(filler);
        ExpectEveryStageToFail(root, overrides, runDir, before, ErrorCodes.DiskFull, "No space left on device", mount.Path);
        File.Delete(filler);
        RunAll();
        CollectionAssert.AreEquivalent(outputs, RunOutputs.Hashes(runDir, StageRegistry.PipelineStages), "same outputs once space is freed");

        // Read-only file system: TT2061, nothing touched; writable again: the run succeeds.
        before = RunOutputs.Everything(runDir);
        mount.Remount(readOnly: true);
        ExpectEveryStageToFail(root, overrides, runDir, before, ErrorCodes.ReadOnlyFileSystem, "Read-only file system", mount.Path);
        mount.Remount(readOnly: false);
        RunAll();
        CollectionAssert.AreEquivalent(outputs, RunOutputs.Hashes(runDir, StageRegistry.PipelineStages), "same outputs once writable");
        Assert.IsEmpty(RunOutputs.Litter(runDir));
        Assert.IsFalse(PipelineApi.Status(Config, root, overrides, StageRegistry.PipelineStages).Stages.Any(s => s.Stale));
    }

    private void ExpectEveryStageToFail(string root, string overrides, string runDir, Dictionary<string, string> before, string code, string reason, string mountPath)
    {
        foreach (var stage in StageRegistry.PipelineStages)
        {
            var ex = Assert.ThrowsExactly<ToolTuneException>(() => PipelineApi.RunStage(Config, root, overrides, stage, NullPipelineLog.Instance, CancellationToken.None));
            TestContext.WriteLine($"{stage}: {ex}");
            Assert.AreEqual(code, ex.Code, ex.ToString());
            StringAssert.Contains(ex.Message, reason);
            Assert.IsNotNull(ex.File, "the error names the path");
            StringAssert.StartsWith(ex.File, mountPath);
            CollectionAssert.AreEquivalent(before, RunOutputs.Everything(runDir), $"{stage}: the earlier files are untouched");
            Assert.IsEmpty(RunOutputs.Litter(runDir), $"{stage}: no temporaries left");
            Assert.IsTrue(PipelineApi.Status(Config, root, overrides, [stage]).Stages.Single().Stale == false,
                $"{stage}: the previous completed run still counts (it was not replaced)");
        }
    }

    /// <summary>The fault injected in-process (no mount needed): a stage whose write fails with ENOSPC half-way.</summary>
    [TestMethod]
    public void InjectedDiskFullIsACodedErrorAndKeepsThePreviousOutputs()
    {
        using var dir = new Pipeline.TempDir();
        dir.File("data/a.jsonl", "{\"a\":1}\n");
        dir.File("configs/t.yaml", "run:\n  name: inject\ndata:\n  sources:\n    - path: data\n");
        var full = false;
        StageRegistry.Register(new FaultStage("FaultProbe", () => full));
        var first = PipelineApi.RunStage("configs/t.yaml", dir.Path, null, "FaultProbe", NullPipelineLog.Instance, CancellationToken.None);
        var runDir = Path.GetDirectoryName(first.OutputDir)!;
        var before = RunOutputs.Everything(runDir);

        full = true;
        var ex = Assert.ThrowsExactly<ToolTuneException>(() =>
            PipelineApi.RunStage("configs/t.yaml", dir.Path, null, "FaultProbe", NullPipelineLog.Instance, CancellationToken.None));
        Assert.AreEqual(ErrorCodes.DiskFull, ex.Code);
        StringAssert.Contains(ex.ToString(), "error TT2060: Cannot write ");
        StringAssert.Contains(ex.Message, "no space left on the device");
        StringAssert.EndsWith(ex.File, "out.bin");
        CollectionAssert.AreEquivalent(before, RunOutputs.Everything(runDir));
        Assert.IsEmpty(RunOutputs.Litter(runDir));

        full = false;
        PipelineApi.RunStage("configs/t.yaml", dir.Path, null, "FaultProbe", NullPipelineLog.Instance, CancellationToken.None);
        CollectionAssert.AreEquivalent(before.Keys.ToList(), RunOutputs.Everything(runDir).Keys.ToList());
    }

    /// <summary>Writes half its output, then fails the way .NET reports ENOSPC on Linux (IOException, HResult = errno 28).</summary>
    private sealed class FaultStage(string name, Func<bool> diskFull) : IStage
    {
        public string Name => name;
        public string Version => "1";
        public string OutputFolder => "fault";
        public IReadOnlyList<string> Upstream => [];
        public IReadOnlyList<string> ConfigKeys => ["data.sources"];
        public IEnumerable<string> InputFiles(LoadedConfig config) => SourceFiles.All(config);

        public void Run(StageContext context)
        {
            var path = Path.Combine(context.OutputDir, "out.bin");
            File.WriteAllBytes(path, new byte[4096]);
            if (diskFull()) throw new IOException($"No space left on device : '{path}'", 28);
        }
    }
}

/// <summary>A tmpfs mounted on a temporary folder (needs root and CAP_SYS_ADMIN); unmounted and removed on dispose.</summary>
internal sealed class TmpfsMount : IDisposable
{
    private TmpfsMount(string path) => Path = path;

    public string Path { get; }

    /// <summary>Mounts one, or ends the test: Inconclusive with the reason, or a failure under CI=true (CI runs as root and must test this).</summary>
    public static TmpfsMount Create(string size, string parent)
    {
        var path = System.IO.Path.Combine(parent, "tooltune-tmpfs-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(path);
        var (exit, output) = Run("mount", "-t", "tmpfs", "-o", $"size={size}", "tmpfs", path);
        if (exit != 0)
        {
            Directory.Delete(path);
            var message = $"cannot mount a tmpfs to simulate a full disk (mount exit {exit}: {output.Trim()}); needs root.";
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
                Assert.Fail(message + " CI=true requires it.");
            Assert.Inconclusive(message);
        }
        return new TmpfsMount(path);
    }

    public void Remount(bool readOnly)
    {
        var (exit, output) = Run("mount", "-o", readOnly ? "remount,ro" : "remount,rw", Path);
        Assert.AreEqual(0, exit, $"remount {(readOnly ? "ro" : "rw")} {Path}: {output}");
    }

    /// <summary>Writes <paramref name="file"/> until the file system reports ENOSPC.</summary>
    public static void Fill(string file)
    {
        using var stream = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.None, 1);
        foreach (var chunk in new[] { 1 << 20, 4096, 1 })
        {
            var buffer = new byte[chunk];
            try
            {
                while (true) stream.Write(buffer);
            }
            catch (IOException)
            {
                // full at this granularity; try smaller writes
            }
        }
    }

    private static (int Exit, string Output) Run(string file, params string[] args)
    {
        try
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var process = Process.Start(psi)!;
            var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, ex.Message);
        }
    }

    public void Dispose()
    {
        Run("umount", Path);
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
