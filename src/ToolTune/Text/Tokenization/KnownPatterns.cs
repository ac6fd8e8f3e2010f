using System.Globalization;

namespace ToolTune.Text.Tokenization;

/// <summary>
/// Hand-written, allocation-free matchers for the pre-tokenizer regexes used by nearly every byte-level BPE model
/// (Llama-3 / Qwen2 / GPT-2). They reproduce the backtracking regex exactly, per code point: L = Lu/Ll/Lt/Lm/Lo,
/// N = Nd/Nl/No, \s = Unicode White_Space (what Oniguruma and .NET's \s mean). Any other pattern runs on .NET Regex.
/// Tests compare both on random text.
/// </summary>
internal abstract class KnownPattern
{
    public const string Llama3 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    /// <summary>Llama-3's split without its leading-character rules: a letter run never takes the space or punctuation
    /// before it, and there are no contraction pieces, so a word is the same ids wherever it stands ("in Seoul?" and
    /// <c>{"location": "Seoul"}</c> share the ids of <c>Seoul</c>). The demo tokenizer uses it: a model of a few MB
    /// copies argument values token for token, it cannot learn the <c>ĠSeoul</c>/<c>Seoul</c> pairs a pretrained model knows.
    /// No hand-written matcher: the .NET regex runs it.</summary>
    public const string Words = @"\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    public const string Qwen2 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public static KnownPattern? For(string pattern) => pattern switch
    {
        Llama3 => new Llama3Matcher(3),
        Qwen2 => new Llama3Matcher(1),
        ByteLevelPreTokenizer.Gpt2Pattern => new Gpt2Matcher(),
        _ => null,
    };

    /// <summary>Appends every (start, end) match, like Regex.EnumerateMatches over the whole input.</summary>
    public void Matches(ReadOnlySpan<char> s, List<(int Start, int End)> output)
    {
        int i = 0;
        while (i < s.Length)
        {
            int end = MatchAt(s, i);
            if (end > i)
            {
                output.Add((i, end));
                i = end;
            }
            else i += Width(s, i);
        }
    }

    /// <summary>End of the match starting at <paramref name="i"/>, or <paramref name="i"/> when none.</summary>
    protected abstract int MatchAt(ReadOnlySpan<char> s, int i);

    protected const byte Other = 0, Letter = 1, Number = 2, Space = 3;
    private static readonly byte[] Ascii = BuildAscii();

    private static byte[] BuildAscii()
    {
        var t = new byte[128];
        for (int c = 0; c < 128; c++)
            t[c] = char.IsAsciiLetter((char)c) ? Letter : char.IsAsciiDigit((char)c) ? Number
                : c is '\t' or '\n' or '\v' or '\f' or '\r' or ' ' ? Space : Other;
        return t;
    }

    protected static int Width(ReadOnlySpan<char> s, int i) =>
        char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;

    /// <summary>Class of the code point at <paramref name="i"/>; <paramref name="w"/> gets its UTF-16 width.</summary>
    protected static byte ClassAt(ReadOnlySpan<char> s, int i, out int w)
    {
        char c = s[i];
        if (c < 128)
        {
            w = 1;
            return Ascii[c];
        }
        int cp = c;
        w = 1;
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            cp = char.ConvertToUtf32(c, s[i + 1]);
            w = 2;
        }
        else if (char.IsSurrogate(c)) return Other;
        if (cp == 0x85) return Space;
        switch (CharUnicodeInfo.GetUnicodeCategory(cp))
        {
            case UnicodeCategory.UppercaseLetter:
            case UnicodeCategory.LowercaseLetter:
            case UnicodeCategory.TitlecaseLetter:
            case UnicodeCategory.ModifierLetter:
            case UnicodeCategory.OtherLetter:
                return Letter;
            case UnicodeCategory.DecimalDigitNumber:
            case UnicodeCategory.LetterNumber:
            case UnicodeCategory.OtherNumber:
                return Number;
            case UnicodeCategory.SpaceSeparator:
            case UnicodeCategory.LineSeparator:
            case UnicodeCategory.ParagraphSeparator:
                return Space;
            default:
                return Other;
        }
    }

    protected static int ClassRun(ReadOnlySpan<char> s, int i, byte cls)
    {
        while (i < s.Length && ClassAt(s, i, out var w) == cls) i += w;
        return i;
    }

    /// <summary>Length after the apostrophe at <paramref name="i"/> of s|t|re|ve|m|ll|d (0 if none).</summary>
    protected static int Contraction(ReadOnlySpan<char> s, int i, bool ignoreCase)
    {
        if (s[i] != '\'' || i + 1 >= s.Length) return 0;
        char a = Fold(s[i + 1], ignoreCase);
        char b = i + 2 < s.Length ? Fold(s[i + 2], ignoreCase) : '\0';
        return a switch
        {
            's' or 't' or 'm' or 'd' => 2,
            'r' or 'v' when b == 'e' => 3,
            'l' when b == 'l' => 3,
            _ => 0,
        };
    }

    private static char Fold(char c, bool ignoreCase)
    {
        if (!ignoreCase) return c;
        if (c is >= 'A' and <= 'Z') return (char)(c + 32);
        return c == '\u017F' ? 's' : c; // LATIN SMALL LETTER LONG S case-folds to s
    }
}

/// <summary>Llama-3 (max 3 digits) and Qwen2 (1 digit) pre-tokenizer regex.</summary>
internal sealed class Llama3Matcher(int maxDigits) : KnownPattern
{
    protected override int MatchAt(ReadOnlySpan<char> s, int i)
    {
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        int c = Contraction(s, i, ignoreCase: true);
        if (c > 0) return i + c;
        byte cls = ClassAt(s, i, out int w);
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (cls == Letter) return ClassRun(s, i + w, Letter);
        bool crlf = s[i] is '\r' or '\n';
        if (cls != Number && !crlf && i + w < s.Length && ClassAt(s, i + w, out int w2) == Letter)
            return ClassRun(s, i + w + w2, Letter);
        // \p{N}{1,n}
        if (cls == Number)
        {
            int j = i + w, n = 1;
            while (n < maxDigits && j < s.Length && ClassAt(s, j, out var wn) == Number) { j += wn; n++; }
            return j;
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        int start = -1;
        if (s[i] == ' ' && i + 1 < s.Length && ClassAt(s, i + 1, out _) == Other) start = i + 1;
        else if (cls == Other) start = i;
        if (start >= 0)
        {
            int j = ClassRun(s, start, Other);
            while (j < s.Length && s[j] is '\r' or '\n') j++;
            return j;
        }
        // Only whitespace is left: cls == Space.
        int wsEnd = ClassRun(s, i, Space);
        // \s*[\r\n]+ : up to and including the last \r or \n of the whitespace run
        for (int k = wsEnd - 1; k >= i; k--)
            if (s[k] is '\r' or '\n') return k + 1;
        // \s+(?!\S)
        if (wsEnd == s.Length) return wsEnd;
        int lastW = wsEnd - 1 > i && char.IsLowSurrogate(s[wsEnd - 1]) ? 2 : 1; // whitespace is never astral
        if (wsEnd - lastW > i) return wsEnd - lastW;
        // \s+
        return wsEnd;
    }
}

/// <summary>GPT-2 byte-level regex (ByteLevel use_regex=true).</summary>
internal sealed class Gpt2Matcher : KnownPattern
{
    protected override int MatchAt(ReadOnlySpan<char> s, int i)
    {
        int c = Contraction(s, i, ignoreCase: false);
        if (c > 0) return i + c;
        byte cls = ClassAt(s, i, out int w);
        // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
        if (s[i] == ' ' && i + 1 < s.Length)
        {
            byte next = ClassAt(s, i + 1, out _);
            if (next != Space) return ClassRun(s, i + 1, next);
        }
        if (cls != Space) return ClassRun(s, i, cls);
        int wsEnd = ClassRun(s, i, Space);
        // \s+(?!\S), then \s+
        if (wsEnd == s.Length) return wsEnd;
        if (wsEnd - 1 > i) return wsEnd - 1;
        return wsEnd;
    }
}
