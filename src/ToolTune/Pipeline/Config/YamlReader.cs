using System.Globalization;
using System.Text.RegularExpressions;
using ToolTune.Diagnostics;
using YamlDotNet.RepresentationModel;

namespace ToolTune.Pipeline.Config;

/// <summary>
/// Where config errors point: the YAML file with the node's line/column, or, for a node that came
/// from an override (<c>-p:Override=train.learning_rate=1e-4</c>), the override text.
/// </summary>
internal sealed class ConfigErrors(string file)
{
    private readonly Dictionary<YamlNode, string> _overrideOrigin = new(ReferenceEqualityComparer.Instance);

    public string File { get; } = file;

    public void MarkOverride(YamlNode node, string overrideText)
    {
        foreach (var n in node.AllNodes)
            _overrideOrigin[n] = overrideText;
    }

    public ToolTuneException At(YamlNode? node, string code, string message)
    {
        if (node is not null && _overrideOrigin.TryGetValue(node, out var origin))
            return new ToolTuneException(code, $"in override '{origin}': {message}", File);
        if (node is null)
            return new ToolTuneException(code, message, File);
        return new ToolTuneException(code, message, File, (int)node.Start.Line, (int)node.Start.Column);
    }
}

/// <summary>
/// Reads one YAML mapping with typed accessors. Every key a section asks for is "known"; <see cref="Finish"/>
/// then rejects any other key, suggesting the closest known one. Null/empty values mean "use the default".
/// </summary>
internal sealed partial class MappingReader
{
    private readonly YamlMappingNode? _map;
    private readonly ConfigErrors _errors;
    private readonly List<string> _known = [];

    public MappingReader(YamlNode? node, string path, ConfigErrors errors)
    {
        Path = path;
        _errors = errors;
        if (node is null || IsNull(node)) return;
        if (node is not YamlMappingNode map)
            throw errors.At(node, ErrorCodes.ConfigWrongType, $"'{path}' must be a mapping (key: value lines), got {Describe(node)}.");
        _map = map;
    }

    public string Path { get; }
    public YamlNode Node => _map!;

    private string KeyPath(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    /// <summary>The value node for a key (null when absent or YAML null); records the key as known.</summary>
    public YamlNode? Value(string key)
    {
        _known.Add(key);
        _last = null;
        if (_map is null) return null;
        foreach (var (k, v) in _map.Children)
            if (k is YamlScalarNode s && s.Value == key)
                return _last = IsNull(v) ? null : v;
        return null;
    }

    private YamlNode? _last;

    public YamlNode? KeyNode(string key)
    {
        if (_map is null) return null;
        foreach (var (k, _) in _map.Children)
            if (k is YamlScalarNode s && s.Value == key) return k;
        return null;
    }

    public string? OptionalString(string key) => Value(key) is { } node ? ScalarText(node, KeyPath(key), "a string") : null;

    public string String(string key, string @default, IReadOnlyList<string>? allowed = null, Regex? pattern = null, string? patternHint = null)
    {
        var node = Value(key);
        if (node is null) return @default;
        var text = ScalarText(node, KeyPath(key), "a string");
        if (allowed is not null && !allowed.Contains(text))
            throw _errors.At(node, ErrorCodes.ConfigInvalidValue,
                $"'{KeyPath(key)}' must be one of {string.Join(", ", allowed.Select(a => $"'{a}'"))}, got '{text}'.{Suggest(text, allowed)}");
        if (pattern is not null && !pattern.IsMatch(text))
            throw _errors.At(node, ErrorCodes.ConfigInvalidValue, $"'{KeyPath(key)}' {patternHint}, got '{text}'.");
        return text;
    }

    public int Int(string key, int @default, int min = int.MinValue, int max = int.MaxValue) =>
        OptionalInt(key, min, max) ?? @default;

    public int? OptionalInt(string key, int min = int.MinValue, int max = int.MaxValue)
    {
        var node = Value(key);
        return node is null ? null : ParseInt(node, KeyPath(key), min, max);
    }

    public double Double(string key, double @default, double min, double max, bool minExclusive = false, bool maxExclusive = false)
    {
        var node = Value(key);
        return node is null ? @default : ParseDouble(node, KeyPath(key), min, max, minExclusive, maxExclusive);
    }

    public bool Bool(string key, bool @default)
    {
        var node = Value(key);
        if (node is null) return @default;
        var text = ScalarText(node, KeyPath(key), "true or false");
        return text switch
        {
            "true" or "True" or "TRUE" => true,
            "false" or "False" or "FALSE" => false,
            _ => throw _errors.At(node, ErrorCodes.ConfigWrongType, $"'{KeyPath(key)}' must be true or false, got '{text}'."),
        };
    }

    public IReadOnlyList<YamlNode>? Sequence(string key)
    {
        var node = Value(key);
        if (node is null) return null;
        if (node is not YamlSequenceNode seq)
            throw _errors.At(node, ErrorCodes.ConfigWrongType, $"'{KeyPath(key)}' must be a list, got {Describe(node)}.");
        return seq.Children.ToList();
    }

    public IReadOnlyList<string>? StringList(string key, int? exactCount = null, IReadOnlyList<string>? allowed = null)
    {
        var items = Sequence(key);
        if (items is null) return null;
        CheckCount(key, items, exactCount);
        var result = new List<string>();
        foreach (var item in items)
        {
            var text = ScalarText(item, KeyPath(key) + "[]", "a string");
            if (text.Length == 0)
                throw _errors.At(item, ErrorCodes.ConfigInvalidValue, $"'{KeyPath(key)}' has an empty entry.");
            if (allowed is not null && !allowed.Contains(text))
                throw _errors.At(item, ErrorCodes.ConfigInvalidValue,
                    $"'{KeyPath(key)}' entry '{text}' is not one of {string.Join(", ", allowed)}.{Suggest(text, allowed)}");
            result.Add(text);
        }
        return result;
    }

    public IReadOnlyList<int>? IntList(string key, int? exactCount = null, int min = int.MinValue, int max = int.MaxValue)
    {
        var items = Sequence(key);
        if (items is null) return null;
        CheckCount(key, items, exactCount);
        return items.Select(i => ParseInt(i, KeyPath(key) + "[]", min, max)).ToList();
    }

    public IReadOnlyList<double>? DoubleList(string key, int? exactCount, double min, double max, bool maxExclusive)
    {
        var items = Sequence(key);
        if (items is null) return null;
        CheckCount(key, items, exactCount);
        return items.Select(i => ParseDouble(i, KeyPath(key) + "[]", min, max, false, maxExclusive)).ToList();
    }

    private void CheckCount(string key, IReadOnlyList<YamlNode> items, int? exactCount)
    {
        if (exactCount is { } n && items.Count != n)
            throw _errors.At(_last, ErrorCodes.ConfigInvalidValue,
                $"'{KeyPath(key)}' must have exactly {n} entries, got {items.Count}.");
    }

    /// <summary>Rejects keys no accessor asked for, with a "did you mean" suggestion.</summary>
    public void Finish()
    {
        if (_map is null) return;
        foreach (var (k, _) in _map.Children)
        {
            if (k is not YamlScalarNode s || s.Value is null)
                throw _errors.At(k, ErrorCodes.ConfigWrongType, $"'{Path}' has a key that is not a plain name.");
            if (!_known.Contains(s.Value))
            {
                var where = Path.Length == 0 ? "at the top level" : $"in '{Path}'";
                throw _errors.At(k, ErrorCodes.ConfigUnknownKey,
                    $"Unknown key '{s.Value}' {where}.{Suggest(s.Value, _known)} Known keys: {string.Join(", ", _known.Distinct())}.");
            }
        }
        var dup = _map.Children.Keys.OfType<YamlScalarNode>().GroupBy(k => k.Value).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
            throw _errors.At(dup.Last(), ErrorCodes.ConfigSyntax, $"Duplicate key '{dup.Key}' in '{Path}'.");
    }

    // ---- scalars ----

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain or YamlDotNet.Core.ScalarStyle.Any } s
        && (s.Value is null || s.Value is "" or "~" or "null" or "Null" or "NULL");

    public string ScalarText(YamlNode node, string keyPath, string expected)
    {
        if (node is not YamlScalarNode s)
            throw _errors.At(node, ErrorCodes.ConfigWrongType, $"'{keyPath}' must be {expected}, got {Describe(node)}.");
        return s.Value ?? "";
    }

    private int ParseInt(YamlNode node, string keyPath, int min, int max)
    {
        var text = ScalarText(node, keyPath, "an integer").Replace("_", "");
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            var hint = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _) ? " (a whole number is required)" : "";
            throw _errors.At(node, ErrorCodes.ConfigWrongType, $"'{keyPath}' must be an integer, got '{text}'{hint}.");
        }
        if (value < min || value > max)
            throw _errors.At(node, ErrorCodes.ConfigOutOfRange, $"'{keyPath}' = {value} is out of range [{Fmt(min)}, {Fmt(max)}].");
        return value;
    }

    private double ParseDouble(YamlNode node, string keyPath, double min, double max, bool minExclusive, bool maxExclusive)
    {
        var text = ScalarText(node, keyPath, "a number").Replace("_", "");
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            throw _errors.At(node, ErrorCodes.ConfigWrongType, $"'{keyPath}' must be a number, got '{text}'.");
        var low = minExclusive ? value <= min : value < min;
        var high = maxExclusive ? value >= max : value > max;
        if (low || high)
            throw _errors.At(node, ErrorCodes.ConfigOutOfRange,
                $"'{keyPath}' = {text} is out of range {(minExclusive ? "(" : "[")}{Fmt(min)}, {Fmt(max)}{(maxExclusive ? ")" : "]")}.");
        return value;
    }

    private static string Fmt(double v) => v switch
    {
        double.MaxValue or int.MaxValue => "∞",
        double.MinValue or int.MinValue => "-∞",
        _ => v.ToString(CultureInfo.InvariantCulture),
    };

    public static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        YamlScalarNode s => $"'{s.Value}'",
        _ => node.NodeType.ToString(),
    };

    /// <summary>" Did you mean 'x'?" for the closest candidate within a small edit distance, else "".</summary>
    public static string Suggest(string text, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var c in candidates.Distinct())
        {
            var d = Levenshtein(text.ToLowerInvariant(), c.ToLowerInvariant());
            if (d < bestDistance) (best, bestDistance) = (c, d);
        }
        if (best is null) return "";
        var threshold = Math.Max(2, Math.Max(text.Length, best.Length) / 3);
        var contains = text.Length >= 3 && (best.Contains(text, StringComparison.OrdinalIgnoreCase) || text.Contains(best, StringComparison.OrdinalIgnoreCase));
        return bestDistance <= threshold || contains ? $" Did you mean '{best}'?" : "";
    }

    public static int Levenshtein(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) prev[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
