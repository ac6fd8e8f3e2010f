using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Data.Shards;
using ToolTune.Diagnostics;
using ToolTune.Tensors;
using ToolTune.Text.Tokenization;

namespace ToolTune.Text.Masks;

/// <summary>What <see cref="TokenVerifier"/> checks against: the delimiters, the end-of-turn token, the expected ids
/// and where global violations are located.</summary>
public sealed record TokenVerifierOptions
{
    public required string ToolCallStart { get; init; }
    public required string ToolCallEnd { get; init; }
    public required string ToolResponseStart { get; init; }
    public required string ToolResponseEnd { get; init; }
    /// <summary>The end-of-turn token that must be trained (null: the tokenizer's eos token).</summary>
    public string? EndOfTurn { get; init; }
    /// <summary>Optional id assertions (start, end) for the tool-call and tool-response delimiters.</summary>
    public IReadOnlyList<int>? ExpectToolCallIds { get; init; }
    public IReadOnlyList<int>? ExpectToolResponseIds { get; init; }
    /// <summary>Where delimiter and end-of-turn violations are located (the run config).</summary>
    public string? ConfigFile { get; init; }
    /// <summary>The template file (located lint errors) and the tokenizer/template as the report shows them.</summary>
    public required string TemplatePath { get; init; }
    public string TemplateShown { get; init; } = "";
    public string TokenizerShown { get; init; } = "";
}

/// <summary>
/// The "critical fix" check, made exhaustive. Every delimiter (tool call, tool response) and the end-of-turn token
/// must be one token id (optionally the expected ids); in every sample of every split of a prepared folder, the
/// labelled (trained) region must hold the start and end ids of each of its tool calls, balanced and in order, with
/// JSON carrying <c>name</c> and <c>arguments</c> between them; no sample may have zero trained tokens; every trained
/// run must end with the end-of-turn token. The template is linted (<see cref="TemplateLint"/>). Violations are
/// collected in a <see cref="VerifyReport"/>, located at the sample's source file/line or at the template/config file.
/// </summary>
public sealed class TokenVerifier(Tokenizer tokenizer, TemplateRenderer renderer, TokenizerEncoder encoder, JsonObject kwargs, TokenVerifierOptions options)
{
    /// <summary>Runs every check on a prepared folder; returns the report (nothing thrown for violations).
    /// <paramref name="warning"/> gets lint findings below error severity (code, message, template file).</summary>
    public VerifyReport Verify(string preparedDir, Action<string, string, string>? warning = null, CancellationToken cancellation = default)
    {
        var report = new VerifyReport { Template = options.TemplateShown, Tokenizer = options.TokenizerShown };
        var configFile = options.ConfigFile;

        // ---- delimiters and end-of-turn: single tokens, expected ids ----
        int? Delimiter(string role, string value, int? expected)
        {
            var ids = tokenizer.EncodeToIds(value, addSpecialTokens: false);
            int? id = ids.Count == 1 ? ids[0] : null;
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
        var callStart = Delimiter("tool_call start", options.ToolCallStart, options.ExpectToolCallIds?[0]);
        var callEnd = Delimiter("tool_call end", options.ToolCallEnd, options.ExpectToolCallIds?[1]);
        Delimiter("tool_response start", options.ToolResponseStart, options.ExpectToolResponseIds?[0]);
        Delimiter("tool_response end", options.ToolResponseEnd, options.ExpectToolResponseIds?[1]);
        var eotText = options.EndOfTurn ?? tokenizer.EosToken;
        int? eot = null;
        if (eotText is null)
            report.Add(new VerifyViolation(ErrorCodes.VerifyEndOfTurnNotTrained,
                "no end-of-turn token: set tokens.end_of_turn (the tokenizer config has no eos_token)", configFile, 0, Check: "end-of-turn"));
        else eot = Delimiter("end of turn", eotText, null);
        report.EndOfTurn = eotText;

        // ---- template lint ----
        var lintOptions = new TemplateLintOptions
        {
            ToolCallStart = options.ToolCallStart, ToolCallEnd = options.ToolCallEnd,
            ToolResponseStart = options.ToolResponseStart, ToolResponseEnd = options.ToolResponseEnd,
            EndOfTurn = eotText, Kwargs = kwargs,
        };
        foreach (var f in TemplateLint.Run(renderer, lintOptions, encoder))
        {
            report.Lint.Add(new JsonObject { ["code"] = f.Code, ["severity"] = f.Severity.ToString().ToLowerInvariant(), ["check"] = f.Check, ["message"] = f.Message });
            if (f.Severity == LintSeverity.Error)
                report.Add(new VerifyViolation(f.Code, $"template lint [{f.Check}]: {f.Message}", options.TemplatePath, 0, Check: "lint:" + f.Check));
            else warning?.Invoke(f.Code, $"template lint [{f.Check}]: {f.Message}", options.TemplatePath);
        }

        // ---- every sample ----
        var manifest = ShardManifest.Read(preparedDir, verifyFiles: true);
        foreach (var split in manifest.Splits.Keys.Order(StringComparer.Ordinal))
        {
            using var set = ShardSet.Open(preparedDir, split);
            for (var i = 0; i < set.Count; i++)
            {
                if ((i & 255) == 0) cancellation.ThrowIfCancellationRequested();
                CheckSample(set, i, split, callStart, callEnd, eot, eotText, report);
            }
        }
        return report;
    }

    private void CheckSample(ShardSet set, int index, string split, int? callStart, int? callEnd, int? eot, string? eotText, VerifyReport report)
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
                        $"the trained assistant span ending at token {i} ({Piece(ids, i)}) has no trained {eotText}: the model would not learn to stop");
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
                        Fail(ErrorCodes.VerifyUnbalancedDelimiters, "balanced", $"a second trained {tokenizer.IdToToken(cs)} at token {i} before the one at token {open} is closed");
                        ok = false;
                    }
                    open = i;
                }
                else if (ids[i] == ce)
                {
                    if (open < 0)
                    {
                        Fail(ErrorCodes.VerifyUnbalancedDelimiters, "balanced", $"a trained {tokenizer.IdToToken(ce)} at token {i} without an opening {tokenizer.IdToToken(cs)}");
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
                    if (ok) CheckCallJson(Decode(inner), open, i, Fail);
                    pairs++;
                    report.ToolCallsChecked++;
                    open = -1;
                }
            }
            if (ok && open >= 0)
                Fail(ErrorCodes.VerifyUnbalancedDelimiters, "balanced", $"the trained {tokenizer.IdToToken(cs)} at token {open} is never closed by a trained {tokenizer.IdToToken(ce)}");
            else if (ok && pairs < meta.ToolCalls)
            {
                Fail(ErrorCodes.VerifyToolCallNotTrained, "call-trained",
                    $"{meta.ToolCalls} tool call(s) in the conversation but {pairs} trained {tokenizer.IdToToken(cs)}…{tokenizer.IdToToken(ce)} pair(s) " +
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

    /// <summary>Ids as they appear in the text (special tokens kept).</summary>
    private string Decode(int[] ids) => tokenizer.Decode(ids, skipSpecialTokens: false);

    private string Piece(ReadOnlySpan<int> ids, int i) => "\"" + TokenText.Escape(Decode([ids[i]])) + "\"";

    private static string Excerpt(string s) => "\"" + TokenText.Escape(s.Length <= 120 ? s : s[..120] + "…") + "\"";
}
