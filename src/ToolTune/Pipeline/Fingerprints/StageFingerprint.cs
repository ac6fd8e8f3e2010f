using System.Text;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Pipeline.Fingerprints;

/// <summary>
/// The input fingerprint of one stage: components (<c>config:&lt;key&gt;</c>, <c>file:&lt;path&gt;</c>,
/// <c>stage:version</c>) with their hashes, and a combined hash. Its text form is the <c>.fp</c> file.
/// </summary>
public sealed class StageFingerprint
{
    public required string Stage { get; init; }
    public required SortedDictionary<string, string> Components { get; init; }
    /// <summary>Canonical JSON per config key, kept for readable diffs.</summary>
    public required SortedDictionary<string, string> Params { get; init; }
    public string Combined => ConfigCanonical.Sha256(string.Join("\n", Components.Select(kv => $"{kv.Key}={kv.Value}")));

    public const string Missing = "missing";

    /// <summary>Computes a stage's fingerprint from the effective config and raw-file contents.</summary>
    public static StageFingerprint Compute(IStage stage, LoadedConfig config, ContentHashCache hashes)
    {
        var json = ConfigCanonical.ToJson(config.Config);
        var components = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var parameters = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in stage.ConfigKeys)
        {
            var canonical = ConfigCanonical.Canonical(json, key);
            parameters[key] = canonical;
            components["config:" + key] = ConfigCanonical.Sha256(canonical);
        }
        foreach (var file in stage.InputFiles(config))
        {
            var relative = Path.GetRelativePath(config.RootDir, file).Replace('\\', '/');
            components["file:" + relative] = hashes.TryGetHash(file) ?? Missing;
        }
        components["stage:version"] = stage.Version;
        return new StageFingerprint { Stage = stage.Name, Components = components, Params = parameters };
    }

    /// <summary>The <c>.fp</c> file text: stable, one component per line.</summary>
    public string ToFileText()
    {
        var sb = new StringBuilder();
        sb.Append("# ToolTune input fingerprint of stage ").Append(Stage).Append(" (rewritten only when it changes)\n");
        sb.Append("combined ").Append(Combined).Append('\n');
        foreach (var (k, v) in Components) sb.Append(k).Append(' ').Append(v).Append('\n');
        return sb.ToString();
    }
}
