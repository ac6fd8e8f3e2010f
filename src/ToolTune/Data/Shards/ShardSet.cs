using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Data.Loaders;
using ToolTune.Diagnostics;
using ToolTune.IO;

namespace ToolTune.Data.Shards;

/// <summary>One split's shards as recorded in the manifest.</summary>
public sealed record SplitInfo(string Name, int Samples, long Tokens, long TrainedTokens, int ToolCalls, IReadOnlyList<ShardFileInfo> Shards);

/// <summary>Options for writing a split.</summary>
public sealed record ShardWriteOptions
{
    /// <summary>Start a new shard file once a shard holds this many tokens (default 16 Mi tokens ≈ 128 MiB).</summary>
    public long MaxTokensPerShard { get; init; } = 16L << 20;

    /// <summary>Encoder threads (the encoder must then be thread-safe). Order, and so the bytes, do not depend on it.</summary>
    public int Parallelism { get; init; } = 1;

    /// <summary>Drop samples whose labels are all -100 (reason "no trained tokens"). Default true.</summary>
    public bool DropUntrained { get; init; } = true;

    /// <summary>Strict: an encode failure throws instead of being counted.</summary>
    public bool Strict { get; init; }
}

/// <summary>
/// The manifest beside the shards (<c>manifest.json</c>): format, version, per split sample/token counts and each
/// shard file with its size and SHA-256. Written atomically, with stable key order (same inputs → same bytes).
/// </summary>
public sealed class ShardManifest
{
    public const string FileName = "manifest.json";
    public const string Format = "tooltune-shards";

    public Dictionary<string, SplitInfo> Splits { get; } = new(StringComparer.Ordinal);

    /// <summary>Free-form extra properties (seed, mix, sources…) recorded verbatim.</summary>
    public JsonObject Extra { get; } = [];

    public JsonObject ToJson()
    {
        var splits = new JsonObject();
        foreach (var (name, s) in Splits.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            var shards = new JsonArray();
            foreach (var f in s.Shards)
                shards.Add(new JsonObject
                {
                    ["file"] = f.File,
                    ["samples"] = f.Samples,
                    ["tokens"] = f.Tokens,
                    ["trained_tokens"] = f.TrainedTokens,
                    ["bytes"] = f.Bytes,
                    ["sha256"] = f.Sha256,
                });
            splits[name] = new JsonObject
            {
                ["samples"] = s.Samples,
                ["tokens"] = s.Tokens,
                ["trained_tokens"] = s.TrainedTokens,
                ["trained_fraction"] = s.Tokens == 0 ? 0 : Math.Round((double)s.TrainedTokens / s.Tokens, 6),
                ["tool_calls"] = s.ToolCalls,
                ["shards"] = shards,
            };
        }
        var o = new JsonObject { ["format"] = Format, ["version"] = (int)ShardFormat.Version, ["splits"] = splits };
        foreach (var kv in Extra) o[kv.Key] = kv.Value?.DeepClone();
        return o;
    }

    public void Write(string directory)
    {
        var text = ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
        AtomicFile.Write(Path.Combine(directory, FileName), fs => fs.Write(System.Text.Encoding.UTF8.GetBytes(text)));
    }

    /// <summary>Reads a manifest; with <paramref name="verifyFiles"/> every shard's size and SHA-256 are checked.</summary>
    public static ShardManifest Read(string directory, bool verifyFiles = false)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) throw new ToolTuneException(ErrorCodes.ShardMissing, "shard manifest not found", path);
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllBytes(path)) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (JsonException ex)
        {
            throw new ToolTuneException(ErrorCodes.ShardManifestInvalid, $"shard manifest is not valid JSON: {ex.Message}", path, (int)(ex.LineNumber ?? 0) + 1);
        }
        if (ToolFormat.Str(root["format"]) != Format)
            throw new ToolTuneException(ErrorCodes.ShardManifestInvalid, $"not a ToolTune shard manifest (format is not '{Format}')", path);
        var m = new ShardManifest();
        try
        {
            foreach (var (name, node) in root["splits"]!.AsObject())
            {
                var s = node!.AsObject();
                var files = new List<ShardFileInfo>();
                foreach (var f in s["shards"]!.AsArray())
                {
                    var fo = f!.AsObject();
                    var info = new ShardFileInfo(fo["file"]!.GetValue<string>(), fo["samples"]!.GetValue<int>(), fo["tokens"]!.GetValue<long>(),
                        fo["trained_tokens"]!.GetValue<long>(), fo["bytes"]!.GetValue<long>(), fo["sha256"]!.GetValue<string>());
                    files.Add(info);
                    if (verifyFiles)
                    {
                        var fp = Path.Combine(directory, info.File);
                        if (!File.Exists(fp)) throw new ToolTuneException(ErrorCodes.ShardMissing, $"shard listed in the manifest is missing", fp);
                        var len = new FileInfo(fp).Length;
                        if (len != info.Bytes)
                            throw new ToolTuneException(ErrorCodes.ShardTruncated, $"shard size {len} differs from the manifest's {info.Bytes}", fp);
                        if (ShardFormat.Sha256File(fp) != info.Sha256)
                            throw new ToolTuneException(ErrorCodes.ShardChecksumMismatch, "shard SHA-256 differs from the manifest", fp);
                    }
                }
                m.Splits[name] = new SplitInfo(name, s["samples"]!.GetValue<int>(), s["tokens"]!.GetValue<long>(), s["trained_tokens"]!.GetValue<long>(),
                    s["tool_calls"]?.GetValue<int>() ?? 0, files);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or NullReferenceException or FormatException)
        {
            throw new ToolTuneException(ErrorCodes.ShardManifestInvalid, $"shard manifest is malformed: {ex.Message}", path);
        }
        foreach (var kv in root)
            if (kv.Key is not ("format" or "version" or "splits")) m.Extra[kv.Key] = kv.Value?.DeepClone();
        return m;
    }
}

/// <summary>Encodes conversations and writes a split's shard files (<c>{split}-00000.bin</c>, …).</summary>
public static class ShardSetWriter
{
    /// <summary>
    /// Encodes every conversation (in order; parallel encoding keeps the order), drops and reports failures and
    /// untrained samples with their source location, and writes the shards atomically. Per-source token and
    /// tool-call counts go to <paramref name="report"/>.
    /// </summary>
    public static SplitInfo WriteSplit(string directory, string split, IEnumerable<Conversation> conversations, ISampleEncoder encoder,
        DataReport report, ShardWriteOptions? options = null)
    {
        options ??= new ShardWriteOptions();
        Directory.CreateDirectory(directory);
        var encoded = options.Parallelism > 1
            ? conversations.AsParallel().AsOrdered().WithDegreeOfParallelism(options.Parallelism).Select(c => (c, s: encoder.Encode(c)))
            : conversations.Select(c => (c, s: encoder.Encode(c)));

        var shards = new List<ShardFileInfo>();
        var writer = new ShardWriter();
        int samples = 0, toolCalls = 0;
        long tokens = 0, trained = 0;
        foreach (var (c, s) in encoded)
        {
            DataIssue? issue = null;
            if (!s.Ok)
                issue = new DataIssue(s.Code ?? ErrorCodes.DataEncodeFailed, s.DropReason!, c.SourceFile, c.SourceLine, c.IssueColumn, c.Id, s.Detail);
            else if (s.InputIds.Length == 0)
                issue = new DataIssue(ErrorCodes.DataEncodeFailed, DropReasons.EncodeFailed, c.SourceFile, c.SourceLine, c.IssueColumn, c.Id, "the encoder produced no tokens");
            else if (options.DropUntrained && s.TrainedTokens == 0)
                issue = new DataIssue(ErrorCodes.DataEncodeFailed, DropReasons.NoTrainedTokens, c.SourceFile, c.SourceLine, c.IssueColumn, c.Id,
                    "every label is -100 (no assistant tokens survived)");
            if (issue is not null)
            {
                if (options.Strict) throw issue.ToException();
                report.Drop(c.Source, issue);
                continue;
            }
            if (writer.Count > 0 && writer.Tokens + s.InputIds.Length > options.MaxTokensPerShard)
            {
                shards.Add(writer.Write(Path.Combine(directory, ShardName(split, shards.Count))));
                writer = new ShardWriter();
            }
            var calls = c.ToolCallCount;
            writer.Add(s, new SampleMeta(c.Id, c.Source, c.SourceFile, c.SourceLine, calls));
            var st = report.Source(c.Source, c.DataRole);
            var t = s.TrainedTokens;
            lock (st)
            {
                st.Samples++;
                st.Tokens += s.InputIds.Length;
                st.TrainedTokens += t;
                st.ToolCalls += calls;
                if (calls > 0) st.ConversationsWithCalls++;
            }
            samples++;
            tokens += s.InputIds.Length;
            trained += t;
            toolCalls += calls;
        }
        if (writer.Count > 0 || shards.Count == 0) shards.Add(writer.Write(Path.Combine(directory, ShardName(split, shards.Count))));
        return new SplitInfo(split, samples, tokens, trained, toolCalls, shards);
    }

    public static string ShardName(string split, int index) => $"{split}-{index:D5}.bin";
}

/// <summary>The shards of one split opened together (memory-mapped), addressable by a global sample index.</summary>
public sealed class ShardSet : IDisposable
{
    private readonly ShardReader[] _readers;
    private readonly int[] _starts;

    public ShardSet(IEnumerable<string> shardPaths, bool verifyChecksum = true)
    {
        var readers = new List<ShardReader>();
        try
        {
            foreach (var p in shardPaths) readers.Add(new ShardReader(p, verifyChecksum));
        }
        catch
        {
            foreach (var r in readers) r.Dispose();
            throw;
        }
        _readers = readers.ToArray();
        _starts = new int[_readers.Length + 1];
        for (var i = 0; i < _readers.Length; i++) _starts[i + 1] = checked(_starts[i] + _readers[i].Count);
    }

    /// <summary>Opens a split listed in <c>manifest.json</c> of <paramref name="directory"/>.</summary>
    public static ShardSet Open(string directory, string split, bool verifyChecksum = true)
    {
        var m = ShardManifest.Read(directory);
        if (!m.Splits.TryGetValue(split, out var s))
            throw new ToolTuneException(ErrorCodes.ShardManifestInvalid, $"the manifest has no split '{split}'", Path.Combine(directory, ShardManifest.FileName));
        return new ShardSet(s.Shards.Select(f => Path.Combine(directory, f.File)), verifyChecksum);
    }

    public int Count => _starts[^1];
    public IReadOnlyList<ShardReader> Shards => _readers;

    public (ShardReader Shard, int Index) Locate(int i)
    {
        if ((uint)i >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(i));
        var k = Array.BinarySearch(_starts, i);
        if (k < 0) k = ~k - 1;
        while (k + 1 < _starts.Length && _starts[k + 1] <= i) k++;
        return (_readers[k], i - _starts[k]);
    }

    public ReadOnlySpan<int> InputIds(int i) { var (s, j) = Locate(i); return s.InputIds(j); }
    public ReadOnlySpan<int> LabelIds(int i) { var (s, j) = Locate(i); return s.LabelIds(j); }
    public SampleMeta Meta(int i) { var (s, j) = Locate(i); return s.Meta(j); }
    public int SampleLength(int i) { var (s, j) = Locate(i); return s.SampleLength(j); }

    public void Dispose()
    {
        foreach (var r in _readers) r.Dispose();
    }
}
