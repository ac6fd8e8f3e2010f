using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ToolTune.Python;

/// <summary>Raised by <see cref="PythonJson.Loads"/> where Python's <c>json.loads</c> raises (JSONDecodeError or RecursionError).</summary>
public sealed class PythonJsonException(string message, int position) : Exception($"{message}: char {position}")
{
    /// <summary>0-based character offset of the error, as Python's <c>JSONDecodeError.pos</c>.</summary>
    public int Position { get; } = position;
}

/// <summary>
/// Python <c>json.loads</c> (default arguments, <c>strict=True</c>) over a string: accepts exactly what CPython's
/// <c>json</c> module accepts. Whitespace is only space/tab/CR/LF around values; <c>NaN</c>, <c>Infinity</c>,
/// <c>-Infinity</c> are accepted; trailing commas, single quotes, comments, Python literals (<c>True</c>, <c>None</c>),
/// raw control characters inside strings, a leading BOM and extra data after the value all fail; duplicate
/// keys: the last value wins (at the first key's position, as in a dict); lone surrogate escapes are kept.
/// Numbers keep their source text (so big integers are exact); NaN/±Infinity become <see cref="double"/> values.
/// </summary>
public static class PythonJson
{
    /// <summary>CPython's default recursion limit is 1000; nesting that deep raises RecursionError.</summary>
    public const int MaxDepth = 990;

    public static JsonNode? Loads(string s)
    {
        if (s.Length > 0 && s[0] == '\uFEFF') throw new PythonJsonException("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0);
        var p = new Parser(s);
        p.SkipWs();
        var v = p.Value(0);
        p.SkipWs();
        if (p.Pos != s.Length) throw new PythonJsonException("Extra data", p.Pos);
        return v;
    }

    public static bool TryLoads(string s, out JsonNode? value, out string? error)
    {
        try
        {
            value = Loads(s);
            error = null;
            return true;
        }
        catch (PythonJsonException e)
        {
            value = null;
            error = e.Message;
            return false;
        }
    }

    private sealed class Parser(string s)
    {
        public int Pos;

        public void SkipWs()
        {
            while (Pos < s.Length && s[Pos] is ' ' or '\t' or '\n' or '\r') Pos++;
        }

        private PythonJsonException Err(string m, int? at = null) => new(m, at ?? Pos);

        public JsonNode? Value(int depth)
        {
            if (depth > MaxDepth) throw Err("maximum recursion depth exceeded");
            if (Pos >= s.Length) throw Err("Expecting value");
            var c = s[Pos];
            switch (c)
            {
                case '"': return JsonValue.Create(String());
                case '{': return Object(depth);
                case '[': return Array(depth);
                case 'n' when Match("null"): return null;
                case 't' when Match("true"): return JsonValue.Create(true);
                case 'f' when Match("false"): return JsonValue.Create(false);
                case 'N' when Match("NaN"): return JsonValue.Create(double.NaN);
                case 'I' when Match("Infinity"): return JsonValue.Create(double.PositiveInfinity);
                case '-' when Match("-Infinity"): return JsonValue.Create(double.NegativeInfinity);
            }
            if (c == '-' || (c >= '0' && c <= '9')) return Number();
            throw Err("Expecting value");
        }

        private bool Match(string lit)
        {
            if (string.CompareOrdinal(s, Pos, lit, 0, lit.Length) != 0) return false;
            Pos += lit.Length;
            return true;
        }

        private JsonNode Number()
        {
            // -?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?  (Python's NUMBER_RE; '01' parses '0' then fails with Extra data)
            var start = Pos;
            if (s[Pos] == '-') Pos++;
            if (Pos >= s.Length || !char.IsAsciiDigit(s[Pos])) { Pos = start; throw Err("Expecting value"); }
            if (s[Pos] == '0') Pos++;
            else while (Pos < s.Length && char.IsAsciiDigit(s[Pos])) Pos++;
            if (Pos + 1 < s.Length && s[Pos] == '.' && char.IsAsciiDigit(s[Pos + 1]))
            {
                Pos++;
                while (Pos < s.Length && char.IsAsciiDigit(s[Pos])) Pos++;
            }
            if (Pos < s.Length && s[Pos] is 'e' or 'E')
            {
                var save = Pos;
                Pos++;
                if (Pos < s.Length && s[Pos] is '+' or '-') Pos++;
                if (Pos < s.Length && char.IsAsciiDigit(s[Pos]))
                    while (Pos < s.Length && char.IsAsciiDigit(s[Pos])) Pos++;
                else Pos = save;
            }
            var text = s[start..Pos];
            // Keep the source text: JsonElement numbers are arbitrary precision (exact big ints, value comparison below).
            return JsonValue.Create(JsonDocument.Parse(text).RootElement.Clone())!;
        }

        private string String()
        {
            var begin = Pos;
            Pos++; // opening quote
            var sb = new StringBuilder();
            while (true)
            {
                if (Pos >= s.Length) throw Err("Unterminated string starting at", begin);
                var c = s[Pos];
                if (c == '"') { Pos++; return sb.ToString(); }
                if (c < ' ') throw Err("Invalid control character at");
                if (c != '\\') { sb.Append(c); Pos++; continue; }
                Pos++;
                if (Pos >= s.Length) throw Err("Unterminated string starting at", begin);
                var e = s[Pos];
                switch (e)
                {
                    case '"': sb.Append('"'); Pos++; break;
                    case '\\': sb.Append('\\'); Pos++; break;
                    case '/': sb.Append('/'); Pos++; break;
                    case 'b': sb.Append('\b'); Pos++; break;
                    case 'f': sb.Append('\f'); Pos++; break;
                    case 'n': sb.Append('\n'); Pos++; break;
                    case 'r': sb.Append('\r'); Pos++; break;
                    case 't': sb.Append('\t'); Pos++; break;
                    case 'u':
                        var u = Hex4(Pos + 1);
                        Pos += 5;
                        // A high surrogate followed by \uDC00-\uDFFF combines; otherwise it is kept alone (Python does).
                        if (char.IsHighSurrogate((char)u) && Pos + 1 < s.Length && s[Pos] == '\\' && s[Pos + 1] == 'u')
                        {
                            var lo = TryHex4(Pos + 2);
                            if (lo >= 0 && char.IsLowSurrogate((char)lo))
                            {
                                sb.Append((char)u).Append((char)lo);
                                Pos += 6;
                                break;
                            }
                        }
                        sb.Append((char)u);
                        break;
                    default:
                        throw Err("Invalid \\escape", Pos - 1);
                }
            }
        }

        private int TryHex4(int at)
        {
            if (at + 4 > s.Length) return -1;
            var v = 0;
            for (var i = 0; i < 4; i++)
            {
                var h = HexVal(s[at + i]);
                if (h < 0) return -1;
                v = v * 16 + h;
            }
            return v;
        }

        private int Hex4(int at)
        {
            var v = TryHex4(at);
            if (v < 0) throw Err("Invalid \\uXXXX escape", at - 1);
            return v;
        }

        private static int HexVal(char c) => c switch
        {
            >= '0' and <= '9' => c - '0',
            >= 'a' and <= 'f' => c - 'a' + 10,
            >= 'A' and <= 'F' => c - 'A' + 10,
            _ => -1,
        };

        private JsonObject Object(int depth)
        {
            Pos++;
            var o = new JsonObject();
            SkipWs();
            if (Pos < s.Length && s[Pos] == '}') { Pos++; return o; }
            while (true)
            {
                if (Pos >= s.Length || s[Pos] != '"') throw Err("Expecting property name enclosed in double quotes");
                var key = String();
                SkipWs();
                if (Pos >= s.Length || s[Pos] != ':') throw Err("Expecting ':' delimiter");
                Pos++;
                SkipWs();
                var v = Value(depth + 1);
                o[key] = v; // last wins, first position kept (dict semantics)
                SkipWs();
                if (Pos < s.Length && s[Pos] == '}') { Pos++; return o; }
                if (Pos >= s.Length || s[Pos] != ',') throw Err("Expecting ',' delimiter");
                Pos++;
                SkipWs();
            }
        }

        private JsonArray Array(int depth)
        {
            Pos++;
            var a = new JsonArray();
            SkipWs();
            if (Pos < s.Length && s[Pos] == ']') { Pos++; return a; }
            while (true)
            {
                a.Add(Value(depth + 1));
                SkipWs();
                if (Pos < s.Length && s[Pos] == ']') { Pos++; return a; }
                if (Pos >= s.Length || s[Pos] != ',') throw Err("Expecting ',' delimiter");
                Pos++;
                SkipWs();
            }
        }
    }

    // ---- canonical JSON: equality with numbers as values, and a canonical text (sorted keys) for multiset keys ----

    /// <summary>
    /// Structural equality: objects compare as key sets (order ignored), arrays in order, numbers by value
    /// (<c>1 == 1.0 == 1e0</c>), strings ordinally; booleans never equal numbers.
    /// </summary>
    public static bool CanonicalEquals(JsonNode? a, JsonNode? b)
    {
        switch (a)
        {
            case null: return b is null;
            case JsonObject oa:
                if (b is not JsonObject ob || oa.Count != ob.Count) return false;
                foreach (var (k, v) in oa)
                    if (!ob.TryGetPropertyValue(k, out var w) || !CanonicalEquals(v, w)) return false;
                return true;
            case JsonArray aa:
                if (b is not JsonArray ab || aa.Count != ab.Count) return false;
                for (var i = 0; i < aa.Count; i++) if (!CanonicalEquals(aa[i], ab[i])) return false;
                return true;
            case JsonValue va:
                if (b is not JsonValue vb) return false;
                return Canonical(va) == Canonical(vb);
        }
        return false;
    }

    /// <summary>Canonical compact text: keys sorted ordinally, numbers normalised by value, non-ASCII unescaped.</summary>
    public static string Canonical(JsonNode? n)
    {
        var sb = new StringBuilder();
        WriteCanonical(sb, n);
        return sb.ToString();
    }

    private static void WriteCanonical(StringBuilder sb, JsonNode? n)
    {
        switch (n)
        {
            case null: sb.Append("null"); return;
            case JsonObject o:
                sb.Append('{');
                var first = true;
                foreach (var (k, v) in o.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    if (!first) sb.Append(',');
                    first = false;
                    WriteString(sb, k, ensureAscii: false);
                    sb.Append(':');
                    WriteCanonical(sb, v);
                }
                sb.Append('}');
                return;
            case JsonArray a:
                sb.Append('[');
                for (var i = 0; i < a.Count; i++)
                {
                    if (i > 0) sb.Append(',');
                    WriteCanonical(sb, a[i]);
                }
                sb.Append(']');
                return;
            case JsonValue v:
                WriteScalar(sb, v, canonicalNumbers: true);
                return;
        }
    }

    /// <summary>A string, true/false/null or number; numbers as <c>json.dumps</c> prints them, or in the canonical form.</summary>
    private static void WriteScalar(StringBuilder sb, JsonValue v, bool canonicalNumbers)
    {
        switch (v.GetValueKind())
        {
            case JsonValueKind.String: WriteString(sb, v.GetValue<string>(), ensureAscii: false); return;
            case JsonValueKind.True: sb.Append("true"); return;
            case JsonValueKind.False: sb.Append("false"); return;
            case JsonValueKind.Null: sb.Append("null"); return;
        }
        var py = PythonNumber(v);
        sb.Append(!canonicalNumbers || py is "NaN" or "Infinity" or "-Infinity" ? py : NumberText(py));
    }

    /// <summary>
    /// The number as Python holds it after <c>json.loads</c> and prints it with <c>json.dumps</c>: an integer literal is an
    /// exact <c>int</c>; a literal with a fraction or exponent is a <c>float</c> (<c>repr</c>: shortest round-trip digits,
    /// <c>2.50</c> → <c>2.5</c>, <c>-3e2</c> → <c>-300.0</c>, <c>1e16</c> → <c>1e+16</c>; overflow → <c>Infinity</c>).
    /// </summary>
    internal static string PythonNumber(JsonValue v)
    {
        string raw;
        if (v.TryGetValue(out JsonElement e)) raw = e.GetRawText();
        else if (v.TryGetValue(out double d0)) return FloatText(d0);
        else if (v.TryGetValue(out float f0)) return FloatText(f0);
        else raw = v.ToJsonString(); // an integer or decimal built in code: its JSON text is its value
        if (raw.AsSpan().IndexOfAny(".eE") < 0) return BigInteger.Parse(raw, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture);
        return FloatText(double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture));
    }

    private static string FloatText(double d) =>
        double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : FloatRepr(d);

    /// <summary>Python's <c>repr(float)</c>: shortest round-trip digits, fixed notation for exponents -4..15, else <c>d.ddde+XX</c>.</summary>
    public static string FloatRepr(double d)
    {
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        var r = d.ToString("R", CultureInfo.InvariantCulture);
        var neg = r.StartsWith('-');
        if (neg) r = r[1..];
        var exp = 0;
        var ePos = r.IndexOf('E');
        if (ePos >= 0)
        {
            exp = int.Parse(r[(ePos + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            r = r[..ePos];
        }
        var dot = r.IndexOf('.');
        var intLen = dot >= 0 ? dot : r.Length;
        var digits = r.Replace(".", "");
        var lead = digits.Length - digits.TrimStart('0').Length;
        digits = digits.TrimStart('0').TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        var decpt = intLen - lead + exp; // value = 0.DIGITS × 10^decpt
        var x = decpt - 1;
        string body;
        if (x >= -4 && x < 16)
        {
            if (decpt <= 0) body = "0." + new string('0', -decpt) + digits;
            else if (decpt >= digits.Length) body = digits + new string('0', decpt - digits.Length) + ".0";
            else body = digits[..decpt] + "." + digits[decpt..];
        }
        else
        {
            body = digits[..1] + (digits.Length > 1 ? "." + digits[1..] : "") + "e" + (x < 0 ? "-" : "+") + Math.Abs(x).ToString("00", CultureInfo.InvariantCulture);
        }
        return (neg ? "-" : "") + body;
    }

    /// <summary>A number's canonical text: exact for integers and decimals (BigInteger mantissa, trimmed exponent).</summary>
    internal static string NumberText(string raw)
    {
        // Split into sign, digits, exponent; produce mantissa without trailing zeros and an exponent: "m e x".
        var s = raw.Trim();
        var neg = s.StartsWith('-');
        if (neg) s = s[1..];
        var ePos = s.IndexOfAny(['e', 'E']);
        var exp = 0;
        if (ePos >= 0)
        {
            if (!int.TryParse(s[(ePos + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exp))
                return (neg ? "-" : "") + s; // absurd exponent: keep as is
            s = s[..ePos];
        }
        var dot = s.IndexOf('.');
        if (dot >= 0)
        {
            exp -= s.Length - dot - 1;
            s = s.Remove(dot, 1);
        }
        s = s.TrimStart('0');
        if (s.Length == 0) return "0";
        var trailing = s.Length - s.TrimEnd('0').Length;
        s = s.TrimEnd('0');
        exp += trailing;
        var mantissa = BigInteger.Parse(s, CultureInfo.InvariantCulture);
        return (neg ? "-" : "") + mantissa.ToString(CultureInfo.InvariantCulture) + (exp == 0 ? "" : "e" + exp.ToString(CultureInfo.InvariantCulture));
    }


    /// <summary>
    /// Python <c>json.dumps(value, ensure_ascii=False)</c> with the default separators (<c>", "</c>, <c>": "</c>),
    /// as vLLM writes a call's <c>arguments</c>.
    /// </summary>
    public static string Dumps(JsonNode? n)
    {
        var sb = new StringBuilder();
        Dump(sb, n);
        return sb.ToString();
    }

    private static void Dump(StringBuilder sb, JsonNode? n)
    {
        switch (n)
        {
            case null: sb.Append("null"); return;
            case JsonObject o:
                sb.Append('{');
                var first = true;
                foreach (var (k, v) in o)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    WriteString(sb, k, ensureAscii: false);
                    sb.Append(": ");
                    Dump(sb, v);
                }
                sb.Append('}');
                return;
            case JsonArray a:
                sb.Append('[');
                for (var i = 0; i < a.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    Dump(sb, a[i]);
                }
                sb.Append(']');
                return;
            case JsonValue v:
                WriteScalar(sb, v, canonicalNumbers: false);
                return;
        }
    }

    /// <summary>A json.dumps string literal: <c>ensure_ascii</c> escapes everything past 0x7e as <c>\uXXXX</c> (UTF-16 units).</summary>
    public static void WriteString(StringBuilder sb, string s, bool ensureAscii)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ensureAscii && c > 0x7e))
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
