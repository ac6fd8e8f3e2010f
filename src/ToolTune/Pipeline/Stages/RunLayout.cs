using ToolTune.Pipeline.Config;

namespace ToolTune.Pipeline.Stages;

/// <summary>
/// Where a run's files live, under <c>artifacts/&lt;run&gt;/</c>: stage output folders, <c>pipeline.lock.json</c>,
/// <c>.fp/&lt;Stage&gt;.fp</c> (input fingerprints, rewritten only on change), <c>.stamps/&lt;Stage&gt;.done</c>
/// (touched when the stage completes: the MSBuild target's Outputs) and <c>.stamps/&lt;Stage&gt;.out</c>
/// (output hash, rewritten only when the outputs really change: downstream targets' Inputs).
/// </summary>
public sealed class RunLayout(string runDir)
{
    public static RunLayout For(LoadedConfig config) => new(config.RunDir);

    public string RunDir { get; } = Path.GetFullPath(runDir);
    public string FingerprintDir => Path.Combine(RunDir, ".fp");
    public string StampDir => Path.Combine(RunDir, ".stamps");
    public string ManifestPath => Path.Combine(RunDir, "pipeline.lock.json");
    public string HashCachePath => Path.Combine(FingerprintDir, "hash-cache.json");

    public string FingerprintFile(string stage) => Path.Combine(FingerprintDir, stage + ".fp");
    public string DoneStamp(string stage) => Path.Combine(StampDir, stage + ".done");
    public string OutStamp(string stage) => Path.Combine(StampDir, stage + ".out");
    public string OutputDir(IStage stage) => Path.Combine(RunDir, stage.OutputFolder);
    /// <summary>Where a failed run's outputs are kept for reading (<see cref="IStage.KeepsFailedOutput"/>), e.g. <c>verify-failed/</c>.</summary>
    public string FailedOutputDir(IStage stage) => Path.Combine(RunDir, stage.OutputFolder + "-failed");

    /// <summary>Removes <see cref="IO.AtomicFile"/> temporaries of killed processes from the run's bookkeeping folders.</summary>
    public void RemoveOrphanedTemporaries()
    {
        foreach (var dir in new[] { RunDir, FingerprintDir, StampDir })
            IO.AtomicFile.RemoveOrphans(dir);
    }

    /// <summary>A run-relative path with '/' separators (as recorded in the manifest).</summary>
    public string Relative(string fullPath) => Path.GetRelativePath(RunDir, fullPath).Replace('\\', '/');
}
