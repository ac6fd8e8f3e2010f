using System.CommandLine;
using System.Text.Json;
using ToolTune.Model;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune generate --model &lt;hf-dir&gt; --prompt-ids &lt;json&gt;</c>: generated ids and timings as one JSON object.
/// (<c>--messages</c> and decoded text arrive with the tokenizer/chat-template layer.)
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face snapshot folder.", Required = true };
        var prompt = new Option<string>("--prompt-ids") { Description = "Prompt token ids as a JSON array (or @file.json).", Required = true };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Maximum tokens to generate.", DefaultValueFactory = _ => 128 };
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy.", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass.", DefaultValueFactory = _ => 1f };
        var seed = new Option<int>("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => 0 };
        var stop = new Option<string?>("--stop-ids") { Description = "Stop token ids as a JSON array." };
        var command = new Command("generate", "Generate tokens with a KV cache (greedy or temperature/top-p sampling).")
        {
            model, prompt, maxNew, temperature, topP, seed, stop,
        };
        command.SetAction(parse =>
        {
            var options = new GenerationOptions
            {
                MaxNewTokens = parse.GetValue(maxNew),
                Temperature = parse.GetValue(temperature),
                TopP = parse.GetValue(topP),
                Seed = parse.GetValue(seed),
                StopIds = parse.GetValue(stop) is { } s ? LogitsCommand.ParseIds(s) : [],
            };
            Run(parse.GetValue(model)!, parse.GetValue(prompt)!, options, Console.Out);
            return 0;
        });
        return command;
    }

    public static void Run(string modelDir, string promptIds, GenerationOptions options, TextWriter output)
    {
        var ids = LogitsCommand.ParseIds(promptIds);
        using var model = DecoderModel.Load(modelDir);
        foreach (var id in ids)
            if ((uint)id >= (uint)model.Config.VocabSize)
                throw new Diagnostics.ToolTuneException(Diagnostics.ErrorCodes.ModelInputInvalid, $"token id {id} is outside the vocabulary (size {model.Config.VocabSize})");
        var result = Generator.Generate(model, ids, options);
        var json = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["ids"] = result.Ids,
            ["stopped"] = result.Stopped,
            ["prefill_s"] = Math.Round(result.PrefillSeconds, 6),
            ["step_s"] = result.StepSeconds.Select(x => Math.Round(x, 6)).ToArray(),
            ["tokens_per_s"] = Math.Round(result.TokensPerSecond, 2),
        });
        output.WriteLine(json);
    }
}
