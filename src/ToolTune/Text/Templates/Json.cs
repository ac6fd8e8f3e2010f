using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Python;

namespace ToolTune.Text.Templates;

/// <summary>json.dumps of template values and JSON → template value conversion (json.loads semantics); strings are
/// escaped by <see cref="PythonJson.WriteString"/>, the project's one json.dumps string escaper.</summary>
internal static class PyJson
{
    public static object? FromNode(JsonNode? node)
    {
        switch (node)
        {
            case null: return null;
            case JsonObject o:
                {
                    var d = new PyDict(o.Count);
                    foreach (var kv in o) d[kv.Key] = FromNode(kv.Value);
                    return d;
                }
            case JsonArray a:
                {
                    var l = new List<object?>(a.Count);
                    foreach (var x in a) l.Add(FromNode(x));
                    return l;
                }
            case JsonValue v:
                if (v.TryGetValue<JsonElement>(out var el)) return FromElement(el);
                if (v.TryGetValue<string>(out var s)) return s;
                if (v.TryGetValue<bool>(out var b)) return Py.Box(b);
                if (v.TryGetValue<int>(out var i)) return Py.Int(i);
                if (v.TryGetValue<long>(out var l2)) return Py.Int(l2);
                if (v.TryGetValue<double>(out var dd)) return dd;
                if (v.TryGetValue<float>(out var f)) return (double)f;
                if (v.TryGetValue<decimal>(out var m)) return (double)m;
                if (v.TryGetValue<char>(out var c)) return c.ToString();
                return FromElement(JsonSerializer.SerializeToElement(v));
            default: return null;
        }
    }

    public static object? FromElement(JsonElement el)
    {
        switch (el.ValueKind)
        {
            case JsonValueKind.Object:
                {
                    var d = new PyDict();
                    foreach (var p in el.EnumerateObject()) d[p.Name] = FromElement(p.Value);
                    return d;
                }
            case JsonValueKind.Array:
                {
                    var l = new List<object?>(el.GetArrayLength());
                    foreach (var x in el.EnumerateArray()) l.Add(FromElement(x));
                    return l;
                }
            case JsonValueKind.String: return el.GetString();
            case JsonValueKind.True: return Py.True;
            case JsonValueKind.False: return Py.False;
            case JsonValueKind.Null: return null;
            case JsonValueKind.Number:
                {
                    var raw = el.GetRawText();
                    if (raw.IndexOfAny(['.', 'e', 'E']) >= 0) return double.Parse(raw, CultureInfo.InvariantCulture);
                    if (long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)) return Py.Int(l);
                    return BigInteger.Parse(raw, CultureInfo.InvariantCulture);
                }
            default: return null;
        }
    }

    /// <summary>Python CLR-value conversion for the dictionary overloads.</summary>
    public static object? FromClr(object? v) => v switch
    {
        null => null,
        string s => s,
        bool b => Py.Box(b),
        int i => Py.Int(i),
        long l => Py.Int(l),
        short sh => Py.Int(sh),
        byte by => Py.Int(by),
        double d => d,
        float f => (double)f,
        decimal m => (double)m,
        BigInteger bi => bi,
        JsonNode n => FromNode(n),
        JsonElement e => FromElement(e),
        System.Collections.IDictionary dict => FromDict(dict),
        System.Collections.IEnumerable en => en.Cast<object?>().Select(FromClr).ToList(),
        _ => throw new ArgumentException($"Unsupported context value type {v.GetType()}"),
    };

    private static PyDict FromDict(System.Collections.IDictionary dict)
    {
        var d = new PyDict();
        foreach (System.Collections.DictionaryEntry e in dict) d[PyDict.Key(FromClr(e.Key))] = FromClr(e.Value);
        return d;
    }

    public sealed class Options
    {
        public bool EnsureAscii;
        public string? Indent;
        public string ItemSep = ", ";
        public string KeySep = ": ";
        public bool SortKeys;
    }

    public static string Dumps(object? v, Options o)
    {
        var sb = new StringBuilder();
        Write(sb, v, o, 0);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, object? v, Options o, int level)
    {
        if (level > 500) throw new LimitError("maximum recursion depth exceeded while encoding a JSON object");
        switch (v)
        {
            case null: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long or BigInteger: sb.Append(Py.Str(v)); break;
            case double d: sb.Append(FloatStr(d)); break;
            case string s: PythonJson.WriteString(sb, s, o.EnsureAscii); break;
            case List<object?> l: WriteArray(sb, l, o, level); break;
            case PyTuple t: WriteArray(sb, t.Items, o, level); break;
            case PyDict d:
                {
                    if (d.Count == 0) { sb.Append("{}"); break; }
                    IEnumerable<KeyValuePair<object, object?>> items = d;
                    if (o.SortKeys)
                    {
                        var list = d.ToList();
                        foreach (var kv in list)
                            if (kv.Key is not string) throw new PyError($"'<' not supported between instances of '{Py.TypeName(kv.Key)}' and 'str'");
                        list.Sort((x, y) => Py.CompareCodepoints((string)x.Key, (string)y.Key));
                        items = list;
                    }
                    sb.Append('{');
                    bool first = true;
                    foreach (var kv in items)
                    {
                        if (!first) sb.Append(o.Indent is null ? o.ItemSep : o.ItemSep);
                        if (o.Indent is not null) NewLine(sb, o, level + 1);
                        first = false;
                        var k = PyDict.Unkey(kv.Key);
                        string ks = k switch
                        {
                            string s => s,
                            bool b => b ? "true" : "false",
                            null => "null",
                            long or BigInteger => Py.Str(k),
                            double dd => FloatStr(dd),
                            _ => throw new PyError($"keys must be str, int, float, bool or None, not {Py.TypeName(k)}"),
                        };
                        PythonJson.WriteString(sb, ks, o.EnsureAscii);
                        sb.Append(o.KeySep);
                        Write(sb, kv.Value, o, level + 1);
                    }
                    if (o.Indent is not null) NewLine(sb, o, level);
                    sb.Append('}');
                    break;
                }
            case Undefined: throw new PyError("Object of type Undefined is not JSON serializable");
            default: throw new PyError($"Object of type {Py.TypeName(v)} is not JSON serializable");
        }
    }

    private static void NewLine(StringBuilder sb, Options o, int level)
    {
        sb.Append('\n');
        for (int i = 0; i < level; i++) sb.Append(o.Indent);
    }

    private static void WriteArray(StringBuilder sb, IList<object?> l, Options o, int level)
    {
        if (l.Count == 0) { sb.Append("[]"); return; }
        sb.Append('[');
        for (int i = 0; i < l.Count; i++)
        {
            if (i > 0) sb.Append(o.ItemSep);
            if (o.Indent is not null) NewLine(sb, o, level + 1);
            Write(sb, l[i], o, level + 1);
        }
        if (o.Indent is not null) NewLine(sb, o, level);
        sb.Append(']');
    }

    private static string FloatStr(double d)
    {
        if (double.IsNaN(d)) return "NaN";
        if (double.IsPositiveInfinity(d)) return "Infinity";
        if (double.IsNegativeInfinity(d)) return "-Infinity";
        return Py.FloatRepr(d);
    }
}
