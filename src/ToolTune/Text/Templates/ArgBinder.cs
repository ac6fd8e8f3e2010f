using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.RegularExpressions;

namespace ToolTune.Text.Templates;

/// <summary>Binds positional and keyword arguments to named parameters, Python style.</summary>
internal readonly struct ArgBinder
{
    private readonly object?[] _values;
    private readonly bool[] _set;

    public ArgBinder(string func, List<object?> args, List<KeyValuePair<string, object?>> kwargs, params string[] names)
    {
        _values = new object?[names.Length];
        _set = new bool[names.Length];
        if (args.Count > names.Length) throw new PyError($"{func}() takes at most {names.Length} arguments ({args.Count} given)");
        for (int i = 0; i < args.Count; i++) { _values[i] = args[i]; _set[i] = true; }
        foreach (var kv in kwargs)
        {
            int idx = Array.IndexOf(names, kv.Key);
            if (idx < 0) throw new PyError($"{func}() got an unexpected keyword argument '{kv.Key}'");
            if (_set[idx]) throw new PyError($"{func}() got multiple values for argument '{kv.Key}'");
            _values[idx] = kv.Value; _set[idx] = true;
        }
    }

    public bool Has(int i) => _set[i];
    public object? Get(int i, object? dflt = null) => _set[i] ? _values[i] : dflt;
    public string? Str(int i, string? dflt = null) => _set[i] ? (_values[i] is null ? null : Py.Str(_values[i])) : dflt;
    public bool Bool(int i, bool dflt) => _set[i] ? Py.Truthy(_values[i]) : dflt;
    public long Int(int i, long dflt) => _set[i] ? (Py.IsInt(_values[i]) ? Py.ToLongSaturating(_values[i]!) : _values[i] is null ? dflt : throw new PyError($"'{Py.TypeName(_values[i])}' object cannot be interpreted as an integer")) : dflt;
}
