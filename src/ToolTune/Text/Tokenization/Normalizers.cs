namespace ToolTune.Text.Tokenization;

/// <summary>A tokenizer.json normalizer. Output is aligned to the input: <c>map[i]</c> is the input range of output char i.</summary>
internal abstract class TextNormalizer
{
    /// <summary>Returns the normalized text; <paramref name="map"/> is null when output char i comes from input char i.</summary>
    public abstract string Normalize(string input, out (int Start, int End)[]? map);

    internal static (int, int)[]? Compose((int Start, int End)[]? first, (int Start, int End)[]? second, int firstInputLength)
    {
        if (second is null) return first;
        if (first is null) return second;
        var result = new (int, int)[second.Length];
        for (int i = 0; i < second.Length; i++)
        {
            var (s, e) = second[i];
            int start = s < first.Length ? first[s].Start : firstInputLength;
            int end = e > s ? first[e - 1].End : start;
            result[i] = (start, end);
        }
        return result;
    }
}

internal sealed class NfcNormalizer(bool compose) : TextNormalizer
{
    public bool Composes { get; } = compose;

    public override string Normalize(string input, out (int Start, int End)[]? map) => Nfc.Normalize(input, Composes, out map);
}

internal sealed class LowercaseNormalizer : TextNormalizer
{
    public override string Normalize(string input, out (int Start, int End)[]? map)
    {
        map = null;
        // Simple (1:1) lowercase mapping keeps UTF-16 lengths, so alignment is the identity.
        return input.ToLowerInvariant();
    }
}

internal sealed class SequenceNormalizer(IReadOnlyList<TextNormalizer> items) : TextNormalizer
{
    public override string Normalize(string input, out (int Start, int End)[]? map)
    {
        map = null;
        var current = input;
        foreach (var n in items)
        {
            var next = n.Normalize(current, out var m);
            map = Compose(map, m, input.Length);
            current = next;
        }
        return current;
    }
}
