using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Win32.SafeHandles;
using ToolTune.Diagnostics;
using ToolTune.Model;
using ToolTune.Tensors;

namespace ToolTune.Lora.Merge;

// The streaming writer: tensors copied byte for byte or merged chunk of rows by chunk of rows.
public static partial class AdapterMerger
{
    // ------------------------------------------------------------------ tensor streaming


    private static long DataStart(SafetensorsFile file)
    {
        Span<byte> len = stackalloc byte[8];
        using var h = File.OpenHandle(file.Path);
        RandomAccess.Read(h, len, 0);
        return 8 + (long)BitConverter.ToUInt64(len);
    }

    /// <summary>Work buffers shared by every tensor of one merge (grown, never shrunk), so garbage does not pile up between collections.</summary>
    private sealed class Scratch
    {
        public float[] W = [], D = [];
        public byte[] Raw = [];
        public bool[] Replaced = [];
        public static T[] Grow<T>(ref T[] a, int n) => a.Length >= n ? a : a = new T[n];
    }

    private static void CopyRaw(SafetensorsFile file, SafetensorsEntry e, Stream dst, Scratch scratch, CancellationToken ct)
    {
        var start = DataStart(file) + e.Begin;
        var buf = Scratch.Grow(ref scratch.Raw, 8 << 20);
        using var h = File.OpenHandle(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        for (long done = 0, n = e.End - e.Begin; done < n;)
        {
            ct.ThrowIfCancellationRequested();
            var k = (int)Math.Min(buf.Length, n - done);
            ReadExactly(h, buf.AsSpan(0, k), start + done, file.Path);
            dst.Write(buf, 0, k);
            done += k;
        }
    }

    private static void ReadExactly(SafeFileHandle h, Span<byte> buf, long offset, string path)
    {
        while (!buf.IsEmpty)
        {
            var r = RandomAccess.Read(h, buf, offset);
            if (r <= 0) throw new ToolTuneException(ErrorCodes.SafetensorsTruncated, $"unexpected end of file at byte {offset}", path);
            buf = buf[r..];
            offset += r;
        }
    }

    /// <summary>W' = W + delta, chunk of rows by chunk of rows, stored back in the tensor's dtype.</summary>
    private static void MergeTensor(SafetensorsFile file, SafetensorsEntry e, Job job, Stream dst, int chunkFloats, Scratch scratch, CancellationToken ct)
    {
        var es = e.DType switch
        {
            "F32" => 4, "BF16" or "F16" => 2,
            _ => throw new ToolTuneException(ErrorCodes.MergeDtypeUnsupported, $"tensor '{e.Name}' has dtype {e.DType}; merge writes F32, BF16 or F16", file.Path),
        };
        var rows = (int)e.Shape[0];
        var cols = (int)e.Shape[1];
        var chunkRows = Math.Max(1, Math.Min(rows, chunkFloats / Math.Max(1, cols)));
        var w = Scratch.Grow(ref scratch.W, chunkRows * cols);
        var d = Scratch.Grow(ref scratch.D, chunkRows * cols);
        var raw = Scratch.Grow(ref scratch.Raw, chunkRows * cols * es);
        var start = DataStart(file) + e.Begin;
        using var h = File.OpenHandle(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        for (var r0 = 0; r0 < rows; r0 += chunkRows)
        {
            ct.ThrowIfCancellationRequested();
            var n = Math.Min(chunkRows, rows - r0);
            var count = n * cols;
            var rawChunk = raw.AsSpan(0, count * es);
            ReadExactly(h, rawChunk, start + (long)r0 * cols * es, file.Path);
            var wc = w.AsSpan(0, count);
            var dc = d.AsSpan(0, count);
            switch (e.DType)
            {
                case "F32": MemoryMarshal.Cast<byte, float>(rawChunk).CopyTo(wc); break;
                case "BF16": Precision.BF16ToSingle(MemoryMarshal.Cast<byte, ushort>(rawChunk), wc); break;
                default: Precision.HalfToSingle(MemoryMarshal.Cast<byte, Half>(rawChunk), wc); break;
            }
            dc.Clear();
            var any = false;
            if (job.Linear is { } lin) // s · B[r0:r0+n, :] · A   (B [out × r], A [r × in])
            {
                Gemm.Sgemm(false, false, n, cols, lin.R, lin.Scale, lin.B.F32.Slice(r0 * lin.R, n * lin.R), lin.R, lin.A.F32, cols, dc, cols);
                any = true;
            }
            if (job.Tokens is { } tok) // absolute replacement rows first (the runtime order: tokens inside, LoRA delta on top)
            {
                for (var i = 0; i < tok.TokenIds.Count; i++)
                {
                    var id = tok.TokenIds[i];
                    if (id < r0 || id >= r0 + n) continue;
                    tok.Delta.F32.Slice(i * cols, cols).CopyTo(wc.Slice((id - r0) * cols, cols));
                }
            }
            if (job.Embedding is { } emb) // s · Aᵀ[r0:r0+n, :] · Bᵀ   (A [r × vocab], B [hidden × r])
            {
                Gemm.Sgemm(true, true, n, cols, emb.R, emb.Scale, emb.A.F32[r0..], emb.Vocab, emb.B.F32, emb.R, dc, cols);
                any = true;
            }
            if (any)
                for (var i = 0; i < count; i++)
                    if (dc[i] != 0f) wc[i] += dc[i]; // a zero delta keeps the element (and its bits) as it is

            switch (e.DType)
            {
                case "F32": wc.CopyTo(MemoryMarshal.Cast<byte, float>(rawChunk)); break;
                case "BF16": WriteBack16(wc, rawChunk, dc, job, r0, cols, scratch, isBf16: true); break;
                default: WriteBack16(wc, rawChunk, dc, job, r0, cols, scratch, isBf16: false); break;
            }
            dst.Write(rawChunk);
        }
    }

    /// <summary>Rounds changed elements to the 16-bit dtype; elements with a zero delta and no replaced row keep their original bits.</summary>
    private static void WriteBack16(Span<float> wc, Span<byte> rawChunk, Span<float> dc, Job job, int r0, int cols, Scratch scratch, bool isBf16)
    {
        var bits = MemoryMarshal.Cast<byte, ushort>(rawChunk);
        var n = wc.Length / cols;
        var replaced = Scratch.Grow(ref scratch.Replaced, n);
        Array.Clear(replaced, 0, n);
        if (job.Tokens is { } tok)
            foreach (var id in tok.TokenIds)
                if (id >= r0 && id < r0 + n) replaced[id - r0] = true;
        for (var r = 0; r < n; r++)
        {
            var rowW = wc.Slice(r * cols, cols);
            var rowB = bits.Slice(r * cols, cols);
            var rowD = dc.Slice(r * cols, cols);
            if (replaced[r] || rowD.IndexOfAnyExcept(0f) >= 0)
            {
                for (var j = 0; j < cols; j++)
                {
                    if (!replaced[r] && rowD[j] == 0f) continue;
                    rowB[j] = isBf16 ? Precision.SingleToBF16(rowW[j]) : BitConverter.HalfToUInt16Bits((Half)rowW[j]);
                }
            }
        }
    }
}
