using System.Diagnostics;
using System.Text;
using ToolTune.Data;
using ToolTune.Data.Loaders;
using ToolTune.Data.Selection;
using ToolTune.Data.Shards;
using ToolTune.Diagnostics;
using ToolTune.Pipeline.Config;
using ToolTune.IO;

namespace ToolTune.Pipeline.Stages;

/// <summary>
/// PrepareData: raw conversations → <c>prepared/</c>. Loads every <c>data.sources</c> entry (lenient: bad records are
/// skipped and counted with file/line; <c>data.strict: true</c>: the first one fails the build), filters tool sources
/// to real tool calls, mixes tool/general data at <c>data.tool_ratio</c>, shuffles and splits from <c>run.seed</c>,
/// encodes with <see cref="ChatSampleEncoder"/> (tokenizer + template loaded once, parallel encode) and writes the
/// shards, <c>manifest.json</c>, <c>stats.csv</c>, <c>tool_eval.jsonl</c>, <c>dropped.jsonl</c> and <c>preview.md</c>.
/// Source paths are recorded relative to the project root, so the bytes do not depend on the checkout location.
/// </summary>
public sealed class PrepareDataStage : IStage
{
    public const string PreviewFile = "preview.md";

    public string Name => "PrepareData";
    public string Version => "1";
    public string OutputFolder => "prepared";
    public IReadOnlyList<string> Upstream => [];
    public IReadOnlyList<string> ConfigKeys => ["data", "run.seed", .. ModelText.ConfigKeys];

    public IEnumerable<string> InputFiles(LoadedConfig config) => SourceFiles.All(config).Concat(ModelText.InputFiles(config));

    /// <summary>Encoder threads (default: all cores).</summary>
    public static int Parallelism { get; set; } = Environment.ProcessorCount;

    public void Run(StageContext context)
    {
        var result = Prepare(context.Config, context.OutputDir, context.Log, context.Cancellation);
        var m = result.Manifest;
        context.Log.Message(
            $"PrepareData: {m.Splits["train"].Samples} train + {m.Splits["val"].Samples} val samples, {result.Selection.ToolEval.Count} tool-eval items, " +
            $"{result.Report.TotalDropped} record(s) skipped/dropped (see prepared/{DataPreparation.DroppedFile}).", important: true);
    }

    /// <summary>The stage body without the stage machinery (benchmarks and tests call it directly).</summary>
    public static DataPreparationResult Prepare(LoadedConfig config, string outputDir, IPipelineLog log, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        var data = config.Config.Data;
        var text = ModelText.Load(config);
        log.Message($"PrepareData: tokenizer {Shown(config, text.Tokenizer.TokenizerPath)}, template {Shown(config, text.TemplatePath)} ({clock.Elapsed.TotalSeconds:0.0} s).");

        var sources = new List<DataSourceSpec>();
        foreach (var s in data.Sources)
        {
            var files = SourceFiles.Expand(config, s);
            sources.Add(new DataSourceSpec(s.Path.Replace('\\', '/'), files, DataSourceSpec.ParseFormat(s.Format),
                s.Kind == "general" ? DataRole.General : DataRole.Tool)
            {
                DisplayRoot = config.RootDir,
                Limit = s.Limit,
            });
        }
        var request = new DataPreparationRequest
        {
            Sources = sources,
            Load = new LoadOptions { Strict = data.Strict },
            Selection = new SelectionOptions
            {
                Seed = config.Config.Run.Seed,
                ToolFraction = data.ToolRatio,
                ValFraction = data.ValFraction,
                ToolEvalConversations = data.ToolEvalCount,
                GeneralEvalConversations = data.ToolEvalCount / 4,
                DropEvalDuplicates = data.Decontaminate,
                KeepNoCall = data.KeepNoCall,
            },
            Shards = new ShardWriteOptions { Parallelism = Math.Max(1, Parallelism), Strict = data.Strict },
        };
        var encoder = new CancellableEncoder(new ChatSampleEncoder(text, data.MaxSeqLen), cancellation);
        DataPreparationResult result;
        try
        {
            result = DataPreparation.Run(request, encoder, outputDir);
        }
        catch (AggregateException ex) when (cancellation.IsCancellationRequested || ex.InnerExceptions.All(e => e is OperationCanceledException))
        {
            throw new OperationCanceledException(cancellation);
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count > 0 && ex.InnerExceptions[0] is Diagnostics.ToolTuneException tt)
        {
            throw tt; // parallel encode: the first located error, not PLINQ's wrapper
        }
        cancellation.ThrowIfCancellationRequested();

        // Conversations that open with a held-out prompt are dropped by design (the eval set stays unseen), not for a fault
        // in the data: one line that counts them, and warnings only for records something is wrong with.
        var heldOut = result.Report.Issues.Count(i => i.Code == ErrorCodes.DataEvalDuplicate);
        if (heldOut > 0)
            log.Message($"PrepareData: left out {heldOut} training conversation(s) that open with a held-out eval prompt ({ErrorCodes.DataEvalDuplicate}; listed in prepared/{DataPreparation.DroppedFile}).");
        var faults = result.Report.Issues.Where(i => i.Code != ErrorCodes.DataEvalDuplicate).ToList();
        foreach (var issue in faults.Take(20))
            log.Warning(issue.Code, $"skipped: {issue.Reason}{(issue.Detail is null ? "" : ": " + issue.Detail)}{(issue.RecordId is null ? "" : $" (record {issue.RecordId})")}",
                issue.File, issue.Line, issue.Column);
        if (faults.Count > 20)
            log.Warning(faults[0].Code, $"{faults.Count - 20} more skipped/dropped record(s): see prepared/{DataPreparation.DroppedFile}.");
        foreach (var w in result.Selection.Warnings) log.Warning("TT3012", w);
        if (data.KeepNoCall)
            log.Message($"PrepareData: kept {result.Report.Sources.Sum(s => s.KeptNoCall)} tool conversation(s) without a call (data.keep_no_call).");

        WritePreview(outputDir, text, data.PreviewCount);
        log.Message($"PrepareData: {result.Manifest.Splits.Values.Sum(s => s.Samples)} samples encoded in {clock.Elapsed.TotalSeconds:0.0} s.");
        return result;
    }

    /// <summary><c>preview.md</c>: the first tool-calling and general training samples with the mask visible.</summary>
    private static void WritePreview(string outputDir, ModelText text, int count)
    {
        var sb = new StringBuilder("# PrepareData preview\n\n");
        using (var set = ShardSet.Open(outputDir, "train"))
        {
            var withCalls = Enumerable.Range(0, set.Count).Where(i => set.Meta(i).ToolCalls > 0).Take((count + 1) / 2).ToList();
            var picked = withCalls.Concat(Enumerable.Range(0, set.Count).Except(withCalls).Take(count - withCalls.Count)).Take(count).Order().ToList();
            sb.Append(MaskPreview.RenderSamples(set, picked, text.Decode));
        }
        AtomicFile.Write(Path.Combine(outputDir, PreviewFile), fs => fs.Write(Encoding.UTF8.GetBytes(sb.ToString())));
    }

    private static string Shown(LoadedConfig config, string path)
    {
        var rel = Path.GetRelativePath(config.RootDir, Path.GetFullPath(path));
        return rel.StartsWith("..", StringComparison.Ordinal) ? path : rel.Replace('\\', '/');
    }

    /// <summary>Stops encoding promptly on Ctrl+C.</summary>
    private sealed class CancellableEncoder(ISampleEncoder inner, CancellationToken cancellation) : ISampleEncoder
    {
        public EncodedSample Encode(Conversation conversation)
        {
            cancellation.ThrowIfCancellationRequested();
            return inner.Encode(conversation);
        }
    }
}
