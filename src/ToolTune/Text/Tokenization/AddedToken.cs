namespace ToolTune.Text.Tokenization;

/// <summary>An entry of tokenizer.json <c>added_tokens</c> (or tokenizer_config.json <c>added_tokens_decoder</c>).</summary>
public sealed record AddedToken(int Id, string Content, bool SingleWord = false, bool LStrip = false, bool RStrip = false,
    bool Normalized = false, bool Special = false);

/// <summary>One token of an encoding: id, token string, and the UTF-16 range of the original input it covers.</summary>
public readonly record struct EncodedToken(int Id, string Value, Range Offset);
