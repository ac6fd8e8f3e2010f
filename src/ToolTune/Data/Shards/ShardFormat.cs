using System.Buffers.Binary;
using System.Security.Cryptography;

namespace ToolTune.Data.Shards;

/// <summary>
/// The shard file layout (all little-endian):
/// <code>
///   0  magic "TTSHARD\0"          8 bytes
///   8  version (u32) = 1          12 header size (u32) = 128
///  16  sample count (i64)         24 total tokens (i64)        32 trained tokens (i64)
///  40  index offset (i64)         → (count+1) i64 token offsets into ids/labels
///  48  ids offset (i64)           → total tokens × i32
///  56  labels offset (i64)        → total tokens × i32 (-100 = not trained)
///  64  meta index offset (i64)    → (count+1) i64 byte offsets into the meta blob
///  72  meta offset (i64)          → UTF-8 JSON per sample {id, source, file, line, tool_calls}
///  80  file length (i64)
///  88  SHA-256 (32 bytes) of header bytes [0, 88) followed by bytes [128, file length)
/// 120  reserved (8 bytes, zero)
/// </code>
/// Sections start on 8-byte boundaries, so the reader can map ids/labels as int spans in place.
/// </summary>
public static class ShardFormat
{
    public static ReadOnlySpan<byte> Magic => "TTSHARD\0"u8;
    public const uint Version = 1;
    public const int HeaderSize = 128;
    public const int ChecksumOffset = 88;

    internal struct Header
    {
        public uint Version;
        public uint HeaderSize;
        public long Count, Tokens, Trained, IndexOffset, IdsOffset, LabelsOffset, MetaIndexOffset, MetaOffset, FileLength;
        public byte[] Checksum;

        public readonly void Write(Span<byte> h)
        {
            h[..HeaderSize_].Clear();
            Magic.CopyTo(h);
            BinaryPrimitives.WriteUInt32LittleEndian(h[8..], Version);
            BinaryPrimitives.WriteUInt32LittleEndian(h[12..], HeaderSize);
            BinaryPrimitives.WriteInt64LittleEndian(h[16..], Count);
            BinaryPrimitives.WriteInt64LittleEndian(h[24..], Tokens);
            BinaryPrimitives.WriteInt64LittleEndian(h[32..], Trained);
            BinaryPrimitives.WriteInt64LittleEndian(h[40..], IndexOffset);
            BinaryPrimitives.WriteInt64LittleEndian(h[48..], IdsOffset);
            BinaryPrimitives.WriteInt64LittleEndian(h[56..], LabelsOffset);
            BinaryPrimitives.WriteInt64LittleEndian(h[64..], MetaIndexOffset);
            BinaryPrimitives.WriteInt64LittleEndian(h[72..], MetaOffset);
            BinaryPrimitives.WriteInt64LittleEndian(h[80..], FileLength);
            Checksum?.CopyTo(h[ChecksumOffset..]);
        }

        public static Header Read(ReadOnlySpan<byte> h) => new()
        {
            Version = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]),
            HeaderSize = BinaryPrimitives.ReadUInt32LittleEndian(h[12..]),
            Count = BinaryPrimitives.ReadInt64LittleEndian(h[16..]),
            Tokens = BinaryPrimitives.ReadInt64LittleEndian(h[24..]),
            Trained = BinaryPrimitives.ReadInt64LittleEndian(h[32..]),
            IndexOffset = BinaryPrimitives.ReadInt64LittleEndian(h[40..]),
            IdsOffset = BinaryPrimitives.ReadInt64LittleEndian(h[48..]),
            LabelsOffset = BinaryPrimitives.ReadInt64LittleEndian(h[56..]),
            MetaIndexOffset = BinaryPrimitives.ReadInt64LittleEndian(h[64..]),
            MetaOffset = BinaryPrimitives.ReadInt64LittleEndian(h[72..]),
            FileLength = BinaryPrimitives.ReadInt64LittleEndian(h[80..]),
            Checksum = h.Slice(ChecksumOffset, 32).ToArray(),
        };

        private const int HeaderSize_ = ShardFormat.HeaderSize;
    }

    internal static long Align8(long x) => (x + 7) & ~7L;

    /// <summary>Lower-case hex SHA-256 of a file.</summary>
    public static string Sha256File(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }
}
