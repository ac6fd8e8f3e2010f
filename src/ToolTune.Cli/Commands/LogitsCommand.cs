using System.CommandLine;
using System.Text.Json;
using ToolTune.Model;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune logits --model &lt;hf-dir&gt; --ids [..]</c>: one JSON object <c>{"logits": [[...], ...]}</c>, one row per position (f32).</summary>
internal static class LogitsCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face snapshot folder (config.json + safetensors).", Required = true };
        var ids = new Option<string>("--ids") { Description = "JSON array of token ids (or @file).", Required = true };
        var command = new Command("logits", "Print the model's logits for every position of a token sequence (parity checks).") { model, ids };
        command.SetAction(parse =>
        {
            Run(parse.GetValue(model)!, ModelCommandHelpers.ParseIds(parse.GetValue(ids)!, "--ids"), Console.OpenStandardOutput());
            return 0;
        });
        return command;
    }

    public static void Run(string modelDir, int[] ids, Stream output)
    {
        using var weights = ModelWeights.Open(modelDir);
        var lm = new CausalLM(weights);
        var logits = lm.Logits(ids);
        var v = weights.Config.VocabSize;
        using var w = new Utf8JsonWriter(output);
        w.WriteStartObject();
        w.WriteStartArray("logits");
        for (var t = 0; t < ids.Length; t++)
        {
            w.WriteStartArray();
            foreach (var x in logits.AsSpan(t * v, v)) w.WriteNumberValue(x);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.Flush();
        output.WriteByte((byte)'\n');
        output.Flush();
    }
}
