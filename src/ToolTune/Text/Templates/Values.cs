using System.Globalization;
using System.Numerics;
using System.Text;

namespace ToolTune.Text.Templates;

/// <summary>A Python-level error raised by a builtin; converted to a located TT1202 by the interpreter.</summary>
internal class PyError(string message) : Exception(message);

/// <summary>A limit (output size, recursion, loop iterations, range size) was exceeded: TT1204.</summary>
internal sealed class LimitError(string message) : PyError(message);

/// <summary>raise_exception(msg): TT1203.</summary>
internal sealed class RaisedError(string message) : PyError(message);

/// <summary>Jinja2's default Undefined.</summary>
internal sealed class Undefined
{
    public static readonly Undefined Instance = new(null, null);
    public Undefined(string? name, string? hint, bool unsafeAccess = false) { Name = name; Hint = hint; Unsafe = unsafeAccess; }
    public string? Name { get; }
    public string? Hint { get; }
    public bool Unsafe { get; }
    public string Message => Hint ?? (Name is null ? "value is undefined" : $"'{Name}' is undefined");
    public PyError Fail() => new(Message);
}

/// <summary>dict_items / dict_keys / dict_values: iterable, sized, not indexable.</summary>
internal sealed class PyView(string kind, List<object?> items)
{
    public string Kind { get; } = kind;
    public List<object?> Items { get; } = items;
}

internal sealed class PyTuple(object?[] items)
{
    public object?[] Items { get; } = items;
    /// <summary>Set for namedtuples (groupby's _GroupTuple): attribute names of the items.</summary>
    public string[]? FieldNames { get; init; }
    public string? TypeName { get; init; }
    public static readonly PyTuple Empty = new([]);
}

/// <summary>Python dict: insertion-ordered, keys compared with Python equality.</summary>
internal sealed class PyDict : OrderedDictionary<object, object?>
{
    public PyDict() : base(PyKeyComparer.Instance) { }
    public PyDict(int capacity) : base(capacity, PyKeyComparer.Instance) { }
    public static object Key(object? k) => k ?? NoneKey.Instance;
    public static object? Unkey(object k) => k is NoneKey ? null : k;
}

internal sealed class NoneKey { public static readonly NoneKey Instance = new(); }

internal sealed class PyKeyComparer : IEqualityComparer<object>
{
    public static readonly PyKeyComparer Instance = new();
    public new bool Equals(object? x, object? y) => Py.Eq(x is NoneKey ? null : x, y is NoneKey ? null : y);
    public int GetHashCode(object obj) => obj switch
    {
        string s => s.GetHashCode(),
        bool b => b ? 1 : 0,
        long l => l.GetHashCode(),
        double d => d == Math.Floor(d) && Math.Abs(d) < 9e18 ? ((long)d).GetHashCode() : d.GetHashCode(),
        BigInteger bi => bi >= long.MinValue && bi <= long.MaxValue ? ((long)bi).GetHashCode() : bi.GetHashCode(),
        PyTuple t => t.Items.Length,
        _ => obj.GetHashCode(),
    };
}

/// <summary>namespace(...) object: the only mutable thing templates can assign attributes on.</summary>
internal sealed class Namespace
{
    public PyDict Attrs { get; } = new();
}

internal interface IPyCallable
{
    object? Call(Renderer r, List<object?> args, List<KeyValuePair<string, object?>> kwargs);
}

internal sealed class BuiltinFunction(string name, Func<Renderer, List<object?>, List<KeyValuePair<string, object?>>, object?> fn) : IPyCallable
{
    public string Name { get; } = name;
    public object? Call(Renderer r, List<object?> args, List<KeyValuePair<string, object?>> kwargs) => fn(r, args, kwargs);
}

/// <summary>A bound method of a str/dict/list value.</summary>
internal sealed class BoundMethod(object? self, string name, string typeName) : IPyCallable
{
    public object? Self { get; } = self;
    public string Name { get; } = name;
    public string TypeName { get; } = typeName;
    public object? Call(Renderer r, List<object?> args, List<KeyValuePair<string, object?>> kwargs) => Methods.Invoke(r, this, args, kwargs);
}

/// <summary>Python value helpers: str(), repr(), truthiness, equality, ordering.</summary>
internal static class Py
{
    public static object Box(bool b) => b ? True : False;
    public static readonly object True = true;
    public static readonly object False = false;
    private static readonly object[] SmallInts = Enumerable.Range(-5, 262).Select(i => (object)(long)i).ToArray();
    public static object Int(long v) => v >= -5 && v <= 256 ? SmallInts[v + 5] : v;

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        bool => "bool",
        long or BigInteger => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        PyTuple => "tuple",
        PyDict => "dict",
        PyView pv => pv.Kind,
        RangeValue => "range",
        CyclerValue => "Cycler",
        Namespace => "Namespace",
        LoopContext => "LoopContext",
        Macro => "Macro",
        IPyCallable => "function",
        _ => v.GetType().Name,
    };

    public static bool Truthy(object? v) => v switch
    {
        null => false,
        Undefined => false,
        bool b => b,
        long l => l != 0,
        BigInteger bi => !bi.IsZero,
        double d => d != 0,
        string s => s.Length != 0,
        List<object?> l => l.Count != 0,
        PyTuple t => t.Items.Length != 0,
        PyDict d => d.Count != 0,
        PyView pv => pv.Items.Count != 0,
        RangeValue rv => rv.Count != 0,
        _ => true,
    };

    public static bool IsNumber(object? v) => v is long or double or bool or BigInteger;
    public static bool IsInt(object? v) => v is long or bool or BigInteger;

    public static string Str(object? v) => v switch
    {
        string s => s,
        null => "None",
        Undefined => "",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        BigInteger bi => bi.ToString(CultureInfo.InvariantCulture),
        double d => FloatRepr(d),
        Namespace ns => "<Namespace " + Repr(ns.Attrs) + ">",
        _ => Repr(v),
    };

    public static string Repr(object? v)
    {
        var sb = new StringBuilder();
        Repr(sb, v, 0);
        return sb.ToString();
    }

    private static void Repr(StringBuilder sb, object? v, int depth)
    {
        if (depth > 200) throw new LimitError("maximum recursion depth exceeded while getting the repr of an object");
        switch (v)
        {
            case string s when Markup.Is(s): sb.Append("Markup("); ReprString(sb, s); sb.Append(')'); break;
            case string s: ReprString(sb, s); break;
            case List<object?> list:
                sb.Append('[');
                for (int i = 0; i < list.Count; i++) { if (i > 0) sb.Append(", "); Repr(sb, list[i], depth + 1); }
                sb.Append(']');
                break;
            case PyTuple t:
                sb.Append('(');
                for (int i = 0; i < t.Items.Length; i++) { if (i > 0) sb.Append(", "); Repr(sb, t.Items[i], depth + 1); }
                if (t.Items.Length == 1) sb.Append(',');
                sb.Append(')');
                break;
            case PyDict d:
                sb.Append('{');
                bool first = true;
                foreach (var kv in d)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    Repr(sb, PyDict.Unkey(kv.Key), depth + 1);
                    sb.Append(": ");
                    Repr(sb, kv.Value, depth + 1);
                }
                sb.Append('}');
                break;
            case PyView pv:
                sb.Append(pv.Kind).Append('(');
                Repr(sb, pv.Items, depth + 1);
                sb.Append(')');
                break;
            case RangeValue rv:
                sb.Append("range(").Append(rv.Start).Append(", ").Append(rv.Stop);
                if (rv.Step != 1) sb.Append(", ").Append(rv.Step);
                sb.Append(')');
                break;
            case CyclerValue: sb.Append("<jinja2.utils.Cycler object>"); break;
            case Undefined: sb.Append("Undefined"); break;
            case Macro m: sb.Append("<Macro '").Append(m.Name).Append("'>"); break;
            case LoopContext lc: sb.Append("<LoopContext ").Append(lc.Index0 + 1).Append('/').Append(lc.Length).Append('>'); break;
            case BoundMethod bm: sb.Append("<built-in method ").Append(bm.Name).Append(" of ").Append(bm.TypeName).Append(" object>"); break;
            case BuiltinFunction bf: sb.Append("<function ").Append(bf.Name).Append('>'); break;
            default: sb.Append(Str(v)); break;
        }
    }

    public static void ReprString(StringBuilder sb, string s)
    {
        char q = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(q);
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == q || c == '\\') { sb.Append('\\').Append(c); continue; }
            if (c == '\n') { sb.Append("\\n"); continue; }
            if (c == '\r') { sb.Append("\\r"); continue; }
            if (c == '\t') { sb.Append("\\t"); continue; }
            int cp = c;
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                cp = char.ConvertToUtf32(c, s[i + 1]);
                if (IsPrintable(cp)) { sb.Append(c).Append(s[i + 1]); i++; continue; }
                i++;
            }
            else if (IsPrintable(cp)) { sb.Append(c); continue; }
            if (cp < 0x100) sb.Append("\\x").Append(cp.ToString("x2", CultureInfo.InvariantCulture));
            else if (cp < 0x10000) sb.Append("\\u").Append(cp.ToString("x4", CultureInfo.InvariantCulture));
            else sb.Append("\\U").Append(cp.ToString("x8", CultureInfo.InvariantCulture));
        }
        sb.Append(q);
    }

    private static bool IsPrintable(int cp)
    {
        if (cp == ' ') return true;
        if (cp < 0x20 || cp == 0x7f) return false;
        if (cp < 0x7f) return true;
        if (cp >= 0xD800 && cp <= 0xDFFF) return false;
        var cat = CharUnicodeInfo.GetUnicodeCategory(cp);
        return cat switch
        {
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
                or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
                or UnicodeCategory.SpaceSeparator => false,
            _ => true,
        };
    }

    /// <summary>Python float.__repr__ (shortest round trip, Python exponent rules).</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        // shortest round-trip digits
        string shortest = d.ToString("R", CultureInfo.InvariantCulture);
        // Extract digits and exponent from shortest representation
        bool neg = shortest.StartsWith('-');
        if (neg) shortest = shortest[1..];
        int exp = 0;
        int ePos = shortest.IndexOfAny(['E', 'e']);
        string mant = shortest;
        if (ePos >= 0) { exp = int.Parse(shortest[(ePos + 1)..], CultureInfo.InvariantCulture); mant = shortest[..ePos]; }
        int dot = mant.IndexOf('.');
        string intPart = dot >= 0 ? mant[..dot] : mant;
        string fracPart = dot >= 0 ? mant[(dot + 1)..] : "";
        string digits = (intPart + fracPart).TrimStart('0');
        int leadingZerosRemoved = (intPart + fracPart).Length - digits.Length;
        int decpt = intPart.Length + exp - leadingZerosRemoved;
        digits = digits.TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        var sb = new StringBuilder();
        if (neg) sb.Append('-');
        if (decpt <= -4 || decpt > 16)
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            int e = decpt - 1;
            sb.Append('e').Append(e < 0 ? '-' : '+').Append(Math.Abs(e).ToString("00", CultureInfo.InvariantCulture));
        }
        else if (decpt <= 0)
        {
            sb.Append("0.").Append('0', -decpt).Append(digits);
        }
        else if (decpt >= digits.Length)
        {
            sb.Append(digits).Append('0', decpt - digits.Length).Append(".0");
        }
        else
        {
            sb.Append(digits, 0, decpt).Append('.').Append(digits, decpt, digits.Length - decpt);
        }
        return sb.ToString();
    }

    public static double ToDouble(object? v) => v switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        BigInteger bi => (double)bi,
        _ => throw new PyError($"must be real number, not {TypeName(v)}"),
    };

    public static bool Eq(object? a, object? b)
    {
        if (ReferenceEquals(a, b)) return true;
        if (a is List<object?> or PyDict or PyTuple) System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
        switch (a)
        {
            case null: return b is null;
            case Undefined: return b is Undefined;
            case string sa: return b is string sb && string.Equals(sa, sb, StringComparison.Ordinal);
            case long or double or bool or BigInteger:
                if (!IsNumber(b)) return false;
                if (a is double || b is double) return ToDouble(a) == ToDouble(b);
                return ToBig(a) == ToBig(b!);
            case List<object?> la:
                if (b is not List<object?> lb || la.Count != lb.Count) return false;
                for (int i = 0; i < la.Count; i++) if (!Eq(la[i], lb[i])) return false;
                return true;
            case PyTuple ta:
                if (b is not PyTuple tb || ta.Items.Length != tb.Items.Length) return false;
                for (int i = 0; i < ta.Items.Length; i++) if (!Eq(ta.Items[i], tb.Items[i])) return false;
                return true;
            case PyDict da:
                if (b is not PyDict db || da.Count != db.Count) return false;
                foreach (var kv in da)
                {
                    if (!db.TryGetValue(kv.Key, out var bv) || !Eq(kv.Value, bv)) return false;
                }
                return true;
            default: return a.Equals(b);
        }
    }

    /// <summary>An int as a long, saturating (a huge index or count is then out of range/over a limit, not an overflow).</summary>
    public static long ToLongSaturating(object v)
    {
        var b = ToBig(v);
        return b > long.MaxValue ? long.MaxValue : b < long.MinValue ? long.MinValue : (long)b;
    }

    /// <summary>Largest padding/indent/width a template may ask for: beyond it Python would exhaust memory.</summary>
    public const int MaxPadding = 1 << 24;

    /// <summary>A width or indent (int, negative = 0); over <see cref="MaxPadding"/> is a limit error.</summary>
    public static int ToPadding(object v, string what)
    {
        var n = Math.Max(0, ToLongSaturating(v));
        if (n > MaxPadding) throw new LimitError($"{what} of {ToBig(v)} exceeds the limit of {MaxPadding}");
        return (int)n;
    }

    public static BigInteger ToBig(object v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        BigInteger bi => bi,
        _ => throw new PyError("not an int"),
    };

    /// <summary>Python ordering; throws TypeError for unorderable types.</summary>
    public static int Compare(object? a, object? b, string op)
    {
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a).CompareTo(ToDouble(b));
            return ToBig(a!).CompareTo(ToBig(b!));
        }
        if (a is string sa && b is string sb) return CompareCodepoints(sa, sb);
        if (a is List<object?> la && b is List<object?> lb) return CompareSeq(la, lb, op);
        if (a is PyTuple ta && b is PyTuple tb) return CompareSeq(ta.Items, tb.Items, op);
        if (a is Undefined u) throw u.Fail();
        if (b is Undefined u2) throw u2.Fail();
        throw new PyError($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static int CompareCodepoints(string a, string b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++)
        {
            char x = a[i], y = b[i];
            if (x == y) continue;
            // surrogates sort above the BMP in code point order
            bool sx = char.IsSurrogate(x), sy = char.IsSurrogate(y);
            if (sx != sy) return sx ? 1 : -1;
            return x < y ? -1 : 1;
        }
        return a.Length.CompareTo(b.Length);
    }

    private static int CompareSeq(IList<object?> a, IList<object?> b, string op)
    {
        int n = Math.Min(a.Count, b.Count);
        for (int i = 0; i < n; i++)
        {
            if (Eq(a[i], b[i])) continue;
            return Compare(a[i], b[i], op);
        }
        return a.Count.CompareTo(b.Count);
    }

    public static bool HasSurrogates(string s)
    {
        foreach (var c in s) if (char.IsSurrogate(c)) return true;
        return false;
    }

    /// <summary>Split a string into code point strings (Python iteration).</summary>
    public static List<string> CodePoints(string s)
    {
        var list = new List<string>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { list.Add(s.Substring(i, 2)); i++; }
            else list.Add(s[i].ToString());
        }
        return list;
    }

    public static int Len(string s)
    {
        if (!HasSurrogates(s)) return s.Length;
        int n = 0;
        for (int i = 0; i < s.Length; i++) { if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) i++; n++; }
        return n;
    }

    public static bool IsPyWhite(char c) => c is ' ' or '\t' or '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x1f' or '\x85'
        || (c > 0x7f && char.IsWhiteSpace(c) && c != '\u200b');

    public static string Strip(string s, string? chars, bool left, bool right)
    {
        int start = 0, end = s.Length;
        Func<char, bool> isStrip = chars is null ? IsPyWhite : c => chars.Contains(c);
        if (left) while (start < end && isStrip(s[start])) start++;
        if (right) while (end > start && isStrip(s[end - 1])) end--;
        return s.Substring(start, end - start);
    }

    public static List<object?> Iterate(object? v)
    {
        switch (v)
        {
            case List<object?> l: return l;
            case PyTuple t: return [.. t.Items];
            case PyDict d: return d.Keys.Select(PyDict.Unkey).ToList();
            case string s: return CodePoints(s).Cast<object?>().ToList();
            case Undefined: return [];
            case PyView pv: return pv.Items;
            case RangeValue r: return r.ToList();
            default: throw new PyError($"'{TypeName(v)}' object is not iterable");
        }
    }
}

/// <summary>A lazy range(...) value.</summary>
internal sealed class RangeValue(long start, long stop, long step)
{
    public long Start { get; } = start;
    public long Stop { get; } = stop;
    public long Step { get; } = step;
    public long Count => Step > 0 ? (Stop > Start ? (Stop - Start + Step - 1) / Step : 0) : (Start > Stop ? (Start - Stop - Step - 1) / -Step : 0);
    public List<object?> ToList()
    {
        var list = new List<object?>((int)Math.Min(Count, 1 << 20));
        for (long i = 0, v = Start; i < Count; i++, v += Step) list.Add(Py.Int(v));
        return list;
    }
}

/// <summary>
/// markupsafe.Markup: a str subclass produced by <c>safe</c>/<c>escape</c>. Represented by marking string instances, so
/// every string operation keeps working; only the operations where Markup behaves differently consult the mark
/// (<c>+</c> and <c>%</c> escape the plain-str side, escape() leaves Markup alone, case filters/methods keep the mark).
/// </summary>
internal static class Markup
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<string, object> Marks = new();
    private static readonly object Tag = new();

    private static volatile bool _anyMade;

    public static bool Is(object? v) => _anyMade && v is string s && s.Length > 0 && Marks.TryGetValue(s, out _);

    /// <summary>A fresh, marked copy (never marks a shared instance such as a template literal).</summary>
    public static string Make(string s)
    {
        if (s.Length == 0) return s;
        var copy = new string(s.AsSpan());
        Marks.AddOrUpdate(copy, Tag);
        _anyMade = true;
        return copy;
    }

    /// <summary>markupsafe.escape: Markup passes through, anything else is str()-ed and escaped.</summary>
    public static string Escape(object? v) => Is(v) ? (string)v! : Make(Filters.Escape(Py.Str(v)));

    /// <summary>Keep the mark when <paramref name="source"/> was Markup (Markup's str-returning methods return Markup).</summary>
    public static string Keep(object? source, string result) => Is(source) ? Make(result) : result;
}
