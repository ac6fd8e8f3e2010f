using System.Text.Json.Nodes;
using ToolTune.Diagnostics;

namespace ToolTune.Text.Masks;

public enum LintSeverity { Warning, Error }

/// <summary>One template-lint finding: a stable TT13xx code, the check's name, and what is wrong.</summary>
public sealed record TemplateLintFinding(string Code, LintSeverity Severity, string Check, string Message)
{
    public override string ToString() => $"{(Severity == LintSeverity.Error ? "error" : "warning")} {Code} [{Check}]: {Message}";
}

/// <summary>The delimiters a template is linted against (defaults: SmolLM3 / Hermes / Qwen ChatML).</summary>
public sealed record TemplateLintOptions
{
    public string? ToolCallStart { get; init; } = "<tool_call>";
    public string? ToolCallEnd { get; init; } = "</tool_call>";
    public string? ToolResponseStart { get; init; } = "<tool_response>";
    public string? ToolResponseEnd { get; init; } = "</tool_response>";
    /// <summary>The end-of-turn text that must be trained (<c>&lt;|im_end|&gt;</c>, <c>&lt;|eot_id|&gt;</c>); null skips the check.</summary>
    public string? EndOfTurn { get; init; } = "<|im_end|>";
    public string ThinkStart { get; init; } = "<think>";
    public string ThinkEnd { get; init; } = "</think>";
    /// <summary>Extra render kwargs (bos_token, eos_token, …) added to every probe context.</summary>
    public JsonObject? Kwargs { get; init; }
}

/// <summary>
/// Template lint (run by VerifyTokens): renders probe conversations and checks that (1) the assistant's tool-call text survives
/// rendering, inside the tool-call delimiters; (2) tool responses are wrapped in the tool-response delimiters, not
/// rendered as bare user turns; (3) <c>messages[:k]</c> + generation prompt is a prefix of <c>messages[:k+1]</c>, which
/// is a prefix of the whole conversation (training format == serving format); (4) the end-of-turn token of every
/// assistant turn is inside the labels, assistant text is inside and user/tool text outside; (5) generation-tag spans
/// agree with role boundaries; (6) <c>/think</c> opens reasoning and <c>/no_think</c> is plain.
/// </summary>
public static class TemplateLint
{
    private const string UserProbe = "TTPROBE-USER what is the weather in Lisbon?";
    private const string ArgProbe = "TTPROBE-ARG";
    private const string ResultProbe = "TTPROBE-RESULT temperature 20";
    private const string AnswerProbe = "TTPROBE-ANSWER It is 20 degrees in Lisbon.";
    private const string ToolName = "ttprobe_weather";

    /// <summary>The tool-calling probe conversation the lint renders (system, user, assistant call, tool result, answer).</summary>
    public static JsonObject ProbeContext(TemplateLintOptions? options = null)
    {
        var ctx = new JsonObject
        {
            ["messages"] = new JsonArray
            {
                new JsonObject { ["role"] = "system", ["content"] = "You are a test assistant." },
                new JsonObject { ["role"] = "user", ["content"] = UserProbe },
                new JsonObject
                {
                    ["role"] = "assistant",
                    ["content"] = "",
                    ["tool_calls"] = new JsonArray
                    {
                        new JsonObject
                        {
                            ["id"] = "call_1",
                            ["type"] = "function",
                            ["function"] = new JsonObject { ["name"] = ToolName, ["arguments"] = new JsonObject { ["city"] = ArgProbe } },
                        },
                    },
                },
                new JsonObject { ["role"] = "tool", ["tool_call_id"] = "call_1", ["name"] = ToolName, ["content"] = ResultProbe },
                new JsonObject { ["role"] = "assistant", ["content"] = AnswerProbe },
            },
            ["tools"] = new JsonArray
            {
                new JsonObject
                {
                    ["type"] = "function",
                    ["function"] = new JsonObject
                    {
                        ["name"] = ToolName,
                        ["description"] = "Get the weather.",
                        ["parameters"] = new JsonObject
                        {
                            ["type"] = "object",
                            ["properties"] = new JsonObject { ["city"] = new JsonObject { ["type"] = "string", ["description"] = "The city." } },
                            ["required"] = new JsonArray { "city" },
                        },
                    },
                },
            },
            ["add_generation_prompt"] = false,
        };
        AddKwargs(ctx, options);
        return ctx;
    }

    /// <summary>Runs every check; an empty list (or warnings only) means the template is fit for tool-call training.</summary>
    /// <remarks>With an <paramref name="encoder"/>, also checks at token level that no token straddles the boundary
    /// between the generation prompt and the assistant's text (TT1318), in the default and both thinking modes.</remarks>
    public static IReadOnlyList<TemplateLintFinding> Run(IChatRenderer renderer, TemplateLintOptions? options = null, ITokenOffsetEncoder? encoder = null)
    {
        ArgumentNullException.ThrowIfNull(renderer);
        options ??= new TemplateLintOptions();
        var findings = new List<TemplateLintFinding>();
        var ctx = ProbeContext(options);
        RenderedChat full;
        try { full = renderer.Render(ctx); }
        catch (ToolTuneException ex)
        {
            findings.Add(new(ErrorCodes.LintRenderFailed, LintSeverity.Error, "render",
                $"The template fails to render a tool-calling conversation (system, user, assistant tool_calls, tool, assistant): {ex.Message}"));
            return findings;
        }
        var text = full.Text;
        var userAt = text.IndexOf(UserProbe, StringComparison.Ordinal);
        var argAt = text.IndexOf(ArgProbe, StringComparison.Ordinal);
        var resultAt = text.IndexOf(ResultProbe, StringComparison.Ordinal);
        var answerAt = text.IndexOf(AnswerProbe, StringComparison.Ordinal);

        // (1) tool-call text survives, inside the delimiters.
        if (argAt < 0 || text.IndexOf(ToolName, Math.Max(0, userAt), StringComparison.Ordinal) is var nameAt && nameAt < 0)
            findings.Add(new(ErrorCodes.LintToolCallLost, LintSeverity.Error, "tool-calls-rendered",
                "An assistant message's tool_calls are dropped: the call's name/arguments do not appear in the rendered text, so the model never sees (or learns) its own calls."));
        else if (options.ToolCallStart is { } tcs && options.ToolCallEnd is { } tce)
        {
            var open = text.LastIndexOf(tcs, argAt, StringComparison.Ordinal);
            var close = text.IndexOf(tce, argAt, StringComparison.Ordinal);
            if (open < 0 || open < userAt || close < 0 || (resultAt >= 0 && close > resultAt))
                findings.Add(new(ErrorCodes.LintToolCallLost, LintSeverity.Error, "tool-calls-rendered",
                    $"An assistant message's tool call is rendered without the {tcs}…{tce} delimiters: {Around(text, argAt)}"));
        }

        // (2) tool responses wrapped.
        if (resultAt < 0)
            findings.Add(new(ErrorCodes.LintToolResponseNotWrapped, LintSeverity.Error, "tool-responses-wrapped",
                "A tool message's content does not appear in the rendered text (tool responses are dropped)."));
        else if (options.ToolResponseStart is { } trs && options.ToolResponseEnd is { } tre)
        {
            var open = text.LastIndexOf(trs, resultAt, StringComparison.Ordinal);
            var close = text.IndexOf(tre, resultAt, StringComparison.Ordinal);
            if (open < 0 || open < argAt || close < 0 || (answerAt >= 0 && close > answerAt))
                findings.Add(new(ErrorCodes.LintToolResponseNotWrapped, LintSeverity.Error, "tool-responses-wrapped",
                    $"A tool response is not wrapped in {trs}…{tre} (rendered as a plain turn, indistinguishable from a user message): {Around(text, resultAt)}"));
        }

        // (3) prefix property.
        var messages = ChatMasking.Messages(ctx);
        var prefixSpans = new List<(int Start, int End)>();
        var prefixOk = true;
        for (var k = 0; k < messages.Count; k++)
        {
            if (!ChatMasking.IsAssistant(messages[k])) continue;
            ChatMasking.PrefixCheck check;
            try { check = ChatMasking.CheckPrefix(renderer, ctx, messages, k, text); }
            catch (ToolTuneException ex) { check = new(default, $"rendering a prefix of the conversation failed: {ex.Message}"); }
            if (check.Problem is not null)
            {
                prefixOk = false;
                findings.Add(new(ErrorCodes.LintPrefixProperty, LintSeverity.Error, "prefix-property", check.Problem));
                break;
            }
            prefixSpans.Add(check.Span);
        }

        // (4) what the labels cover.
        IReadOnlyList<(int Start, int End)>? spans = null;
        if (renderer.HasGenerationTags)
        {
            spans = ChatMasking.Normalize(full.GenerationSpans);
            if (spans.Count == 0)
                findings.Add(new(ErrorCodes.LintSpanCoverage, LintSeverity.Error, "labels",
                    "The template has {% generation %} blocks but renders no generation span for a conversation with assistant turns: every label would be -100."));
        }
        else if (prefixOk) spans = ChatMasking.Normalize(prefixSpans);
        else
            findings.Add(new(ErrorCodes.LintSpanCoverage, LintSeverity.Error, "labels",
                "The template has no {% generation %} blocks and violates the prefix property: assistant masks cannot be derived."));

        if (spans is { Count: > 0 })
        {
            bool Inside(int at) => at >= 0 && spans.Any(s => at >= s.Start && at < s.End);
            if (argAt >= 0 && !Inside(argAt))
                findings.Add(new(ErrorCodes.LintSpanCoverage, LintSeverity.Error, "labels", "The assistant's tool-call text is outside the trained spans."));
            if (answerAt >= 0 && !Inside(answerAt))
                findings.Add(new(ErrorCodes.LintSpanCoverage, LintSeverity.Error, "labels", "The assistant's final answer is outside the trained spans."));
            if (Inside(userAt))
                findings.Add(new(ErrorCodes.LintSpanCoverage, LintSeverity.Error, "labels", "User text is inside a trained span."));
            if (Inside(resultAt))
                findings.Add(new(ErrorCodes.LintSpanCoverage, LintSeverity.Error, "labels", "Tool-response text is inside a trained span."));
            if (options.EndOfTurn is { } eot)
            {
                foreach (var s in spans)
                {
                    var body = text[s.Start..s.End].TrimEnd();
                    if (!body.EndsWith(eot, StringComparison.Ordinal))
                    {
                        findings.Add(new(ErrorCodes.LintEndOfTurnNotTrained, LintSeverity.Error, "end-of-turn-trained",
                            $"The assistant turn ending at character {s.End} does not end with a trained {eot}: the model would never learn to stop (span ends {Excerpt(body)})."));
                        break;
                    }
                }
            }
            // (5) generation spans vs role boundaries.
            if (renderer.HasGenerationTags && prefixOk)
            {
                var byPrefix = ChatMasking.Normalize(prefixSpans);
                if (!byPrefix.SequenceEqual(spans))
                {
                    var hint = spans.Zip(byPrefix).Select(p => p.First.Start < p.Second.Start
                            ? $"a span starts {p.Second.Start - p.First.Start} characters early ({Excerpt(text[p.First.Start..p.Second.Start])}: the assistant header or pre-filled prompt is trained)"
                            : p.First.End > p.Second.End ? $"a span ends with {Excerpt(text[p.Second.End..p.First.End])} after the end-of-turn (the next turn's text is trained)" : null)
                        .FirstOrDefault(h => h is not null) ?? "the number or position of spans differs";
                    findings.Add(new(ErrorCodes.LintSpansDisagree, LintSeverity.Warning, "spans-match-roles",
                        $"The {{% generation %}} spans differ from the role boundaries (what the model generates after the generation prompt): {hint}."));
                }
            }
        }

        // (6) thinking direction.
        ThinkDirection(renderer, options, findings);

        // (7) token boundaries.
        if (encoder is not null) TokenBoundaries(renderer, encoder, options, findings);
        return findings;
    }

    /// <summary>True when no finding is an error.</summary>
    public static bool Passes(IReadOnlyList<TemplateLintFinding> findings) => findings.All(f => f.Severity != LintSeverity.Error);

    private static void ThinkDirection(IChatRenderer renderer, TemplateLintOptions options, List<TemplateLintFinding> findings)
    {
        string? Prompt(bool? enableThinking, string system)
        {
            var ctx = new JsonObject
            {
                ["messages"] = new JsonArray
                {
                    new JsonObject { ["role"] = "system", ["content"] = system },
                    new JsonObject { ["role"] = "user", ["content"] = UserProbe },
                },
                ["add_generation_prompt"] = true,
            };
            if (enableThinking is { } e) ctx["enable_thinking"] = e;
            AddKwargs(ctx, options);
            try
            {
                var t = renderer.Render(ctx).Text;
                var at = t.LastIndexOf(UserProbe, StringComparison.Ordinal);
                return at < 0 ? null : t[(at + UserProbe.Length)..];
            }
            catch (ToolTuneException) { return null; }
        }

        void Check(string? on, string? off, string how)
        {
            if (on is null || off is null || on == off) return; // the template has no thinking switch of this kind
            var opens = on.TrimEnd().EndsWith(options.ThinkStart, StringComparison.Ordinal);
            var plain = !off.Contains(options.ThinkStart, StringComparison.Ordinal);
            if (!opens || !plain)
                findings.Add(new(ErrorCodes.LintThinkDirection, LintSeverity.Error, "think-direction",
                    $"Thinking direction is wrong ({how}): the /think generation prompt should open {options.ThinkStart} and the /no_think one should be plain, " +
                    $"but /think gives {Excerpt(on)} and /no_think gives {Excerpt(off)}."));
        }

        Check(Prompt(true, "You are a test assistant."), Prompt(false, "You are a test assistant."), "enable_thinking");
        Check(Prompt(false, "You are a test assistant. /think"), Prompt(true, "You are a test assistant. /no_think"), "system /think and /no_think flags");
    }

    private static void TokenBoundaries(IChatRenderer renderer, ITokenOffsetEncoder encoder, TemplateLintOptions options, List<TemplateLintFinding> findings)
    {
        foreach (bool? thinking in new bool?[] { null, true, false })
        {
            var ctx = ProbeContext(options);
            if (thinking is { } t) ctx["enable_thinking"] = t;
            MaskedSequence seq;
            try { seq = ChatMasking.Build(renderer, encoder, ctx); }
            catch (ToolTuneException) { continue; } // reported by the other checks
            if (seq.StraddlingTokens.Count == 0) continue;
            var i = seq.StraddlingTokens[0];
            var (s, e) = seq.Offsets[i];
            findings.Add(new(ErrorCodes.LintTokenStraddlesBoundary, LintSeverity.Warning, "token-boundaries",
                $"With enable_thinking={(thinking is null ? "unset" : thinking.Value ? "true" : "false")}, token {seq.InputIds[i]} {Excerpt(seq.Text[s..e])} straddles the end of the generation prompt: " +
                "it is trained, but at serving time the prompt already holds part of it, so the model never sees this tokenization. " +
                "Make the generation prompt end where a token ends (e.g. render an empty think block as \"<think>\\n</think>\\n\")."));
            return;
        }
    }

    private static void AddKwargs(JsonObject ctx, TemplateLintOptions? options)
    {
        if (options?.Kwargs is null) return;
        foreach (var (k, v) in options.Kwargs)
            if (!ctx.ContainsKey(k)) ctx[k] = v?.DeepClone();
    }

    private static string Around(string text, int at)
    {
        var s = Math.Max(0, at - 60);
        var e = Math.Min(text.Length, at + 40);
        return "\"…" + TokenText.Escape(text[s..e]) + "…\"";
    }

    private static string Excerpt(string s) =>
        "\"" + TokenText.Escape(s.Length <= 60 ? s : "…" + s[^60..]) + "\"";
}
