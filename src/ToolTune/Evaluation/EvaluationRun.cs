using ToolTune.Diagnostics;
using ToolTune.Evaluation.Reporting;
using ToolTune.Model;
using ToolTune.Text.Tokenization;

namespace ToolTune.Evaluation;

/// <summary>What an evaluation decodes with and is gated by (the run config's <c>eval:</c> maps to it in
/// <c>Pipeline/Config/LibraryOptions.cs</c>).</summary>
public sealed record EvaluationOptions
{
    public int MaxNewTokens { get; init; } = 256;
    public double Temperature { get; init; }
    public IReadOnlyList<Gate> Gates { get; init; } = [];
}

/// <summary>Everything the Evaluate stage hands to <see cref="EvaluationRun.Execute"/>.</summary>
public sealed record EvaluationRequest
{
    /// <summary>Folder for <c>metrics.json</c>, <c>metrics.csv</c>, <c>samples.jsonl</c>, <c>report.md</c>, <c>metrics.svg</c> (the run's <c>eval/</c>).</summary>
    public required string OutputDirectory { get; init; }

    public required Tokenizer Tokenizer { get; init; }

    /// <summary>Chat template: an item's <c>messages</c> + <c>tools</c> with <c>add_generation_prompt=True</c> → prompt ids.</summary>
    public required Func<EvalItem, IReadOnlyList<int>> RenderPrompt { get; init; }

    /// <summary>The merged (fine-tuned) model: in-process, or an endpoint's raw path. Null: only the served path runs
    /// (<see cref="ServedTuned"/>; an endpoint that cannot return token ids), and gates apply to it.</summary>
    public required IGenerator? Tuned { get; init; }

    /// <summary>The base model, for the before/after comparison (null: <c>compare_base: false</c>).</summary>
    public IGenerator? Base { get; init; }

    /// <summary>The tuned / base model behind an OpenAI-compatible endpoint: the served path (chat completions, the server's
    /// tool-call parse) is evaluated beside the raw one and reported side by side.</summary>
    public Endpoint.OpenAiEndpoint? ServedTuned { get; init; }
    public Endpoint.OpenAiEndpoint? ServedBase { get; init; }

    /// <summary>The run's chat-template variables, sent as vLLM's <c>chat_template_kwargs</c> on the served path.</summary>
    public System.Text.Json.Nodes.JsonObject TemplateKwargs { get; init; } = [];

    /// <summary>Tool-eval items (PrepareData's <c>tool_eval.jsonl</c>, <see cref="EvalItem.ReadFile"/>).</summary>
    public required IReadOnlyList<EvalItem> ToolEvalItems { get; init; }

    /// <summary>Emission prompts (<c>eval.prompts</c>, kind <see cref="EvalItemKind.Emission"/>).</summary>
    public IReadOnlyList<EvalItem> EmissionItems { get; init; } = [];

    /// <summary>Gates, <c>max_new_tokens</c>, temperature.</summary>
    public EvaluationOptions Options { get; init; } = new();

    /// <summary>End-of-turn ids; empty → <see cref="ModelSnapshot.TokenizerStopIds"/>.</summary>
    public IReadOnlyList<int> StopIds { get; init; } = [];

    public ulong Seed { get; init; }

    /// <summary>Tool-call start/end delimiter tokens (<c>tokens.tool_call</c>); checked as single ids (TT7001).</summary>
    public IReadOnlyList<string> ToolCallDelimiters { get; init; } = [HermesToolCallParser.StartToken, HermesToolCallParser.EndToken];

    /// <summary>Mean validation loss of the tuned / base model (perplexity = exp), when measured.</summary>
    public double? TunedEvalLoss { get; init; }
    public double? BaseEvalLoss { get; init; }

    /// <summary>TrainLora's <c>loss.svg</c>, linked from the report when it exists.</summary>
    public string? LossCurveSvg { get; init; }

    /// <summary>Merged model folder and chat template path for the vLLM serving command.</summary>
    public string MergedModelDirectory { get; init; } = "<merged>";
    public string ChatTemplatePath { get; init; } = "<template>";

    /// <summary>Config file for error locations.</summary>
    public string? ConfigFile { get; init; }
}

/// <summary>What an evaluation produced.</summary>
public sealed record EvaluationOutcome(
    ModelEvaluation Tuned,
    ModelEvaluation? Base,
    IReadOnlyList<GateResult> Gates,
    IReadOnlyList<string> Files)
{
    /// <summary>The served path (chat completions through an endpoint), when one was evaluated.</summary>
    public ModelEvaluation? ServedTuned { get; init; }
    public ModelEvaluation? ServedBase { get; init; }

    /// <summary>The warn-only misses as <c>warning TT7000: …</c> lines (the Evaluate stage logs them from <see cref="Gates"/>
    /// with the gate's config line).</summary>
    public IReadOnlyList<string> Warnings => GateEvaluator.WarningLines(Gates);
}

/// <summary>The Evaluate stage's entry point (the stage adds loading of models, stamps and MSBuild wiring).</summary>
public static class EvaluationRun
{
    public const string MetricsJson = "metrics.json";
    public const string MetricsCsv = "metrics.csv";
    public const string SamplesJsonl = "samples.jsonl";
    public const string ReportMd = "report.md";
    public const string MetricsSvg = "metrics.svg";

    /// <summary>
    /// Runs base (optional) and tuned over the tool-eval and emission items, writes all outputs atomically, then
    /// enforces the gates: a failed gate throws TT7000 after the report is written (so it can be read);
    /// warn-only misses come back in <see cref="EvaluationOutcome.Warnings"/>.
    /// </summary>
    public static EvaluationOutcome Execute(EvaluationRequest request, CancellationToken cancellationToken)
    {
        var items = request.ToolEvalItems.Concat(request.EmissionItems).ToList();
        if (items.Count == 0)
            throw new ToolTuneException(ErrorCodes.EvalNoItems, "Nothing to evaluate: the tool-eval set and the emission prompts are both empty.", request.ConfigFile);
        var dup = items.GroupBy(i => (i.Kind, i.Id)).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
            throw new ToolTuneException(ErrorCodes.EvalSetInvalid, $"Eval item id '{dup.Key.Id}' occurs {dup.Count()} times.", request.ConfigFile);
        var options = new GenerationOptions(request.Options.MaxNewTokens, request.Options.Temperature, request.StopIds, request.Seed);
        var stops = options.StopIds.Count > 0 ? options.StopIds : ModelSnapshot.TokenizerStopIds(request.Tokenizer);
        options = options with { StopIds = stops };
        var delimiters = request.ToolCallDelimiters.Count == 2 ? request.ToolCallDelimiters
            : throw new ToolTuneException(ErrorCodes.EvalDelimiterNotAToken, "tokens.tool_call must be two tokens: start and end.", request.ConfigFile);
        var parser = HermesToolCallParser.FromTokenizer(request.Tokenizer, delimiters[0], delimiters[1]);
        var scorer = new SampleScorer(parser, stops, ids => request.Tokenizer.Decode(ids, skipSpecialTokens: false));
        var evaluator = new Evaluator(scorer, request.RenderPrompt, options);
        var servedBase = request.ServedBase is null ? null : Endpoint.ServedEvaluation.Run("base", request.ServedBase, items, options, request.TemplateKwargs, cancellationToken);
        var servedTuned = request.ServedTuned is null ? null : Endpoint.ServedEvaluation.Run("tuned", request.ServedTuned, items, options, request.TemplateKwargs, cancellationToken);
        var baseEval = request.Base is null ? servedBase : evaluator.Run("base", request.Base, items, request.BaseEvalLoss, cancellationToken);
        var tuned = request.Tuned is null
            ? servedTuned ?? throw new ToolTuneException(ErrorCodes.EvalNoItems, "Nothing generates: no tuned model and no endpoint.", request.ConfigFile)
            : evaluator.Run("tuned", request.Tuned, items, request.TunedEvalLoss, cancellationToken);
        // The served evaluations are reported beside the primary ones only when those come from another path.
        if (ReferenceEquals(tuned, servedTuned)) servedTuned = null;
        if (ReferenceEquals(baseEval, servedBase)) servedBase = null;
        if (baseEval is not null) EvalMetrics.CompareBase(tuned, baseEval);
        if (servedTuned is not null && servedBase is not null) EvalMetrics.CompareBase(servedTuned, servedBase);
        var gates = GateEvaluator.Evaluate(request.Options.Gates, tuned.Metrics, tuned.Samples, baseEval);

        var files = EvalOutputs.WriteAll(request, evaluator, tuned, baseEval, gates, servedTuned, servedBase);
        GateEvaluator.Enforce(gates, request.ConfigFile);
        return new EvaluationOutcome(tuned, baseEval, gates, files) { ServedTuned = servedTuned, ServedBase = servedBase };
    }
}
