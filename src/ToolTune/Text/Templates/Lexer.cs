using System.Globalization;
using System.Text;
using ToolTune.Diagnostics;

namespace ToolTune.Text.Templates;

internal enum TokenType { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof }

internal readonly record struct Token(TokenType Type, string Value, int Pos, object? Literal = null)
{
    public override string ToString() => Type switch
    {
        TokenType.Eof => "end of template",
        TokenType.VarEnd => "end of print statement",
        TokenType.BlockEnd => "end of statement block",
        TokenType.Name or TokenType.Op or TokenType.Int or TokenType.Float => $"'{Value}'",
        TokenType.String => "string",
        _ => Type.ToString(),
    };
}

/// <summary>Maps source offsets to 1-based line/column.</summary>
internal sealed class SourceMap
{
    private readonly int[] _lineStarts;
    public SourceMap(string source, string? name)
    {
        Name = name;
        var starts = new List<int> { 0 };
        for (int i = 0; i < source.Length; i++) if (source[i] == '\n') starts.Add(i + 1);
        _lineStarts = [.. starts];
    }
    public string? Name { get; }
    public (int Line, int Col) Locate(int pos)
    {
        int idx = Array.BinarySearch(_lineStarts, pos);
        if (idx < 0) idx = ~idx - 1;
        return (idx + 1, pos - _lineStarts[idx] + 1);
    }
    public ToolTuneException Error(string code, string message, int pos, Exception? inner = null)
    {
        var (l, c) = Locate(pos);
        return new ToolTuneException(code, message, Name ?? "<template>", l, c, inner);
    }
}

/// <summary>Jinja2 lexer with trim_blocks and lstrip_blocks on (transformers' configuration).</summary>
internal sealed class Lexer
{
    private readonly string _src;
    private readonly SourceMap _map;
    private readonly List<Token> _tokens = [];
    private int _pos;
    private bool _lineStarting = true;

    private Lexer(string src, SourceMap map) { _src = src; _map = map; }

    /// <summary>Normalise newlines (\r\n, \r → \n) and drop one trailing newline, as Jinja2 does.</summary>
    public static string Normalize(string source)
    {
        if (source.Contains('\r')) source = source.Replace("\r\n", "\n").Replace('\r', '\n');
        if (source.EndsWith('\n')) source = source[..^1];
        return source;
    }

    public static List<Token> Tokenize(string normalizedSource, SourceMap map)
    {
        var lx = new Lexer(normalizedSource, map);
        lx.Run();
        return lx._tokens;
    }

    private ToolTuneException Err(string msg, int pos) => _map.Error(ErrorCodes.TemplateSyntax, msg, pos);

    private void Run()
    {
        while (_pos < _src.Length)
        {
            int idx = FindTagStart(_pos);
            if (idx < 0)
            {
                _tokens.Add(new Token(TokenType.Data, _src[_pos..], _pos));
                _pos = _src.Length;
                break;
            }
            char kind = _src[idx + 1];
            char sign = idx + 2 < _src.Length ? _src[idx + 2] : '\0';
            string text = _src[_pos..idx];
            bool isRaw = kind == '%' && IsRawBegin(idx, out _);
            if (sign == '-') text = Py.Strip(text, null, false, true);
            else if (sign != '+' && kind != '{')
            {
                int lpos = text.LastIndexOf('\n') + 1;
                if ((lpos > 0 || _lineStarting) && lpos < text.Length && AllWhite(text, lpos)) text = text[..lpos];
            }
            if (text.Length > 0) _tokens.Add(new Token(TokenType.Data, text, _pos));
            int afterOpen = idx + 2 + (sign is '-' or '+' ? 1 : 0);
            if (kind == '#') { LexComment(idx, afterOpen); continue; }
            if (isRaw) { LexRaw(idx); continue; }
            _tokens.Add(new Token(kind == '{' ? TokenType.VarBegin : TokenType.BlockBegin, kind == '{' ? "{{" : "{%", idx));
            _pos = afterOpen;
            _lineStarting = false;
            LexInside(kind == '{', idx);
        }
        _tokens.Add(new Token(TokenType.Eof, "", _src.Length));
    }

    private static bool AllWhite(string s, int from)
    {
        for (int i = from; i < s.Length; i++) if (!Py.IsPyWhite(s[i])) return false;
        return true;
    }

    private int FindTagStart(int from)
    {
        int i = from;
        while (true)
        {
            i = _src.IndexOf('{', i);
            if (i < 0 || i + 1 >= _src.Length) return -1;
            char c = _src[i + 1];
            if (c is '{' or '%' or '#') return i;
            i++;
        }
    }

    private bool IsRawBegin(int idx, out int end)
    {
        end = 0;
        int p = idx + 2;
        if (p < _src.Length && _src[p] is '-' or '+') p++;
        while (p < _src.Length && char.IsWhiteSpace(_src[p])) p++;
        if (string.CompareOrdinal(_src, p, "raw", 0, 3) != 0) return false;
        p += 3;
        if (p < _src.Length && (char.IsLetterOrDigit(_src[p]) || _src[p] == '_')) return false;
        while (p < _src.Length && char.IsWhiteSpace(_src[p])) p++;
        if (string.CompareOrdinal(_src, p, "-%}", 0, 3) == 0)
        {
            p += 3;
            while (p < _src.Length && Py.IsPyWhite(_src[p])) p++;
            end = p; return true;
        }
        if (string.CompareOrdinal(_src, p, "%}", 0, 2) == 0) { end = p + 2; return true; }
        return false;
    }

    private void LexRaw(int idx)
    {
        IsRawBegin(idx, out int p);
        // find {% endraw %}
        int search = p;
        while (true)
        {
            int t = _src.IndexOf("{%", search, StringComparison.Ordinal);
            if (t < 0) throw Err("Missing end of raw directive", idx);
            int q = t + 2;
            char sign = q < _src.Length ? _src[q] : '\0';
            if (sign is '-' or '+') q++;
            while (q < _src.Length && char.IsWhiteSpace(_src[q])) q++;
            if (string.CompareOrdinal(_src, q, "endraw", 0, 6) == 0)
            {
                q += 6;
                while (q < _src.Length && char.IsWhiteSpace(_src[q])) q++;
                int end;
                bool trimmedNl = false;
                if (string.CompareOrdinal(_src, q, "+%}", 0, 3) == 0) end = q + 3;
                else if (string.CompareOrdinal(_src, q, "-%}", 0, 3) == 0)
                {
                    end = q + 3;
                    while (end < _src.Length && Py.IsPyWhite(_src[end])) end++;
                    trimmedNl = end > q + 3 && _src[end - 1] == '\n';
                }
                else if (string.CompareOrdinal(_src, q, "%}", 0, 2) == 0)
                {
                    end = q + 2;
                    if (end < _src.Length && _src[end] == '\n') { end++; trimmedNl = true; }
                }
                else { search = t + 2; continue; }
                string text = _src[p..t];
                if (sign == '-') text = Py.Strip(text, null, false, true);
                else if (sign != '+')
                {
                    int lpos = text.LastIndexOf('\n') + 1;
                    if (lpos > 0 && lpos < text.Length && AllWhite(text, lpos)) text = text[..lpos];
                }
                if (text.Length > 0) _tokens.Add(new Token(TokenType.Data, text, p));
                _pos = end;
                _lineStarting = trimmedNl;
                return;
            }
            search = t + 2;
        }
    }

    private void LexComment(int idx, int from)
    {
        int p = from;
        while (true)
        {
            int e = _src.IndexOf("#}", p, StringComparison.Ordinal);
            if (e < 0) throw Err("Missing end of comment tag", idx);
            if (e > from && _src[e - 1] == '-' && e - 1 >= from)
            {
                int end = e + 2;
                while (end < _src.Length && Py.IsPyWhite(_src[end])) end++;
                _lineStarting = end > e + 2 && _src[end - 1] == '\n';
                _pos = end;
                return;
            }
            if (e > from && _src[e - 1] == '+') { _pos = e + 2; _lineStarting = false; return; }
            int en = e + 2;
            if (en < _src.Length && _src[en] == '\n') { en++; _lineStarting = true; } else _lineStarting = false;
            _pos = en;
            return;
        }
    }

    private static readonly string[] Ops2 = ["//", "**", "==", "!=", ">=", "<="];
    private const string Ops1 = "+-/*%~[](){}><=.:|,;";

    private void LexInside(bool isVar, int openPos)
    {
        var balance = new Stack<char>();
        while (true)
        {
            // skip whitespace
            while (_pos < _src.Length && char.IsWhiteSpace(_src[_pos])) _pos++;
            if (_pos >= _src.Length) throw Err(isVar ? "unexpected end of template, expected end of print statement" : "unexpected end of template, expected end of statement block", openPos);
            if (balance.Count == 0)
            {
                if (isVar)
                {
                    if (Match("-}}"))
                    {
                        _tokens.Add(new Token(TokenType.VarEnd, "}}", _pos));
                        _pos += 3;
                        int st = _pos;
                        while (_pos < _src.Length && Py.IsPyWhite(_src[_pos])) _pos++;
                        _lineStarting = _pos > st && _src[_pos - 1] == '\n';
                        return;
                    }
                    if (Match("}}")) { _tokens.Add(new Token(TokenType.VarEnd, "}}", _pos)); _pos += 2; _lineStarting = false; return; }
                }
                else
                {
                    if (Match("-%}"))
                    {
                        _tokens.Add(new Token(TokenType.BlockEnd, "%}", _pos));
                        _pos += 3;
                        int st = _pos;
                        while (_pos < _src.Length && Py.IsPyWhite(_src[_pos])) _pos++;
                        _lineStarting = _pos > st && _src[_pos - 1] == '\n';
                        return;
                    }
                    if (Match("+%}")) { _tokens.Add(new Token(TokenType.BlockEnd, "%}", _pos)); _pos += 3; _lineStarting = false; return; }
                    if (Match("%}"))
                    {
                        _tokens.Add(new Token(TokenType.BlockEnd, "%}", _pos));
                        _pos += 2;
                        if (_pos < _src.Length && _src[_pos] == '\n') { _pos++; _lineStarting = true; } else _lineStarting = false;
                        return;
                    }
                }
            }
            char c = _src[_pos];
            int start = _pos;
            if (char.IsDigit(c)) { LexNumber(); continue; }
            if (char.IsLetter(c) || c == '_')
            {
                while (_pos < _src.Length && (char.IsLetterOrDigit(_src[_pos]) || _src[_pos] == '_')) _pos++;
                _tokens.Add(new Token(TokenType.Name, _src[start.._pos], start));
                continue;
            }
            if (c is '\'' or '"') { LexString(c); continue; }
            string? op = null;
            foreach (var o in Ops2) if (Match(o)) { op = o; break; }
            if (op is null && Ops1.Contains(c)) op = c.ToString();
            if (op is null) throw Err($"unexpected char '{c}' at {start}", start);
            switch (op)
            {
                case "{": balance.Push('}'); break;
                case "(": balance.Push(')'); break;
                case "[": balance.Push(']'); break;
                case "}" or ")" or "]":
                    if (balance.Count == 0) throw Err($"unexpected '{op}'", start);
                    char exp = balance.Pop();
                    if (exp != op[0]) throw Err($"unexpected '{op}', expected '{exp}'", start);
                    break;
            }
            _pos += op.Length;
            _tokens.Add(new Token(TokenType.Op, op, start));
        }
    }

    private bool Match(string s) => string.CompareOrdinal(_src, _pos, s, 0, s.Length) == 0;

    private void LexNumber()
    {
        int start = _pos;
        bool prevDot = start > 0 && _src[start - 1] == '.';
        ReadDigits();
        bool isFloat = false;
        if (!prevDot && _pos + 1 < _src.Length && _src[_pos] == '.' && char.IsDigit(_src[_pos + 1]))
        {
            _pos++; ReadDigits(); isFloat = true;
        }
        if (!prevDot && _pos < _src.Length && (_src[_pos] is 'e' or 'E'))
        {
            int save = _pos;
            _pos++;
            if (_pos < _src.Length && _src[_pos] is '+' or '-') _pos++;
            if (_pos < _src.Length && char.IsDigit(_src[_pos])) { ReadDigits(); isFloat = true; }
            else _pos = save;
        }
        // Jinja's \d is Unicode-aware (Python re) and int()/float() accept any decimal digit: map them to ASCII.
        string text = string.Concat(_src[start.._pos].Where(c => c != '_').Select(c => char.IsAsciiDigit(c) || !char.IsDigit(c) ? c : (char)('0' + (int)char.GetNumericValue(c))));
        if (isFloat)
            _tokens.Add(new Token(TokenType.Float, text, start, double.Parse(text, CultureInfo.InvariantCulture)));
        else
        {
            object lit = long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var l) ? Py.Int(l) : System.Numerics.BigInteger.Parse(text, CultureInfo.InvariantCulture);
            _tokens.Add(new Token(TokenType.Int, text, start, lit));
        }
    }

    private void ReadDigits()
    {
        while (_pos < _src.Length && (char.IsDigit(_src[_pos]) || (_src[_pos] == '_' && _pos + 1 < _src.Length && char.IsDigit(_src[_pos + 1])))) _pos++;
    }

    private void LexString(char q)
    {
        int start = _pos;
        _pos++;
        var sb = new StringBuilder();
        while (true)
        {
            if (_pos >= _src.Length) throw Err("unexpected end of string", start);
            char c = _src[_pos];
            if (c == q) { _pos++; break; }
            if (c == '\\' && _pos + 1 < _src.Length)
            {
                char n = _src[_pos + 1];
                _pos += 2;
                switch (n)
                {
                    case 'n': sb.Append('\n'); break;
                    case 't': sb.Append('\t'); break;
                    case 'r': sb.Append('\r'); break;
                    case '\\': sb.Append('\\'); break;
                    case '\'': sb.Append('\''); break;
                    case '"': sb.Append('"'); break;
                    case 'a': sb.Append('\a'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'v': sb.Append('\v'); break;
                    case '\n': break;
                    case 'N': throw Err("malformed \\N character escape", start);
                    case 'x': sb.Append((char)ReadHex(2, start)); break;
                    case 'u': sb.Append((char)ReadHex(4, start)); break;
                    case 'U': sb.Append(char.ConvertFromUtf32(ReadHex(8, start))); break;
                    case >= '0' and <= '7':
                        {
                            int v = n - '0', k = 1;
                            while (k < 3 && _pos < _src.Length && _src[_pos] is >= '0' and <= '7') { v = v * 8 + (_src[_pos] - '0'); _pos++; k++; }
                            sb.Append((char)v);
                            break;
                        }
                    default: sb.Append('\\').Append(n); break;
                }
                continue;
            }
            sb.Append(c);
            _pos++;
        }
        _tokens.Add(new Token(TokenType.String, _src[start.._pos], start, sb.ToString()));
    }

    private int ReadHex(int n, int start)
    {
        if (_pos + n > _src.Length) throw Err("truncated \\x escape in string literal", start);
        if (!int.TryParse(_src.AsSpan(_pos, n), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int v))
            throw Err("invalid escape in string literal", start);
        _pos += n;
        return v;
    }
}
