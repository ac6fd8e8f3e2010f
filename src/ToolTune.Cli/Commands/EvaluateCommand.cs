using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using ToolTune.Evaluation;
using ToolTune.Pipeline;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune evaluate --config FILE [--set k=v]</c>: the Evaluate stage (same entry point as the MSBuild target).
/// <c>tooltune evaluate --model DIR --eval-set FILE [--base DIR] [--prompts FILE] [--out DIR]</c>: a model folder (tokenizer
/// and chat template inside, e.g. <c>artifacts/&lt;run&gt;/merged</c>) on a <c>tool_eval.jsonl</c>-style file. <c>--set</c>
/// means what it means for every verb, a config override; it once also named the eval set with <c>--model</c>, which is
/// now an error pointing at <c>--eval-set</c> rather than a silent change of meaning.
/// </summary>
internal static class EvaluateCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config", "-c") { Description = "The run config (YAML): runs the Evaluate stage." };
        var root = PipelineOptions.Root();
        var set = PipelineOptions.Set();
        var evalSets = new Option<string[]>("--eval-set")
        {
            Description = "With --model: a tool_eval.jsonl-style eval set file (repeatable).",
            AllowMultipleArgumentsPerToken = false,
        };
        var model = new Option<string?>("--model") { Description = "Model folder to evaluate (safetensors + tokenizer + chat template)." };
        var baseModel = new Option<string?>("--base") { Description = "Base model folder for the before/after comparison." };
        var prompts = new Option<string?>("--prompts") { Description = "Emission prompts file (JSONL)." };
        var output = new Option<string?>("--out") { Description = "Output folder (default: eval-<model folder name>)." };
        var maxNew = new Option<int>("--max-new-tokens") { DefaultValueFactory = _ => 256 };
        var gates = new Option<string[]>("--gate") { Description = "A gate like 'tool_call_f1 >= 0.9' (repeatable).", AllowMultipleArgumentsPerToken = false };
        var endpoint = new Option<string?>("--endpoint") { Description = "With --model: generate through this OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1): raw and served paths." };
        var endpointModel = new Option<string?>("--endpoint-model") { Description = "The tuned model's name on --endpoint (default: the --model folder's name)." };
        var endpointBase = new Option<string?>("--endpoint-base-model") { Description = "The base model's name on --endpoint (base and tuned on one server)." };
        var apiKeyEnv = new Option<string?>("--api-key-env") { Description = "Environment variable holding the endpoint's API key." };
        var concurrency = new Option<int>("--concurrency") { Description = "Endpoint requests in flight.", DefaultValueFactory = _ => 4 };
        var rawPath = new Option<bool>("--no-raw") { Description = "Only the served path (for servers that cannot return token ids)." };
        var templateDate = new Option<string?>("--template-date") { Description = "Date the template's strftime_now sees (yyyy-MM-dd; default today)." };
        var cmd = new Command("evaluate", "Evaluate tool-call quality (vLLM hermes parsing on token ids), base vs tuned, with gates and a report.")
        {
            config, root, set, evalSets, model, baseModel, prompts, output, maxNew, gates, endpoint, endpointModel, endpointBase, apiKeyEnv, concurrency, rawPath, templateDate,
        };
        cmd.SetAction((p, ct) => Task.FromResult(PipelineOptions.Guard(() =>
        {
            var cfg = p.GetValue(config);
            var overrides = p.GetValue(set) ?? [];
            if (cfg is not null)
            {
                var rootDir = PipelineOptions.ResolveRoot(cfg, p.GetValue(root));
                var r = PipelineApi.RunStage(cfg, rootDir, string.Join(';', overrides), "Evaluate", ConsoleLog.Instance, ct);
                Console.WriteLine($"Evaluate: outputs in {r.OutputDir}");
                return 0;
            }
            var dir = p.GetValue(model) ?? throw new Diagnostics.ToolTuneException(Diagnostics.ErrorCodes.EvalSetMissing, "evaluate: give --config FILE, or --model DIR --eval-set FILE.");
            if (overrides.Length > 0)
                throw new Diagnostics.ToolTuneException(Diagnostics.ErrorCodes.EvalSetMissing,
                    "evaluate --model: --set overrides config keys and needs --config; give eval-set files with --eval-set FILE.");
            var sets = p.GetValue(evalSets) ?? [];
            if (sets.Length == 0 && p.GetValue(prompts) is null)
                throw new Diagnostics.ToolTuneException(Diagnostics.ErrorCodes.EvalSetMissing, "evaluate --model: give --eval-set FILE (tool_eval.jsonl-style) and/or --prompts FILE.");
            var gateList = (p.GetValue(gates) ?? []).Select(g => GateEvaluator.Parse(g)).ToList();
            var outDir = Path.GetFullPath(p.GetValue(output) ?? "eval-" + Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir))));
            var run = new StandaloneEvaluation
            {
                ModelDir = Path.GetFullPath(dir),
                SetFiles = sets.Select(Path.GetFullPath).ToList(),
                BaseDir = p.GetValue(baseModel) is { } b ? Path.GetFullPath(b) : null,
                PromptsFile = p.GetValue(prompts) is { } pf ? Path.GetFullPath(pf) : null,
                OutputDir = outDir,
                Eval = new EvaluationOptions { MaxNewTokens = p.GetValue(maxNew), Gates = gateList },
                TemplateKwargs = new JsonObject { ["enable_thinking"] = false },
                TemplateDate = p.GetValue(templateDate) is { } td ? DateTime.ParseExact(td, "yyyy-MM-dd", CultureInfo.InvariantCulture) : null,
                Endpoint = p.GetValue(endpoint) is { } url ? new Evaluation.Endpoint.EndpointOptions
                {
                    Url = url,
                    Model = p.GetValue(endpointModel) ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir))),
                    BaseModel = p.GetValue(endpointBase),
                    ApiKeyEnv = p.GetValue(apiKeyEnv),
                    Concurrency = Math.Max(1, p.GetValue(concurrency)),
                    Raw = !p.GetValue(rawPath),
                } : null,
            };
            var outcome = run.Run(ct);
            foreach (var w in outcome.Warnings) Console.Error.WriteLine(w);
            Console.WriteLine($"Evaluate: report {Path.Combine(outDir, EvaluationRun.ReportMd)}");
            return 0;
        })));
        return cmd;
    }
}
