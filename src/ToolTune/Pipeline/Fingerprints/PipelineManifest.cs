using System.Text.Json;
using System.Text.Json.Serialization;
using ToolTune.Diagnostics;
using ToolTune.IO;

namespace ToolTune.Pipeline.Fingerprints;

/// <summary>
/// <c>artifacts/&lt;run&gt;/pipeline.lock.json</c>: per stage, what its last successful run consumed (input
/// fingerprints, config values, overrides, upstream output hashes) and produced (output file hashes), like
/// DVC's <c>dvc.lock</c>. Written atomically by the stage runner; read by fingerprinting and Status.
/// </summary>
public sealed class PipelineManifest
{
    public const int CurrentVersion = 1;

    public int Version { get; set; } = CurrentVersion;
    public SortedDictionary<string, StageRecord> Stages { get; set; } = new(StringComparer.Ordinal);

    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Loads the manifest; a missing file gives an empty one.</summary>
    public static PipelineManifest Load(string path)
    {
        if (!File.Exists(path)) return new PipelineManifest();
        try
        {
            var m = JsonSerializer.Deserialize<PipelineManifest>(File.ReadAllBytes(path), Options) ?? new PipelineManifest();
            if (m.Version != CurrentVersion)
                throw new ToolTuneException(ErrorCodes.ManifestInvalid, $"Unsupported manifest version {m.Version} (expected {CurrentVersion}); delete it to rebuild.", path);
            m.Stages = new SortedDictionary<string, StageRecord>(m.Stages ?? new(), StringComparer.Ordinal);
            return m;
        }
        catch (JsonException ex)
        {
            throw new ToolTuneException(ErrorCodes.ManifestInvalid, $"Corrupt manifest: {ex.Message} Delete it to rebuild the run.", path,
                (int)(ex.LineNumber ?? -1) + 1, (int)(ex.BytePositionInLine ?? -1) + 1);
        }
    }

    public void Save(string path) => AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(this, Options));
}

public sealed class StageRecord
{
    /// <summary>Combined input fingerprint (hash of <see cref="Inputs"/>).</summary>
    public string Fingerprint { get; set; } = "";
    /// <summary>Input components: <c>config:data</c>, <c>file:data/x.jsonl</c>, <c>stage:version</c> → hash.</summary>
    public SortedDictionary<string, string> Inputs { get; set; } = new(StringComparer.Ordinal);
    /// <summary>Canonical JSON of each config key the stage reads (for readable diffs).</summary>
    public SortedDictionary<string, string> Params { get; set; } = new(StringComparer.Ordinal);
    public List<string> Overrides { get; set; } = [];
    /// <summary>Output hash of each upstream stage when this stage ran.</summary>
    public SortedDictionary<string, string> Upstream { get; set; } = new(StringComparer.Ordinal);
    /// <summary>Output folder, relative to the run folder.</summary>
    public string OutputFolder { get; set; } = "";
    /// <summary>Output files (relative to the run folder, '/' separators) → SHA-256.</summary>
    public SortedDictionary<string, string> Outputs { get; set; } = new(StringComparer.Ordinal);
    /// <summary>Hash over all output paths and hashes: what downstream stages depend on.</summary>
    public string OutputHash { get; set; } = "";
    public DateTime CompletedUtc { get; set; }
    public long DurationMs { get; set; }
}
