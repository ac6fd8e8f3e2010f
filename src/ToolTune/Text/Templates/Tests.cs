using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.RegularExpressions;

namespace ToolTune.Text.Templates;

/// <summary>Jinja tests (<c>x is defined</c>, <c>x is divisibleby 3</c>, …) by name, as jinja2 defines them.</summary>
internal static class Tests
{
    public delegate bool TestFn(Renderer r, object? value, List<object?> args, List<KeyValuePair<string, object?>> kwargs);

    public static readonly Dictionary<string, TestFn> Table = Build();

    private static object? Arg(List<object?> a, List<KeyValuePair<string, object?>> k, string test, string name = "other")
    {
        if (a.Count > 0) return a[0];
        foreach (var kv in k) if (kv.Key == name) return kv.Value;
        throw new PyError($"test '{test}' requires an argument");
    }

    private static Dictionary<string, TestFn> Build()
    {
        var t = new Dictionary<string, TestFn>
        {
            ["defined"] = (r, v, a, k) => v is not Undefined,
            ["undefined"] = (r, v, a, k) => v is Undefined,
            ["none"] = (r, v, a, k) => v is null,
            ["string"] = (r, v, a, k) => v is string,
            ["number"] = (r, v, a, k) => Py.IsNumber(v),
            ["integer"] = (r, v, a, k) => v is long or BigInteger,
            ["float"] = (r, v, a, k) => v is double,
            ["boolean"] = (r, v, a, k) => v is bool,
            ["true"] = (r, v, a, k) => v is bool b && b,
            ["false"] = (r, v, a, k) => v is bool b && !b,
            ["mapping"] = (r, v, a, k) => v is PyDict,
            ["sequence"] = (r, v, a, k) => v is string or List<object?> or PyTuple or PyDict or RangeValue or Undefined,
            ["iterable"] = (r, v, a, k) => v is string or List<object?> or PyTuple or PyDict or PyView or RangeValue or Undefined,
            ["callable"] = (r, v, a, k) => v is IPyCallable or Undefined,
            ["odd"] = (r, v, a, k) => Py.Eq(Ops.Binary(r, "%", v, Py.Int(2)), Py.Int(1)),
            ["even"] = (r, v, a, k) => Py.Eq(Ops.Binary(r, "%", v, Py.Int(2)), Py.Int(0)),
            ["divisibleby"] = (r, v, a, k) =>
            {
                var n = Arg(a, k, "divisibleby", "num");
                if (Py.IsInt(v) && Py.IsInt(n)) { var d = Py.ToBig(n!); if (d.IsZero) throw new PyError("integer division or modulo by zero"); return (Py.ToBig(v!) % d).IsZero; }
                return Py.ToDouble(v) % Py.ToDouble(n) == 0;
            },
            ["sameas"] = (r, v, a, k) => SameAs(v, Arg(a, k, "sameas")),
            ["eq"] = (r, v, a, k) => Py.Eq(v, Arg(a, k, "eq")),
            ["ne"] = (r, v, a, k) => !Py.Eq(v, Arg(a, k, "ne")),
            ["lt"] = (r, v, a, k) => Py.Compare(v, Arg(a, k, "lt"), "<") < 0,
            ["le"] = (r, v, a, k) => Py.Compare(v, Arg(a, k, "le"), "<=") <= 0,
            ["gt"] = (r, v, a, k) => Py.Compare(v, Arg(a, k, "gt"), ">") > 0,
            ["ge"] = (r, v, a, k) => Py.Compare(v, Arg(a, k, "ge"), ">=") >= 0,
            ["in"] = (r, v, a, k) => Ops.Contains(Arg(a, k, "in", "seq"), v),
            ["lower"] = (r, v, a, k) => Methods.IsLowerStr(Py.Str(v), false),
            ["upper"] = (r, v, a, k) => Methods.IsLowerStr(Py.Str(v), true),
            ["escaped"] = (r, v, a, k) => false,
            ["filter"] = (r, v, a, k) => v is string s && Filters.Table.ContainsKey(s),
            ["test"] = (r, v, a, k) => v is string s && Table!.ContainsKey(s),
        };
        t["equalto"] = t["eq"]; t["=="] = t["eq"];
        t["!="] = t["ne"];
        t["lessthan"] = t["lt"]; t["<"] = t["lt"];
        t["<="] = t["le"];
        t["greaterthan"] = t["gt"]; t[">"] = t["gt"];
        t[">="] = t["ge"];
        return t;
    }

    /// <summary>Python 'is': None/bools/small ints are singletons; equal short strings are (usually) interned.</summary>
    private static bool SameAs(object? a, object? b)
    {
        if (a is null || b is null) return a is null && b is null;
        if (a is bool x && b is bool y) return x == y;
        if (a is long la && b is long lb) return la == lb && la >= -5 && la <= 256 || ReferenceEquals(a, b);
        if (a is string sa && b is string sb) return sa == sb;
        return ReferenceEquals(a, b);
    }
}
