using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Pipeline.Config;

namespace ToolTune.Pipeline.Fingerprints;

/// <summary>
/// Canonical form of config values: the typed, validated config (defaults filled in, overrides applied) as
/// compact JSON with snake_case keys sorted ordinally and numbers in shortest round-trip form. Comments, key
/// order, quoting, <c>1e-4</c> vs <c>0.0001</c> and writing a default explicitly therefore change nothing.
/// </summary>
public static class ConfigCanonical
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
    };

    /// <summary>The whole config as a JSON tree (unsorted).</summary>
    public static JsonObject ToJson(PipelineConfig config) =>
        JsonSerializer.SerializeToNode(config, Options)!.AsObject();

    /// <summary>Canonical JSON of a dotted key (<c>data</c>, <c>train.learning_rate</c>, <c>data.sources</c>).</summary>
    public static string Canonical(PipelineConfig config, string key) => Canonical(ToJson(config), key);

    public static string Canonical(JsonObject root, string key)
    {
        JsonNode? node = root;
        foreach (var segment in key.Split('.'))
        {
            if (node is not JsonObject obj || !obj.TryGetPropertyValue(segment, out node))
                throw new ToolTuneException(ErrorCodes.StageUnknown, $"Config key '{key}' does not exist (a stage declares a dependency on it).");
        }
        var sb = new StringBuilder();
        Write(node, sb);
        return sb.ToString();
    }

    public static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static void Write(JsonNode? node, StringBuilder sb)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                break;
            case JsonObject obj:
                sb.Append('{');
                var first = true;
                foreach (var (k, v) in obj.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    if (!first) sb.Append(',');
                    first = false;
                    sb.Append(JsonSerializer.Serialize(k)).Append(':');
                    Write(v, sb);
                }
                sb.Append('}');
                break;
            case JsonArray arr:
                sb.Append('[');
                for (var i = 0; i < arr.Count; i++)
                {
                    if (i > 0) sb.Append(',');
                    Write(arr[i], sb);
                }
                sb.Append(']');
                break;
            default:
                sb.Append(node.ToJsonString());
                break;
        }
    }

    /// <summary>Flattens canonical JSON into <c>path = value</c> leaves, for human-readable diffs in Status.</summary>
    public static SortedDictionary<string, string> Leaves(string canonicalJson, string prefix)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        void Walk(JsonNode? n, string path)
        {
            switch (n)
            {
                case JsonObject o:
                    foreach (var (k, v) in o) Walk(v, $"{path}.{k}");
                    break;
                case JsonArray a when a.All(x => x is JsonValue or null):
                    result[path] = a.ToJsonString();
                    break;
                case JsonArray a:
                    for (var i = 0; i < a.Count; i++) Walk(a[i], $"{path}[{i}]");
                    break;
                default:
                    result[path] = n?.ToJsonString() ?? "null";
                    break;
            }
        }
        Walk(JsonNode.Parse(canonicalJson), prefix);
        return result;
    }
}
