using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Data;

namespace ToolTune.Python;

/// <summary>
/// Parses JSON, or Python literal syntax as old Hermes data writes it (<c>{'name': 'f', 'arguments': {'a': True, 'b': None}}</c>),
/// into JSON nodes: single- or double-quoted strings (with escapes), <c>True/False/None</c> (and JSON
/// <c>true/false/null</c>), tuples as arrays, trailing commas. Key order is kept.
/// </summary>
public static class PyLiteral
{
    /// <summary>Parses strict JSON first (fast path), then Python-literal syntax.</summary>
    public static bool TryParse(string text, out JsonNode? node, out string error)
    {
        var trimmed = text.AsSpan().Trim();
        if (trimmed.Length == 0)
        {
            node = null;
            error = "empty text";
            return false;
        }
        if (JsonNodeChecks.HasUnpairedSurrogate(text))
        {
            node = null;
            error = "the text holds an unpaired UTF-16 surrogate";
            return false;
        }
        try
        {
            node = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { MaxDepth = 256 });
            return Checked(ref node, out error);
        }
        catch (JsonException)
        {
        }
        return TryParsePython(text, out node, out error) && Checked(ref node, out error);
    }

    /// <summary>Rejects what parses but cannot be used (duplicate keys, unpaired surrogates): see <see cref="JsonNodeChecks"/>.</summary>
    private static bool Checked(ref JsonNode? node, out string error)
    {
        var (problem, message) = JsonNodeChecks.Find(node);
        error = message;
        if (problem == JsonNodeChecks.Problem.None) return true;
        node = null;
        return false;
    }

    /// <summary>Parses Python-literal syntax only.</summary>
    public static bool TryParsePython(string text, out JsonNode? node, out string error)
    {
        var p = new Parser(text);
        try
        {
            p.SkipWs();
            node = p.ParseValue(0);
            p.SkipWs();
            if (p.Pos != text.Length) throw p.Fail("unexpected text after the value");
            error = "";
            return true;
        }
        catch (FormatException ex)
        {
            node = null;
            error = ex.Message;
            return false;
        }
    }

    /// <summary>
    /// Parses one Python-literal value at <paramref name="start"/> (leading whitespace skipped) and stops after it:
    /// <paramref name="end"/> is the offset of what follows (a call's <c>,</c> or <c>)</c>). JSON's <c>true/false/null</c>
    /// are accepted as in <see cref="TryParsePython"/>.
    /// </summary>
    public static bool TryParsePrefix(string text, int start, out JsonNode? node, out int end, out string error)
    {
        var p = new Parser(text) { Pos = start };
        try
        {
            node = p.ParseValue(0);
            end = p.Pos;
            return Checked(ref node, out error);
        }
        catch (FormatException ex)
        {
            node = null;
            end = start;
            error = ex.Message;
            return false;
        }
    }

    /// <summary>Parses a whitespace-separated sequence of values (e.g. several JSON objects one per line).</summary>
    public static bool TryParseSequence(string text, out List<JsonNode?> nodes, out string error)
    {
        nodes = [];
        var p = new Parser(text);
        try
        {
            p.SkipWs();
            while (p.Pos < text.Length)
            {
                nodes.Add(p.ParseValue(0));
                p.SkipWs();
                if (p.Pos < text.Length && text[p.Pos] == ',') { p.Pos++; p.SkipWs(); }
            }
            error = "";
            return nodes.Count > 0;
        }
        catch (FormatException ex)
        {
            error = ex.Message;
            return false;
        }
    }

    private sealed class Parser(string s)
    {
        private const int MaxDepth = 256;
        public int Pos;

        public FormatException Fail(string what) => new($"{what} at offset {Pos}");

        public void SkipWs()
        {
            while (Pos < s.Length && char.IsWhiteSpace(s[Pos])) Pos++;
        }

        public JsonNode? ParseValue(int depth)
        {
            if (depth > MaxDepth) throw Fail("nesting too deep");
            SkipWs();
            if (Pos >= s.Length) throw Fail("unexpected end of text");
            var c = s[Pos];
            switch (c)
            {
                case '{': return ParseDict(depth);
                case '[': return ParseList(depth, ']');
                case '(': return ParseList(depth, ')');
                case '"':
                case '\'':
                    return JsonValue.Create(ParseString());
            }
            if (c == '-' || c == '+' || c == '.' || char.IsAsciiDigit(c)) return ParseNumber();
            if (char.IsAsciiLetter(c) || c == '_')
            {
                var start = Pos;
                while (Pos < s.Length && (char.IsAsciiLetterOrDigit(s[Pos]) || s[Pos] == '_')) Pos++;
                var word = s[start..Pos];
                switch (word)
                {
                    case "True" or "true": return JsonValue.Create(true);
                    case "False" or "false": return JsonValue.Create(false);
                    case "None" or "null": return null;
                }
                Pos = start;
                throw Fail($"unexpected name '{word}'");
            }
            throw Fail($"unexpected character '{c}'");
        }

        private JsonObject ParseDict(int depth)
        {
            Pos++; // {
            var o = new JsonObject();
            SkipWs();
            while (true)
            {
                SkipWs();
                if (Pos >= s.Length) throw Fail("unterminated dict");
                if (s[Pos] == '}') { Pos++; return o; }
                string key;
                if (s[Pos] is '"' or '\'') key = ParseString();
                else
                {
                    var k = ParseValue(depth + 1);
                    key = k is null ? "None" : k.ToJsonString();
                }
                SkipWs();
                if (Pos >= s.Length || s[Pos] != ':') throw Fail("expected ':' in dict");
                Pos++;
                var v = ParseValue(depth + 1);
                o[key] = v; // duplicate keys: last wins, as in Python
                SkipWs();
                if (Pos >= s.Length) throw Fail("unterminated dict");
                if (s[Pos] == ',') { Pos++; continue; }
                if (s[Pos] == '}') { Pos++; return o; }
                throw Fail("expected ',' or '}' in dict");
            }
        }

        private JsonArray ParseList(int depth, char close)
        {
            Pos++;
            var a = new JsonArray();
            while (true)
            {
                SkipWs();
                if (Pos >= s.Length) throw Fail("unterminated list");
                if (s[Pos] == close) { Pos++; return a; }
                a.Add(ParseValue(depth + 1));
                SkipWs();
                if (Pos >= s.Length) throw Fail("unterminated list");
                if (s[Pos] == ',') { Pos++; continue; }
                if (s[Pos] == close) { Pos++; return a; }
                throw Fail($"expected ',' or '{close}' in list");
            }
        }

        private string ParseString()
        {
            var q = s[Pos];
            var triple = Pos + 2 < s.Length && s[Pos + 1] == q && s[Pos + 2] == q;
            Pos += triple ? 3 : 1;
            var sb = new StringBuilder();
            while (true)
            {
                if (Pos >= s.Length) throw Fail("unterminated string");
                var c = s[Pos];
                if (c == q)
                {
                    if (!triple) { Pos++; return sb.ToString(); }
                    if (Pos + 2 < s.Length && s[Pos + 1] == q && s[Pos + 2] == q) { Pos += 3; return sb.ToString(); }
                    sb.Append(c);
                    Pos++;
                    continue;
                }
                if (c == '\\')
                {
                    if (Pos + 1 >= s.Length) throw Fail("unterminated escape");
                    var e = s[Pos + 1];
                    Pos += 2;
                    switch (e)
                    {
                        case 'n': sb.Append('\n'); break;
                        case 't': sb.Append('\t'); break;
                        case 'r': sb.Append('\r'); break;
                        case 'b': sb.Append('\b'); break;
                        case 'f': sb.Append('\f'); break;
                        case '0': sb.Append('\0'); break;
                        case '\\': sb.Append('\\'); break;
                        case '\'': sb.Append('\''); break;
                        case '"': sb.Append('"'); break;
                        case '/': sb.Append('/'); break;
                        case '\n': break; // line continuation
                        case 'x': sb.Append((char)Hex(2)); break;
                        case 'u': sb.Append((char)Hex(4)); break;
                        case 'U': sb.Append(char.ConvertFromUtf32(Hex(8))); break;
                        default: sb.Append('\\').Append(e); break; // Python keeps unknown escapes verbatim
                    }
                    continue;
                }
                if (!triple && c == '\n') throw Fail("newline in string");
                sb.Append(c);
                Pos++;
            }
        }

        private int Hex(int n)
        {
            if (Pos + n > s.Length) throw Fail("bad escape");
            if (!int.TryParse(s.AsSpan(Pos, n), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var v)) throw Fail("bad escape");
            Pos += n;
            return v;
        }

        private JsonNode ParseNumber()
        {
            var start = Pos;
            if (s[Pos] is '-' or '+') Pos++;
            while (Pos < s.Length && (char.IsAsciiDigit(s[Pos]) || s[Pos] is '.' or 'e' or 'E' or '_' or '-' or '+'))
            {
                if (s[Pos] is '-' or '+' && s[Pos - 1] is not ('e' or 'E')) break;
                Pos++;
            }
            var text = s[start..Pos].Replace("_", "");
            if (text.StartsWith('+')) text = text[1..];
            if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)) return JsonValue.Create(l);
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d))
            {
                // Keep the literal's spelling (1.0 stays 1.0) by round-tripping through JSON.
                var norm = text.StartsWith('.') ? "0" + text : text.StartsWith("-.") ? "-0" + text[1..] : text;
                if (norm.EndsWith('.')) norm += "0";
                try { return JsonNode.Parse(norm)!; } catch (JsonException) { return JsonValue.Create(d); }
            }
            Pos = start;
            throw Fail($"bad number '{text}'");
        }
    }
}
