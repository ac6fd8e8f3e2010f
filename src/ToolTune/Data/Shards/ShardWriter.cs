using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using ToolTune.IO;
using ToolTune.Tensors;

namespace ToolTune.Data.Shards;

/// <summary>What one written shard file holds (goes into the manifest).</summary>
public sealed record ShardFileInfo(string File, int Samples, long Tokens, long TrainedTokens, long Bytes, string Sha256);

/// <summary>
/// Accumulates encoded samples and writes one shard file atomically (temp + rename). See <see cref="ShardFormat"/>.
/// </summary>
public sealed class ShardWriter
{
    private int[] _ids = new int[1 << 16];
    private int[] _labels = new int[1 << 16];
    private long _tokens;
    private long _trained;
    private readonly List<long> _offsets = [0];
    private readonly MemoryStream _meta = new();
    private readonly List<long> _metaOffsets = [0];

    public int Count => _offsets.Count - 1;
    public long Tokens => _tokens;
    public long TrainedTokens => _trained;

    public void Add(EncodedSample sample, SampleMeta meta) => Add(sample.InputIds, sample.LabelIds, meta);

    public void Add(ReadOnlySpan<int> ids, ReadOnlySpan<int> labels, SampleMeta meta)
    {
        if (ids.Length != labels.Length) throw new ArgumentException("ids and labels differ in length");
        var need = _tokens + ids.Length;
        if (need > int.MaxValue) throw new InvalidOperationException("a single shard is limited to 2^31 tokens; lower the shard size");
        if (need > _ids.Length)
        {
            var size = (int)Math.Min(int.MaxValue, Math.Max(need, (long)_ids.Length * 2));
            Array.Resize(ref _ids, size);
            Array.Resize(ref _labels, size);
        }
        ids.CopyTo(_ids.AsSpan((int)_tokens));
        labels.CopyTo(_labels.AsSpan((int)_tokens));
        foreach (var l in labels) if (l != CrossEntropy.IgnoreIndex) _trained++;
        _tokens = need;
        _offsets.Add(_tokens);
        using (var w = new Utf8JsonWriter(_meta))
        {
            w.WriteStartObject();
            w.WriteString("id", meta.Id);
            w.WriteString("source", meta.Source);
            w.WriteString("file", meta.File);
            w.WriteNumber("line", meta.Line);
            w.WriteNumber("tool_calls", meta.ToolCalls);
            w.WriteEndObject();
        }
        _metaOffsets.Add(_meta.Length);
    }

    /// <summary>Writes the shard to <paramref name="path"/> atomically and returns its description (sha256 of the whole file).</summary>
    public ShardFileInfo Write(string path)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("shards are written on little-endian machines only");
        var count = Count;
        var h = new ShardFormat.Header
        {
            Version = ShardFormat.Version,
            HeaderSize = ShardFormat.HeaderSize,
            Count = count,
            Tokens = _tokens,
            Trained = _trained,
            IndexOffset = ShardFormat.HeaderSize,
        };
        h.IdsOffset = ShardFormat.Align8(h.IndexOffset + 8L * (count + 1));
        h.LabelsOffset = ShardFormat.Align8(h.IdsOffset + 4L * _tokens);
        h.MetaIndexOffset = ShardFormat.Align8(h.LabelsOffset + 4L * _tokens);
        h.MetaOffset = h.MetaIndexOffset + 8L * (count + 1);
        h.FileLength = h.MetaOffset + _meta.Length;

        AtomicFile.Write(path, fs =>
        {
            var header = new byte[ShardFormat.HeaderSize];
            h.Write(header);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            hash.AppendData(header, 0, ShardFormat.ChecksumOffset);
            fs.Write(header); // placeholder; rewritten with the checksum below
            var pos = (long)ShardFormat.HeaderSize;

            void Put(ReadOnlySpan<byte> bytes)
            {
                const int chunk = 1 << 20;
                for (var o = 0; o < bytes.Length; o += chunk)
                {
                    var part = bytes.Slice(o, Math.Min(chunk, bytes.Length - o));
                    hash.AppendData(part);
                    fs.Write(part);
                }
                pos += bytes.Length;
            }
            void PadTo(long target)
            {
                Span<byte> zeros = stackalloc byte[8];
                zeros.Clear();
                if (target > pos) Put(zeros[..(int)(target - pos)]);
            }
            void PutLongs(List<long> values)
            {
                var buf = new byte[8 * values.Count];
                for (var i = 0; i < values.Count; i++) BinaryPrimitives.WriteInt64LittleEndian(buf.AsSpan(8 * i), values[i]);
                Put(buf);
            }

            PutLongs(_offsets);
            PadTo(h.IdsOffset);
            Put(MemoryMarshal.AsBytes(_ids.AsSpan(0, (int)_tokens)));
            PadTo(h.LabelsOffset);
            Put(MemoryMarshal.AsBytes(_labels.AsSpan(0, (int)_tokens)));
            PadTo(h.MetaIndexOffset);
            PutLongs(_metaOffsets);
            Put(_meta.GetBuffer().AsSpan(0, (int)_meta.Length));

            h.Checksum = hash.GetHashAndReset();
            h.Write(header);
            fs.Position = 0;
            fs.Write(header);
        });
        return new ShardFileInfo(Path.GetFileName(path), count, _tokens, _trained, h.FileLength, ShardFormat.Sha256File(path));
    }
}
