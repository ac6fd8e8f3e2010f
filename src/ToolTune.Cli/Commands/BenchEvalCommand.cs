using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Evaluation;
using ToolTune.Model;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune bench eval --preset demo|tiny|smol135m</c>: KV-cache generation speed over the emission prompts and
/// the demo tool-eval prompts (rendered with the demo tokenizer + fixed template) on random-init weights of the preset.</summary>
internal static class BenchEvalCommand
{
    public static Command Create()
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
