using System.Buffers;
using System.Globalization;
using System.Text;

namespace ToolTune.Text.Tokenization;

/// <summary>
/// Leftmost-longest matching of added tokens, like tokenizers added_vocabulary.rs <c>find_matches</c> (Aho-Corasick
/// LeftmostLongest, non-overlapping), with <c>single_word</c>, <c>lstrip</c> and <c>rstrip</c>.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly Dictionary<char, (string Pattern, AddedToken Token)[]> _byFirst;
    private readonly SearchValues<char> _firsts;

    public AddedTokenMatcher(IEnumerable<(string Pattern, AddedToken Token)> tokens)
    {
        _byFirst = tokens.Where(t => t.Pattern.Length > 0)
            .GroupBy(t => t.Pattern[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Pattern.Length).ThenBy(t => t.Token.Id).ToArray());
        _firsts = SearchValues.Create(_byFirst.Keys.ToArray());
        IsEmpty = _byFirst.Count == 0;
    }

    public bool IsEmpty { get; }

    /// <summary>Appends (start, end, token) of each match of <paramref name="text"/>; start/end include stripped whitespace.</summary>
    public void FindMatches(ReadOnlySpan<char> text, List<(int Start, int End, AddedToken Token)> output)
    {
        if (IsEmpty) return;
        int startOffset = 0;
        int i = 0;
        while (i < text.Length)
        {
            int rel = text[i..].IndexOfAny(_firsts);
            if (rel < 0) break;
            i += rel;
            (string Pattern, AddedToken Token)? hit = null;
            foreach (var cand in _byFirst[text[i]])
            {
                if (text[i..].StartsWith(cand.Pattern, StringComparison.Ordinal))
                {
                    hit = cand;
                    break;
                }
            }
            if (hit is null)
            {
                i++;
                continue;
            }
            var (pattern, token) = hit.Value;
            int start = i, stop = i + pattern.Length;
            i = stop;
            if (token.SingleWord)
            {
                bool startSpace = start == 0 || !EndsWithWord(text[..start]);
                bool stopSpace = stop == text.Length || !StartsWithWord(text[stop..]);
                if (!startSpace || !stopSpace) continue;
            }
            if (token.LStrip)
            {
                int ns = start;
                while (ns > 0 && IsWhitespaceBefore(text, ns, out var w)) ns -= w;
                start = Math.Max(ns, startOffset);
            }
            if (token.RStrip)
            {
                while (stop < text.Length && IsWhitespaceAt(text, stop, out var w)) stop += w;
                i = stop;
            }
            output.Add((start, stop, token));
            startOffset = stop;
        }
    }

    private static bool IsWhitespaceAt(ReadOnlySpan<char> text, int pos, out int width)
    {
        Rune.DecodeFromUtf16(text[pos..], out var r, out width);
        return Rune.IsWhiteSpace(r);
    }

    private static bool IsWhitespaceBefore(ReadOnlySpan<char> text, int pos, out int width)
    {
        Rune.DecodeLastFromUtf16(text[..pos], out var r, out width);
        return Rune.IsWhiteSpace(r);
    }

    private static bool IsWordRune(Rune r) => r.Value == '_' || Rune.IsLetterOrDigit(r) || IsAlphanumericExtra(r);

    // Rust char::is_alphanumeric = Alphabetic || Numeric (Nd, Nl, No).
    private static bool IsAlphanumericExtra(Rune r) =>
        Rune.GetUnicodeCategory(r) is UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;

    private static bool EndsWithWord(ReadOnlySpan<char> s) =>
        Rune.DecodeLastFromUtf16(s, out var r, out _) == OperationStatus.Done && IsWordRune(r);

    private static bool StartsWithWord(ReadOnlySpan<char> s) =>
        Rune.DecodeFromUtf16(s, out var r, out _) == OperationStatus.Done && IsWordRune(r);
}
