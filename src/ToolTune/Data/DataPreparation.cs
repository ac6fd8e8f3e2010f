using System.Text.Json.Nodes;
using ToolTune.Data.Loaders;
using ToolTune.Data.Selection;
using ToolTune.Data.Shards;
using ToolTune.Diagnostics;

namespace ToolTune.Data;

/// <summary>Everything the data half of PrepareData needs besides the encoder.</summary>
public sealed record DataPreparationRequest
{
    /// <summary>Tool-calling sources (Hermes, OpenAI) and general instruct sources; <see cref="DataSourceSpec.Role"/> says which.</summary>
    public required IReadOnlyList<DataSourceSpec> Sources { get; init; }
    public SelectionOptions Selection { get; init; } = new();
    public LoadOptions Load { get; init; } = new();
    public ShardWriteOptions Shards { get; init; } = new();
}

/// <summary>What <see cref="DataPreparation.Run"/> produced.</summary>
public sealed record DataPreparationResult(DataReport Report, SelectionResult Selection, ShardManifest Manifest, IReadOnlyList<string> Files);

/// <summary>
/// The data half of PrepareData, minus rendering/tokenizing (the <see cref="ISampleEncoder"/> plugs that in):
/// load every source (skipping + counting bad records, or strict), filter tool sources to real tool calls, mix,
/// shuffle and split from the seed, encode, and write into <c>outputDir</c>:
/// <c>train-00000.bin</c>…, <c>val-00000.bin</c>…, <c>manifest.json</c>, <c>stats.csv</c>, <c>tool_eval.jsonl</c>,
/// <c>dropped.jsonl</c>. Each file is written atomically; the pipeline moves the whole folder into place.
/// </summary>
public static class DataPreparation
{
    public const string StatsFile = "stats.csv";
    public const string ToolEvalFile = "tool_eval.jsonl";
    public const string DroppedFile = "dropped.jsonl";

    public static DataPreparationResult Run(DataPreparationRequest request, ISampleEncoder encoder, string outputDir, DataReport? report = null)
    {
        report ??= new DataReport();
        if (request.Sources.Count == 0) throw new ToolTuneException(ErrorCodes.DataEmptyDataset, "empty dataset: no data sources configured");
        var tool = new List<Conversation>();
        var general = new List<Conversation>();
        foreach (var src in request.Sources)
            (src.Role == DataRole.Tool ? tool : general).AddRange(DataLoader.LoadAll(src, report, request.Load));

        var selection = DataSelection.Select(tool, general, request.Selection, report);
        Directory.CreateDirectory(outputDir);
        var manifest = new ShardManifest();
        var shardOptions = request.Shards with { Strict = request.Shards.Strict || request.Load.Strict };
        manifest.Splits["train"] = ShardSetWriter.WriteSplit(outputDir, "train", selection.Train, encoder, report, shardOptions);
        manifest.Splits["val"] = ShardSetWriter.WriteSplit(outputDir, "val", selection.Val, encoder, report, shardOptions);
        if (manifest.Splits["train"].Samples == 0)
            throw report.EmptyDatasetError("no training sample survived encoding");

        manifest.Extra["seed"] = request.Selection.Seed;
        manifest.Extra["tool_fraction"] = request.Selection.ToolFraction;
        manifest.Extra["tool_selected"] = selection.ToolSelected;
        manifest.Extra["general_selected"] = selection.GeneralSelected;
        manifest.Extra["tool_eval_items"] = selection.ToolEval.Count;
        manifest.Extra["dropped"] = report.TotalDropped;
        // Only when asked for, so manifests of runs without the option stay byte-identical.
        if (request.Selection.KeepNoCall) manifest.Extra["kept_no_call"] = report.Sources.Sum(s => s.KeptNoCall);
        manifest.Extra["warnings"] = new JsonArray(selection.Warnings.Select(w => (JsonNode)JsonValue.Create(w)!).ToArray());
        manifest.Write(outputDir);
        DataWriters.WriteStatsCsv(Path.Combine(outputDir, StatsFile), report);
        DataWriters.WriteToolEvalJsonl(Path.Combine(outputDir, ToolEvalFile), selection.ToolEval);
        DataWriters.WriteIssuesJsonl(Path.Combine(outputDir, DroppedFile), report);

        var files = manifest.Splits.Values.SelectMany(s => s.Shards).Select(f => f.File)
            .Concat([ShardManifest.FileName, StatsFile, ToolEvalFile, DroppedFile]).ToList();
        return new DataPreparationResult(report, selection, manifest, files);
    }
}
