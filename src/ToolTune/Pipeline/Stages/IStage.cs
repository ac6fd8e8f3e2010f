using ToolTune.Pipeline.Config;

namespace ToolTune.Pipeline.Stages;

/// <summary>
/// One pipeline stage. The MSBuild target of the same name and the CLI verb both run it through
/// <see cref="StageRunner"/>, which gives it a fresh temporary output folder, moves that folder into place
/// on success, and records fingerprints and output hashes in the manifest.
/// </summary>
/// <remarks>
/// What a stage declares here is what makes it re-run: the config keys it reads (<see cref="ConfigKeys"/>,
/// a section like <c>data</c> or a single key like <c>run.seed</c>), the raw files whose content it reads
/// (<see cref="InputFiles"/>), its upstream stages' outputs (<see cref="Upstream"/>), and its own
/// <see cref="Version"/> (bump it when the stage's code changes what it writes).
/// </remarks>
public interface IStage
{
    /// <summary>Stage name; also the MSBuild target name (PrepareData, VerifyTokens, …).</summary>
    string Name { get; }

    /// <summary>Implementation version: part of the fingerprint, like DVC's <c>cmd</c>.</summary>
    string Version { get; }

    /// <summary>Output folder, relative to <c>artifacts/&lt;run&gt;/</c> (e.g. <c>prepared</c>).</summary>
    string OutputFolder { get; }

    /// <summary>Stages whose outputs this stage reads.</summary>
    IReadOnlyList<string> Upstream { get; }

    /// <summary>Dotted config keys this stage reads (canonical values are fingerprinted).</summary>
    IReadOnlyList<string> ConfigKeys { get; }

    /// <summary>Raw files (full paths) whose contents this stage reads; content-hashed, so touch does not count.</summary>
    IEnumerable<string> InputFiles(LoadedConfig config);

    /// <summary>Output files (relative to <see cref="OutputFolder"/>) that record how a run went rather than what it
    /// produced, such as timings: recorded in the manifest like any output, but left out of the output hash the next
    /// stages depend on, so a rerun that produces the same artifacts keeps the early cutoff.</summary>
    IReadOnlyCollection<string> RunRecordOutputs => [];

    /// <summary>Whether <paramref name="failure"/> left outputs worth reading (a failed check's report):
    /// <see cref="StageRunner"/> then keeps the stage's temporary folder as <c>&lt;OutputFolder&gt;-failed/</c>
    /// (<see cref="RunLayout.FailedOutputDir"/>, replacing the previous one) instead of deleting it, and the stage's next
    /// success removes that folder. The good output folder is left as it was either way.</summary>
    bool KeepsFailedOutput(Diagnostics.ToolTuneException failure) => false;

    /// <summary>Does the work, writing only under <see cref="StageContext.OutputDir"/>. Throw
    /// <see cref="Diagnostics.ToolTuneException"/> for user-facing failures; honour the cancellation token.</summary>
    void Run(StageContext context);
}

/// <summary>Messages from the pipeline to MSBuild or the console.</summary>
public interface IPipelineLog
{
    void Message(string text, bool important = false);
    void Warning(string code, string message, string? file = null, int line = 0, int column = 0);
}

/// <summary>A log that drops everything (tests, Status in quiet mode).</summary>
public sealed class NullPipelineLog : IPipelineLog
{
    public static readonly NullPipelineLog Instance = new();
    public void Message(string text, bool important = false) { }
    public void Warning(string code, string message, string? file = null, int line = 0, int column = 0) { }
}

/// <summary>What a running stage gets.</summary>
public sealed class StageContext
{
    internal StageContext(LoadedConfig config, RunLayout layout, string outputDir, IPipelineLog log, CancellationToken cancellation, StageOptions? options = null)
    {
        Options = options ?? StageOptions.Default;
        Config = config;
        Layout = layout;
        OutputDir = outputDir;
        Log = log;
        Cancellation = cancellation;
    }

    public LoadedConfig Config { get; }
    public RunLayout Layout { get; }
    /// <summary>The temporary folder to write into; it becomes the stage's output folder on success.</summary>
    public string OutputDir { get; }
    public IPipelineLog Log { get; }
    public CancellationToken Cancellation { get; }
    /// <summary>Run options that are not part of the fingerprint (e.g. <c>-p:Resume=false</c>).</summary>
    public StageOptions Options { get; }

    /// <summary>The (committed) output folder of an upstream stage.</summary>
    public string UpstreamOutput(string stageName) => Layout.OutputDir(StageRegistry.Get(stageName));
}

/// <summary>How to run a stage, beyond its config: never fingerprinted (they do not change what a completed run writes).</summary>
public sealed record StageOptions
{
    public static readonly StageOptions Default = new();

    /// <summary>TrainLora: resume from compatible checkpoints (<c>-p:Resume=false</c> / <c>--no-resume</c>: start fresh).</summary>
    public bool Resume { get; init; } = true;
}
