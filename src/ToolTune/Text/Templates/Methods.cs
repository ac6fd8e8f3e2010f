using System.Globalization;
using System.Text;

namespace ToolTune.Text.Templates;

/// <summary>Python methods of str, dict, list and tuple values.</summary>
internal static class Methods
{
    public static object? Invoke(Renderer r, BoundMethod m, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        switch (m.Self)
        {
            case string s:
                {
                    var res = Str(r, s, m.Name, a, k);
                    // Markup's case methods return Markup
                    return res is string rs && m.Name is "upper" or "lower" or "title" or "capitalize" or "swapcase" ? Markup.Keep(s, (string)res!) : res;
                }
            case PyDict d: return Dict(d, m.Name, a, k);
            case List<object?> l: return Seq(l, m.Name, a, k);
            case PyTuple t:
                if (m.Name is not ("count" or "index")) break;
                return Seq([.. t.Items], m.Name, a, k);
        }
        throw new PyError($"unknown method {m.Name}");
    }

    private static object? Dict(PyDict d, string name, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        switch (name)
        {
            case "items": NoArgs(name, a, k); return new PyView("dict_items", d.Select(kv => (object?)new PyTuple([PyDict.Unkey(kv.Key), kv.Value])).ToList());
            case "keys": NoArgs(name, a, k); return new PyView("dict_keys", d.Keys.Select(PyDict.Unkey).ToList());
            case "values": NoArgs(name, a, k); return new PyView("dict_values", d.Values.ToList());
            case "get":
                {
                    if (k.Count > 0) throw new PyError("get() takes no keyword arguments");
                    if (a.Count is < 1 or > 2) throw new PyError($"get expected at most 2 arguments, got {a.Count}");
                    if (a[0] is List<object?> or PyDict) throw new PyError($"unhashable type: '{Py.TypeName(a[0])}'");
                    return d.TryGetValue(PyDict.Key(a[0]), out var v) ? v : a.Count > 1 ? a[1] : null;
                }
            case "copy":
                {
                    var c = new PyDict();
                    foreach (var kv in d) c[kv.Key] = kv.Value;
                    return c;
                }
        }
        throw new PyError($"'dict' object has no attribute '{name}'");
    }

    private static object? Seq(List<object?> l, string name, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        switch (name)
        {
            case "count": return Py.Int(l.Count(x => Py.Eq(x, a[0])));
            case "index":
                for (int i = 0; i < l.Count; i++) if (Py.Eq(l[i], a[0])) return Py.Int(i);
                throw new PyError($"{Py.Repr(a[0])} is not in list");
            case "copy": return new List<object?>(l);
            case "pop":
                {
                    if (l.Count == 0) throw new PyError("pop from empty list");
                    long i = a.Count > 0 ? Py.ToLongSaturating(a[0]!) : -1;
                    if (i < 0) i += l.Count;
                    if (i < 0 || i >= l.Count) throw new PyError("pop index out of range");
                    var v = l[(int)i];
                    l.RemoveAt((int)i);
                    return v;
                }
            case "clear": l.Clear(); return null;
        }
        throw new PyError($"'list' object has no attribute '{name}'");
    }

    private static void NoArgs(string name, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        if (a.Count > 0 || k.Count > 0) throw new PyError($"{name}() takes no arguments ({a.Count + k.Count} given)");
    }

    private static string StrArg(object? v, string method) => v is string s ? s :
        throw new PyError($"{method} arg must be None or str");

    private static readonly HashSet<string> KeywordStrMethods = ["split", "rsplit", "splitlines", "format", "expandtabs"];

    public static string Upper(string s)
    {
        var u = s.ToUpperInvariant();
        if (u.AsSpan().IndexOfAny("ßŉǰﬀﬁﬂﬃﬄﬅﬆ") < 0) return u;
        return u.Replace("ß", "SS").Replace("ŉ", "ʼN").Replace("ǰ", "J̌").Replace("ﬀ", "FF").Replace("ﬁ", "FI").Replace("ﬂ", "FL")
            .Replace("ﬃ", "FFI").Replace("ﬄ", "FFL").Replace("ﬅ", "ST").Replace("ﬆ", "ST");
    }

    public static string Lower(string s)
    {
        var l = s.ToLowerInvariant();
        return s.Contains('İ') ? s.Replace("İ", "i̇").ToLowerInvariant() : l;
    }

    /// <summary>Python's titlecase mapping of one code point (full mapping for the common special cases).</summary>
    public static string TitleChar(string c) => c switch
    {
        "ß" => "Ss",
        "Ǆ" or "ǅ" or "ǆ" => "ǅ",
        "Ǉ" or "ǈ" or "ǉ" => "ǈ",
        "Ǌ" or "ǋ" or "ǌ" => "ǋ",
        "Ǳ" or "ǲ" or "ǳ" => "ǲ",
        "ﬀ" => "Ff", "ﬁ" => "Fi", "ﬂ" => "Fl", "ﬃ" => "Ffi", "ﬄ" => "Ffl", "ﬅ" or "ﬆ" => "St",
        _ => Upper(c),
    };

    private static UnicodeCategory Category(string cp) => CharUnicodeInfo.GetUnicodeCategory(cp, 0);
    public static bool IsCased(string cp) => Category(cp) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;

    /// <summary>Python str.islower()/isupper(): at least one cased character, all cased ones lower (upper).</summary>
    public static bool IsLowerStr(string s, bool upper)
    {
        bool any = false;
        foreach (var cp in Py.CodePoints(s))
        {
            var cat = Category(cp);
            if (cat == UnicodeCategory.TitlecaseLetter) return false;
            if (cat == (upper ? UnicodeCategory.LowercaseLetter : UnicodeCategory.UppercaseLetter)) return false;
            if (cat == (upper ? UnicodeCategory.UppercaseLetter : UnicodeCategory.LowercaseLetter)) any = true;
        }
        return any;
    }

    /// <summary>Python str.capitalize(): first character titlecased, the rest lowercased.</summary>
    public static string Capitalize(string s)
    {
        if (s.Length == 0) return s;
        int n = char.IsHighSurrogate(s[0]) && s.Length > 1 ? 2 : 1;
        return TitleChar(s[..n]) + Lower(s[n..]);
    }

    private static object? Str(Renderer r, string s, string name, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        if (k.Count > 0 && !KeywordStrMethods.Contains(name)) throw new PyError($"str.{name}() takes no keyword arguments");
        switch (name)
        {
            case "strip" or "lstrip" or "rstrip":
                {
                    var b = new ArgBinder(name, a, k, "chars");
                    var chars = b.Get(0);
                    string? cs = chars is null ? null : StrArg(chars, name);
                    return Py.Strip(s, cs, name != "rstrip", name != "lstrip");
                }
            case "upper": return Upper(s);
            case "lower": return Lower(s);
            case "casefold": return Lower(s).Replace("ß", "ss");
            case "swapcase":
                return string.Concat(Py.CodePoints(s).Select(cp => Category(cp) switch
                {
                    UnicodeCategory.UppercaseLetter => Lower(cp),
                    UnicodeCategory.LowercaseLetter => Upper(cp),
                    _ => cp,
                }));
            case "title": return PyTitle(s);
            case "capitalize": return Capitalize(s);
            case "split" or "rsplit":
                {
                    var b = new ArgBinder(name, a, k, "sep", "maxsplit");
                    var sep = b.Get(0);
                    long max = b.Int(1, -1);
                    return name == "split" ? Split(s, sep is null ? null : StrArg(sep, name), max) : RSplit(s, sep is null ? null : StrArg(sep, name), max);
                }
            case "splitlines": return SplitLines(s, new ArgBinder(name, a, k, "keepends").Bool(0, false)).Cast<object?>().ToList();
            case "startswith" or "endswith":
                {
                    var b = new ArgBinder(name, a, k, "prefix", "start", "end");
                    var p = b.Get(0);
                    var sub = SubRange(s, b.Get(1), b.Get(2));
                    IEnumerable<object?> cands = p is PyTuple t ? t.Items : [p];
                    foreach (var c in cands)
                    {
                        if (c is not string cstr) throw new PyError($"{name} first arg must be str or a tuple of str, not {Py.TypeName(c)}");
                        if (name == "startswith" ? sub.StartsWith(cstr, StringComparison.Ordinal) : sub.EndsWith(cstr, StringComparison.Ordinal)) return Py.True;
                    }
                    return Py.False;
                }
            case "replace":
                {
                    var b = new ArgBinder(name, a, k, "old", "new", "count");
                    return ReplaceStr(r, s, StrArg(b.Get(0), name), StrArg(b.Get(1), name), b.Int(2, -1));
                }
            case "find" or "rfind" or "index" or "rindex" or "count":
                {
                    var b = new ArgBinder(name, a, k, "sub", "start", "end");
                    var sub = StrArg(b.Get(0), name);
                    // work on code points
                    var cps = Py.CodePoints(s);
                    var (st, en) = Range(cps.Count, b.Get(1), b.Get(2));
                    string hay = string.Concat(cps.Skip(st).Take(Math.Max(0, en - st)));
                    if (name == "count")
                    {
                        if (st > cps.Count) return Py.Int(0);
                        if (sub.Length == 0) return Py.Int(Py.Len(hay) + 1);
                        int n = 0, p = 0;
                        while ((p = hay.IndexOf(sub, p, StringComparison.Ordinal)) >= 0) { n++; p += sub.Length; }
                        return Py.Int(n);
                    }
                    int idx = st > cps.Count ? -1 : name is "find" or "index" ? hay.IndexOf(sub, StringComparison.Ordinal) : hay.LastIndexOf(sub, StringComparison.Ordinal);
                    if (idx < 0)
                    {
                        if (name is "index" or "rindex") throw new PyError("substring not found");
                        return Py.Int(-1);
                    }
                    return Py.Int(st + Py.Len(hay[..idx]));
                }
            case "join":
                {
                    var items = Py.Iterate(new ArgBinder(name, a, k, "iterable").Get(0));
                    var sb = new StringBuilder();
                    for (int i = 0; i < items.Count; i++)
                    {
                        if (items[i] is not string si) throw new PyError($"sequence item {i}: expected str instance, {Py.TypeName(items[i])} found");
                        if (i > 0) sb.Append(s);
                        sb.Append(si);
                        r.CheckString(sb.Length);
                    }
                    return sb.ToString();
                }
            case "format": return Format.StrFormat(s, a, k);
            case "center" or "ljust" or "rjust":
                {
                    var b = new ArgBinder(name, a, k, "width", "fillchar");
                    int w = (int)b.Int(0, 0);
                    r.CheckString(w);
                    var fill = b.Str(1, " ")!;
                    int len = Py.Len(s);
                    if (w <= len) return s;
                    return name switch
                    {
                        "center" => Center(s, w, fill),
                        "ljust" => s + string.Concat(Enumerable.Repeat(fill, w - len)),
                        _ => string.Concat(Enumerable.Repeat(fill, w - len)) + s,
                    };
                }
            case "zfill":
                {
                    int w = (int)new ArgBinder(name, a, k, "width").Int(0, 0);
                    int len = Py.Len(s);
                    if (w <= len) return s;
                    int signLen = s.Length > 0 && s[0] is '+' or '-' ? 1 : 0;
                    return s[..signLen] + new string('0', w - len) + s[signLen..];
                }
            case "partition" or "rpartition":
                {
                    var sep = StrArg(new ArgBinder(name, a, k, "sep").Get(0), name);
                    if (sep.Length == 0) throw new PyError("empty separator");
                    int i = name == "partition" ? s.IndexOf(sep, StringComparison.Ordinal) : s.LastIndexOf(sep, StringComparison.Ordinal);
                    if (i < 0) return name == "partition" ? new PyTuple([s, "", ""]) : new PyTuple(["", "", s]);
                    return new PyTuple([s[..i], sep, s[(i + sep.Length)..]]);
                }
            case "removeprefix": { var p = StrArg(new ArgBinder(name, a, k, "prefix").Get(0), name); return s.StartsWith(p, StringComparison.Ordinal) ? s[p.Length..] : s; }
            case "removesuffix": { var p = StrArg(new ArgBinder(name, a, k, "suffix").Get(0), name); return p.Length > 0 && s.EndsWith(p, StringComparison.Ordinal) ? s[..^p.Length] : s; }
            case "isdigit" or "isdecimal" or "isnumeric": return Py.Box(s.Length > 0 && s.All(char.IsDigit));
            case "isalpha": return Py.Box(s.Length > 0 && s.All(char.IsLetter));
            case "isalnum": return Py.Box(s.Length > 0 && s.All(char.IsLetterOrDigit));
            case "isspace": return Py.Box(s.Length > 0 && s.All(Py.IsPyWhite));
            case "isascii": return Py.Box(s.All(c => c < 128));
            case "islower": return Py.Box(IsLowerStr(s, false));
            case "isupper": return Py.Box(IsLowerStr(s, true));
            case "istitle": return Py.Box(s.Any(char.IsLetter) && PyTitle(s) == s);
            case "expandtabs":
                {
                    int size = (int)new ArgBinder(name, a, k, "tabsize").Int(0, 8);
                    var sb = new StringBuilder();
                    int col = 0;
                    foreach (var ch in s)
                    {
                        if (ch == '\t') { if (size > 0) { int n = size - col % size; sb.Append(' ', n); col += n; } }
                        else { sb.Append(ch); col = ch is '\n' or '\r' ? 0 : col + 1; }
                    }
                    return sb.ToString();
                }
        }
        throw new PyError($"'str' object has no attribute '{name}'");
    }

    private static (int, int) Range(int len, object? start, object? end)
    {
        long st = start is null ? 0 : Py.ToLongSaturating(start);
        long en = end is null ? len : Py.ToLongSaturating(end);
        if (st < 0) st = Math.Max(0, st + len);
        if (en < 0) en = Math.Max(0, en + len);
        en = Math.Min(en, len);
        return ((int)Math.Min(st, len + 1), (int)en);
    }

    private static string SubRange(string s, object? start, object? end)
    {
        if (start is null && end is null) return s;
        var cps = Py.CodePoints(s);
        var (st, en) = Range(cps.Count, start, end);
        return st > en ? "" : string.Concat(cps.Skip(st).Take(en - st));
    }

    public static string ReplaceStr(Renderer r, string s, string old, string nw, long count)
    {
        if (count == 0) return s;
        if (old.Length == 0)
        {
            var cps = Py.CodePoints(s);
            var sb0 = new StringBuilder();
            long n = 0;
            foreach (var c in cps) { if (count < 0 || n < count) { sb0.Append(nw); n++; } sb0.Append(c); }
            if (count < 0 || n < count) sb0.Append(nw);
            return sb0.ToString();
        }
        if (count < 0)
        {
            var res = s.Replace(old, nw, StringComparison.Ordinal);
            r.CheckString(res.Length);
            return res;
        }
        var sb = new StringBuilder();
        int pos = 0; long done = 0;
        while (done < count)
        {
            int i = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (i < 0) break;
            sb.Append(s, pos, i - pos).Append(nw);
            pos = i + old.Length; done++;
        }
        sb.Append(s, pos, s.Length - pos);
        return sb.ToString();
    }

    public static List<object?> Split(string s, string? sep, long max)
    {
        var res = new List<object?>();
        if (sep is null)
        {
            int i = 0, n = s.Length;
            while (true)
            {
                while (i < n && Py.IsPyWhite(s[i])) i++;
                if (i >= n) break;
                if (max >= 0 && res.Count >= max)
                {
                    res.Add(s[i..]); break;
                }
                int j = i; while (j < n && !Py.IsPyWhite(s[j])) j++;
                res.Add(s[i..j]); i = j;
            }
            return res;
        }
        if (sep.Length == 0) throw new PyError("empty separator");
        int pos = 0;
        while (max < 0 || res.Count < max)
        {
            int i = s.IndexOf(sep, pos, StringComparison.Ordinal);
            if (i < 0) break;
            res.Add(s[pos..i]); pos = i + sep.Length;
        }
        res.Add(s[pos..]);
        return res;
    }

    public static List<object?> RSplit(string s, string? sep, long max)
    {
        if (max < 0) return Split(s, sep, max);
        var res = new List<object?>();
        if (sep is null)
        {
            int j = s.Length;
            while (true)
            {
                while (j > 0 && Py.IsPyWhite(s[j - 1])) j--;
                if (j <= 0) break;
                if (res.Count >= max)
                {
                    res.Add(s[..j]); break;
                }
                int i = j; while (i > 0 && !Py.IsPyWhite(s[i - 1])) i--;
                res.Add(s[i..j]); j = i;
            }
            res.Reverse();
            return res;
        }
        if (sep.Length == 0) throw new PyError("empty separator");
        int end = s.Length;
        while (res.Count < max)
        {
            int i = end - sep.Length < 0 ? -1 : s.LastIndexOf(sep, end - 1, StringComparison.Ordinal);
            while (i >= 0 && i + sep.Length > end) i = i == 0 ? -1 : s.LastIndexOf(sep, i - 1, StringComparison.Ordinal);
            if (i < 0) break;
            res.Add(s[(i + sep.Length)..end]); end = i;
        }
        res.Add(s[..end]);
        res.Reverse();
        return res;
    }

    private static bool IsLineBreak(char c) => c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029';

    public static List<string> SplitLines(string s, bool keepEnds)
    {
        var res = new List<string>();
        int i = 0, start = 0;
        while (i < s.Length)
        {
            char c = s[i];
            if (IsLineBreak(c))
            {
                int eol = i;
                i++;
                if (c == '\r' && i < s.Length && s[i] == '\n') i++;
                res.Add(keepEnds ? s[start..i] : s[start..eol]);
                start = i;
            }
            else i++;
        }
        if (start < s.Length) res.Add(s[start..]);
        return res;
    }

    public static string Center(string s, int width, string fill)
    {
        int len = Py.Len(s);
        if (width <= len) return s;
        int marg = width - len;
        int left = marg / 2 + (marg & width & 1);
        return string.Concat(Enumerable.Repeat(fill, left)) + s + string.Concat(Enumerable.Repeat(fill, marg - left));
    }

    /// <summary>Python str.title().</summary>
    public static string PyTitle(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool prevCased = false;
        foreach (var cp in Py.CodePoints(s))
        {
            sb.Append(prevCased ? Lower(cp) : TitleChar(cp));
            prevCased = IsCased(cp);
        }
        return sb.ToString();
    }
}

/// <summary>Template globals (range, dict, namespace, raise_exception, strftime_now, cycler, joiner).</summary>
internal static class Globals
{
    public const long MaxRange = 100000;

    public static void Install(Scope s)
    {
        s.SetLocal("range", new BuiltinFunction("range", (r, a, k) =>
        {
            if (k.Count > 0) throw new PyError("range() takes no keyword arguments");
            long start = 0, stop, step = 1;
            long I(object? v) => Py.IsInt(v) ? Py.ToLongSaturating(v!) : throw new PyError($"'{Py.TypeName(v)}' object cannot be interpreted as an integer");
            switch (a.Count)
            {
                case 1: stop = I(a[0]); break;
                case 2: start = I(a[0]); stop = I(a[1]); break;
                case 3: start = I(a[0]); stop = I(a[1]); step = I(a[2]); break;
                default: throw new PyError($"range expected at most 3 arguments, got {a.Count}");
            }
            if (step == 0) throw new PyError("range() arg 3 must not be zero");
            var rv = new RangeValue(start, stop, step);
            if (rv.Count > MaxRange || rv.Count > r.Options.MaxLoopIterations)
                throw new LimitError($"Range too big. The sandbox blocks ranges larger than MAX_RANGE ({Math.Min(MaxRange, r.Options.MaxLoopIterations)}).");
            return rv;
        }));
        s.SetLocal("dict", new BuiltinFunction("dict", (r, a, k) =>
        {
            var d = new PyDict();
            if (a.Count > 1) throw new PyError($"dict expected at most 1 argument, got {a.Count}");
            if (a.Count == 1)
            {
                if (a[0] is PyDict src) foreach (var kv in src) d[kv.Key] = kv.Value;
                else foreach (var item in Py.Iterate(a[0])) { var p = Py.Iterate(item); if (p.Count != 2) throw new PyError("dictionary update sequence element has wrong length"); d[PyDict.Key(p[0])] = p[1]; }
            }
            foreach (var kv in k) d[kv.Key] = kv.Value;
            return d;
        }));
        s.SetLocal("namespace", new BuiltinFunction("namespace", (r, a, k) =>
        {
            var ns = new Namespace();
            foreach (var x in a)
            {
                if (x is PyDict src) foreach (var kv in src) ns.Attrs[kv.Key] = kv.Value;
                else throw new PyError("namespace() positional argument must be a mapping");
            }
            foreach (var kv in k) ns.Attrs[kv.Key] = kv.Value;
            return ns;
        }));
        s.SetLocal("raise_exception", new BuiltinFunction("raise_exception", (r, a, k) =>
            throw new RaisedError(a.Count > 0 ? Py.Str(a[0]) : "")));
        s.SetLocal("strftime_now", new BuiltinFunction("strftime_now", (r, a, k) =>
        {
            var b = new ArgBinder("strftime_now", a, k, "format");
            return Format.Strftime(r.Now, Py.Str(b.Get(0)));
        }));
        // jinja2.utils.Cycler raises on no items (an empty cycler has no current item to return).
        s.SetLocal("cycler", new BuiltinFunction("cycler", (r, a, k) => a.Count > 0 ? new CyclerValue(a) : throw new PyError("at least one item has to be provided")));
        s.SetLocal("joiner", new BuiltinFunction("joiner", (r, a, k) =>
        {
            var sep = new ArgBinder("joiner", a, k, "sep").Str(0, ", ")!;
            bool used = false;
            return new BuiltinFunction("joiner", (r2, a2, k2) => { if (!used) { used = true; return ""; } return sep; });
        }));
    }
}

internal sealed class CyclerValue(List<object?> items)
{
    public List<object?> Items = items;
    public int Pos;
}
