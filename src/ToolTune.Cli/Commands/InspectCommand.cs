using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Text.Masks;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune inspect --tokenizer DIR --template FILE|tokenizer_config.json|DIR --data conversation.json [--date YYYY-MM-DD]</c>:
/// the raw-token view of one rendered conversation — one row per token (index, id, escaped text, TRAIN or mask),
/// added/special tokens highlighted, then totals and the mask method.
/// </summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "Model folder (tokenizer.json + tokenizer_config.json) or tokenizer.json", Required = true };
        var template = new Option<string?>("--template") { Description = "Chat template: .jinja file, tokenizer_config.json, or model folder (default: the tokenizer folder)" };
        var data = new Option<string>("--data") { Description = "Render context JSON: {\"messages\": [...], \"tools\": [...], kwargs...}", Required = true };
        var date = new Option<string?>("--date") { Description = "Date strftime_now sees, YYYY-MM-DD (default: today, as transformers)" };
        var method = new Option<string>("--method") { Description = "Mask method: auto (generation tags when the template has them), tags, prefix", DefaultValueFactory = _ => "auto" };
        method.AcceptOnlyFromAmong("auto", "tags", "prefix");
        var lint = new Option<bool>("--lint") { Description = "Also run the template lint (tool calls kept, tool responses wrapped, prefix property, end-of-turn trained, think direction)" };
        var color = new Option<string>("--color") { Description = "auto (ANSI only when stdout is a terminal), always, never", DefaultValueFactory = _ => "auto" };
        color.AcceptOnlyFromAmong("auto", "always", "never");

        var cmd = new Command("inspect", "Show the tokens of a rendered conversation with their training labels (TRAIN/mask)");
        foreach (var o in new Option[] { tokenizer, template, data, date, method, lint, color }) cmd.Options.Add(o);
        cmd.SetAction(p =>
        {
            var ansi = p.GetValue(color) switch
            {
                "always" => true,
                "never" => false,
                _ => !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("NO_COLOR") is null,
            };
            return PipelineOptions.Guard(() =>
            {
                return Run(new InspectArgs(p.GetValue(tokenizer)!, p.GetValue(template), p.GetValue(data)!, p.GetValue(date),
                    p.GetValue(method) ?? "auto", p.GetValue(lint)), Console.Out, ansi);
            });
        });
        return cmd;
    }

    internal sealed record InspectArgs(string Tokenizer, string? Template, string Data, string? Date = null, string Method = "auto", bool Lint = false);

    /// <summary>What <c>inspect</c> computes: the masked sequence, its rows, and the lint findings when asked.</summary>
    internal sealed record InspectResult(MaskedSequence Sequence, IReadOnlyList<TokenRow> Rows, string TemplateName, IReadOnlyList<TemplateLintFinding>? Lint);

    internal static InspectResult Inspect(InspectArgs args)
    {
        var tokenizer = Directory.Exists(args.Tokenizer) ? Tokenizer.FromDirectory(args.Tokenizer) : Tokenizer.FromFile(args.Tokenizer);
        var templatePath = args.Template ?? (Directory.Exists(args.Tokenizer) ? args.Tokenizer : Path.GetDirectoryName(Path.GetFullPath(args.Tokenizer))!);
        var template = ChatTemplate.Load(templatePath);
        var options = new RenderOptions { Now = ParseDate(args.Date) };
        var context = LoadContext(args.Data);
        MaskMethod? method = args.Method switch
        {
            "tags" => MaskMethod.GenerationTags,
            "prefix" => MaskMethod.RolePrefixDiff,
            "auto" => null,
            _ => throw new ToolTuneException(ErrorCodes.TemplateContextInvalid, $"Unknown mask method '{args.Method}' (auto, tags, prefix)."),
        };
        var renderer = new TemplateRenderer(template, options);
        var encoder = new TokenizerEncoder(tokenizer);
        var seq = ChatMasking.Build(renderer, encoder, context, method);
        var rows = TokenInspection.Rows(seq, encoder.IsAddedOrSpecial, id => tokenizer.Decode([id]));
        IReadOnlyList<TemplateLintFinding>? lint = null;
        if (args.Lint)
        {
            var kwargs = new JsonObject();
            foreach (var (k, v) in context)
                if (k is not ("messages" or "tools" or "add_generation_prompt")) kwargs[k] = v?.DeepClone();
            var eot = tokenizer.EosToken is { } e && e.Length > 0 ? e : "<|im_end|>";
            lint = TemplateLint.Run(renderer, new TemplateLintOptions { Kwargs = kwargs, EndOfTurn = eot }, encoder);
        }
        return new InspectResult(seq, rows, template.SourceName ?? templatePath, lint);
    }

    internal static int Run(InspectArgs args, TextWriter output, bool ansi)
    {
        var result = Inspect(args);
        output.WriteLine($"template: {result.TemplateName}");
        output.WriteLine($"method:   {result.Sequence.Method}  (assistant spans: {string.Join(", ", result.Sequence.AssistantSpans.Select(s => $"[{s.Start},{s.End})"))})");
        output.WriteLine();
        TokenInspection.Write(output, result.Sequence, result.Rows, ansi);
        if (result.Lint is { } findings)
        {
            output.WriteLine();
            if (findings.Count == 0) output.WriteLine("lint: passed (no findings)");
            foreach (var f in findings) output.WriteLine($"lint: {f}");
            if (!TemplateLint.Passes(findings)) return 2;
        }
        return 0;
    }

    internal static DateTime? ParseDate(string? date)
    {
        if (string.IsNullOrEmpty(date)) return null;
        if (DateTime.TryParseExact(date, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)) return d;
        throw new ToolTuneException(ErrorCodes.TemplateContextInvalid, $"--date must be YYYY-MM-DD, got '{date}'.");
    }

    /// <summary>Reads a render context: an object with "messages" (as the parity *.data.json files), or {"context": {...}}.</summary>
    internal static JsonObject LoadContext(string path)
    {
        if (!File.Exists(path)) throw new ToolTuneException(ErrorCodes.TemplateContextInvalid, "Conversation file not found.", path);
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e)
        {
            throw new ToolTuneException(ErrorCodes.TemplateContextInvalid, $"Invalid JSON: {e.Message}", path, (int)(e.LineNumber ?? 0) + 1, (int)(e.BytePositionInLine ?? 0) + 1, e);
        }
        if (root is JsonObject o && o["messages"] is null && o["context"] is JsonObject inner) o = inner;
        else if (root is JsonArray messages) o = new JsonObject { ["messages"] = messages.DeepClone() };
        else if (root is not JsonObject) o = null!;
        else o = (JsonObject)root;
        if (o is null || o["messages"] is not JsonArray)
            throw new ToolTuneException(ErrorCodes.TemplateContextInvalid, "Expected a JSON object with a \"messages\" array (plus optional \"tools\" and template kwargs).", path);
        return o;
    }
}
