using System.Text.Json.Nodes;
using ToolTune.Model;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;

namespace ToolTune.Evaluation;

/// <summary>
/// <c>tooltune evaluate --model DIR --eval-set FILE [--base DIR]</c>: evaluation outside a pipeline run. The model folder is a
/// Hugging Face snapshot with its tokenizer and chat template (MergeAdapter's <c>merged/</c> is one); the set is a
/// <c>tool_eval.jsonl</c>-style file; emission prompts optional.
/// </summary>
public sealed record StandaloneEvaluation
{
    public required string ModelDir { get; init; }
    public IReadOnlyList<string> SetFiles { get; init; } = [];
    public string? BaseDir { get; init; }
    public string? PromptsFile { get; init; }
    public required string OutputDir { get; init; }
    public EvaluationOptions Eval { get; init; } = new();
    public IReadOnlyList<string> ToolCallDelimiters { get; init; } = [HermesToolCallParser.StartToken, HermesToolCallParser.EndToken];
    /// <summary>Template kwargs (e.g. <c>enable_thinking: false</c>).</summary>
    public JsonObject TemplateKwargs { get; init; } = [];
    /// <summary>The date <c>strftime_now</c> sees (null: today), as a run config's <c>model.template_date</c>.</summary>
    public DateTime? TemplateDate { get; init; }
    /// <summary>Generate through an OpenAI-compatible server instead of in-process: the raw and served paths of the model
    /// served as <see cref="Evaluation.Endpoint.EndpointOptions.Model"/> (the local <see cref="ModelDir"/> supplies tokenizer, template and stop ids).</summary>
    public Evaluation.Endpoint.EndpointOptions? Endpoint { get; init; }

    /// <summary>Runs it; the outputs are written to <see cref="OutputDir"/> (created), gates enforced as in the stage.</summary>
    public EvaluationOutcome Run(CancellationToken ct)
    {
        var tokenizer = Tokenizer.FromDirectory(ModelDir);
        var template = ChatTemplate.Load(ModelDir);
        var kwargs = ModelSnapshot.TemplateKwargs(TemplateKwargs, tokenizer);
        var renderPrompt = EvalItem.PromptRenderer(template, RenderOptions.Default with { Now = TemplateDate }, kwargs, tokenizer);
        var items = SetFiles.SelectMany(f => EvalItem.ReadFile(f, EvalItemKind.ToolEval)).ToList();
        var emission = PromptsFile is null ? [] : EvalItem.ReadFile(PromptsFile, EvalItemKind.Emission);
        Directory.CreateDirectory(OutputDir);
        var ep = Endpoint;
        using var tunedEndpoint = ep is null ? null : ToolTune.Evaluation.Endpoint.OpenAiEndpoint.Create(ep.Url, ep.Model, ep.ApiKeyEnv, ep.TimeoutS, ep.Concurrency);
        using var baseEndpoint = ep?.BaseModel is { } bm ? ToolTune.Evaluation.Endpoint.OpenAiEndpoint.Create(ep.BaseUrl ?? ep.Url, bm, ep.ApiKeyEnv, ep.TimeoutS, ep.Concurrency) : null;
        using var tuned = ep is null ? new ModelGenerator(ModelDir, "tuned (" + Path.GetFileName(Path.TrimEndingDirectorySeparator(ModelDir)) + ")") : null;
        using var baseGen = BaseDir is null || baseEndpoint is not null ? null : new ModelGenerator(BaseDir, "base (" + Path.GetFileName(Path.TrimEndingDirectorySeparator(BaseDir)) + ")");
        IGenerator? Raw(ToolTune.Evaluation.Endpoint.OpenAiEndpoint? e, string label) => e is null || !ep!.Raw ? null : new ToolTune.Evaluation.Endpoint.EndpointRawGenerator(e, $"{label} ({e})");
        return EvaluationRun.Execute(new EvaluationRequest
        {
            OutputDirectory = OutputDir,
            Tokenizer = tokenizer,
            RenderPrompt = renderPrompt,
            Tuned = tunedEndpoint is null ? tuned : Raw(tunedEndpoint, "tuned"),
            Base = baseEndpoint is null ? baseGen : Raw(baseEndpoint, "base"),
            ServedTuned = tunedEndpoint,
            ServedBase = baseEndpoint,
            TemplateKwargs = kwargs,
            ToolEvalItems = items,
            EmissionItems = emission,
            Options = Eval,
            StopIds = new ModelSnapshot(ModelDir).StopIds(tuned?.Config ?? Model.ModelConfig.Load(ModelDir), tokenizer),
            ToolCallDelimiters = ToolCallDelimiters,
            MergedModelDirectory = ModelDir,
            ChatTemplatePath = File.Exists(Path.Combine(ModelDir, "chat_template.jinja")) ? Path.Combine(ModelDir, "chat_template.jinja") : "<chat template>",
        }, ct);
    }
}
