using System.Globalization;
using System.Text.Json.Nodes;
using ToolTune.Data;
using ToolTune.Data.Generation;
using ToolTune.Data.Loaders;
using ToolTune.Diagnostics;
using ToolTune.Evaluation;
using ToolTune.Python;
using ToolTune.Text.Templates;

namespace ToolTune.Text.Training;

/// <summary>
/// Training texts for <see cref="BpeTrainer"/>. A source is a <c>.txt</c> file (its whole text), a conversation file
/// (Hermes / OpenAI / instruct JSON or JSONL, format per record) whose conversations are rendered with the chat template,
/// or a generated set: <c>gen:hermes:COUNT:SEED</c> (<see cref="HermesGenerator.Generate"/>), <c>gen:code:COUNT:SEED</c>
/// (the same requests answered with Python code calling the tool, <see cref="AsCodeDump"/>) or
/// <c>gen:general:COUNT:SEED</c> (<see cref="HermesGenerator.GenerateGeneral"/>), also rendered; <c>gen:demo:COUNT:SEED</c> and
/// <c>gen:demo-code:COUNT:SEED</c> are the embedded default's varied stream (<see cref="HermesGenerator.GenerateExtended"/> with
/// <see cref="HermesGenerator.DefaultExtraToolShare"/>), as conversations and as code dumps.
/// Conversations alternate <c>enable_thinking</c> true (even index) / false (odd) so both system headers are seen;
/// <c>strftime_now</c> is pinned to <see cref="DefaultDate"/> unless told otherwise, so the texts are reproducible.
/// </summary>
public sealed class TrainingCorpus(ChatTemplate? template, DateTime? now = null)
{
    /// <summary>The date the template's <c>strftime_now</c> sees by default.</summary>
    public static readonly DateTime DefaultDate = new(2025, 7, 1, 0, 0, 0, DateTimeKind.Utc);

    private readonly RenderOptions _render = new() { Now = now ?? DefaultDate };

    public ChatTemplate? Template { get; } = template;

    /// <summary>Conversations rendered so far.</summary>
    public int Conversations { get; private set; }

    /// <summary>Records skipped (unconvertible) so far.</summary>
    public int Skipped { get; private set; }

    public static bool IsGenerated(string source) => source.StartsWith("gen:", StringComparison.Ordinal);

    /// <summary>The texts of one source, in order.</summary>
    public IEnumerable<string> Texts(string source)
    {
        if (IsGenerated(source)) return Generated(source);
        if (!File.Exists(source)) throw new ToolTuneException(ErrorCodes.DataFileMissing, $"corpus file not found: {source}", source);
        var ext = Path.GetExtension(source).ToLowerInvariant();
        if (ext is ".json" or ".jsonl") return FromConversationFile(source);
        return [File.ReadAllText(source)];
    }

    private IEnumerable<string> Generated(string source)
    {
        var parts = source.Split(':');
        if (parts.Length != 4 || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out int count)
            || !long.TryParse(parts[3], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long seed))
            throw new ArgumentException($"generated corpus '{source}' must be gen:KIND:COUNT:SEED");
        var records = parts[1] switch
        {
            "hermes" or "code" => HermesGenerator.Generate(count, seed),
            "demo" or "demo-code" => HermesGenerator.GenerateExtended(count, seed, HermesGenerator.DefaultExtraToolShare),
            "general" => HermesGenerator.GenerateGeneral(count, seed),
            _ => throw new ArgumentException($"unknown generated corpus '{parts[1]}' in '{source}' (expected hermes, code, demo, demo-code or general)"),
        };
        int line = 0;
        foreach (var rec in records)
        {
            line++;
            var conv = DataLoader.ConvertGenerated(rec, source, line);
            if (parts[1] is "code" or "demo-code")
            {
                var code = AsCodeDump(conv, line);
                if (code is null) continue;
                conv = code;
            }
            yield return Render(conv);
        }
    }

    /// <summary>The conversation up to its first tool call, that call answered with Python code calling the tool
    /// instead of the tool-call tokens (how an untuned base model answers); null when it has no call.
    /// <paramref name="jsonArguments"/>: pass the arguments as a JSON dict (<c>name(**{"city": "Oslo"})</c>, the
    /// <c>json.dumps</c> text a tool call carries) instead of keyword arguments. <paramref name="wholeConversation"/>:
    /// keep every turn (tool responses, answers, later requests), each call turn answered with code.</summary>
    public static Conversation? AsCodeDump(Conversation conv, int variant, bool jsonArguments = false, bool wholeConversation = false)
    {
        int k = -1;
        for (int i = 0; i < conv.Messages.Count; i++)
            if (conv.Messages[i].HasToolCalls) { k = i; break; }
        if (k < 0) return null;
        var messages = wholeConversation
            ? conv.Messages.Select(m => m.HasToolCalls ? new Message(Roles.Assistant, PythonCalling(m.ToolCalls, variant, jsonArguments)) : m).ToList()
            : conv.Messages.Take(k).Append(new Message(Roles.Assistant, PythonCalling(conv.Messages[k].ToolCalls, variant, jsonArguments))).ToList();
        return new Conversation(conv.Id + "-code", messages, conv.Tools);
    }

    private static string PythonCalling(IReadOnlyList<ToolCall> calls, int variant, bool jsonArguments)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append(variant % 2 == 0 ? "Here is Python code that does this:\n\n```python\n" : "```python\n");
        sb.Append("from tools import ").Append(string.Join(", ", calls.Select(c => c.Name).Distinct())).Append("\n\n");
        for (int i = 0; i < calls.Count; i++)
        {
            var c = calls[i];
            var args = jsonArguments
                ? "**" + PythonJson.Dumps(c.Arguments)
                : string.Join(", ", c.Arguments.Select(kv => $"{kv.Key}={HermesGenerator.PythonRepr(kv.Value)}"));
            var name = calls.Count == 1 ? "result" : $"result_{i + 1}";
            sb.Append(name).Append(" = ").Append(c.Name).Append('(').Append(args).Append(")\n");
            sb.Append("print(").Append(name).Append(")\n");
        }
        return sb.Append("```").ToString();
    }

    private IEnumerable<string> FromConversationFile(string path)
    {
        var spec = new DataSourceSpec(Path.GetFileName(path), path);
        foreach (var raw in JsonRecordReader.Read(path))
        {
            var conv = DataLoader.Convert(raw, spec, new LoadOptions(), out var issue);
            if (conv is null || issue is not null)
            {
                Skipped++;
                continue;
            }
            yield return Render(conv);
        }
    }

    /// <summary>The conversation rendered with the template (without a template: the message contents joined by newlines).</summary>
    public string Render(Conversation conv)
    {
        int index = Conversations++;
        if (Template is null)
            return string.Join("\n", conv.Messages.Select(m => m.Content ?? "").Concat(conv.Messages.SelectMany(m => m.ToolCalls.Select(c => c.ToString()))));
        var ctx = conv.ToRenderContext(kwargs: new JsonObject { ["enable_thinking"] = index % 2 == 0 });
        return Template.RenderText(ctx, _render);
    }
}
