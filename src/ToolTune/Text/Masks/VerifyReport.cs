using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.IO;

namespace ToolTune.Text.Masks;

/// <summary>One <see cref="TokenVerifier"/> violation (a sample's, the tokenizer's or the template's).</summary>
public sealed record VerifyViolation(string Code, string Message, string? File, int Line, string? SampleId = null, string? Split = null, string? Check = null)
{
    public ToolTuneException ToException() => new(Code, SampleId is null ? Message : $"sample '{SampleId}'{(Split is null ? "" : $" ({Split})")}: {Message}", File, Line);

    public JsonObject ToJson() => new()
    {
        ["code"] = Code,
        ["check"] = Check,
        ["sample"] = SampleId,
        ["split"] = Split,
        ["file"] = File,
        ["line"] = Line,
        ["message"] = Message,
    };
}

/// <summary>What <see cref="TokenVerifier"/> found (→ <c>report.json</c> and <c>report.md</c>).</summary>
public sealed class VerifyReport
{
    public const string JsonFileName = "report.json";
    public const string MarkdownFileName = "report.md";
    private const int MaxKept = 10_000;

    public string Template { get; init; } = "";
    public string Tokenizer { get; init; } = "";
    public string? EndOfTurn { get; set; }
    public List<JsonObject> Delimiters { get; } = [];
    public List<JsonObject> Lint { get; } = [];
    public List<VerifyViolation> Violations { get; } = [];
    public int TotalViolations { get; private set; }
    public int SamplesChecked { get; set; }
    public int ToolCallSamples { get; set; }
    public int ToolCallsChecked { get; set; }
    public int SamplesWithViolations { get; private set; }
    public int GlobalViolations { get; private set; }
    public bool Passed => TotalViolations == 0;

    public void Add(VerifyViolation v)
    {
        TotalViolations++;
        if (v.SampleId is null) GlobalViolations++;
        if (Violations.Count < MaxKept) Violations.Add(v);
    }

    internal void CountSample(int violationsBefore)
    {
        if (Violations.Count > violationsBefore) SamplesWithViolations++;
    }

    public JsonObject ToJson() => new()
    {
        ["passed"] = Passed,
        ["template"] = Template,
        ["tokenizer"] = Tokenizer,
        ["end_of_turn"] = EndOfTurn,
        ["samples_checked"] = SamplesChecked,
        ["tool_call_samples"] = ToolCallSamples,
        ["tool_calls_checked"] = ToolCallsChecked,
        ["samples_with_violations"] = SamplesWithViolations,
        ["violation_count"] = TotalViolations,
        ["delimiters"] = new JsonArray(Delimiters.Select(d => (JsonNode)d.DeepClone()).ToArray()),
        ["lint"] = new JsonArray(Lint.Select(d => (JsonNode)d.DeepClone()).ToArray()),
        ["violations"] = new JsonArray(Violations.Select(v => (JsonNode)v.ToJson()).ToArray()),
    };

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.Append("# VerifyTokens report\n\n");
        sb.Append(Passed ? "**PASSED**" : $"**FAILED**: {TotalViolations} violation(s)").Append("\n\n");
        sb.Append($"- tokenizer: `{Tokenizer}`\n- template: `{Template}`\n- end of turn: `{EndOfTurn}`\n");
        sb.Append($"- samples checked: {SamplesChecked} ({ToolCallSamples} with tool calls, {ToolCallsChecked} calls checked)\n\n");
        sb.Append("## Delimiters\n\n| role | text | ids | single token | expected id |\n|---|---|---|---|---|\n");
        foreach (var d in Delimiters)
            sb.Append($"| {d["role"]} | `{d["text"]}` | {d["ids"]!.ToJsonString()} | {d["single_token"]} | {d["expected_id"]?.ToJsonString() ?? "–"} |\n");
        sb.Append("\n## Template lint\n\n");
        if (Lint.Count == 0) sb.Append("No findings.\n");
        foreach (var f in Lint) sb.Append($"- {f["severity"]} {f["code"]} [{f["check"]}]: {f["message"]}\n");
        sb.Append("\n## Violations\n\n");
        if (Violations.Count == 0) sb.Append("None.\n");
        foreach (var v in Violations.Take(500))
            sb.Append($"- {v.Code} {(v.SampleId is null ? "" : $"sample `{v.SampleId}` ({v.Split}) ")}at {v.File}{(v.Line > 0 ? $"({v.Line})" : "")}: {v.Message}\n");
        if (Violations.Count > 500) sb.Append($"- … {TotalViolations - 500} more in report.json\n");
        return sb.ToString();
    }

    public void Write(string directory)
    {
        Directory.CreateDirectory(directory);
        var json = ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
        AtomicFile.Write(Path.Combine(directory, JsonFileName), fs => fs.Write(Encoding.UTF8.GetBytes(json)));
        AtomicFile.Write(Path.Combine(directory, MarkdownFileName), fs => fs.Write(Encoding.UTF8.GetBytes(ToMarkdown())));
    }
}
