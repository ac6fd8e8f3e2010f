using System.Numerics;
using System.Text;

namespace ToolTune.Text.Templates;

/// <summary>Attribute/item access with Jinja2 sandbox semantics.</summary>
internal static class Access
{
    private static readonly HashSet<string> DictMethods = ["copy", "get", "items", "keys", "values", "fromkeys"];
    private static readonly HashSet<string> DictUnsafe = ["clear", "pop", "popitem", "setdefault", "update"];
    // jinja2.sandbox._mutable_spec: list.pop and list.clear are NOT in the forbidden set of ImmutableSandboxedEnvironment.
    private static readonly HashSet<string> ListMethods = ["copy", "count", "index", "pop", "clear"];
    private static readonly HashSet<string> ListUnsafe = ["append", "extend", "insert", "remove", "reverse", "sort"];

    public static bool IsDictMethod(string name) => DictMethods.Contains(name) || DictUnsafe.Contains(name);
    internal static readonly HashSet<string> StrMethods = [
        "capitalize", "casefold", "center", "count", "endswith", "find", "format", "index", "isalnum", "isalpha", "isascii",
        "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip",
        "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip",
        "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper", "zfill", "expandtabs"];

    private static Undefined Missing(object? obj, string name) =>
        new(name, $"'{Py.TypeName(obj)} object' has no attribute '{name}'");

    private static Undefined UnsafeAttr(object? obj, string name) =>
        new(name, $"access to attribute '{name}' of '{Py.TypeName(obj)}' object is unsafe.", unsafeAccess: true);

    public static object? GetAttr(object? obj, string name)
    {
        if (obj is Undefined u) throw u.Fail();
        // Dunder attributes exist on every Python object and are unsafe in the sandbox; other names fall back to keys.
        if (name.Length > 4 && name.StartsWith("__", StringComparison.Ordinal) && name.EndsWith("__", StringComparison.Ordinal)) return UnsafeAttr(obj, name);
        switch (obj)
        {
            case PyDict d:
                if (DictMethods.Contains(name)) return new BoundMethod(d, name, "dict");
                if (DictUnsafe.Contains(name)) return UnsafeAttr(obj, name);
                return d.TryGetValue(name, out var v) ? v : Missing(obj, name);
            case Namespace ns:
                return ns.Attrs.TryGetValue(name, out var nv) ? nv : Missing(obj, name);
            case LoopContext lc:
                return lc.Get(name);
            case string s:
                return StrMethods.Contains(name) ? new BoundMethod(s, name, "str") : Missing(obj, name);
            case List<object?> l:
                if (ListMethods.Contains(name)) return new BoundMethod(l, name, "list");
                if (ListUnsafe.Contains(name)) return UnsafeAttr(obj, name);
                return Missing(obj, name);
            case PyTuple t:
                if (t.FieldNames is not null) { int fi = Array.IndexOf(t.FieldNames, name); if (fi >= 0) return t.Items[fi]; }
                return name is "count" or "index" ? new BoundMethod(t, name, "tuple") : Missing(obj, name);
            case CyclerValue cy:
                return name switch
                {
                    "current" => cy.Items[cy.Pos],
                    "next" => new BuiltinFunction("next", (r, a, k) => { var v = cy.Items[cy.Pos]; cy.Pos = (cy.Pos + 1) % cy.Items.Count; return v; }),
                    "reset" => new BuiltinFunction("reset", (r, a, k) => { cy.Pos = 0; return null; }),
                    _ => Missing(obj, name),
                };
            case RangeValue rg:
                return name switch { "start" => Py.Int(rg.Start), "stop" => Py.Int(rg.Stop), "step" => Py.Int(rg.Step), _ => Missing(obj, name) };
            case Macro m:
                return name switch
                {
                    "name" => m.Name,
                    "arguments" => new PyTuple([.. m.Def.Params]),
                    _ => Missing(obj, name),
                };
            case double d2 when name is "real": return d2;
            case double when name is "imag": return 0.0;
            case long l2 when name is "real" or "numerator": return l2;
            default:
                return Missing(obj, name);
        }
    }

    public static object? GetItem(object? obj, object? key)
    {
        if (obj is Undefined u) throw u.Fail();
        switch (obj)
        {
            case PyDict d:
                if (key is List<object?> or PyDict) return GetAttrFallback(obj, key);
                if (d.TryGetValue(PyDict.Key(key), out var v)) return v;
                return GetAttrFallback(obj, key);
            case List<object?> l:
                if (Py.IsInt(key)) { var i = Index(Py.ToLongSaturating(key!), l.Count); return i < 0 ? Missing(obj, Py.Str(key)) : l[i]; }
                return GetAttrFallback(obj, key);
            case PyTuple t:
                if (Py.IsInt(key)) { var i = Index(Py.ToLongSaturating(key!), t.Items.Length); return i < 0 ? Missing(obj, Py.Str(key)) : t.Items[i]; }
                return GetAttrFallback(obj, key);
            case RangeValue rg:
                if (Py.IsInt(key)) { var i = Index(Py.ToLongSaturating(key!), (int)Math.Min(int.MaxValue, rg.Count)); return i < 0 ? Missing(obj, Py.Str(key)) : Py.Int(rg.Start + i * rg.Step); }
                return GetAttrFallback(obj, key);
            case string s:
                if (Py.IsInt(key))
                {
                    if (!Py.HasSurrogates(s)) { var i = Index(Py.ToLongSaturating(key!), s.Length); return i < 0 ? Missing(obj, Py.Str(key)) : s[i].ToString(); }
                    var cps = Py.CodePoints(s);
                    var j = Index(Py.ToLongSaturating(key!), cps.Count);
                    return j < 0 ? Missing(obj, Py.Str(key)) : cps[j];
                }
                return GetAttrFallback(obj, key);
            default:
                return GetAttrFallback(obj, key);
        }
    }

    private static object? GetAttrFallback(object? obj, object? key) =>
        key is string s ? GetAttr(obj, s) : new Undefined(Py.Str(key), $"'{Py.TypeName(obj)} object' has no attribute '{Py.Str(key)}'");

    private static int Index(long i, int count)
    {
        if (i < 0) i += count;
        return i < 0 || i >= count ? -1 : (int)i;
    }

    public static object? Slice(object? obj, object? start, object? stop, object? step)
    {
        if (obj is Undefined u) throw u.Fail();
        static long? ToIdx(object? v)
        {
            if (v is null) return null;
            if (v is long l) return l;
            if (v is bool b) return b ? 1 : 0;
            if (v is BigInteger bi) return bi > long.MaxValue ? long.MaxValue : bi < long.MinValue ? long.MinValue : (long)bi;
            throw new PyError("slice indices must be integers or None or have an __index__ method");
        }
        long st = ToIdx(step) ?? 1;
        if (st == 0) throw new PyError("slice step cannot be zero");
        switch (obj)
        {
            case List<object?> l: return Take(l, l.Count, ToIdx(start), ToIdx(stop), st);
            case RangeValue rg: { var items = rg.ToList(); return Take(items, items.Count, ToIdx(start), ToIdx(stop), st); }
            case PyTuple t: return new PyTuple([.. Take(t.Items, t.Items.Length, ToIdx(start), ToIdx(stop), st)]);
            case string s:
                if (!Py.HasSurrogates(s))
                {
                    if (st == 1)
                    {
                        var (a, b) = Bounds(s.Length, ToIdx(start), ToIdx(stop), 1);
                        return b > a ? s.Substring((int)a, (int)(b - a)) : "";
                    }
                    var chars = s.Select(c => (object?)c.ToString()).ToList();
                    return string.Concat(Take(chars, chars.Count, ToIdx(start), ToIdx(stop), st).Cast<string>());
                }
                var cps = Py.CodePoints(s).Cast<object?>().ToList();
                return string.Concat(Take(cps, cps.Count, ToIdx(start), ToIdx(stop), st).Cast<string>());
            case PyDict:
                throw new PyError("unhashable type: 'slice'");
            default:
                throw new PyError($"'{Py.TypeName(obj)}' object is not subscriptable");
        }
    }

    private static (long, long) Bounds(int len, long? start, long? stop, long step)
    {
        long a, b;
        if (step > 0)
        {
            a = start is null ? 0 : start < 0 ? Math.Max(0, start.Value + len) : Math.Min(start.Value, len);
            b = stop is null ? len : stop < 0 ? Math.Max(0, stop.Value + len) : Math.Min(stop.Value, len);
        }
        else
        {
            a = start is null ? len - 1 : start < 0 ? Math.Max(-1, start.Value + len) : Math.Min(start.Value, len - 1);
            b = stop is null ? -1 : stop < 0 ? Math.Max(-1, stop.Value + len) : Math.Min(stop.Value, len - 1);
        }
        return (a, b);
    }

    private static List<object?> Take(IList<object?> items, int len, long? start, long? stop, long step)
    {
        var (a, b) = Bounds(len, start, stop, step);
        var res = new List<object?>();
        if (step > 0) for (long i = a; i < b; i += step) res.Add(items[(int)i]);
        else for (long i = a; i > b; i += step) res.Add(items[(int)i]);
        return res;
    }
}

/// <summary>Python operators.</summary>
internal static class Ops
{
    private static object Norm(BigInteger b) => b >= long.MinValue && b <= long.MaxValue ? Py.Int((long)b) : b;

    private static PyError Unsupported(string op, object? a, object? b) =>
        new($"unsupported operand type(s) for {op}: '{Py.TypeName(a)}' and '{Py.TypeName(b)}'");

    public static object? Binary(Renderer r, string op, object? a, object? b)
    {
        if (op == "%" && a is string fmt0) return Markup.Is(fmt0) ? Markup.Make(Format.Percent(fmt0, b, escape: true)) : Format.Percent(fmt0, b);
        if (a is Undefined ua) throw ua.Fail();
        if (b is Undefined ub) throw ub.Fail();
        bool ints = Py.IsInt(a) && Py.IsInt(b);
        bool nums = Py.IsNumber(a) && Py.IsNumber(b);
        switch (op)
        {
            case "+":
                if (ints) return AddInt(a!, b!);
                if (nums) return Py.ToDouble(a) + Py.ToDouble(b);
                if (a is string sa && b is string sb)
                {
                    r.CheckString((long)sa.Length + sb.Length);
                    if (Markup.Is(sa) || Markup.Is(sb)) return Markup.Make(Markup.Escape(sa) + Markup.Escape(sb));
                    return sa + sb;
                }
                if (a is List<object?> la && b is List<object?> lb) { var l = new List<object?>(la.Count + lb.Count); l.AddRange(la); l.AddRange(lb); return l; }
                if (a is PyTuple ta && b is PyTuple tb) return new PyTuple([.. ta.Items, .. tb.Items]);
                if (a is string) throw new PyError($"can only concatenate str (not \"{Py.TypeName(b)}\") to str");
                if (a is List<object?>) throw new PyError($"can only concatenate list (not \"{Py.TypeName(b)}\") to list");
                throw Unsupported("+", a, b);
            case "-":
                if (ints) { var x = Py.ToBig(a!) - Py.ToBig(b!); return Norm(x); }
                if (nums) return Py.ToDouble(a) - Py.ToDouble(b);
                throw Unsupported("-", a, b);
            case "*":
                if (ints) return Norm(Py.ToBig(a!) * Py.ToBig(b!));
                if (nums) return Py.ToDouble(a) * Py.ToDouble(b);
                if (a is string s1 && Py.IsInt(b)) return Repeat(r, s1, Py.ToLongSaturating(b!));
                if (b is string s2 && Py.IsInt(a)) return Repeat(r, s2, Py.ToLongSaturating(a!));
                if (a is List<object?> l1 && Py.IsInt(b)) return RepeatList(r, l1, Py.ToLongSaturating(b!));
                if (b is List<object?> l2 && Py.IsInt(a)) return RepeatList(r, l2, Py.ToLongSaturating(a!));
                throw new PyError($"can't multiply sequence by non-int of type '{Py.TypeName(b)}'");
            case "/":
                if (nums)
                {
                    var d = Py.ToDouble(b);
                    if (d == 0) throw new PyError(ints ? "division by zero" : "float division by zero");
                    return Py.ToDouble(a) / d;
                }
                throw Unsupported("/", a, b);
            case "//":
                if (ints)
                {
                    var bb = Py.ToBig(b!);
                    if (bb.IsZero) throw new PyError("integer division or modulo by zero");
                    var q = BigInteger.DivRem(Py.ToBig(a!), bb, out var rem);
                    if (!rem.IsZero && (rem.Sign < 0) != (bb.Sign < 0)) q -= 1;
                    return Norm(q);
                }
                if (nums)
                {
                    var d = Py.ToDouble(b);
                    if (d == 0) throw new PyError("float floor division by zero");
                    return Math.Floor(Py.ToDouble(a) / d);
                }
                throw Unsupported("//", a, b);
            case "%":
                if (a is string fmt) return Format.Percent(fmt, b);
                if (ints)
                {
                    var bb = Py.ToBig(b!);
                    if (bb.IsZero) throw new PyError("integer division or modulo by zero");
                    var m = BigInteger.Remainder(Py.ToBig(a!), bb);
                    if (!m.IsZero && (m.Sign < 0) != (bb.Sign < 0)) m += bb;
                    return Norm(m);
                }
                if (nums)
                {
                    double x = Py.ToDouble(a), y = Py.ToDouble(b);
                    if (y == 0) throw new PyError("float modulo");
                    var m = x % y;
                    if (m != 0 && (m < 0) != (y < 0)) m += y;
                    else if (m == 0) m = Math.CopySign(0.0, y);
                    return m;
                }
                throw Unsupported("%", a, b);
            case "**":
                if (ints)
                {
                    var bb = Py.ToBig(b!);
                    if (bb.Sign < 0) return Math.Pow(Py.ToDouble(a), Py.ToDouble(b));
                    if (bb > 100000) throw new LimitError("exponent too large");
                    var res = BigInteger.Pow(Py.ToBig(a!), (int)bb);
                    if (res.GetByteCount() > 100000) throw new LimitError("integer result too large");
                    return Norm(res);
                }
                if (nums) return Math.Pow(Py.ToDouble(a), Py.ToDouble(b));
                throw Unsupported("** or pow()", a, b);
        }
        throw new PyError($"unknown operator {op}");
    }

    private static object AddInt(object a, object b)
    {
        if (a is long x && b is long y)
        {
            long s = unchecked(x + y);
            if (((x ^ s) & (y ^ s)) >= 0) return Py.Int(s);
        }
        return Norm(Py.ToBig(a) + Py.ToBig(b));
    }

    private static string Repeat(Renderer r, string s, long n)
    {
        if (n <= 0 || s.Length == 0) return "";
        r.CheckRepeat(s.Length, n);
        var sb = new StringBuilder((int)(s.Length * n));
        for (long i = 0; i < n; i++) sb.Append(s);
        return sb.ToString();
    }

    private static List<object?> RepeatList(Renderer r, List<object?> l, long n)
    {
        var res = new List<object?>();
        if (n <= 0) return res;
        r.CheckRepeat(l.Count, n);
        for (long i = 0; i < n; i++) res.AddRange(l);
        return res;
    }

    public static object? Unary(bool negate, object? v)
    {
        if (v is Undefined u) throw u.Fail();
        if (!negate)
        {
            if (v is bool b) return Py.Int(b ? 1 : 0);
            if (Py.IsNumber(v)) return v;
            throw new PyError($"bad operand type for unary +: '{Py.TypeName(v)}'");
        }
        return v switch
        {
            long l => l == long.MinValue ? -(BigInteger)l : Py.Int(-l),
            bool b => Py.Int(b ? -1 : 0),
            double d => -d,
            BigInteger bi => Norm(-bi),
            _ => throw new PyError($"bad operand type for unary -: '{Py.TypeName(v)}'"),
        };
    }

    public static bool Compare(string op, object? a, object? b) => op switch
    {
        "==" => Py.Eq(a, b),
        "!=" => !Py.Eq(a, b),
        "<" => Py.Compare(a, b, "<") < 0,
        ">" => Py.Compare(a, b, ">") > 0,
        "<=" => Py.Compare(a, b, "<=") <= 0,
        ">=" => Py.Compare(a, b, ">=") >= 0,
        "in" => Contains(b, a),
        "notin" => !Contains(b, a),
        _ => throw new PyError($"unknown comparison {op}"),
    };

    public static bool Contains(object? container, object? item)
    {
        switch (container)
        {
            case string s:
                if (item is string sub) return s.Contains(sub, StringComparison.Ordinal);
                if (item is Undefined u) throw u.Fail();
                throw new PyError($"'in <string>' requires string as left operand, not {Py.TypeName(item)}");
            case List<object?> l:
                foreach (var x in l) if (Py.Eq(x, item)) return true;
                return false;
            case PyTuple t:
                foreach (var x in t.Items) if (Py.Eq(x, item)) return true;
                return false;
            case PyView v:
                foreach (var x in v.Items) if (Py.Eq(x, item)) return true;
                return false;
            case RangeValue rg:
                foreach (var x in rg.ToList()) if (Py.Eq(x, item)) return true;
                return false;
            case PyDict d:
                if (item is List<object?> or PyDict) throw new PyError($"unhashable type: '{Py.TypeName(item)}'");
                return d.ContainsKey(PyDict.Key(item));
            case Undefined: return false;
            case Namespace: throw new PyError("argument of type 'Namespace' is not iterable");
            default: throw new PyError($"argument of type '{Py.TypeName(container)}' is not iterable");
        }
    }
}
