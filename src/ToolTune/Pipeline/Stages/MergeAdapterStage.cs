using ToolTune.Diagnostics;
using ToolTune.Lora.Merge;
using ToolTune.Model;
using ToolTune.Pipeline.Config;

namespace ToolTune.Pipeline.Stages;

/// <summary>
/// MergeAdapter: <c>artifacts/&lt;run&gt;/adapter/</c> (TrainLora) + <c>model.base_model</c> → <c>artifacts/&lt;run&gt;/merged/</c>, a complete
/// Hugging Face snapshot (<see cref="AdapterMerger"/>): merged safetensors sharded like the base, config.json, tokenizer files,
/// the run's chat template (<c>chat_template.jinja</c> + tokenizer_config.json), generation_config.json with the stop ids and
/// serving.md. The StageRunner's temp folder + move makes it atomic.
/// </summary>
public sealed class MergeAdapterStage : IStage
{
    /// <summary>TrainLora's output folder under <c>artifacts/&lt;run&gt;/</c> (used when TrainLora is not registered in this build).</summary>
    public const string AdapterFolder = "adapter";

    public string Name => "MergeAdapter";
    public string Version => "1";
    public string OutputFolder => "merged";
    public IReadOnlyList<string> Upstream => ["TrainLora"];
    public IReadOnlyList<string> ConfigKeys => ["model", "lora"];

    /// <summary>The base snapshot's config and weights, and the tokenizer/template files (content-hashed).</summary>
    public IEnumerable<string> InputFiles(LoadedConfig config)
    {
        var baseModel = config.Config.Model.BaseModel;
        if (!string.IsNullOrEmpty(baseModel))
            foreach (var f in new ModelSnapshot(config.Resolve(baseModel)).MergeInputFiles()) yield return f;
        foreach (var f in ModelText.InputFiles(config)) yield return f;
    }

    /// <summary>The adapter folder: TrainLora's output when registered, else <c>artifacts/&lt;run&gt;/adapter</c>.</summary>
    public static string AdapterDir(StageContext context) =>
        StageRegistry.TryGet("TrainLora", out var train) ? context.Layout.OutputDir(train) : Path.Combine(context.Layout.RunDir, AdapterFolder);

    public void Run(StageContext context)
    {
        var config = context.Config;
        var m = config.Config.Model;
        if (string.IsNullOrEmpty(m.BaseModel))
            throw new ToolTuneException(ErrorCodes.MergeBaseInvalid, "No base model: set 'model.base_model' (a Hugging Face snapshot folder).", config.File);
        var text = ModelText.Load(config);
        var thinking = m.TemplateKwargs.TryGetValue("enable_thinking", out var t) && t is not null && t.GetValueKind() == System.Text.Json.JsonValueKind.True;
        var result = AdapterMerger.MergeInto(new MergeOptions
        {
            BaseDir = config.Resolve(m.BaseModel),
            AdapterDir = AdapterDir(context),
            OutputDir = context.OutputDir,
            PublishedDir = Path.Combine(context.Layout.RunDir, OutputFolder),
            PathBase = config.RootDir,
            TokenizerDir = ModelText.TokenizerDir(config),
            ChatTemplateText = text.Template.Source, // exactly the template the run trained with
            Thinking = thinking,
            Log = s => context.Log.Message("MergeAdapter: " + s),
        }, context.Cancellation);
        foreach (var w in result.Warnings) context.Log.Warning(ErrorCodes.MergeWarning, w, config.File);
        context.Log.Message($"MergeAdapter: {result.MergedTensors} merged, {result.CopiedTensors} copied" +
                            (result.Untied ? ", head untied (embedding was trained)" : "") + $"; stop ids [{string.Join(", ", result.StopIds)}].", important: true);
    }
}
