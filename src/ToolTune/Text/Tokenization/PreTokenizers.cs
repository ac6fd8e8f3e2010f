using System.Globalization;

namespace ToolTune.Text.Tokenization;

/// <summary>A piece of the text being pre-tokenized: [Start, End) in the segment, and whether a prefix space is added.</summary>
internal readonly record struct Piece(int Start, int End, bool PrefixSpace = false);

internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

internal abstract class PreTokenizer
{
    /// <summary>Refines each input piece of <paramref name="text"/> into <paramref name="output"/>.</summary>
    public abstract void Split(ReadOnlySpan<char> text, List<Piece> input, List<Piece> output);

    [ThreadStatic] private static List<(int, int)>? t_matches;
    [ThreadStatic] private static List<(int Start, int End, bool IsMatch)>? t_parts;

    /// <summary>tokenizers <c>NormalizedString::split</c>: matches plus gaps, then the behaviour.</summary>
    protected static void SplitWithMatches(Piece piece, List<(int Start, int End)> matches, SplitBehavior behavior, bool invert, List<Piece> output)
    {
        var parts = t_parts ??= new();
        parts.Clear();
        int prev = piece.Start;
        foreach (var (s0, e0) in matches)
        {
            int s = s0 + piece.Start, e = e0 + piece.Start;
            if (prev != s) parts.Add((prev, s, invert));
            if (s == e) continue;
            parts.Add((s, e, !invert));
            prev = e;
        }
        if (prev != piece.End) parts.Add((prev, piece.End, invert));

        int first = output.Count;
        switch (behavior)
        {
            case SplitBehavior.Removed:
                foreach (var p in parts) if (!p.IsMatch) output.Add(new Piece(p.Start, p.End));
                break;
            case SplitBehavior.Isolated:
                foreach (var p in parts) output.Add(new Piece(p.Start, p.End));
                break;
            case SplitBehavior.MergedWithPrevious:
            {
                bool prevMatch = false;
                foreach (var p in parts)
                {
                    if (p.IsMatch && !prevMatch && output.Count > first)
                        output[^1] = output[^1] with { End = p.End };
                    else output.Add(new Piece(p.Start, p.End));
                    prevMatch = p.IsMatch;
                }
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                bool prevMatch = false;
                for (int i = parts.Count - 1; i >= 0; i--)
                {
                    var p = parts[i];
                    if (p.IsMatch && !prevMatch && output.Count > first)
                        output[^1] = output[^1] with { Start = p.Start };
                    else output.Add(new Piece(p.Start, p.End));
                    prevMatch = p.IsMatch;
                }
                output.Reverse(first, output.Count - first);
                break;
            }
            case SplitBehavior.Contiguous:
            {
                bool prevMatch = false;
                foreach (var p in parts)
                {
                    if (p.IsMatch == prevMatch && output.Count > first)
                        output[^1] = output[^1] with { End = p.End };
                    else output.Add(new Piece(p.Start, p.End));
                    prevMatch = p.IsMatch;
                }
                break;
            }
        }
        if (piece.PrefixSpace && output.Count > first && output[first].Start == piece.Start)
            output[first] = output[first] with { PrefixSpace = true };
    }

    protected static List<(int, int)> Matches() => t_matches ??= new();
}

/// <summary>Split: a regex or literal pattern with a behaviour, optionally inverted.</summary>
internal sealed class SplitPreTokenizer(CodePointRegex regex, SplitBehavior behavior, bool invert) : PreTokenizer
{
    public CodePointRegex Regex { get; } = regex;

    public override void Split(ReadOnlySpan<char> text, List<Piece> input, List<Piece> output)
    {
        var matches = Matches();
        foreach (var piece in input)
        {
            matches.Clear();
            Regex.Matches(text[piece.Start..piece.End], matches);
            SplitWithMatches(piece, matches, behavior, invert, output);
        }
    }
}

/// <summary>Digits: each numeric char isolated (individual_digits) or numeric runs kept together. Numeric = Rust
/// <c>char::is_numeric</c> (Nd, Nl, No), on code points.</summary>
internal sealed class DigitsPreTokenizer(bool individualDigits) : PreTokenizer
{
    public override void Split(ReadOnlySpan<char> text, List<Piece> input, List<Piece> output)
    {
        var matches = Matches();
        foreach (var piece in input)
        {
            matches.Clear();
            var span = text[piece.Start..piece.End];
            for (int i = 0; i < span.Length;)
            {
                int len = 1;
                int cp = span[i];
                if (char.IsHighSurrogate(span[i]) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
                {
                    cp = char.ConvertToUtf32(span[i], span[i + 1]);
                    len = 2;
                }
                if (IsNumeric(cp)) matches.Add((i, i + len));
                i += len;
            }
            SplitWithMatches(piece, matches, individualDigits ? SplitBehavior.Isolated : SplitBehavior.Contiguous, false, output);
        }
    }

    internal static bool IsNumeric(int cp)
    {
        if (cp < 0x80) return cp is >= '0' and <= '9';
        var cat = CharUnicodeInfo.GetUnicodeCategory(cp);
        return cat is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;
    }
}

/// <summary>ByteLevel: optional prefix space and GPT-2 regex split; the byte mapping itself happens in the model step.</summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : PreTokenizer
{
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    private static readonly Lazy<CodePointRegex> Gpt2 = new(() => new CodePointRegex(Gpt2Pattern));

    public bool AddPrefixSpace { get; } = addPrefixSpace;
    public bool UseRegex { get; } = useRegex;

    public override void Split(ReadOnlySpan<char> text, List<Piece> input, List<Piece> output)
    {
        var matches = Matches();
        foreach (var p in input)
        {
            var piece = p;
            bool prefix = AddPrefixSpace && !(piece.End > piece.Start && text[piece.Start] == ' ') && !piece.PrefixSpace;
            if (!UseRegex)
            {
                output.Add(prefix ? piece with { PrefixSpace = true } : piece);
                continue;
            }
            matches.Clear();
            var span = text[piece.Start..piece.End];
            if (prefix || piece.PrefixSpace)
            {
                // Run the regex on " " + piece; the virtual space belongs to the first resulting piece.
                var tmp = string.Concat(" ", span);
                Gpt2.Value.Matches(tmp, matches);
                var shifted = new List<(int, int)>(matches.Count);
                foreach (var (s, e) in matches) shifted.Add((Math.Max(0, s - 1), e - 1));
                SplitWithMatches(piece with { PrefixSpace = true }, shifted, SplitBehavior.Isolated, false, output);
                continue;
            }
            Gpt2.Value.Matches(span, matches);
            SplitWithMatches(piece, matches, SplitBehavior.Isolated, false, output);
        }
    }
}

internal sealed class SequencePreTokenizer(IReadOnlyList<PreTokenizer> items) : PreTokenizer
{
    public PreTokenizer[] Items { get; } = items.ToArray();

    public override void Split(ReadOnlySpan<char> text, List<Piece> input, List<Piece> output)
    {
        var pool = t_pool ??= new();
        var a = pool.Count > 0 ? pool.Pop() : new List<Piece>();
        var b = pool.Count > 0 ? pool.Pop() : new List<Piece>();
        a.Clear();
        a.AddRange(input);
        foreach (var item in Items)
        {
            b.Clear();
            item.Split(text, a, b);
            (a, b) = (b, a);
        }
        output.AddRange(a);
        pool.Push(a);
        pool.Push(b);
    }

    [ThreadStatic] private static Stack<List<Piece>>? t_pool;
}
