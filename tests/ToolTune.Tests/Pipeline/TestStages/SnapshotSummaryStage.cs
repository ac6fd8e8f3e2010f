using System.Text.Json;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Tests.Pipeline.TestStages;

/// <summary>
/// A small real downstream stage of <see cref="SnapshotStage"/>: summarises <c>snapshot/manifest.json</c> (file and
/// line counts, with <c>run.seed</c>) into <c>snapshot-summary/summary.json</c>. With Snapshot it exercises
/// upstream/downstream wiring and early cutoff in the integration tests; it is not part of the default build.
/// </summary>
public sealed class SnapshotSummaryStage : IStage
{
    public string Name => "SnapshotSummary";
    public string Version => "1";
    public string OutputFolder => "snapshot-summary";
    public IReadOnlyList<string> Upstream => ["Snapshot"];
    public IReadOnlyList<string> ConfigKeys => ["run.seed"];

    public IEnumerable<string> InputFiles(LoadedConfig config) => [];

    public void Run(StageContext context)
    {
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(context.UpstreamOutput("Snapshot"), "manifest.json")));
        var files = manifest.RootElement.GetProperty("files").EnumerateArray().ToList();
        var summary = new
        {
            files = files.Count,
            lines = files.Sum(f => f.GetProperty("lines").GetInt32()),
            seed = context.Config.Config.Run.Seed,
        };
        File.WriteAllText(Path.Combine(context.OutputDir, "summary.json"), JsonSerializer.Serialize(summary));
        context.Log.Message($"SnapshotSummary: {summary.files} file(s), {summary.lines} line(s).", important: true);
    }
}
