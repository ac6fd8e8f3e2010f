using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ToolTune.Tensors;

/// <summary>bf16 / f16 ↔ f32 conversions. bf16 is stored as its raw 16 bits (<see cref="ushort"/>).</summary>
public static class Precision
{
    /// <summary>bf16 → f32 (exact: the bits shifted up by 16).</summary>
    public static float BF16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>f32 → bf16, round to nearest even; NaN stays a (quiet) NaN, as torch does.</summary>
    public static ushort SingleToBF16(float value)
    {
        var u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((u >> 16) | 0x0040);
        u += 0x7FFF + ((u >> 16) & 1);
        return (ushort)(u >> 16);
    }

    /// <summary>bf16 → f32 over spans (vectorised).</summary>
    public static void BF16ToSingle(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("BF16ToSingle: destination too small");
        var dstBits = MemoryMarshal.Cast<float, uint>(dst);
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= src.Length; i += 16)
            {
                var v = Vector256.Create(src.Slice(i, 16));
                var (lo, hi) = Vector256.Widen(v);
                Vector256.ShiftLeft(lo, 16).CopyTo(dstBits.Slice(i, 8));
                Vector256.ShiftLeft(hi, 16).CopyTo(dstBits.Slice(i + 8, 8));
            }
        }
        for (; i < src.Length; i++) dstBits[i] = (uint)src[i] << 16;
    }

    /// <summary>f32 → bf16 over spans, round to nearest even.</summary>
    public static void SingleToBF16(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("SingleToBF16: destination too small");
        var bits = MemoryMarshal.Cast<float, uint>(src);
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var one = Vector256.Create(1u);
            var bias = Vector256.Create(0x7FFFu);
            var absMask = Vector256.Create(0x7FFF_FFFFu);
            var inf = Vector256.Create(0x7F80_0000u);
            var quiet = Vector256.Create(0x0040u);
            for (; i + 16 <= src.Length; i += 16)
            {
                var lo = Round(Vector256.Create(bits.Slice(i, 8)));
                var hi = Round(Vector256.Create(bits.Slice(i + 8, 8)));
                Vector256.Narrow(lo, hi).CopyTo(dst.Slice(i, 16));
            }

            Vector256<uint> Round(Vector256<uint> u)
            {
                var rounded = (u + bias + ((u >> 16) & one)) >> 16;
                var nan = Vector256.GreaterThan(u & absMask, inf);
                return Vector256.ConditionalSelect(nan, (u >> 16) | quiet, rounded);
            }
        }
        for (; i < src.Length; i++) dst[i] = SingleToBF16(src[i]);
    }

    /// <summary>f16 → f32 over spans.</summary>
    public static void HalfToSingle(ReadOnlySpan<Half> src, Span<float> dst) => TensorPrimitives.ConvertToSingle(src, dst);

    /// <summary>f32 → f16 over spans (round to nearest even).</summary>
    public static void SingleToHalf(ReadOnlySpan<float> src, Span<Half> dst) => TensorPrimitives.ConvertToHalf(src, dst);

    /// <summary>Rounds every value to bf16 precision in place (f32 → bf16 → f32).</summary>
    public static void RoundToBF16(Span<float> x)
    {
        for (var i = 0; i < x.Length; i++) x[i] = BF16ToSingle(SingleToBF16(x[i]));
    }
}
