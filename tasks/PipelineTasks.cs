using Microsoft.Build.Framework;
using ToolTune.Pipeline;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Tasks;

/// <summary>
/// Loads and validates the config, writes each stage's input fingerprint file when it changed, and invalidates
/// stages whose recorded outputs are gone or modified. Outputs the run's folders for the stage targets' Inputs/Outputs.
/// </summary>
public sealed class ComputeFingerprints : ToolTuneTask
{
    /// <summary>Stage names to fingerprint (the <c>ToolTuneStage</c> items).</summary>
    [Required]
    public ITaskItem[] Stages { get; set; } = [];

    [Output] public string RunDir { get; private set; } = "";
    [Output] public string FingerprintDir { get; private set; } = "";
    [Output] public string StampDir { get; private set; } = "";

    protected override void ExecuteCore()
    {
        var layout = PipelineApi.ComputeFingerprints(ConfigFile, ProjectRoot, Overrides, Stages.Select(s => s.ItemSpec), PipelineLog);
        RunDir = layout.RunDir + Path.DirectorySeparatorChar;
        FingerprintDir = layout.FingerprintDir + Path.DirectorySeparatorChar;
        StampDir = layout.StampDir + Path.DirectorySeparatorChar;
    }
}

/// <summary>Runs one stage by name through the library's stage runner (temp folder, move on success, manifest, stamps).</summary>
public sealed class RunStage : ToolTuneTask
{
    [Required]
    public string Stage { get; set; } = "";

    /// <summary>The committed output folder.</summary>
    [Output] public string OutputDir { get; private set; } = "";

    /// <summary>The stage name once it has run (absent when the target was skipped: no task outputs then).</summary>
    [Output] public string? RanStage { get; private set; }

    /// <summary><c>-p:Resume=false</c>: TrainLora ignores existing checkpoints (empty or anything else: resume).</summary>
    public string? Resume { get; set; }

    protected override void ExecuteCore()
    {
        var options = new StageOptions { Resume = !string.Equals(Resume?.Trim(), "false", StringComparison.OrdinalIgnoreCase) };
        var result = PipelineApi.RunStage(ConfigFile, ProjectRoot, Overrides, Stage, PipelineLog, Cancellation, options);
        OutputDir = result.OutputDir;
        RanStage = Stage;
    }
}

/// <summary>Prints which stages are stale and why; runs nothing and writes nothing.</summary>
public sealed class PipelineStatus : ToolTuneTask
{
    [Required]
    public ITaskItem[] Stages { get; set; } = [];

    /// <summary>Names of the stale stages.</summary>
    [Output] public string[] StaleStages { get; private set; } = [];

    protected override void ExecuteCore()
    {
        var (config, statuses) = PipelineApi.Status(ConfigFile, ProjectRoot, Overrides, Stages.Select(s => s.ItemSpec));
        foreach (var line in ToolTune.Pipeline.PipelineStatus.Format(config, statuses).TrimEnd().Split('\n'))
            Log.LogMessage(MessageImportance.High, line);
        StaleStages = statuses.Where(s => s.Stale).Select(s => s.Stage).ToArray();
    }
}

/// <summary>Resolves the run folder of a config (for Clean); does not check that data files exist.</summary>
public sealed class ResolveRun : ToolTuneTask
{
    [Output] public string RunDir { get; private set; } = "";

    protected override void ExecuteCore() => RunDir = PipelineApi.RunDir(ConfigFile, ProjectRoot, Overrides);
}
