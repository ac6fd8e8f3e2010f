using System.Globalization;
using System.Text.Json.Nodes;
using ToolTune.Data.Shards;
using ToolTune.Diagnostics;
using ToolTune.Evaluation;
using ToolTune.Pipeline.Config;

namespace ToolTune.Pipeline.Stages;

/// <summary>
/// Evaluate: the merged model (MergeAdapter's <c>merged/</c>) and, for the before/after comparison, the base model
/// (<c>model.base_model</c>) on PrepareData's <c>tool_eval.jsonl</c> and the emission prompts (<c>eval.prompts</c>), KV-cache
/// generation with <c>eval.max_new_tokens</c> / <c>eval.temperature</c> → <c>eval/</c>: metrics.json, metrics.csv,
/// samples.jsonl, report.md, metrics.svg, loss.svg (TrainLora's, copied). Validation perplexity from the val shards with
/// the tuned model. Gates (<c>eval.gates</c>): a miss throws TT7000 after the outputs are written (the build fails, the
/// previous <c>eval/</c> stays: the failed run's report is kept in <c>eval-failed/</c>); warn-only misses are warnings.
/// </summary>
public sealed class EvaluateStage : IStage
{
    public string Name => "Evaluate";
    public string Version => "3";
    public string OutputFolder => "eval";
    public IReadOnlyList<string> Upstream => ["PrepareData", "MergeAdapter"];

    /// <summary><c>eval</c> (gates, decoding, prompts path), <c>model</c> (base model, tokenizer, template), <c>tokens</c>
    /// (delimiters), <c>run.seed</c> (sampling when temperature &gt; 0).</summary>
    public IReadOnlyList<string> ConfigKeys => ["eval", "model", "tokens", "run.seed"];

    /// <summary>A gate miss: the outputs are written before the gates are enforced, so its report is worth reading.</summary>
    public bool KeepsFailedOutput(ToolTuneException failure) => failure.Code == ErrorCodes.EvalGateFailed;

    /// <summary>The emission prompts file, the base model's weights and the tokenizer/template files (content-hashed).</summary>
    public IEnumerable<string> InputFiles(LoadedConfig config)
    {
        var files = new List<string>();
        if (config.Config.Eval.Prompts is { Length: > 0 } p)
        {
            var full = config.Resolve(p);
            if (File.Exists(full)) files.Add(full);
            else if (Directory.Exists(full)) files.AddRange(Directory.EnumerateFiles(full, "*.json*", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
        }
        if (config.Config.Eval.CompareBase) files.AddRange(TrainLoraStage.BaseModelFiles(config));
        files.AddRange(ModelText.InputFiles(config));
        return files.Distinct(StringComparer.Ordinal);
    }

    /// <summary>Emission prompts of <c>eval.prompts</c> (a file, or a folder of .jsonl/.json files).</summary>
    public static List<EvalItem> ReadEmissionPrompts(LoadedConfig config)
    {
        if (config.Config.Eval.Prompts is not { Length: > 0 } p) return [];
        var full = config.Resolve(p);
        if (Directory.Exists(full))
            return Directory.EnumerateFiles(full, "*.json*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
                .SelectMany(f => EvalItem.ReadFile(f, EvalItemKind.Emission)).ToList();
        return EvalItem.ReadFile(full, EvalItemKind.Emission);
    }

    public void Run(StageContext context)
    {
        var config = context.Config;
        var eval = config.Config.Eval;
        var log = context.Log;
        var text = ModelText.Load(config);
        var prepared = context.UpstreamOutput("PrepareData");
        var merged = StageRegistry.TryGet("MergeAdapter", out var m) ? context.Layout.OutputDir(m) : Path.Combine(context.Layout.RunDir, "merged");
        if (!File.Exists(Path.Combine(merged, "config.json")))
            throw new ToolTuneException(ErrorCodes.EvalSetMissing, $"No merged model in {merged}: run MergeAdapter first.", config.File);

        var toolEvalFile = Path.Combine(prepared, "tool_eval.jsonl");
        var toolEval = File.Exists(toolEvalFile) ? EvalItem.ReadFile(toolEvalFile, EvalItemKind.ToolEval) : [];
        var emission = ReadEmissionPrompts(config);
        if (toolEval.Count + emission.Count == 0)
        {
            if (eval.Gates.Count > 0)
                throw new ToolTuneException(ErrorCodes.EvalNoItems,
                    "Nothing to evaluate (data.tool_eval_count is 0 and no eval.prompts), but eval.gates are set.", config.File);
            log.Warning(ErrorCodes.EvalNoItems, "Nothing to evaluate: data.tool_eval_count is 0 and eval.prompts is not set; eval/ holds only a note.", config.File);
            File.WriteAllText(Path.Combine(context.OutputDir, EvaluationRun.ReportMd),
                "# Evaluation\n\nNothing to evaluate: the tool-eval set is empty (`data.tool_eval_count: 0`) and `eval.prompts` is not set.\n");
            return;
        }

        var tokenizer = text.Tokenizer;
        var renderPrompt = EvalItem.PromptRenderer(text.Template, text.RenderOptions, text.Kwargs, tokenizer);

        var endpoint = eval.Endpoint;
        // Through an endpoint nothing generates here: the merged folder supplies only the stop ids (its config and
        // generation_config.json, as the server reads them), and no validation loss is computed. Otherwise eval.backend
        // picks the managed engine or a torch process per model (its module lives beside the run, not in eval/).
        var torchWork = Path.Combine(context.Layout.RunDir, "torch-eval");
        using var tuned = endpoint is null
            ? EvaluationModels.Open(eval.Backend, config.Config.Train.Torch, merged, "tuned (" + context.Layout.Relative(merged) + ")", torchWork, config.File)
            : null;
        IGenerator? baseGen = null;
        Evaluation.Endpoint.OpenAiEndpoint? tunedEndpoint = null, baseEndpoint = null;
        try
        {
            if (endpoint is not null)
            {
                tunedEndpoint = Evaluation.Endpoint.OpenAiEndpoint.Create(endpoint.Url, endpoint.Model, endpoint.ApiKeyEnv, endpoint.TimeoutS, endpoint.Concurrency, config.File);
                if (eval.CompareBase && endpoint.BaseModel is { } bm)
                    baseEndpoint = Evaluation.Endpoint.OpenAiEndpoint.Create(endpoint.BaseUrl ?? endpoint.Url, bm, endpoint.ApiKeyEnv, endpoint.TimeoutS, endpoint.Concurrency, config.File);
            }
            if (baseEndpoint is not null)
                baseGen = endpoint!.Raw ? new Evaluation.Endpoint.EndpointRawGenerator(baseEndpoint, "base (" + baseEndpoint + ")") : null;
            else if (eval.CompareBase && !string.IsNullOrEmpty(config.Config.Model.BaseModel))
                baseGen = EvaluationModels.Open(eval.Backend, config.Config.Train.Torch, TrainLoraStage.BaseModelDir(config), "base (" + config.Config.Model.BaseModel + ")", torchWork, config.File);
            var stops = new Model.ModelSnapshot(merged).StopIds(tuned?.Config ?? Model.ModelConfig.Load(merged), tokenizer);
            if (config.Config.Tokens.EndOfTurn is { } eot && tokenizer.TokenToId(eot) is { } eotId && !stops.Contains(eotId)) stops = [.. stops, eotId];

            double? valLoss = null;
            var manifest = ShardManifest.Read(prepared);
            if (tuned is not null && manifest.Splits.ContainsKey("val"))
            {
                using var val = ShardSet.Open(prepared, "val");
                var clock = System.Diagnostics.Stopwatch.StartNew();
                valLoss = tuned.MeanLoss(Enumerable.Range(0, val.Count).Select(i => (val.InputIds(i).ToArray(), val.LabelIds(i).ToArray())), context.Cancellation);
                log.Message(string.Create(CultureInfo.InvariantCulture,
                    $"Evaluate: validation loss {valLoss:0.0000} (perplexity {(valLoss is { } l ? Math.Exp(l) : double.NaN):0.##}) on {val.Count} samples in {clock.Elapsed.TotalSeconds:0.00} s"));
            }

            var lossSvg = Path.Combine(MergeAdapterStage.AdapterDir(context), "loss.svg");
            string? lossCopy = null;
            if (File.Exists(lossSvg))
            {
                lossCopy = Path.Combine(context.OutputDir, "loss.svg");
                File.Copy(lossSvg, lossCopy, overwrite: true);
            }

            log.Message($"Evaluate: {toolEval.Count} tool-eval items + {emission.Count} emission prompts, {(baseGen is null && baseEndpoint is null ? "tuned only" : "base and tuned")}, " +
                        (tunedEndpoint is null ? "" : $"through {tunedEndpoint} ({(endpoint!.Raw ? "raw and served paths" : "served path")}), ") +
                        $"max_new_tokens {eval.MaxNewTokens}, temperature {eval.Temperature.ToString(CultureInfo.InvariantCulture)}", important: true);
            var relMerged = Path.GetRelativePath(config.RootDir, Path.Combine(context.Layout.RunDir, OutputFolderOf("MergeAdapter", "merged"))).Replace('\\', '/');
            var request = new EvaluationRequest
            {
                OutputDirectory = context.OutputDir,
                Tokenizer = tokenizer,
                RenderPrompt = renderPrompt,
                Tuned = tunedEndpoint is null ? tuned : endpoint!.Raw ? new Evaluation.Endpoint.EndpointRawGenerator(tunedEndpoint, "tuned (" + tunedEndpoint + ")") : null,
                Base = baseGen,
                ServedTuned = tunedEndpoint,
                ServedBase = baseEndpoint,
                TemplateKwargs = text.Kwargs,
                ToolEvalItems = toolEval,
                EmissionItems = emission,
                Options = eval.ToEvaluationOptions(),
                StopIds = stops,
                Seed = (ulong)config.Config.Run.Seed,
                ToolCallDelimiters = config.Config.Tokens.ToolCall,
                TunedEvalLoss = valLoss,
                LossCurveSvg = lossCopy,
                MergedModelDirectory = relMerged,
                ChatTemplatePath = relMerged + "/chat_template.jinja",
                ConfigFile = config.File,
            };
            EvaluationOutcome outcome;
            try
            {
                outcome = EvaluationRun.Execute(request, context.Cancellation);
            }
            catch (ToolTuneException e) when (e.Code == ErrorCodes.EvalGateFailed)
            {
                // StageRunner keeps this run's outputs in eval-failed/ (KeepsFailedOutput).
                var failed = context.Layout.FailedOutputDir(this);
                throw new ToolTuneException(e.Code, e.Message.TrimEnd() + $" Report: {Path.Combine(failed, EvaluationRun.ReportMd)}", config.File, e.Line, e.Column);
            }
            foreach (var g in outcome.Gates.Where(g => g.IsWarning))
                log.Warning(ErrorCodes.EvalGateFailed, g.Describe(), config.File, g.Gate.Line, g.Gate.Column);
            log.Message(Summary(outcome), important: true);
            log.Message($"Evaluate: report {Path.Combine(context.Layout.RunDir, OutputFolder, EvaluationRun.ReportMd)}", important: true);
        }
        finally
        {
            (baseGen as IDisposable)?.Dispose();
            tunedEndpoint?.Dispose();
            baseEndpoint?.Dispose();
        }
    }

    private static string OutputFolderOf(string stage, string fallback) => StageRegistry.TryGet(stage, out var s) ? s.OutputFolder : fallback;

    private static string Summary(EvaluationOutcome o)
    {
        string F(ModelEvaluation? e, string metric) =>
            e?.Metrics[metric] is { } d ? d.ToString("0.###", CultureInfo.InvariantCulture) : "-";
        var metrics = new[] { "name_f1", "tool_call_f1", "emission_rate", "json_valid", "hallucination_rate", "perplexity" };
        var s = o.Tuned.Speed;
        return "Evaluate: " + string.Join(", ", metrics.Select(mn => $"{mn} {F(o.Base, mn)} -> {F(o.Tuned, mn)}")) +
               string.Create(CultureInfo.InvariantCulture, $"; tuned {s.PromptsPerSecond:0.0} prompts/s, {s.GeneratedTokensPerSecond:0} generated tokens/s");
    }
}
