using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Data.Shards;
using ToolTune.Diagnostics;
using ToolTune.Pipeline.Config;
using ToolTune.IO;
using ToolTune.Tensors;
using ToolTune.Text.Masks;

namespace ToolTune.Pipeline.Stages;

/// <summary>One VerifyTokens violation (a sample's, the tokenizer's or the template's).</summary>
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

/// <summary>
/// VerifyTokens: the "critical fix" check, made exhaustive. Every configured delimiter (<c>tokens.tool_call</c>,
/// <c>tokens.tool_response</c>) and the end-of-turn token must be one token id (optionally the ids in
/// <c>tokens.expect_ids</c>); in every sample of every split, the labelled (trained) region must hold the start and end
/// ids of each of its tool calls, balanced and in order, with JSON carrying <c>name</c> and <c>arguments</c> between
/// them; no sample may have zero trained tokens; every trained run must end with the end-of-turn token. The configured
/// template is linted (<see cref="TemplateLint"/>). Writes <c>verify/report.json</c> + <c>report.md</c>; any violation fails the stage
/// with one located error per violation (the sample id and its source file/line, or the template/config file).
/// </summary>
public sealed class VerifyTokensStage : IStage
{
    public const string ReportJson = "report.json";
    public const string ReportMd = "report.md";
    /// <summary>Under <c>artifacts/&lt;run&gt;/</c>: the report of the last failing verification (kept for reading; removed on success).</summary>
    public const string FailedReportFolder = "verify-failed";
    /// <summary>How many violations are logged as separate build errors (all are in the report).</summary>
    public const int MaxLoggedErrors = 50;

    public string Name => "VerifyTokens";
    public string Version => "1";
    public string OutputFolder => "verify";
    public IReadOnlyList<string> Upstream => ["PrepareData"];
    public IReadOnlyList<string> ConfigKeys => ["tokens", .. ModelText.ConfigKeys];
    public IEnumerable<string> InputFiles(LoadedConfig config) => ModelText.InputFiles(config);

    public void Run(StageContext context)
    {
        var report = Verify(context.Config, context.UpstreamOutput("PrepareData"), context.Log, context.Cancellation);
        var failedDir = Path.Combine(context.Layout.RunDir, FailedReportFolder);
        if (report.Violations.Count == 0)
        {
            report.Write(context.OutputDir);
            if (Directory.Exists(failedDir)) Directory.Delete(failedDir, recursive: true);
            context.Log.Message($"VerifyTokens: passed ({report.SamplesChecked} samples, {report.ToolCallsChecked} tool calls, template lint clean).", important: true);
            return;
        }
        report.Write(failedDir);
        var errors = report.Violations.Take(MaxLoggedErrors).Select(v => v.ToException()).ToList();
        var summary = $"VerifyTokens failed: {report.Violations.Count} violation(s) in {report.SamplesWithViolations} sample(s) and {report.GlobalViolations} tokenizer/template check(s); " +
                      $"full report: {Path.Combine(failedDir, ReportMd)}";
        errors.Add(new ToolTuneException(ErrorCodes.VerifyFailed, summary, context.Config.File));
        throw new ToolTuneMultiException(errors, summary);
    }

    /// <summary>Runs every check on a prepared folder; returns the report (nothing thrown for violations).</summary>
    public static VerifyReport Verify(LoadedConfig config, string preparedDir, IPipelineLog log, CancellationToken cancellation = default)
    {
        var tokens = config.Config.Tokens;
        var text = ModelText.Load(config);
        var report = new VerifyReport { Template = Shown(config, text.TemplatePath), Tokenizer = Shown(config, text.Tokenizer.TokenizerPath) };
        var configFile = config.File;

        // ---- delimiters and end-of-turn: single tokens, expected ids ----
        int? Delimiter(string role, string value, int? expected)
        {
            var (id, ids) = text.SingleTokenId(value);
            report.Delimiters.Add(new JsonObject
            {
                ["role"] = role, ["text"] = value, ["ids"] = new JsonArray(ids.Select(i => (JsonNode)i).ToArray()),
                ["single_token"] = id is not null, ["expected_id"] = expected,
            });
            if (id is null)
            {
                report.Add(new VerifyViolation(ErrorCodes.VerifyDelimiterNotSingleToken,
                    $"{role} delimiter \"{value}\" is not a single token: it splits into {ids.Count} ids [{string.Join(", ", ids)}] " +
                    "(add it to the tokenizer's added tokens, or fix tokens.* in the config)", configFile, 0, Check: "single-token"));
                return null;
            }
            if (expected is { } e && e != id)
                report.Add(new VerifyViolation(ErrorCodes.VerifyDelimiterIdMismatch,
                    $"{role} delimiter \"{value}\" is token {id}, but tokens.expect_ids says {e}", configFile, 0, Check: "expect-ids"));
            return id;
        }
        var callStart = Delimiter("tool_call start", tokens.ToolCall[0], tokens.ExpectIds.ToolCall?[0]);
        var callEnd = Delimiter("tool_call end", tokens.ToolCall[1], tokens.ExpectIds.ToolCall?[1]);
        Delimiter("tool_response start", tokens.ToolResponse[0], tokens.ExpectIds.ToolResponse?[0]);
        Delimiter("tool_response end", tokens.ToolResponse[1], tokens.ExpectIds.ToolResponse?[1]);
        var eotText = tokens.EndOfTurn ?? text.Tokenizer.EosToken;
        int? eot = null;
        if (eotText is null)
            report.Add(new VerifyViolation(ErrorCodes.VerifyEndOfTurnNotTrained,
                "no end-of-turn token: set tokens.end_of_turn (the tokenizer config has no eos_token)", configFile, 0, Check: "end-of-turn"));
        else eot = Delimiter("end of turn", eotText, null);
        report.EndOfTurn = eotText;

        // ---- template lint ----
        var lintOptions = new TemplateLintOptions
        {
            ToolCallStart = tokens.ToolCall[0], ToolCallEnd = tokens.ToolCall[1],
            ToolResponseStart = tokens.ToolResponse[0], ToolResponseEnd = tokens.ToolResponse[1],
            EndOfTurn = eotText, Kwargs = text.Kwargs,
        };
        foreach (var f in TemplateLint.Run(text.Renderer, lintOptions, text.Encoder))
        {
            report.Lint.Add(new JsonObject { ["code"] = f.Code, ["severity"] = f.Severity.ToString().ToLowerInvariant(), ["check"] = f.Check, ["message"] = f.Message });
            if (f.Severity == LintSeverity.Error)
                report.Add(new VerifyViolation(f.Code, $"template lint [{f.Check}]: {f.Message}", text.TemplatePath, 0, Check: "lint:" + f.Check));
            else log.Warning(f.Code, $"template lint [{f.Check}]: {f.Message}", text.TemplatePath);
        }

        // ---- every sample ----
        var manifest = ShardManifest.Read(preparedDir, verifyFiles: true);
        foreach (var split in manifest.Splits.Keys.Order(StringComparer.Ordinal))
        {
            using var set = ShardSet.Open(preparedDir, split);
            for (var i = 0; i < set.Count; i++)
            {
                if ((i & 255) == 0) cancellation.ThrowIfCancellationRequested();
                CheckSample(set, i, split, callStart, callEnd, eot, eotText, text, report);
            }
        }
        return report;
    }

    private static void CheckSample(ShardSet set, int index, string split, int? callStart, int? callEnd, int? eot, string? eotText, ModelText text, VerifyReport report)
    {
        var meta = set.Meta(index);
        var ids = set.InputIds(index);
        var labels = set.LabelIds(index);
        report.SamplesChecked++;
        var before = report.Violations.Count;
        void Fail(string code, string check, string message) =>
            report.Add(new VerifyViolation(code, message, meta.File, meta.Line, meta.Id, split, check));

        var trained = 0;
        foreach (var l in labels) if (l != CrossEntropy.IgnoreIndex) trained++;
        if (trained == 0)
        {
            Fail(ErrorCodes.VerifyNoTrainedTokens, "no-trained-tokens", "no trained tokens: every label is -100");
            report.CountSample(before);
            return;
        }

        // End of turn: every maximal run of trained tokens (an assistant turn) holds a trained end-of-turn id.
        if (eot is { } eotId)
        {
            var runHasEot = false;
            for (var i = 0; i < labels.Length; i++)
            {
                if (labels[i] == CrossEntropy.IgnoreIndex) continue;
                if (ids[i] == eotId) runHasEot = true;
                if (i + 1 < labels.Length && labels[i + 1] != CrossEntropy.IgnoreIndex) continue;
                if (!runHasEot)
                {
                    Fail(ErrorCodes.VerifyEndOfTurnNotTrained, "end-of-turn",
                        $"the trained assistant span ending at token {i} ({Piece(text, ids, i)}) has no trained {eotText}: the model would not learn to stop");
                    break;
                }
                runHasEot = false;
            }
        }

        if (meta.ToolCalls > 0 && callStart is { } cs && callEnd is { } ce)
        {
            report.ToolCallSamples++;
            // Delimiters inside the labelled region: balanced, ordered, one pair per call, JSON with name + arguments.
            var pairs = 0;
            var open = -1;
            var ok = true;
            for (var i = 0; i < ids.Length && ok; i++)
            {
                if (labels[i] == CrossEntropy.IgnoreIndex) continue;
                if (ids[i] == cs)
                {
                    if (open >= 0)
                    {
                        Fail(ErrorCodes.VerifyUnbalancedDelimiters, "balanced", $"a second trained {text.Tokenizer.IdToToken(cs)} at token {i} before the one at token {open} is closed");
                        ok = false;
                    }
                    open = i;
                }
                else if (ids[i] == ce)
                {
                    if (open < 0)
                    {
                        Fail(ErrorCodes.VerifyUnbalancedDelimiters, "balanced", $"a trained {text.Tokenizer.IdToToken(ce)} at token {i} without an opening {text.Tokenizer.IdToToken(cs)}");
                        ok = false;
                        break;
                    }
                    var inner = new int[i - open - 1];
                    for (var k = open + 1; k < i; k++)
                    {
                        inner[k - open - 1] = ids[k];
                        if (labels[k] == CrossEntropy.IgnoreIndex)
                        {
                            Fail(ErrorCodes.VerifyToolCallNotTrained, "call-trained", $"token {k} inside the tool call at tokens {open}..{i} is not trained");
                            ok = false;
                            break;
                        }
                    }
                    if (ok) CheckCallJson(text.Decode(inner), open, i, Fail);
                    pairs++;
                    report.ToolCallsChecked++;
                    open = -1;
                }
            }
            if (ok && open >= 0)
                Fail(ErrorCodes.VerifyUnbalancedDelimiters, "balanced", $"the trained {text.Tokenizer.IdToToken(cs)} at token {open} is never closed by a trained {text.Tokenizer.IdToToken(ce)}");
            else if (ok && pairs < meta.ToolCalls)
            {
                Fail(ErrorCodes.VerifyToolCallNotTrained, "call-trained",
                    $"{meta.ToolCalls} tool call(s) in the conversation but {pairs} trained {text.Tokenizer.IdToToken(cs)}…{text.Tokenizer.IdToToken(ce)} pair(s) " +
                    "in its labels: the chat template dropped (or masked) the assistant's tool calls, so the model would never learn to emit them");
            }
        }
        report.CountSample(before);
    }

    private static void CheckCallJson(string body, int open, int close, Action<string, string, string> fail)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(body.Trim()); }
        catch (JsonException ex)
        {
            fail(ErrorCodes.VerifyToolCallJson, "call-json", $"the tool call at tokens {open}..{close} is not JSON ({ex.Message.Split(" Path:")[0]}): {Excerpt(body)}");
            return;
        }
        if (node is not JsonObject o || o["name"] is not JsonValue name || name.GetValueKind() != JsonValueKind.String)
        {
            fail(ErrorCodes.VerifyToolCallJson, "call-json", $"the tool call at tokens {open}..{close} has no string \"name\": {Excerpt(body)}");
            return;
        }
        var args = o["arguments"];
        var argsOk = args is JsonObject
                     || (args is JsonValue v && v.GetValueKind() == JsonValueKind.String && TryParseObject(v.GetValue<string>()));
        if (!argsOk)
            fail(ErrorCodes.VerifyToolCallJson, "call-json", $"the tool call at tokens {open}..{close} has no \"arguments\" object: {Excerpt(body)}");
    }

    private static bool TryParseObject(string s)
    {
        try { return JsonNode.Parse(s) is JsonObject; }
        catch (JsonException) { return false; }
    }

    private static string Piece(ModelText text, ReadOnlySpan<int> ids, int i) => "\"" + TokenText.Escape(text.Decode([ids[i]])) + "\"";

    private static string Excerpt(string s) => "\"" + TokenText.Escape(s.Length <= 120 ? s : s[..120] + "…") + "\"";

    private static string Shown(LoadedConfig config, string path)
    {
        var rel = Path.GetRelativePath(config.RootDir, Path.GetFullPath(path));
        return rel.StartsWith("..", StringComparison.Ordinal) ? path : rel.Replace('\\', '/');
    }
}

/// <summary>What VerifyTokens found (→ <c>report.json</c> and <c>report.md</c>).</summary>
public sealed class VerifyReport
{
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
        AtomicFile.Write(Path.Combine(directory, VerifyTokensStage.ReportJson), fs => fs.Write(Encoding.UTF8.GetBytes(json)));
        AtomicFile.Write(Path.Combine(directory, VerifyTokensStage.ReportMd), fs => fs.Write(Encoding.UTF8.GetBytes(ToMarkdown())));
    }
}
