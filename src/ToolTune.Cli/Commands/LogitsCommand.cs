using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ToolTune.Diagnostics;
using ToolTune.Model;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune logits --model &lt;hf-dir&gt; --ids &lt;json array&gt;</c>: one JSON object <c>{"logits": [[...], ...]}</c>.</summary>
internal static class LogitsCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face snapshot folder (config.json + safetensors).", Required = true };
        var ids = new Option<string>("--ids") { Description = "Token ids as a JSON array, e.g. [1, 2, 3] (or @file.json).", Required = true };
        var command = new Command("logits", "Print the model's f32 logits for every position of a token sequence (parity checks).") { model, ids };
        command.SetAction(parse =>
        {
            Run(parse.GetValue(model)!, parse.GetValue(ids)!, Console.Out);
            return 0;
        });
        return command;
    }

    public static int[] ParseIds(string text)
    {
        var json = text.StartsWith('@') ? File.ReadAllText(text[1..]) : text;
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new JsonException("not an array");
            return doc.RootElement.EnumerateArray().Select(e => e.GetInt32()).ToArray();
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            throw new ToolTuneException(ErrorCodes.ModelInputInvalid, $"--ids must be a JSON array of integers: {ex.Message}");
        }
    }

    public static void Run(string modelDir, string idsText, TextWriter output)
    {
        var ids = ParseIds(idsText);
        using var model = DecoderModel.Load(modelDir);
        foreach (var id in ids)
            if ((uint)id >= (uint)model.Config.VocabSize)
                throw new ToolTuneException(ErrorCodes.ModelInputInvalid, $"token id {id} is outside the vocabulary (size {model.Config.VocabSize})");
        var logits = ids.Length == 0 ? [] : model.Logits(ids);
        var v = model.Config.VocabSize;
        var sb = new StringBuilder(logits.Length * 12 + 16);
        sb.Append("{\"logits\":[");
        for (var t = 0; t < ids.Length; t++)
        {
            if (t > 0) sb.Append(',');
            sb.Append('[');
            for (var j = 0; j < v; j++)
            {
                if (j > 0) sb.Append(',');
                var x = logits[t * v + j];
                sb.Append(float.IsFinite(x) ? x.ToString("R", CultureInfo.InvariantCulture) : "null");
            }
            sb.Append(']');
        }
        sb.Append("]}");
        output.WriteLine(sb.ToString());
    }
}
