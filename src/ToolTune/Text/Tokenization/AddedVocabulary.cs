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
        return IsWhiteSpace(r);
    }

    private static bool IsWhitespaceBefore(ReadOnlySpan<char> text, int pos, out int width)
    {
        Rune.DecodeLastFromUtf16(text[..pos], out var r, out width);
        return IsWhiteSpace(r);
    }

    /// <summary>Unicode White_Space (Rust regex <c>\s</c>); unlike char.IsWhiteSpace, not U+001C–U+001F.</summary>
    internal static bool IsWhiteSpace(Rune r) =>
        r.Value is >= 9 and <= 13 or 0x20 or 0x85
        || Rune.GetUnicodeCategory(r) is UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;

    /// <summary>Rust regex <c>\w</c>: Alphabetic, marks, Nd, connector punctuation, join controls.</summary>
    internal static bool IsWordRune(Rune r)
    {
        int v = r.Value;
        if (v < 0x80) return char.IsAsciiLetterOrDigit((char)v) || v == '_';
        if (v is 0x200C or 0x200D) return true;
        // Other_Alphabetic symbols: circled and squared Latin letters.
        if (v is >= 0x24B6 and <= 0x24E9 or >= 0x1F130 and <= 0x1F149 or >= 0x1F150 and <= 0x1F169 or >= 0x1F170 and <= 0x1F189) return true;
        return Rune.GetUnicodeCategory(r) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.LetterNumber
                or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
                or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.ConnectorPunctuation => true,
            _ => false,
        };
    }

    private static bool EndsWithWord(ReadOnlySpan<char> s) =>
        Rune.DecodeLastFromUtf16(s, out var r, out _) == OperationStatus.Done && IsWordRune(r);

    private static bool StartsWithWord(ReadOnlySpan<char> s) =>
        Rune.DecodeFromUtf16(s, out var r, out _) == OperationStatus.Done && IsWordRune(r);
}
