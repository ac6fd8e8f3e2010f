using System.Text;
using ToolTune.Diagnostics;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Fingerprints;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Pipeline;

/// <summary>Whether one stage would run, and why.</summary>
public sealed record StageStatus(string Stage, bool Stale, IReadOnlyList<string> Reasons);

/// <summary>
/// <c>dvc status</c> for the pipeline: compares the current inputs (config values, raw-file contents, stage
/// versions, upstream outputs) with what the manifest says each stage last consumed and produced. Reads only;
/// writes nothing (not even the hash cache).
/// </summary>
public static class PipelineStatus
{
    public static IReadOnlyList<StageStatus> Compute(LoadedConfig config, IEnumerable<string> stageNames)
    {
        var layout = RunLayout.For(config);
        var manifest = PipelineManifest.Load(layout.ManifestPath);
        var hashes = ContentHashCache.Open(layout.HashCachePath); // read; never saved here
        var result = new List<StageStatus>();
        var stale = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in stageNames)
        {
            if (!StageRegistry.TryGet(name, out var stage))
            {
                try { StageRegistry.Get(name); }
                catch (ToolTuneException ex) { result.Add(new StageStatus(name, true, [ex.Message])); }
                stale.Add(name);
                continue;
            }
            var reasons = Reasons(stage, config, layout, manifest, hashes, stale);
            if (reasons.Count > 0) stale.Add(name);
            result.Add(new StageStatus(name, reasons.Count > 0, reasons));
        }
        return result;
    }

    private static List<string> Reasons(IStage stage, LoadedConfig config, RunLayout layout, PipelineManifest manifest, ContentHashCache hashes, HashSet<string> stale)
    {
        var reasons = new List<string>();
        foreach (var up in stage.Upstream.Where(stale.Contains))
            reasons.Add($"upstream stage {up} is stale");
        if (!manifest.Stages.TryGetValue(stage.Name, out var record))
        {
            reasons.Add("never run for this run name");
            return reasons;
        }
        var current = StageFingerprint.Compute(stage, config, hashes);
        foreach (var (key, hash) in current.Components)
        {
            if (!record.Inputs.TryGetValue(key, out var old)) reasons.Add($"new input {Describe(key)}");
            else if (old != hash) reasons.Add(Changed(key, hash, record, current));
        }
        foreach (var key in record.Inputs.Keys.Where(k => !current.Components.ContainsKey(k)))
            reasons.Add(key.StartsWith("file:", StringComparison.Ordinal) && !File.Exists(Path.Combine(config.RootDir, key[5..]))
                ? $"file {key[5..]} was deleted"
                : $"input {Describe(key)} is no longer used (removed from the config?)");
        foreach (var up in stage.Upstream)
        {
            if (manifest.Stages.TryGetValue(up, out var upRecord) && record.Upstream.TryGetValue(up, out var consumed) && consumed != upRecord.OutputHash)
                reasons.Add($"output of upstream stage {up} changed since this stage ran");
        }
        if (FingerprintService.OutputProblem(layout, manifest, stage.Name, hashes) is { } problem)
            reasons.Add(problem);
        else if (!File.Exists(layout.DoneStamp(stage.Name)))
            reasons.Add("completion stamp missing (the last run failed, was cancelled, or outputs were found changed)");
        else if (File.Exists(layout.FingerprintFile(stage.Name)) && reasons.Count == 0
                 && File.GetLastWriteTimeUtc(layout.FingerprintFile(stage.Name)) > File.GetLastWriteTimeUtc(layout.DoneStamp(stage.Name)))
            reasons.Add("inputs changed after the last completed run (fingerprint newer than stamp)");
        return reasons;
    }

    private static string Describe(string key) => key switch
    {
        _ when key.StartsWith("config:", StringComparison.Ordinal) => $"config '{key[7..]}'",
        _ when key.StartsWith("file:", StringComparison.Ordinal) => $"file {key[5..]}",
        "stage:version" => "stage implementation version",
        _ => key,
    };

    private static string Changed(string key, string hash, StageRecord record, StageFingerprint current)
    {
        if (key.StartsWith("file:", StringComparison.Ordinal))
            return hash == StageFingerprint.Missing ? $"file {key[5..]} was deleted" : $"file {key[5..]} content changed";
        if (key.StartsWith("config:", StringComparison.Ordinal))
        {
            var configKey = key[7..];
            if (record.Params.TryGetValue(configKey, out var oldJson) && current.Params.TryGetValue(configKey, out var newJson))
            {
                var before = ConfigCanonical.Leaves(oldJson, configKey);
                var after = ConfigCanonical.Leaves(newJson, configKey);
                var diffs = before.Keys.Union(after.Keys).Order(StringComparer.Ordinal)
                    .Where(k => !before.TryGetValue(k, out var b) || !after.TryGetValue(k, out var a) || a != b)
                    .Select(k => $"{k}: {before.GetValueOrDefault(k, "(none)")} -> {after.GetValueOrDefault(k, "(none)")}")
                    .Take(5).ToList();
                if (diffs.Count > 0) return $"config changed: {string.Join("; ", diffs)}";
            }
            return $"config '{configKey}' changed";
        }
        return $"{Describe(key)} changed";
    }

    /// <summary>Human-readable report, one line per stage plus indented reasons.</summary>
    public static string Format(LoadedConfig config, IReadOnlyList<StageStatus> statuses)
    {
        var sb = new StringBuilder();
        sb.Append($"ToolTune status: run '{config.Config.Run.Name}' ({Path.GetRelativePath(config.RootDir, config.File).Replace('\\', '/')})");
        if (config.Overrides.Count > 0) sb.Append($" with overrides {string.Join(", ", config.Overrides)}");
        sb.Append('\n');
        var width = statuses.Count == 0 ? 0 : statuses.Max(s => s.Stage.Length);
        foreach (var s in statuses)
        {
            sb.Append("  ").Append(s.Stage.PadRight(width)).Append("  ").Append(s.Stale ? "STALE" : "up to date").Append('\n');
            foreach (var r in s.Reasons) sb.Append("  ").Append(' ', width).Append("    - ").Append(r).Append('\n');
        }
        return sb.ToString();
    }
}
