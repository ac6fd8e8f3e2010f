using System.CommandLine;
using System.Text.Json;
using ToolTune.Diagnostics;
using ToolTune.Text.Tokenization;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune tokenize --tokenizer &lt;dir|tokenizer.json&gt; --input &lt;texts.json&gt; [--add-special-tokens]</c>:
/// one JSON line per input string, <c>{"index", "ids", "decoded"}</c> (decoded without skipping special tokens).</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "Model folder or tokenizer.json", Required = true };
        var input = new Option<string>("--input") { Description = "JSON array of strings to encode", Required = true };
        var addSpecial = new Option<bool>("--add-special-tokens") { Description = "Run the post-processor (BOS/EOS templates)" };
        var command = new Command("tokenize", "Encode texts with a Hugging Face tokenizer.json, print ids and decoded text as JSON lines");
        command.Options.Add(tokenizer);
        command.Options.Add(input);
        command.Options.Add(addSpecial);
        command.SetAction(parse => Run(parse.GetValue(tokenizer)!, parse.GetValue(input)!, parse.GetValue(addSpecial)));
        return command;
    }

    internal static int Run(string tokenizerPath, string inputPath, bool addSpecialTokens, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        try
        {
            var tok = Tokenizer.FromFile(tokenizerPath);
            var texts = ReadTexts(inputPath);
            var line = new System.Text.StringBuilder();
            for (int i = 0; i < texts.Count; i++)
            {
                var ids = tok.EncodeToIds(texts[i], addSpecialTokens);
                line.Clear().Append("{\"index\": ").Append(i).Append(", \"ids\": [");
                for (int k = 0; k < ids.Count; k++) (k == 0 ? line : line.Append(", ")).Append(ids[k]);
                line.Append("], \"decoded\": ");
                AppendJsonString(line, tok.Decode(ids));
                stdout.WriteLine(line.Append('}').ToString());
            }
            return 0;
        }
        catch (ToolTuneException ex)
        {
            // System.CommandLine's default exception handler would swallow this; report it in the canonical form.
            stderr.WriteLine(ex.ToString());
            return 1;
        }
    }

    /// <summary>JSON string with only the escapes JSON requires (plus lone surrogates), so emoji and CJK stay readable.</summary>
    internal static void AppendJsonString(System.Text.StringBuilder sb, string s)
    {
        sb.Append('"');
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    bool lone = char.IsHighSurrogate(c) ? !(i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                        : char.IsLowSurrogate(c) && !(i > 0 && char.IsHighSurrogate(s[i - 1]));
                    if (c < 0x20 || lone) sb.Append("\\u").Append(((int)c).ToString("x4"));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    internal static List<string> ReadTexts(string path)
    {
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ToolTuneException(ErrorCodes.TokenizerInputInvalid, $"cannot read input: {ex.Message}", path, inner: ex);
        }
        try
        {
            return JsonSerializer.Deserialize<List<string>>(json)
                ?? throw new ToolTuneException(ErrorCodes.TokenizerInputInvalid, "input must be a JSON array of strings, not null", path);
        }
        catch (JsonException ex)
        {
            throw new ToolTuneException(ErrorCodes.TokenizerInputInvalid, $"input must be a JSON array of strings: {ex.Message}", path,
                (int)(ex.LineNumber ?? 0) + 1, (int)(ex.BytePositionInLine ?? 0) + 1, ex);
        }
    }
}
