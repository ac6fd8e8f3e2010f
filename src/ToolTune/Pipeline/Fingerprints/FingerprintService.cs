using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Stages;
using ToolTune.IO;

namespace ToolTune.Pipeline.Fingerprints;

/// <summary>Result of fingerprinting one stage.</summary>
public sealed record FingerprintResult(string Stage, StageFingerprint Fingerprint, bool FileChanged, string? Invalidated);

/// <summary>
/// The ComputeFingerprints step that runs before the stage targets: writes each stage's <c>.fp</c> file only when
/// its content changes (so its timestamp means "the inputs last changed then"), and deletes a stage's done
/// stamp when its recorded outputs are missing or were modified, so the stage re-runs.
/// </summary>
public static class FingerprintService
{
    public static IReadOnlyList<FingerprintResult> Compute(LoadedConfig config, IEnumerable<string> stageNames, IPipelineLog log, bool write = true)
    {
        var layout = RunLayout.For(config);
        if (write) layout.RemoveOrphanedTemporaries();
        var hashes = write ? ContentHashCache.Open(layout.HashCachePath) : ContentHashCache.InMemory();
        var manifest = PipelineManifest.Load(layout.ManifestPath);
        var results = new List<FingerprintResult>();
        foreach (var name in stageNames)
        {
            var stage = StageRegistry.Get(name);
            var fp = StageFingerprint.Compute(stage, config, hashes);
            var changed = write
                ? AtomicFile.WriteIfChanged(layout.FingerprintFile(name), fp.ToFileText())
                : !File.Exists(layout.FingerprintFile(name)) || File.ReadAllText(layout.FingerprintFile(name)) != fp.ToFileText();
            var problem = OutputProblem(layout, manifest, name, hashes);
            if (problem is not null && write)
            {
                File.Delete(layout.DoneStamp(name));
            }
            log.Message($"Fingerprint {name}: {(changed ? "changed" : "unchanged")} {fp.Combined[..12]}"
                        + (problem is null ? "" : $"; {problem}: the stage will re-run"), important: changed || problem is not null);
            results.Add(new FingerprintResult(name, fp, changed, problem));
        }
        if (write) hashes.Save();
        return results;
    }

    /// <summary>Why a stage's committed outputs cannot be trusted (null when they match the manifest or the stage never ran).</summary>
    internal static string? OutputProblem(RunLayout layout, PipelineManifest manifest, string stage, ContentHashCache hashes)
    {
        if (!manifest.Stages.TryGetValue(stage, out var record))
            return File.Exists(layout.DoneStamp(stage)) ? "no manifest entry" : null;
        if (record.Outputs.Count == 0 && !Directory.Exists(Path.Combine(layout.RunDir, record.OutputFolder)))
            return $"output folder {record.OutputFolder}/ is missing";
        foreach (var (relative, hash) in record.Outputs)
        {
            var actual = hashes.TryGetHash(Path.Combine(layout.RunDir, relative));
            if (actual is null) return $"output {relative} was deleted";
            if (actual != hash) return $"output {relative} was modified";
        }
        return null;
    }
}
