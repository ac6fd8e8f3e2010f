using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace ToolTune.Text.Tokenization;

/// <summary>
/// A .NET <see cref="Regex"/> evaluated per Unicode code point, like Oniguruma in HF tokenizers. .NET Regex sees
/// UTF-16 halves, so an astral letter (U+1D400) would not be <c>\p{L}</c>. When the input holds surrogates, each
/// code point is replaced by one BMP stand-in of the same general category, the regex runs on that string, and
/// match offsets are mapped back. Stand-ins avoid ASCII, whitespace and the apostrophe, so literals in the known
/// patterns cannot be matched by them.
/// </summary>
internal sealed class CodePointRegex
{
    private readonly Lazy<Regex> _regex;
    private readonly KnownPattern? _known;

    public CodePointRegex(string pattern, bool useKnownMatchers = true)
    {
        Pattern = pattern;
        _known = useKnownMatchers ? KnownPattern.For(pattern) : null;
        if (_known is null)
        {
            var regex = new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled); // validates now
            _regex = new Lazy<Regex>(regex);
        }
        else _regex = new Lazy<Regex>(() => new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled));
    }

    /// <summary>True when a hand-written matcher replaces the .NET Regex.</summary>
    public bool UsesKnownMatcher => _known is not null;

    public string Pattern { get; }

    private static readonly char[] StandIn = BuildStandIns();

    private static char[] BuildStandIns()
    {
        var t = new char[32];
        t[(int)UnicodeCategory.UppercaseLetter] = '\u0102';
        t[(int)UnicodeCategory.LowercaseLetter] = '\u0103';
        t[(int)UnicodeCategory.TitlecaseLetter] = '\u01C5';
        t[(int)UnicodeCategory.ModifierLetter] = '\u02B0';
        t[(int)UnicodeCategory.OtherLetter] = '\u05D0';
        t[(int)UnicodeCategory.NonSpacingMark] = '\u0300';
        t[(int)UnicodeCategory.SpacingCombiningMark] = '\u0903';
        t[(int)UnicodeCategory.EnclosingMark] = '\u20DD';
        t[(int)UnicodeCategory.DecimalDigitNumber] = '\u0660';
        t[(int)UnicodeCategory.LetterNumber] = '\u2160';
        t[(int)UnicodeCategory.OtherNumber] = '\u00B2';
        t[(int)UnicodeCategory.SpaceSeparator] = '\u3000';
        t[(int)UnicodeCategory.LineSeparator] = '\u2028';
        t[(int)UnicodeCategory.ParagraphSeparator] = '\u2029';
        t[(int)UnicodeCategory.Control] = '\u0080';
        t[(int)UnicodeCategory.Format] = '\u00AD';
        t[(int)UnicodeCategory.Surrogate] = '\uD800';
        t[(int)UnicodeCategory.PrivateUse] = '\uE000';
        t[(int)UnicodeCategory.ConnectorPunctuation] = '\u203F';
        t[(int)UnicodeCategory.DashPunctuation] = '\u2010';
        t[(int)UnicodeCategory.OpenPunctuation] = '\u2045';
        t[(int)UnicodeCategory.ClosePunctuation] = '\u2046';
        t[(int)UnicodeCategory.InitialQuotePunctuation] = '\u00AB';
        t[(int)UnicodeCategory.FinalQuotePunctuation] = '\u00BB';
        t[(int)UnicodeCategory.OtherPunctuation] = '\u00A1';
        t[(int)UnicodeCategory.MathSymbol] = '\u00AC';
        t[(int)UnicodeCategory.CurrencySymbol] = '\u00A2';
        t[(int)UnicodeCategory.ModifierSymbol] = '\u00B4';
        t[(int)UnicodeCategory.OtherSymbol] = '\u00A9';
        t[(int)UnicodeCategory.OtherNotAssigned] = '\u0378';
        return t;
    }

    private static bool HasSurrogate(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
            if (char.IsSurrogate(c)) return true;
        return false;
    }

    /// <summary>Appends the (start, end) of every non-empty match in <paramref name="input"/> to <paramref name="output"/>.</summary>
    public void Matches(ReadOnlySpan<char> input, List<(int Start, int End)> output)
    {
        if (_known is not null)
        {
            _known.Matches(input, output);
            return;
        }
        var regex = _regex.Value;
        if (!HasSurrogate(input))
        {
            foreach (var m in regex.EnumerateMatches(input))
                if (m.Length > 0) output.Add((m.Index, m.Index + m.Length));
            return;
        }
        // One char per code point; index[k] = input index of mapped char k (index[count] = input.Length).
        var mapped = new char[input.Length];
        var index = new int[input.Length + 1];
        int n = 0;
        for (int i = 0; i < input.Length;)
        {
            index[n] = i;
            if (char.IsHighSurrogate(input[i]) && i + 1 < input.Length && char.IsLowSurrogate(input[i + 1]))
            {
                int cp = char.ConvertToUtf32(input[i], input[i + 1]);
                mapped[n++] = StandIn[(int)CharUnicodeInfo.GetUnicodeCategory(cp)];
                i += 2;
            }
            else mapped[n++] = input[i++];
        }
        index[n] = input.Length;
        foreach (var m in regex.EnumerateMatches(mapped.AsSpan(0, n)))
            if (m.Length > 0) output.Add((index[m.Index], index[m.Index + m.Length]));
    }
}
