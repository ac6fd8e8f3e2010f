using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.RegularExpressions;

namespace ToolTune.Text.Templates;

/// <summary>Jinja filters (<c>x | tojson</c>, <c>x | map(attribute="a")</c>, …) by name, as jinja2 defines them.</summary>
internal static class Filters
{
    public delegate object? FilterFn(Renderer r, object? value, List<object?> args, List<KeyValuePair<string, object?>> kwargs);

    public static readonly Dictionary<string, FilterFn> Table = Build();

    private static Dictionary<string, FilterFn> Build()
    {
        var t = new Dictionary<string, FilterFn>
        {
            ["tojson"] = ToJson,
            ["string"] = (r, v, a, k) => Py.Str(v),
            ["safe"] = (r, v, a, k) => Markup.Is(v) ? v : Markup.Make(Py.Str(v)),
            ["trim"] = (r, v, a, k) => Markup.Keep(v, Py.Strip(Py.Str(v), new ArgBinder("trim", a, k, "chars").Str(0), true, true)),
            ["length"] = (r, v, a, k) => Py.Int(Len(v)),
            ["upper"] = (r, v, a, k) => Markup.Keep(v, Methods.Upper(Py.Str(v))),
            ["lower"] = (r, v, a, k) => Markup.Keep(v, Methods.Lower(Py.Str(v))),
            ["title"] = (r, v, a, k) => JinjaTitle(Py.Str(v)),
            ["capitalize"] = (r, v, a, k) => Markup.Keep(v, Capitalize(Py.Str(v))),
            ["replace"] = Replace,
            ["join"] = Join,
            ["first"] = (r, v, a, k) => { var l = Py.Iterate(v); return l.Count > 0 ? l[0] : new Undefined(null, "No first item, sequence was empty."); },
            ["last"] = (r, v, a, k) => { var l = Py.Iterate(v is PyDict ? v : v); return l.Count > 0 ? l[^1] : new Undefined(null, "No last item, sequence was empty."); },
            ["default"] = Default,
            ["items"] = (r, v, a, k) => v switch
            {
                Undefined => new List<object?>(),
                PyDict d => d.Select(kv => (object?)new PyTuple([PyDict.Unkey(kv.Key), kv.Value])).ToList(),
                _ => throw new PyError("Can only get item pairs from a mapping."),
            },
            ["list"] = (r, v, a, k) => new List<object?>(Py.Iterate(v)),
            ["map"] = Map,
            ["select"] = (r, v, a, k) => Select(r, v, a, k, true, false),
            ["reject"] = (r, v, a, k) => Select(r, v, a, k, false, false),
            ["selectattr"] = (r, v, a, k) => Select(r, v, a, k, true, true),
            ["rejectattr"] = (r, v, a, k) => Select(r, v, a, k, false, true),
            ["indent"] = Indent,
            ["int"] = ToInt,
            ["float"] = ToFloat,
            ["abs"] = (r, v, a, k) => v switch
            {
                long l => l == long.MinValue ? BigInteger.Abs(l) : Py.Int(Math.Abs(l)),
                bool b => Py.Int(b ? 1 : 0),
                double d => Math.Abs(d),
                BigInteger bi => BigInteger.Abs(bi),
                _ => throw new PyError($"bad operand type for abs(): '{Py.TypeName(v)}'"),
            },
            ["round"] = Round,
            ["unique"] = Unique,
            ["dictsort"] = DictSort,
            ["sort"] = Sort,
            ["reverse"] = (r, v, a, k) => v is string s ? string.Concat(Enumerable.Reverse(Py.CodePoints(s))) : Enumerable.Reverse(Py.Iterate(v)).ToList(),
            ["batch"] = Batch,
            ["wordcount"] = (r, v, a, k) => Py.Int(Regex.Matches(Py.Str(v), @"\w+").Count),
            ["count"] = (r, v, a, k) => Py.Int(Len(v)),
            ["escape"] = (r, v, a, k) => Markup.Escape(v),
            ["e"] = (r, v, a, k) => Markup.Escape(v),
            ["forceescape"] = (r, v, a, k) => Markup.Make(Escape(Py.Str(v))),
            ["center"] = (r, v, a, k) => Methods.Center(Py.Str(v), (int)new ArgBinder("center", a, k, "width").Int(0, 80), " "),
            ["format"] = (r, v, a, k) =>
            {
                if (a.Count > 0 && k.Count > 0) throw new PyError("can't handle positional and keyword arguments at the same time");
                if (k.Count > 0) { var d = new PyDict(); foreach (var kv in k) d[kv.Key] = kv.Value; return Ops.Binary(r, "%", Py.Str(v), d); }
                return Ops.Binary(r, "%", Py.Str(v), new PyTuple([.. a]));
            },
            ["sum"] = Sum,
            ["min"] = (r, v, a, k) => MinMax(v, a, k, -1),
            ["max"] = (r, v, a, k) => MinMax(v, a, k, 1),
            ["attr"] = (r, v, a, k) =>
            {
                var name = Py.Str(new ArgBinder("attr", a, k, "name").Get(0));
                // getattr only: dict keys are not attributes
                if (v is PyDict && !Access.IsDictMethod(name)) return new Undefined(name, $"'dict object' has no attribute '{name}'");
                return Access.GetAttr(v, name);
            },
            ["truncate"] = Truncate,
            ["striptags"] = (r, v, a, k) => Regex.Replace(Regex.Replace(Py.Str(v), "<!--.*?-->|<[^>]*>", "", RegexOptions.Singleline), @"\s+", " ").Trim(),
            ["pprint"] = (r, v, a, k) => Py.Repr(v),
            ["groupby"] = GroupBy,
            ["slice"] = SliceFilter,
            ["xmlattr"] = XmlAttr,
            ["urlencode"] = (r, v, a, k) => Uri.EscapeDataString(Py.Str(v)).Replace("%2F", "/"),
            ["filesizeformat"] = FileSizeFormat,
        };
        t["d"] = t["default"];
        // Jinja2 built-ins ToolTune does not implement: known names (so parsing succeeds like Jinja2), runtime TT1202 if used.
        foreach (var name in new[] { "urlize", "wordwrap", "random" })
            t[name] = (r, v, a, k) => throw new PyError($"The '{name}' filter is not supported by ToolTune's template engine.");
        return t;
    }

    public static long Len(object? v) => v switch
    {
        string s => Py.Len(s),
        List<object?> l => l.Count,
        PyTuple t => t.Items.Length,
        PyDict d => d.Count,
        PyView pv => pv.Items.Count,
        RangeValue rg => rg.Count,
        Undefined => 0,
        _ => throw new PyError($"object of type '{Py.TypeName(v)}' has no len()"),
    };

    private static object? ToJson(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var b = new ArgBinder("tojson", a, k, "ensure_ascii", "indent", "separators", "sort_keys");
        var o = new PyJson.Options { EnsureAscii = b.Bool(0, false), SortKeys = b.Bool(3, false) };
        var indent = b.Get(1);
        if (indent is not null)
        {
            if (indent is string si) o.Indent = si;
            else if (Py.IsInt(indent)) o.Indent = new string(' ', Py.ToPadding(indent, "tojson indent"));
            else throw new PyError("indent must be an int or a string");
            o.ItemSep = ",";
        }
        var sep = b.Get(2);
        if (sep is not null)
        {
            var parts = Py.Iterate(sep);
            if (parts.Count != 2) throw new PyError("separators must be a (item_separator, key_separator) pair");
            o.ItemSep = Py.Str(parts[0]); o.KeySep = Py.Str(parts[1]);
        }
        return PyJson.Dumps(v, o);
    }

    private static object? Replace(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var b = new ArgBinder("replace", a, k, "old", "new", "count");
        return Methods.ReplaceStr(r, Py.Str(v), Py.Str(b.Get(0)), Py.Str(b.Get(1)), b.Get(2) is null ? -1 : b.Int(2, -1));
    }

    private static object? Join(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var b = new ArgBinder("join", a, k, "d", "attribute");
        var sep = b.Str(0, "") ?? "";
        var items = Py.Iterate(v);
        var attr = b.Get(1);
        var sb = new StringBuilder();
        for (int i = 0; i < items.Count; i++)
        {
            if (i > 0) sb.Append(sep);
            sb.Append(Py.Str(attr is null ? items[i] : AttrGetter(items[i], attr)));
            r.CheckString(sb.Length);
        }
        return sb.ToString();
    }

    /// <summary>jinja2 make_attrgetter: dotted path, integer parts are indexes.</summary>
    public static object? AttrGetter(object? item, object? attr)
    {
        if (attr is not string s) return Access.GetItem(item, attr);
        foreach (var part in s.Split('.'))
        {
            object key = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? Py.Int(n) : part;
            item = Access.GetItem(item, key);
        }
        return item;
    }

    private static object? Default(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var b = new ArgBinder("default", a, k, "default_value", "boolean");
        var dv = b.Get(0, "");
        if (v is Undefined || (b.Bool(1, false) && !Py.Truthy(v))) return dv;
        return v;
    }

    private static object? Map(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var items = Py.Truthy(v) ? Py.Iterate(v) : [];
        var attrKw = k.FirstOrDefault(x => x.Key == "attribute");
        if (attrKw.Key is not null)
        {
            var dflt = k.FirstOrDefault(x => x.Key == "default");
            return items.Select(it =>
            {
                var res = AttrGetter(it, attrKw.Value);
                return res is Undefined && dflt.Key is not null ? dflt.Value : res;
            }).ToList();
        }
        if (a.Count == 0) throw new PyError("map requires a filter argument");
        var name = Py.Str(a[0]);
        if (!Table.TryGetValue(name, out var fn)) throw new PyError($"No filter named '{name}'.");
        var rest = a.Skip(1).ToList();
        return items.Select(it => fn(r, it, rest, k)).ToList();
    }

    private static object? Select(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k, bool want, bool attr)
    {
        var items = Py.Truthy(v) ? Py.Iterate(v) : [];
        int off = 0;
        object? attrName = null;
        if (attr)
        {
            if (a.Count == 0) throw new PyError("selectattr/rejectattr require an attribute name");
            attrName = a[0]; off = 1;
        }
        Tests.TestFn? test = null;
        List<object?> targs = [];
        if (a.Count > off)
        {
            var name = Py.Str(a[off]);
            if (!Tests.Table.TryGetValue(name, out test)) throw new PyError($"No test named '{name}'.");
            targs = a.Skip(off + 1).ToList();
        }
        var res = new List<object?>();
        foreach (var it in items)
        {
            var x = attr ? AttrGetter(it, attrName) : it;
            bool ok = test is null ? Py.Truthy(x) : test(r, x, targs, k);
            if (ok == want) res.Add(it);
        }
        return res;
    }

    private static object? Indent(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var b = new ArgBinder("indent", a, k, "width", "first", "blank");
        if (v is Undefined u) throw u.Fail();
        if (v is not string) throw new PyError($"unsupported operand type(s) for +=: '{Py.TypeName(v)}' and 'str'");
        var w = b.Get(0, Py.Int(4));
        string ind = w is string ws ? ws : new string(' ', Py.ToPadding(w!, "indent width"));
        var s = Py.Str(v) + "\n";
        var lines = Methods.SplitLines(s, false);
        string rv;
        if (b.Bool(2, false)) rv = string.Join("\n" + ind, lines);
        else
        {
            rv = lines.Count > 0 ? lines[0] : "";
            if (lines.Count > 1) rv += "\n" + string.Join("\n", lines.Skip(1).Select(l => l.Length > 0 ? ind + l : l));
        }
        if (b.Bool(1, false)) rv = ind + rv;
        return rv;
    }

    private static object? ToInt(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var b = new ArgBinder("int", a, k, "default", "base");
        var dflt = b.Get(0, Py.Int(0));
        int bas = (int)b.Int(1, 10);
        if (v is Undefined u) throw u.Fail();
        switch (v)
        {
            case bool bo: return Py.Int(bo ? 1 : 0);
            case long or BigInteger: return v;
            case double d: return !double.IsFinite(d) ? dflt : Math.Abs(d) < 9.2e18 ? Py.Int((long)Math.Truncate(d)) : new BigInteger(Math.Truncate(d));
            case string s:
                {
                    var t = Py.Strip(s, null, true, true).Replace("_", "");
                    try
                    {
                        if (bas == 10 && long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)) return Py.Int(l);
                        if (bas != 10)
                        {
                            var neg = t.StartsWith('-'); if (neg || t.StartsWith('+')) t = t[1..];
                            if (bas == 16 && t.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) t = t[2..];
                            if (bas == 8 && t.StartsWith("0o", StringComparison.OrdinalIgnoreCase)) t = t[2..];
                            if (bas == 2 && t.StartsWith("0b", StringComparison.OrdinalIgnoreCase)) t = t[2..];
                            long acc = 0;
                            if (t.Length == 0) return dflt;
                            foreach (var c in t) { int dgt = Convert.ToInt32(c.ToString(), 16); if (dgt >= bas) return dflt; acc = checked(acc * bas + dgt); }
                            return Py.Int(neg ? -acc : acc);
                        }
                        if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var dd) && double.IsFinite(dd)) return Py.Int((long)Math.Truncate(dd));
                    }
                    catch (FormatException) { }
                    catch (OverflowException) { }
                    return dflt;
                }
            default: return dflt;
        }
    }

    private static object? ToFloat(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var dflt = new ArgBinder("float", a, k, "default").Get(0, 0.0);
        if (v is Undefined u) throw u.Fail();
        switch (v)
        {
            case bool b: return b ? 1.0 : 0.0;
            case long or double or BigInteger: return Py.ToDouble(v);
            case string s:
                {
                    var t = Py.Strip(s, null, true, true).Replace("_", "");
                    var low = t.ToLowerInvariant().TrimStart('+', '-');
                    if (low is "inf" or "infinity") return t.StartsWith('-') ? double.NegativeInfinity : double.PositiveInfinity;
                    if (low == "nan") return double.NaN;
                    return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : dflt;
                }
            default: return dflt;
        }
    }

    private static object? Round(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var b = new ArgBinder("round", a, k, "precision", "method");
        int prec = (int)b.Int(0, 0);
        var method = b.Str(1, "common");
        if (method == "common")
        {
            if (Py.IsInt(v))
            {
                var iv = Py.ToBig(v!);
                if (prec >= 0) return Ops.Binary(r, "+", Py.Int(0), v is bool bo ? Py.Int(bo ? 1 : 0) : v);
                var unit = BigInteger.Pow(10, -prec);
                var q = BigInteger.DivRem(iv, unit, out var rem);
                if (rem.Sign < 0) { q -= 1; rem += unit; }
                var twice = rem * 2;
                if (twice > unit || (twice == unit && !q.IsEven)) q += 1;
                return Ops.Binary(r, "*", q > long.MaxValue || q < long.MinValue ? q : Py.Int((long)q), unit <= long.MaxValue ? Py.Int((long)unit) : unit);
            }
            var d = Py.ToDouble(v);
            if (prec > 15 || !double.IsFinite(d)) return d;
            if (prec < 0)
            {
                var scale = Math.Pow(10, -prec);
                return Math.Round(d / scale, MidpointRounding.ToEven) * scale;
            }
            return RoundExact(d, prec);
        }
        double x = Py.ToDouble(v), f = Math.Pow(10, prec);
        return method switch
        {
            "ceil" => Math.Ceiling(x * f) / f,
            "floor" => Math.Floor(x * f) / f,
            _ => throw new PyError("method must be common, ceil or floor"),
        };
    }

    /// <summary>Python round(x, n) for n ≥ 0: half-to-even on the exact binary value, then correctly rounded back.</summary>
    internal static double RoundExact(double d, int prec)
    {
        if (d == 0) return d;
        long bits = BitConverter.DoubleToInt64Bits(d);
        bool neg = bits < 0;
        int exp = (int)((bits >> 52) & 0x7FF);
        long frac = bits & 0xFFFFFFFFFFFFFL;
        BigInteger mant = exp == 0 ? frac : frac | (1L << 52);
        int e2 = (exp == 0 ? 1 : exp) - 1075;
        BigInteger num = mant * BigInteger.Pow(10, prec), den = BigInteger.One;
        if (e2 >= 0) num <<= e2; else den <<= -e2;
        var q = BigInteger.DivRem(num, den, out var rem);
        var twice = rem * 2;
        if (twice > den || (twice == den && !q.IsEven)) q += 1;
        var result = double.Parse($"{q}E-{prec}", System.Globalization.CultureInfo.InvariantCulture);
        return neg ? -result : result;
    }

    private static object? SortKey(object? x, bool caseSensitive) => !caseSensitive && x is string s ? Methods.Lower(s) : x;

    private static object? Unique(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var b = new ArgBinder("unique", a, k, "case_sensitive", "attribute");
        bool cs = b.Bool(0, false);
        var attr = b.Get(1);
        var seen = new List<object?>();
        var res = new List<object?>();
        foreach (var it in Py.Iterate(v))
        {
            var key = SortKey(attr is null ? it : AttrGetter(it, attr), cs);
            if (key is List<object?> or PyDict) throw new PyError($"unhashable type: '{Py.TypeName(key)}'");
            if (seen.Any(s => Py.Eq(s, key))) continue;
            seen.Add(key);
            res.Add(it);
        }
        return res;
    }

    private static List<object?> StableSort(List<object?> items, Func<object?, object?> key, bool reverse)
    {
        var keyed = items.Select((x, i) => (Key: key(x), Item: x, Index: i)).ToList();
        try
        {
            keyed.Sort((p, q) =>
            {
                int c = Py.Compare(p.Key, q.Key, "<");
                if (reverse) c = -c;
                return c != 0 ? c : p.Index.CompareTo(q.Index);
            });
        }
        catch (InvalidOperationException e) when (e.InnerException is PyError pe) { throw pe; }
        return keyed.Select(x => x.Item).ToList();
    }

    private static object? Sort(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var b = new ArgBinder("sort", a, k, "reverse", "case_sensitive", "attribute");
        bool cs = b.Bool(1, false);
        var attr = b.Get(2);
        return StableSort(Py.Iterate(v), x => SortKey(attr is null ? x : AttrGetter(x, attr), cs), b.Bool(0, false));
    }

    private static object? DictSort(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var b = new ArgBinder("dictsort", a, k, "case_sensitive", "by", "reverse");
        if (v is not PyDict d) throw new PyError("dictsort filter requires a mapping");
        bool cs = b.Bool(0, false);
        var by = b.Str(1, "key");
        int pos = by == "key" ? 0 : by == "value" ? 1 : throw new PyError("You can only sort by either \"key\" or \"value\"");
        var items = d.Select(kv => (object?)new PyTuple([PyDict.Unkey(kv.Key), kv.Value])).ToList();
        return StableSort(items, x => SortKey(((PyTuple)x!).Items[pos], cs), b.Bool(2, false));
    }

    private static object? Batch(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var b = new ArgBinder("batch", a, k, "linecount", "fill_with");
        long n = b.Int(0, 1);
        if (n <= 0) throw new PyError("batch size must be positive");
        var res = new List<object?>();
        List<object?>? cur = null;
        foreach (var it in Py.Iterate(v))
        {
            cur ??= [];
            cur.Add(it);
            if (cur.Count == n) { res.Add(cur); cur = null; }
        }
        if (cur is not null)
        {
            if (b.Has(1)) while (cur.Count < n) cur.Add(b.Get(1));
            res.Add(cur);
        }
        return res;
    }

    private static object? SliceFilter(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var b = new ArgBinder("slice", a, k, "slices", "fill_with");
        var seq = Py.Iterate(v);
        int slices = (int)b.Int(0, 1);
        int length = seq.Count, per = length / slices, extra = length % slices, offset = 0;
        var res = new List<object?>();
        for (int i = 0; i < slices; i++)
        {
            int start = offset + i * per;
            if (i < extra) offset++;
            int end = offset + (i + 1) * per;
            var tmp = seq.Skip(start).Take(end - start).ToList();
            if (b.Has(1) && i >= extra) tmp.Add(b.Get(1));
            res.Add(tmp);
        }
        return res;
    }

    private static object? GroupBy(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var b = new ArgBinder("groupby", a, k, "attribute", "default", "case_sensitive");
        var attr = b.Get(0);
        bool cs = b.Bool(2, false);
        var sorted = StableSort(Py.Iterate(v), x => SortKey(Getter(x), cs), false);
        object? Getter(object? x) { var g = AttrGetter(x, attr); return g is Undefined && b.Has(1) ? b.Get(1) : g; }
        var res = new List<object?>();
        foreach (var it in sorted)
        {
            var key = SortKey(Getter(it), cs);
            if (res.Count > 0 && Py.Eq(((PyTuple)res[^1]!).Items[0], key)) ((List<object?>)((PyTuple)res[^1]!).Items[1]!).Add(it);
            else res.Add(new PyTuple([key, new List<object?> { it }]) { TypeName = "_GroupTuple", FieldNames = ["grouper", "list"] });
        }
        return res;
    }

    private static object? XmlAttr(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        if (v is not PyDict d) throw new PyError("xmlattr requires a mapping");
        var parts = d.Where(kv => kv.Value is not null && kv.Value is not Undefined)
            .Select(kv => $"{Escape(Py.Str(PyDict.Unkey(kv.Key)))}=\"{Escape(Py.Str(kv.Value))}\"");
        var s = string.Join(" ", parts);
        return s.Length > 0 && new ArgBinder("xmlattr", a, k, "autospace").Bool(0, true) ? " " + s : s;
    }

    private static object? Sum(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var b = new ArgBinder("sum", a, k, "attribute", "start");
        object? acc = b.Get(1, Py.Int(0));
        if (acc is string) throw new PyError("sum() can't sum strings [use ''.join(seq) instead]");
        var attr = b.Get(0);
        foreach (var it in Py.Iterate(v)) acc = Ops.Binary(r, "+", acc, attr is null ? it : AttrGetter(it, attr));
        return acc;
    }

    private static object? MinMax(object? v, List<object?> a, List<KeyValuePair<string, object?>> k, int sign)
    {
        var b = new ArgBinder(sign < 0 ? "min" : "max", a, k, "case_sensitive", "attribute");
        var items = Py.Iterate(v);
        if (items.Count == 0) return new Undefined(null, $"No aggregated item, sequence was empty.");
        bool cs = b.Bool(0, false);
        var attr = b.Get(1);
        object? best = items[0];
        foreach (var it in items.Skip(1))
        {
            var ka = SortKey(attr is null ? it : AttrGetter(it, attr), cs);
            var kb = SortKey(attr is null ? best : AttrGetter(best, attr), cs);
            if (Py.Compare(ka, kb, "<") * sign > 0) best = it;
        }
        return best;
    }

    private static object? Truncate(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        var b = new ArgBinder("truncate", a, k, "length", "killwords", "end", "leeway");
        var s = Py.Str(v);
        long length = b.Int(0, 255), leeway = b.Int(3, 5);
        var end = b.Str(2, "...")!;
        if (s.Length <= length + leeway) return s;
        if (b.Bool(1, false)) return s[..(int)(length - end.Length)] + end;
        var result = s[..(int)(length - end.Length)];
        int sp = result.LastIndexOf(' ');
        if (sp >= 0) result = result[..sp];
        return result + end;
    }

    private static object? FileSizeFormat(Renderer r, object? v, List<object?> a, List<KeyValuePair<string, object?>> k)
    {
        bool binary = new ArgBinder("filesizeformat", a, k, "binary").Bool(0, false);
        double bytes = v is string s ? double.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : Py.ToDouble(v);
        double bas = binary ? 1024 : 1000;
        string[] prefixes = binary ? ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"] : ["kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
        if (bytes == 1) return "1 Byte";
        if (bytes < bas) return $"{(long)bytes} Bytes";
        double unit = 0;
        string prefix = "";
        for (int i = 0; i < prefixes.Length; i++)
        {
            unit = Math.Pow(bas, i + 2);
            prefix = prefixes[i];
            if (bytes < unit) break;
        }
        return Format.FormatFloat(bas * bytes / unit, 'f', 1, "") + " " + prefix;
    }

    public static string Escape(string s) =>
        s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&#34;").Replace("'", "&#39;");

    public static string JinjaTitle(string s)
    {
        // jinja2 do_title: split on runs of [-\s({\[<], capitalise each piece
        var parts = Regex.Split(s, @"([-\s({\[<]+)");
        var sb = new StringBuilder();
        foreach (var p in parts)
        {
            if (p.Length == 0) continue;
            int n = char.IsHighSurrogate(p[0]) && p.Length > 1 ? 2 : 1;
            sb.Append(Methods.Upper(p[..n])).Append(Methods.Lower(p[n..]));
        }
        return sb.ToString();
    }

    public static string Capitalize(string s) => Methods.Capitalize(s);
}
