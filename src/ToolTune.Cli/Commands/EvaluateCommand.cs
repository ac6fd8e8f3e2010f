using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Evaluation;
using ToolTune.Model;
using ToolTune.Pipeline;
using ToolTune.Pipeline.Config;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune evaluate --config FILE [--set k=v]</c>: the Evaluate stage (same entry point as the MSBuild target).
/// <c>tooltune evaluate --model DIR --set FILE [--base DIR] [--prompts FILE] [--out DIR]</c>: a model folder (tokenizer and chat
/// template inside, e.g. <c>artifacts/&lt;run&gt;/merged</c>) on a <c>tool_eval.jsonl</c>-style file; with <c>--model</c>,
/// <c>--set</c> names eval-set files instead of config overrides.
/// </summary>
internal static class EvaluateCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config", "-c") { Description = "The run config (YAML): runs the Evaluate stage." };
        var root = PipelineOptions.Root();
        var set = new Option<string[]>("--set")
        {
            Description = "With --config: override a config key (k=v, repeatable). With --model: a tool_eval.jsonl-style eval set file (repeatable).",
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
            config, root, set, model, baseModel, prompts, output, maxNew, gates, endpoint, endpointModel, endpointBase, apiKeyEnv, concurrency, rawPath, templateDate,
        };
        cmd.SetAction((p, ct) => Task.FromResult(PipelineOptions.Guard(() =>
        {
            var cfg = p.GetValue(config);
            var sets = p.GetValue(set) ?? [];
            if (cfg is not null)
            {
                var rootDir = PipelineOptions.ResolveRoot(cfg, p.GetValue(root));
                var r = PipelineApi.RunStage(cfg, rootDir, string.Join(';', sets), "Evaluate", StageCommands.ConsoleLog.Instance, ct);
                Console.WriteLine($"Evaluate: outputs in {r.OutputDir}");
                return 0;
            }
            var dir = p.GetValue(model) ?? throw new Diagnostics.ToolTuneException(Diagnostics.ErrorCodes.EvalSetMissing, "evaluate: give --config FILE, or --model DIR --set FILE.");
            if (sets.Length == 0 && p.GetValue(prompts) is null)
                throw new Diagnostics.ToolTuneException(Diagnostics.ErrorCodes.EvalSetMissing, "evaluate --model: give --set FILE (tool_eval.jsonl-style) and/or --prompts FILE.");
            var gateList = (p.GetValue(gates) ?? []).Select(g => GateEvaluator.Parse(g)).ToList();
            var outDir = Path.GetFullPath(p.GetValue(output) ?? "eval-" + Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir))));
            var run = new StandaloneEvaluation
            {
                ModelDir = Path.GetFullPath(dir),
                SetFiles = sets.Select(Path.GetFullPath).ToList(),
                BaseDir = p.GetValue(baseModel) is { } b ? Path.GetFullPath(b) : null,
                PromptsFile = p.GetValue(prompts) is { } pf ? Path.GetFullPath(pf) : null,
                OutputDir = outDir,
                Eval = new EvalSection { MaxNewTokens = p.GetValue(maxNew), Gates = gateList },
                TemplateKwargs = new JsonObject { ["enable_thinking"] = false },
                TemplateDate = p.GetValue(templateDate) is { } td ? DateTime.ParseExact(td, "yyyy-MM-dd", CultureInfo.InvariantCulture) : null,
                Endpoint = p.GetValue(endpoint) is { } url ? new EndpointSection
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

    /// <summary><c>tooltune bench eval --preset demo|tiny|smol135m</c>: KV-cache generation speed over the emission prompts and
    /// the demo tool-eval prompts (rendered with the demo tokenizer + fixed template) on random-init weights of the preset.</summary>
    public static Command Bench()
    {
        var preset = new Option<string>("--preset") { Description = "demo (the data/demo-model base), tiny, smol135m (random init).", DefaultValueFactory = _ => "demo" };
        var tokens = new Option<int>("--max-new-tokens") { DefaultValueFactory = _ => 32 };
        var repeat = new Option<int>("--repeat") { Description = "Passes over the prompts (after one warm-up prompt).", DefaultValueFactory = _ => 1 };
        var repo = new Option<string>("--root") { Description = "Repository root (data/demo-model, data/eval, configs/templates).", DefaultValueFactory = _ => "." };
        var cmd = new Command("eval", "Evaluation generation speed (prompts/s, generated tokens/s) with KV-cache greedy decoding; no stop ids, so every prompt generates --max-new-tokens.")
        {
            preset, tokens, repeat, repo,
        };
        cmd.SetAction(p => PipelineOptions.Guard(() =>
        {
            var root = Path.GetFullPath(p.GetValue(repo)!);
            var demo = Path.Combine(root, "data", "demo-model");
            var tokenizer = Tokenizer.FromDirectory(demo);
            var template = ChatTemplate.Load(Path.Combine(root, "configs", "templates", "smollm3-tool-fixed.jinja"));
            var items = EvalItem.ReadFile(Path.Combine(root, "data", "eval", "emission_prompts.jsonl"), EvalItemKind.Emission);
            var prompts = items.Select(i =>
            {
                var ctx = (JsonObject)i.RenderContext.DeepClone();
                ctx["add_generation_prompt"] = true;
                ctx["enable_thinking"] = false;
                ctx["eos_token"] = tokenizer.EosToken;
                return tokenizer.EncodeToIds(template.Render(ctx, RenderOptions.Default with { Now = new DateTime(2025, 7, 10) }).Text, addSpecialTokens: false).ToArray();
            }).ToList();
            var name = p.GetValue(preset)!;
            var load = Stopwatch.StartNew();
            using var gen = name == "demo" ? new ModelGenerator(demo, "demo")
                : new ModelGenerator(ModelWeights.CreateRandom(ModelConfig.Preset(name) with { VocabSize = Math.Max(ModelConfig.Preset(name).VocabSize, tokenizer.VocabularySize) }, 1), name);
            var loadS = load.Elapsed.TotalSeconds;
            var options = new Evaluation.GenerationOptions(p.GetValue(tokens), 0, []);
            gen.Generate(prompts[0], options with { MaxNewTokens = 2 }, CancellationToken.None); // warm-up (JIT)
            var wall = Stopwatch.StartNew();
            long generated = 0, promptTokens = 0;
            double prefill = 0, decode = 0;
            var n = 0;
            for (var rep = 0; rep < Math.Max(1, p.GetValue(repeat)); rep++)
                foreach (var prompt in prompts)
                {
                    var r = gen.Generate(prompt, options, CancellationToken.None);
                    generated += r.Ids.Count;
                    promptTokens += prompt.Length;
                    prefill += r.PrefillTime.TotalSeconds;
                    decode += r.DecodeTime.TotalSeconds;
                    n++;
                }
            var w = wall.Elapsed.TotalSeconds;
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                bench = "eval",
                preset = name,
                prompts = n,
                mean_prompt_tokens = Math.Round((double)promptTokens / n, 1),
                max_new_tokens = options.MaxNewTokens,
                generated_tokens = generated,
                seconds = Math.Round(w, 3),
                prompts_per_s = Math.Round(n / w, 2),
                generated_tokens_per_s = Math.Round(generated / w, 1),
                decode_tokens_per_s = Math.Round((generated - n) / Math.Max(decode, 1e-9), 1),
                prefill_tokens_per_s = Math.Round(promptTokens / Math.Max(prefill, 1e-9), 1),
                load_s = Math.Round(loadS, 2),
                threads = Environment.ProcessorCount,
                load_average = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : null,
            }, new JsonSerializerOptions { WriteIndented = false }));
            return 0;
        }));
        return cmd;
    }
}
