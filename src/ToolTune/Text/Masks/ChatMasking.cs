using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Tensors;

namespace ToolTune.Text.Masks;

/// <summary>
/// Assistant-only labels for a conversation: render the whole conversation ONCE (with tools and kwargs), tokenize it
/// with UTF-16 offsets, and train every token that overlaps an assistant span (label = id); all other tokens get
/// <see cref="CrossEntropy.IgnoreIndex"/>. Spans come from the template's <c>{% generation %}</c> blocks when it has them, else from
/// the role-boundary prefix diff (<see cref="MaskMethod.RolePrefixDiff"/>). Never per-message string surgery.
/// </summary>
public static class ChatMasking
{
    /// <summary>
    /// Renders, tokenizes and masks one conversation. <paramref name="method"/> forces a method; by default generation
    /// tags are used when the template has them, else the role-prefix diff.
    /// </summary>
    public static MaskedSequence Build(IChatRenderer renderer, ITokenOffsetEncoder encoder, JsonObject context, MaskMethod? method = null)
    {
        ArgumentNullException.ThrowIfNull(renderer);
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(context);
        var full = renderer.Render(context);
        var used = method ?? (renderer.HasGenerationTags ? MaskMethod.GenerationTags : MaskMethod.RolePrefixDiff);
        if (used == MaskMethod.GenerationTags && !renderer.HasGenerationTags)
            throw new ToolTuneException(ErrorCodes.MaskSpansUnavailable,
                "The chat template has no {% generation %} blocks, so generation-tag masks are unavailable; use the role-prefix method or add {% generation %}…{% endgeneration %} around each assistant turn's content and end-of-turn token.");
        // One span per assistant turn, in render order (not merged yet, so turns can be matched to messages).
        var perTurn = used == MaskMethod.GenerationTags
            ? full.GenerationSpans
            : RolePrefixTurnSpans(renderer, context, full.Text);
        var spans = Normalize(DropUntrainedTurns(context, perTurn));
        var tokens = encoder.Encode(full.Text);
        var ids = new int[tokens.Count];
        var offsets = new (int Start, int End)[tokens.Count];
        for (var i = 0; i < tokens.Count; i++)
        {
            ids[i] = tokens[i].Id;
            offsets[i] = (tokens[i].Start, tokens[i].End);
        }
        var labels = Labels(tokens, spans);
        return new MaskedSequence(ids, labels, used, full.Text, spans) { Offsets = offsets, StraddlingTokens = StraddlingTokens(tokens, spans) };
    }

    /// <summary>
    /// Labels from spans: a token is trained (label = id) when its <c>[start, end)</c> overlaps a span <c>[s, e)</c>
    /// (start &lt; e and end &gt; s), the rule of transformers' <c>return_assistant_tokens_mask</c>. Zero-width tokens
    /// (e.g. a post-processor BOS) are never trained. Spans must be sorted and disjoint (see <see cref="Normalize"/>).
    /// </summary>
    public static int[] Labels(IReadOnlyList<TokenWithOffset> tokens, IReadOnlyList<(int Start, int End)> spans)
    {
        var labels = new int[tokens.Count];
        var j = 0;
        for (var i = 0; i < tokens.Count; i++)
        {
            var t = tokens[i];
            labels[i] = CrossEntropy.IgnoreIndex;
            if (t.End <= t.Start) continue;
            // Skip spans that end before this token starts. Token starts are non-decreasing, so j only moves forward.
            while (j < spans.Count && spans[j].End <= t.Start) j++;
            for (var k = j; k < spans.Count && spans[k].Start < t.End; k++)
            {
                if (spans[k].End > t.Start && spans[k].End > spans[k].Start)
                {
                    labels[i] = t.Id;
                    break;
                }
            }
        }
        return labels;
    }

    /// <summary>
    /// Indices of tokens that cross a span boundary (part prompt, part completion). Such a token is trained although
    /// the generation prompt already holds part of it, so at serving time the model never sees that tokenization
    /// (e.g. "&lt;think&gt;\n" + "\n&lt;/think&gt;" merging into one "\n\n" token). VerifyTokens reports them.
    /// </summary>
    public static int[] StraddlingTokens(IReadOnlyList<TokenWithOffset> tokens, IReadOnlyList<(int Start, int End)> spans)
    {
        var result = new List<int>();
        var j = 0;
        for (var i = 0; i < tokens.Count; i++)
        {
            var t = tokens[i];
            if (t.End <= t.Start) continue;
            while (j < spans.Count && spans[j].End <= t.Start) j++;
            for (var k = j; k < spans.Count && spans[k].Start < t.End; k++)
            {
                var s = spans[k];
                if ((t.Start < s.Start && s.Start < t.End) || (t.Start < s.End && s.End < t.End))
                {
                    result.Add(i);
                    break;
                }
            }
        }
        return [.. result];
    }

    /// <summary>
    /// Per-message opt-out: an assistant message with <c>"train": false</c> or <c>"weight": 0</c> keeps its text in
    /// the sequence (context for later turns) but its span is not trained. Spans are matched to assistant messages in
    /// order, which needs exactly one span per assistant message (TT1301 otherwise).
    /// </summary>
    public static IReadOnlyList<(int Start, int End)> DropUntrainedTurns(JsonObject context, IReadOnlyList<(int Start, int End)> spans)
    {
        var messages = Messages(context);
        var assistants = new List<bool>();
        foreach (var m in messages)
        {
            if (!IsAssistant(m)) continue;
            var o = (JsonObject)m!;
            var train = !(o["train"] is JsonValue t && t.TryGetValue<bool>(out var tb) && !tb)
                        && !(o["weight"] is JsonValue w && w.GetValueKind() == System.Text.Json.JsonValueKind.Number
                             && double.Parse(w.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture) == 0);
            assistants.Add(train);
        }
        if (assistants.All(x => x)) return spans;
        if (assistants.Count != spans.Count)
            throw new ToolTuneException(ErrorCodes.MaskTurnsUnmatched,
                $"Some assistant messages are marked \"train\": false / \"weight\": 0, but the template renders {spans.Count} assistant span(s) for {assistants.Count} assistant message(s), " +
                "so the spans cannot be matched to messages. Use one {% generation %} block per assistant message, or the role-prefix method.");
        var kept = new List<(int Start, int End)>(spans.Count);
        for (var i = 0; i < spans.Count; i++) if (assistants[i]) kept.Add(spans[i]);
        return kept;
    }

    /// <summary>Sorts spans, drops empty ones and merges overlapping/adjacent ones.</summary>
    public static IReadOnlyList<(int Start, int End)> Normalize(IReadOnlyList<(int Start, int End)> spans)
    {
        var list = new List<(int Start, int End)>(spans.Count);
        foreach (var s in spans) if (s.End > s.Start) list.Add(s);
        list.Sort((a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : a.End.CompareTo(b.End));
        var merged = new List<(int Start, int End)>(list.Count);
        foreach (var s in list)
        {
            if (merged.Count > 0 && s.Start <= merged[^1].End)
                merged[^1] = (merged[^1].Start, Math.Max(merged[^1].End, s.End));
            else
                merged.Add(s);
        }
        return merged;
    }

    /// <summary>
    /// Assistant spans by the role-boundary prefix diff. For each assistant message k: P = render(messages[:k],
    /// add_generation_prompt=true), R = render(messages[:k+1], add_generation_prompt=false). The span is
    /// <c>[len(P), len(R) − w)</c> where w is R's trailing whitespace (the newline a ChatML template writes after
    /// <c>&lt;|im_end|&gt;</c> belongs to the next turn, as the generation-tag spans of the fixed SmolLM3 template
    /// have it). So the trained text is the assistant's content, tool calls and end-of-turn token, never its header.
    /// Throws TT1300 when P is not a prefix of R (the generation prompt differs from how history is rendered) or R is
    /// not a prefix of the whole render (the template rewrites earlier turns depending on later messages).
    /// </summary>
    public static IReadOnlyList<(int Start, int End)> RolePrefixSpans(IChatRenderer renderer, JsonObject context, string? fullText = null) =>
        Normalize(RolePrefixTurnSpans(renderer, context, fullText));

    /// <summary>The role-prefix spans, one per assistant message in order (not merged).</summary>
    internal static List<(int Start, int End)> RolePrefixTurnSpans(IChatRenderer renderer, JsonObject context, string? fullText = null)
    {
        var full = fullText ?? renderer.Render(context).Text;
        var messages = Messages(context);
        var spans = new List<(int Start, int End)>();
        for (var k = 0; k < messages.Count; k++)
        {
            if (!IsAssistant(messages[k])) continue;
            var check = CheckPrefix(renderer, context, messages, k, full);
            if (check.Problem is not null)
                throw new ToolTuneException(ErrorCodes.MaskSpansUnavailable, check.Problem);
            spans.Add(check.Span);
        }
        return spans;
    }

    internal readonly record struct PrefixCheck((int Start, int End) Span, string? Problem);

    /// <summary>The prefix-property check for assistant message k (used by the masks and by the template lint).</summary>
    internal static PrefixCheck CheckPrefix(IChatRenderer renderer, JsonObject context, JsonArray messages, int k, string full)
    {
        string p, r;
        try
        {
            p = renderer.Render(WithMessages(context, messages, k, addGenerationPrompt: true)).Text;
            r = renderer.Render(WithMessages(context, messages, k + 1, addGenerationPrompt: false)).Text;
        }
        catch (ToolTuneException ex)
        {
            return new(default,
                $"Cannot derive assistant masks by role boundaries: the template fails to render the conversation up to assistant message {k} " +
                $"({ex.Code}: {ex.Message}). Add {{% generation %}}…{{% endgeneration %}} around each assistant turn's content and end-of-turn token.");
        }
        if (!r.StartsWith(p, StringComparison.Ordinal))
        {
            var at = CommonPrefixLength(p, r);
            return new(default,
                $"Cannot derive assistant masks by role boundaries: rendering messages[0..{k}) with add_generation_prompt=true is not a prefix of rendering messages[0..{k}] " +
                $"(assistant message {k}); they differ at character {at}: generation prompt has {Excerpt(p, at)}, history has {Excerpt(r, at)}. " +
                "The template formats the generation prompt differently from an assistant turn in history, so training text would not match serving text. " +
                "Fix the template, or add {% generation %}…{% endgeneration %} around each assistant turn's content and end-of-turn token.");
        }
        if (!full.StartsWith(r, StringComparison.Ordinal))
        {
            var at = CommonPrefixLength(r, full);
            return new(default,
                $"Cannot derive assistant masks by role boundaries: rendering messages[0..{k}] is not a prefix of rendering the whole conversation " +
                $"(assistant message {k}); they differ at character {at}: partial render has {Excerpt(r, at)}, full render has {Excerpt(full, at)}. " +
                "The template rewrites earlier turns depending on later messages (e.g. strips <think> from history). " +
                "Add {% generation %}…{% endgeneration %} around each assistant turn's content and end-of-turn token to get exact masks.");
        }
        var end = r.Length;
        while (end > p.Length && char.IsWhiteSpace(r[end - 1])) end--;
        return new((p.Length, end), null);
    }

    internal static JsonArray Messages(JsonObject context)
    {
        if (context["messages"] is JsonArray a) return a;
        throw new ToolTuneException(ErrorCodes.TemplateContextInvalid, "The render context has no \"messages\" array.");
    }

    internal static bool IsAssistant(JsonNode? message) =>
        message is JsonObject o && o["role"] is JsonValue v && v.TryGetValue<string>(out var role) && role == "assistant";

    /// <summary>A shallow copy of the context with <c>messages[:count]</c> and <c>add_generation_prompt</c> set.</summary>
    internal static JsonObject WithMessages(JsonObject context, JsonArray messages, int count, bool addGenerationPrompt)
    {
        var copy = new JsonObject();
        foreach (var (key, value) in context)
        {
            if (key is "messages" or "add_generation_prompt") continue;
            copy[key] = value?.DeepClone();
        }
        var sub = new JsonArray();
        for (var i = 0; i < count; i++) sub.Add(messages[i]?.DeepClone());
        copy["messages"] = sub;
        copy["add_generation_prompt"] = addGenerationPrompt;
        return copy;
    }

    private static int CommonPrefixLength(string a, string b)
    {
        var n = Math.Min(a.Length, b.Length);
        var i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }

    private static string Excerpt(string s, int at)
    {
        if (at >= s.Length) return "<end of text>";
        var len = Math.Min(40, s.Length - at);
        return "\"" + TokenText.Escape(s.Substring(at, len)) + (at + len < s.Length ? "…" : "") + "\"";
    }
}
