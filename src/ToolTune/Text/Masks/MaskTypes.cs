using System.Text.Json.Nodes;
using ToolTune.Tensors;

namespace ToolTune.Text.Masks;

/// <summary>How the assistant spans of a conversation were found.</summary>
public enum MaskMethod
{
    /// <summary>From the template's <c>{% generation %}…{% endgeneration %}</c> blocks (exact, one render).</summary>
    GenerationTags,

    /// <summary>
    /// From the role-boundary diff: for each assistant message k, render <c>messages[:k]</c> with the generation
    /// prompt (P) and <c>messages[:k+1]</c> without it (R); the span is <c>[len(P), len(R))</c> minus the trailing
    /// whitespace the next turn's header owns. Needs P ⊑ R ⊑ the whole render (the prefix property).
    /// </summary>
    RolePrefixDiff,
}

/// <summary>A rendered chat: text and its <c>{% generation %}</c> spans, UTF-16 offsets, end exclusive.</summary>
public readonly record struct RenderedChat(string Text, IReadOnlyList<(int Start, int End)> GenerationSpans);

/// <summary>One token of an encoded text: id and its <c>[Start, End)</c> UTF-16 offsets into the text.</summary>
public readonly record struct TokenWithOffset(int Id, int Start, int End);

/// <summary>Renders a chat-template context (messages, tools, add_generation_prompt, kwargs) to text + spans.</summary>
public interface IChatRenderer
{
    /// <summary>True when the template contains <c>{% generation %}</c> blocks.</summary>
    bool HasGenerationTags { get; }

    /// <summary>Renders the context exactly like transformers' <c>apply_chat_template(tokenize=False)</c>.</summary>
    RenderedChat Render(JsonObject context);
}

/// <summary>Encodes text to token ids with UTF-16 offsets (no BOS/EOS added beyond what the tokenizer's post-processor adds).</summary>
public interface ITokenOffsetEncoder
{
    IReadOnlyList<TokenWithOffset> Encode(string text);
}

/// <summary>
/// A conversation ready for training: input ids, labels (the id on trained tokens, <see cref="CrossEntropy.IgnoreIndex"/>
/// elsewhere), the method that found the assistant spans, the rendered text and the spans (UTF-16, end exclusive).
/// </summary>
public sealed record MaskedSequence(
    int[] InputIds,
    int[] Labels,
    MaskMethod Method,
    string Text,
    IReadOnlyList<(int Start, int End)> AssistantSpans)
{
    /// <summary>UTF-16 <c>[Start, End)</c> offsets of each token in <see cref="Text"/>.</summary>
    public IReadOnlyList<(int Start, int End)> Offsets { get; init; } = [];

    /// <summary>Indices of tokens that straddle a span boundary (see <see cref="ChatMasking.StraddlingTokens"/>).</summary>
    public IReadOnlyList<int> StraddlingTokens { get; init; } = [];

    /// <summary>Number of tokens whose label is not <see cref="CrossEntropy.IgnoreIndex"/>.</summary>
    public int TrainedCount
    {
        get
        {
            var n = 0;
            foreach (var l in Labels) if (l != CrossEntropy.IgnoreIndex) n++;
            return n;
        }
    }
}
