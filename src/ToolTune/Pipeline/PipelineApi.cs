using ToolTune.IO;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Fingerprints;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Pipeline;

/// <summary>
/// The entry points the MSBuild tasks (<c>tasks/</c>) and the CLI call; each is one call so the adapters stay thin.
/// </summary>
public static class PipelineApi
{
    /// <summary>Loads and validates the run config (<paramref name="overrides"/>: <c>a.b=1;c.d=2</c>).</summary>
    public static LoadedConfig LoadConfig(string configFile, string rootDir, string? overrides) =>
        ConfigLoader.Load(configFile, rootDir, ConfigLoader.SplitOverrides(overrides));

    /// <summary>The ComputeFingerprints step: writes changed <c>.fp</c> files, invalidates stages whose outputs changed.</summary>
    public static RunLayout ComputeFingerprints(string configFile, string rootDir, string? overrides, IEnumerable<string> stages, IPipelineLog log) =>
        IoFailure.Guard(() =>
        {
            var config = LoadConfig(configFile, rootDir, overrides);
            FingerprintService.Compute(config, stages, log);
            return RunLayout.For(config);
        });

    /// <summary>Runs one stage by name (see <see cref="StageRunner"/>). A full disk or read-only output folder is a coded
    /// error (TT206x, <see cref="IoFailure"/>) naming the path; the stage's temporary output is removed either way.</summary>
    public static StageRunResult RunStage(string configFile, string rootDir, string? overrides, string stage, IPipelineLog log, CancellationToken cancellation,
        StageOptions? options = null) =>
        IoFailure.Guard(() => StageRunner.Run(LoadConfig(configFile, rootDir, overrides), stage, log, cancellation, options));

    /// <summary>Which stages are stale and why; writes nothing.</summary>
    public static (LoadedConfig Config, IReadOnlyList<StageStatus> Stages) Status(string configFile, string rootDir, string? overrides, IEnumerable<string> stages)
    {
        var config = LoadConfig(configFile, rootDir, overrides);
        return (config, PipelineStatus.Compute(config, stages));
    }

    /// <summary>The run folder a config resolves to (for Clean).</summary>
    public static string RunDir(string configFile, string rootDir, string? overrides) =>
        ConfigLoader.Load(configFile, rootDir, ConfigLoader.SplitOverrides(overrides), checkPaths: false).RunDir;
}
