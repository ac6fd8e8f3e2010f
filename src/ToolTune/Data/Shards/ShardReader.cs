using System.IO.MemoryMappedFiles;
using System.Security.Cryptography;
using System.Text.Json;
using ToolTune.Diagnostics;

namespace ToolTune.Data.Shards;

/// <summary>
/// A memory-mapped, read-only shard. The header, section bounds and (by default) the SHA-256 checksum are
/// checked on open; a truncated file, a wrong magic/version or a checksum mismatch is a located
/// <see cref="ToolTuneException"/> (TT3021–TT3024). Spans returned stay valid until <see cref="Dispose"/>.
/// </summary>
public sealed unsafe class ShardReader : IDisposable
{
    private readonly MemoryMappedFile? _mmf;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;
    private readonly ShardFormat.Header _h;
    private bool _disposed;

    public ShardReader(string path, bool verifyChecksum = true)
    {
        Path = path;
        if (!File.Exists(path)) throw new ToolTuneException(ErrorCodes.ShardMissing, "shard file not found", path);
        var length = new FileInfo(path).Length;
        if (length < ShardFormat.HeaderSize)
            throw new ToolTuneException(ErrorCodes.ShardTruncated, $"shard is truncated: {length} bytes, shorter than its {ShardFormat.HeaderSize}-byte header", path);
        _mmf = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        try
        {
            _view = _mmf.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _base = p + _view.PointerOffset;
            Length = length;
            var header = new ReadOnlySpan<byte>(_base, ShardFormat.HeaderSize);
            if (!header[..8].SequenceEqual(ShardFormat.Magic))
                throw new ToolTuneException(ErrorCodes.ShardBadMagic, "not a ToolTune shard (bad magic bytes)", path);
            _h = ShardFormat.Header.Read(header);
            if (_h.Version != ShardFormat.Version)
                throw new ToolTuneException(ErrorCodes.ShardUnsupportedVersion, $"unsupported shard version {_h.Version} (this build reads version {ShardFormat.Version})", path);
            if (_h.FileLength != length)
                throw new ToolTuneException(ErrorCodes.ShardTruncated,
                    _h.FileLength > length ? $"shard is truncated: {length} of {_h.FileLength} bytes present" : $"shard has {length - _h.FileLength} unexpected trailing bytes", path);
            CheckLayout();
            if (verifyChecksum) VerifyChecksum();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Path { get; }
    public long Length { get; }
    public int Count => (int)_h.Count;
    public long TotalTokens => _h.Tokens;
    public long TrainedTokens => _h.Trained;

    private void CheckLayout()
    {
        bool ok = _h.Count >= 0 && _h.Count < int.MaxValue && _h.Tokens >= 0 && _h.HeaderSize == ShardFormat.HeaderSize
            && _h.IndexOffset == ShardFormat.HeaderSize
            && _h.IdsOffset >= _h.IndexOffset + 8 * (_h.Count + 1) && _h.IdsOffset % 4 == 0
            && _h.LabelsOffset >= _h.IdsOffset + 4 * _h.Tokens && _h.LabelsOffset % 4 == 0
            && _h.MetaIndexOffset >= _h.LabelsOffset + 4 * _h.Tokens
            && _h.MetaOffset == _h.MetaIndexOffset + 8 * (_h.Count + 1)
            && _h.MetaOffset <= _h.FileLength;
        if (!ok) throw new ToolTuneException(ErrorCodes.ShardChecksumMismatch, "shard header is inconsistent (corrupted file)", Path);
        var idx = Index;
        if (idx[0] != 0 || idx[^1] != _h.Tokens)
            throw new ToolTuneException(ErrorCodes.ShardChecksumMismatch, "shard index is inconsistent (corrupted file)", Path);
        for (var i = 1; i < idx.Length; i++)
            if (idx[i] < idx[i - 1]) throw new ToolTuneException(ErrorCodes.ShardChecksumMismatch, $"shard index is not monotonic at sample {i - 1} (corrupted file)", Path);
    }

    /// <summary>Recomputes the SHA-256 over the header fields and the body; a mismatch is TT3024.</summary>
    public void VerifyChecksum()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(new ReadOnlySpan<byte>(_base, ShardFormat.ChecksumOffset));
        const int chunk = 1 << 24;
        for (long o = ShardFormat.HeaderSize; o < Length; o += chunk)
            hash.AppendData(new ReadOnlySpan<byte>(_base + o, (int)Math.Min(chunk, Length - o)));
        var actual = hash.GetHashAndReset();
        if (!actual.AsSpan().SequenceEqual(_h.Checksum))
            throw new ToolTuneException(ErrorCodes.ShardChecksumMismatch,
                $"shard checksum mismatch (stored {Convert.ToHexStringLower(_h.Checksum)[..16]}…, computed {Convert.ToHexStringLower(actual)[..16]}…): the file is corrupted", Path);
    }

    private ReadOnlySpan<long> Index => new(_base + _h.IndexOffset, Count + 1);

    private void CheckIndex(int i)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if ((uint)i >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(i), $"sample {i} is outside 0..{Count - 1}");
    }

    public int SampleLength(int i)
    {
        CheckIndex(i);
        var idx = Index;
        return (int)(idx[i + 1] - idx[i]);
    }

    /// <summary>Input ids of sample <paramref name="i"/>, mapped in place.</summary>
    public ReadOnlySpan<int> InputIds(int i)
    {
        CheckIndex(i);
        var idx = Index;
        return new ReadOnlySpan<int>(_base + _h.IdsOffset + 4 * idx[i], (int)(idx[i + 1] - idx[i]));
    }

    /// <summary>Labels of sample <paramref name="i"/> (-100 = not trained), mapped in place.</summary>
    public ReadOnlySpan<int> LabelIds(int i)
    {
        CheckIndex(i);
        var idx = Index;
        return new ReadOnlySpan<int>(_base + _h.LabelsOffset + 4 * idx[i], (int)(idx[i + 1] - idx[i]));
    }

    public SampleMeta Meta(int i)
    {
        CheckIndex(i);
        var mi = new ReadOnlySpan<long>(_base + _h.MetaIndexOffset, Count + 1);
        var start = mi[i];
        var end = mi[i + 1];
        if (start < 0 || end < start || _h.MetaOffset + end > Length)
            throw new ToolTuneException(ErrorCodes.ShardChecksumMismatch, $"shard metadata of sample {i} is out of bounds (corrupted file)", Path);
        var json = new ReadOnlySpan<byte>(_base + _h.MetaOffset + start, (int)(end - start));
        var r = new Utf8JsonReader(json);
        string id = "", source = "", file = "";
        int line = 0, calls = 0;
        while (r.Read())
        {
            if (r.TokenType != JsonTokenType.PropertyName) continue;
            var name = r.GetString();
            r.Read();
            switch (name)
            {
                case "id": id = r.GetString() ?? ""; break;
                case "source": source = r.GetString() ?? ""; break;
                case "file": file = r.GetString() ?? ""; break;
                case "line": line = r.GetInt32(); break;
                case "tool_calls": calls = r.GetInt32(); break;
            }
        }
        return new SampleMeta(id, source, file, line, calls);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_view is not null)
        {
            if (_base != null) _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _mmf?.Dispose();
    }
}
