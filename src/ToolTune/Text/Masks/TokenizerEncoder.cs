using ToolTune.Text.Tokenization;

namespace ToolTune.Text.Masks;

/// <summary><see cref="ITokenOffsetEncoder"/> over the project's <see cref="Tokenizer"/> (no special tokens added, as apply_chat_template).</summary>
public sealed class TokenizerEncoder(Tokenizer tokenizer) : ITokenOffsetEncoder
{
    public Tokenizer Tokenizer { get; } = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));

    public IReadOnlyList<TokenWithOffset> Encode(string text)
    {
        var tokens = Tokenizer.EncodeToTokens(text, addSpecialTokens: false);
        var result = new TokenWithOffset[tokens.Count];
        for (var i = 0; i < result.Length; i++)
        {
            var (start, length) = tokens[i].Offset.GetOffsetAndLength(text.Length);
            result[i] = new TokenWithOffset(tokens[i].Id, start, start + length);
        }
        return result;
    }

    /// <summary>True for added tokens (special or not: <c>&lt;tool_call&gt;</c> is added but not special in SmolLM3).</summary>
    public bool IsAddedOrSpecial(int id)
    {
        if (Tokenizer.IsSpecial(id)) return true;
        var token = Tokenizer.IdToToken(id);
        return token is not null && !Tokenizer.Vocabulary.ContainsKey(token);
    }
}
