using System.Diagnostics;
using ToolTune.Diagnostics;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Fingerprints;
using ToolTune.IO;

namespace ToolTune.Pipeline.Stages;

/// <summary>Outcome of a stage run.</summary>
public sealed record StageRunResult(string Stage, string OutputDir, string OutputHash, bool OutputChanged, TimeSpan Duration);

/// <summary>
/// Runs one stage transactionally: the stage writes into <c>artifacts/&lt;run&gt;/.tmp-&lt;stage&gt;-&lt;guid&gt;/</c>; on
/// success that folder replaces the stage's output folder (the previous output stays until that moment), the
/// manifest entry is written, the <c>.out</c> stamp is rewritten only if the output hash changed and the
/// <c>.done</c> stamp is touched. A failure or cancellation deletes the temporary folder and leaves the
/// previous good state (outputs, manifest, stamps) untouched; a failure the stage keeps the outputs of
/// (<see cref="IStage.KeepsFailedOutput"/>: a failed check's report) moves the temporary folder to
/// <c>&lt;output&gt;-failed/</c> instead, which the stage's next success removes.
/// </summary>
public static class StageRunner
{
    public static StageRunResult Run(LoadedConfig config, string stageName, IPipelineLog log, CancellationToken cancellation = default, StageOptions? options = null)
    {
        var stage = StageRegistry.Get(stageName);
        var layout = RunLayout.For(config);
        Directory.CreateDirectory(layout.RunDir);
        var manifest = PipelineManifest.Load(layout.ManifestPath);

        var upstreamHashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var up in stage.Upstream)
        {
            if (!manifest.Stages.TryGetValue(up, out var upRecord) || !Directory.Exists(Path.Combine(layout.RunDir, upRecord.OutputFolder)))
                throw new ToolTuneException(ErrorCodes.StageUpstreamMissing,
                    $"Stage '{stageName}' needs the output of '{up}', which has not been produced for run '{config.Config.Run.Name}'. Run '{up}' first.");
            upstreamHashes[up] = upRecord.OutputHash;
        }

        RemoveLeftovers(layout, stageName);
        var hashes = ContentHashCache.Open(layout.HashCachePath);
        var fingerprint = StageFingerprint.Compute(stage, config, hashes);
        var temp = Path.Combine(layout.RunDir, $".tmp-{stageName}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temp);
        var clock = Stopwatch.StartNew();
        log.Message($"Stage {stageName}: running (run '{config.Config.Run.Name}').", important: true);
        try
        {
            stage.Run(new StageContext(config, layout, temp, log, cancellation, options));
            cancellation.ThrowIfCancellationRequested();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException && IoFailure.Classify(ex, fallback: layout.OutputDir(stage)) is { } error)
        {
            TryDeleteDirectory(temp); // a full disk: the coded error names the path (or at least the stage's output folder)
            throw error;
        }
        catch (ToolTuneException ex) when (stage.KeepsFailedOutput(ex))
        {
            KeepFailedOutput(temp, layout.FailedOutputDir(stage));
            throw;
        }
        catch
        {
            TryDeleteDirectory(temp);
            throw;
        }

        // Hash the new outputs (paths as they will be once moved into place).
        var finalDir = layout.OutputDir(stage);
        var outputs = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(temp, "*", SearchOption.AllDirectories))
        {
            if (cancellation.IsCancellationRequested)
            {
                TryDeleteDirectory(temp);
                cancellation.ThrowIfCancellationRequested();
            }
            var relative = stage.OutputFolder + "/" + Path.GetRelativePath(temp, file).Replace('\\', '/');
            outputs[relative] = hashes.TryGetHash(file)!;
        }
        var runRecords = stage.RunRecordOutputs.Select(f => stage.OutputFolder + "/" + f).ToHashSet(StringComparer.Ordinal);
        var outputHash = ConfigCanonical.Sha256(string.Join("\n", outputs.Where(kv => !runRecords.Contains(kv.Key)).Select(kv => $"{kv.Key}={kv.Value}")));

        // Commit: swap folders. The old output is only removed after the new one is in place.
        cancellation.ThrowIfCancellationRequested();
        string? old = null;
        if (Directory.Exists(finalDir))
        {
            old = Path.Combine(layout.RunDir, $".old-{stageName}-{Guid.NewGuid():N}");
            Directory.Move(finalDir, old);
        }
        Directory.Move(temp, finalDir);
        if (old is not null) TryDeleteDirectory(old);
        foreach (var relative in outputs.Keys)
            hashes.TryGetHash(Path.Combine(layout.RunDir, relative)); // cache the committed paths (rename keeps mtimes)
        hashes.Save();
        TryDeleteDirectory(layout.FailedOutputDir(stage)); // a success supersedes the last failure's report

        var previousHash = manifest.Stages.TryGetValue(stageName, out var previous) ? previous.OutputHash : null;
        manifest.Stages[stageName] = new StageRecord
        {
            Fingerprint = fingerprint.Combined,
            Inputs = fingerprint.Components,
            Params = fingerprint.Params,
            Overrides = config.Overrides.ToList(),
            Upstream = upstreamHashes,
            OutputFolder = stage.OutputFolder,
            Outputs = outputs,
            OutputHash = outputHash,
            CompletedUtc = DateTime.UtcNow,
            DurationMs = clock.ElapsedMilliseconds,
        };
        manifest.Save(layout.ManifestPath);

        // The fingerprint file must match what this run consumed (the CLI path runs without ComputeFingerprints).
        AtomicFile.WriteIfChanged(layout.FingerprintFile(stageName), fingerprint.ToFileText());
        var outChanged = AtomicFile.WriteIfChanged(layout.OutStamp(stageName), outputHash + "\n");
        AtomicFile.Write(layout.DoneStamp(stageName), fingerprint.Combined + "\n"); // always: newer than the inputs
        log.Message($"Stage {stageName}: done in {clock.Elapsed.TotalSeconds:0.00} s; outputs {(outChanged ? "changed" : "unchanged")} ({outputs.Count} file(s), {outputHash[..12]}).", important: true);
        return new StageRunResult(stageName, finalDir, outputHash, outChanged || previousHash != outputHash, clock.Elapsed);
    }

    /// <summary>Removes temporary folders of this stage (and orphaned bookkeeping temporaries) left by a crash or a kill.</summary>
    private static void RemoveLeftovers(RunLayout layout, string stageName)
    {
        layout.RemoveOrphanedTemporaries();
        foreach (var dir in Directory.EnumerateDirectories(layout.RunDir, $".tmp-{stageName}-*").Concat(
                     Directory.EnumerateDirectories(layout.RunDir, $".old-{stageName}-*")))
            TryDeleteDirectory(dir);
    }

    /// <summary>Replaces <paramref name="failedDir"/> with the failed run's temporary folder (deleted if that fails:
    /// the stage's own error is what the caller must see).</summary>
    private static void KeepFailedOutput(string temp, string failedDir)
    {
        try
        {
            if (Directory.Exists(failedDir)) Directory.Delete(failedDir, recursive: true);
            Directory.Move(temp, failedDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDeleteDirectory(temp);
        }
    }

    private static void TryDeleteDirectory(string dir)
    {
        if (!Directory.Exists(dir)) return;
        try { Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
