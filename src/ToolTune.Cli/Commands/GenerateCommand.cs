using System.CommandLine;
using System.Text.Json;
using ToolTune.Model;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune generate --model &lt;hf-dir&gt; --prompt-ids [..]</c>: KV-cache generation (greedy unless --temperature &gt; 0), one JSON
/// object with the raw ids, stop reason and timings. Decoded text and <c>--messages</c> need the text layer
/// (ToolTune.Text, another branch); until it is merged, "text" is null.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face snapshot folder.", Required = true };
        var prompt = new Option<string>("--prompt-ids") { Description = "JSON array of prompt token ids (or @file).", Required = true };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Maximum new tokens.", DefaultValueFactory = _ => 64 };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature (0 = greedy).", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass.", DefaultValueFactory = _ => 1f };
        var seed = new Option<int>("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => 0 };
        var stop = new Option<string?>("--stop-ids") { Description = "JSON array of stop ids (default: eos_token_id from config.json)." };
        var command = new Command("generate", "Generate tokens with the KV cache; prints ids, stop reason and tokens/s as JSON.")
        {
            model, prompt, maxNew, temperature, topP, seed, stop,
        };
        command.SetAction(parse =>
        {
            var stopText = parse.GetValue(stop);
            Run(parse.GetValue(model)!, ModelCommandHelpers.ParseIds(parse.GetValue(prompt)!, "--prompt-ids"), new GenerationOptions
            {
                MaxNewTokens = parse.GetValue(maxNew),
                Temperature = parse.GetValue(temperature),
                TopP = parse.GetValue(topP),
                Seed = parse.GetValue(seed),
                StopIds = stopText is null ? null! : ModelCommandHelpers.ParseIds(stopText, "--stop-ids"),
            }, Console.Out);
            return 0;
        });
        return command;
    }

    public static GenerationResult Run(string modelDir, int[] prompt, GenerationOptions options, TextWriter output)
    {
        var load = System.Diagnostics.Stopwatch.StartNew();
        using var weights = ModelWeights.Open(modelDir);
        var loadSeconds = load.Elapsed.TotalSeconds;
        if (options.StopIds is null) options = options with { StopIds = weights.Config.EosTokenIds };
        var lm = new CausalLM(weights);
        var r = Generator.Generate(lm, prompt, options);
        var json = new Dictionary<string, object?>
        {
            ["ids"] = r.Ids,
            ["text"] = null,
            ["stop_reason"] = r.StopReason,
            ["prompt_tokens"] = prompt.Length,
            ["new_tokens"] = r.Ids.Length,
            ["load_s"] = Math.Round(loadSeconds, 4),
            ["prefill_s"] = Math.Round(r.PrefillSeconds, 6),
            ["decode_s"] = Math.Round(r.DecodeSeconds, 6),
            ["tokens_per_s"] = Math.Round(r.TokensPerSecond, 2),
            ["step_ms"] = r.StepSeconds.Select(s => Math.Round(s * 1000, 3)).ToArray(),
        };
        output.WriteLine(JsonSerializer.Serialize(json, new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        return r;
    }
}
