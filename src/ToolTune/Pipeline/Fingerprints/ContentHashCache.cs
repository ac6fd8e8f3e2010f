using System.Security.Cryptography;
using System.Text.Json;
using ToolTune.IO;

namespace ToolTune.Pipeline.Fingerprints;

/// <summary>
/// SHA-256 of file contents, cached by (full path, size, last-write time) in a small JSON file, like DVC's
/// state db. A <c>touch</c> changes the mtime, so the file is re-hashed, gives the same hash and changes no
/// fingerprint; an unchanged file is not re-read at all.
/// </summary>
public sealed class ContentHashCache
{
    private readonly string? _cacheFile;
    private readonly Dictionary<string, Entry> _entries;
    private bool _dirty;

    private sealed record Entry(long Size, long MtimeTicks, string Sha256);

    private ContentHashCache(string? cacheFile, Dictionary<string, Entry> entries)
    {
        _cacheFile = cacheFile;
        _entries = entries;
    }

    /// <summary>How many files were actually read and hashed (for tests and diagnostics).</summary>
    public int FilesHashed { get; private set; }

    /// <summary>An in-memory cache (nothing persisted).</summary>
    public static ContentHashCache InMemory() => new(null, new Dictionary<string, Entry>(StringComparer.Ordinal));

    /// <summary>Loads the cache file if present; a corrupt cache is ignored (it is only a cache).</summary>
    public static ContentHashCache Open(string cacheFile)
    {
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        try
        {
            if (File.Exists(cacheFile))
            {
                var loaded = JsonSerializer.Deserialize<Dictionary<string, Entry>>(File.ReadAllBytes(cacheFile));
                if (loaded is not null)
                    foreach (var (k, v) in loaded) entries[k] = v;
            }
        }
        catch (Exception ex) when (ex is JsonException or IOException or NotSupportedException)
        {
            entries.Clear();
        }
        return new ContentHashCache(cacheFile, entries);
    }

    /// <summary>The lowercase hex SHA-256 of a file, or null when it does not exist.</summary>
    public string? TryGetHash(string path)
    {
        var full = Path.GetFullPath(path);
        var info = new FileInfo(full);
        if (!info.Exists) return null;
        var ticks = info.LastWriteTimeUtc.Ticks;
        if (_entries.TryGetValue(full, out var e) && e.Size == info.Length && e.MtimeTicks == ticks)
            return e.Sha256;
        string hash;
        using (var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan))
            hash = Convert.ToHexStringLower(SHA256.HashData(stream));
        FilesHashed++;
        _entries[full] = new Entry(info.Length, ticks, hash);
        _dirty = true;
        return hash;
    }

    /// <summary>Persists the cache atomically when it changed (entries for files that no longer exist are dropped).</summary>
    public void Save()
    {
        if (_cacheFile is null) return;
        foreach (var key in _entries.Keys.Where(k => !File.Exists(k)).ToList())
        {
            _entries.Remove(key);
            _dirty = true;
        }
        if (!_dirty) return;
        var sorted = new SortedDictionary<string, Entry>(_entries, StringComparer.Ordinal);
        AtomicFile.Write(_cacheFile, JsonSerializer.SerializeToUtf8Bytes(sorted));
        _dirty = false;
    }
}
