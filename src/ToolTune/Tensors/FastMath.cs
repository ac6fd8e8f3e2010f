using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ToolTune.Tensors;

/// <summary>
/// Vectorised exp for the softmax-shaped loops (attention, LM-head loss): Cephes-style range reduction
/// <c>exp(x) = 2ⁿ·p(r)</c>, n = round(x·log₂e), r = x − n·ln2 (two-part ln2), degree-6 polynomial; relative
/// error ≈ 1 ulp-ish (&lt; 3e-7) over the normal range. Inputs below −87.3 give 0 (so −∞ masks give exactly 0),
/// above 88.7 give +∞, NaN stays NaN.
/// </summary>
public static class FastMath
{
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2Hi = 0.693359375f;
    private const float Ln2Lo = -2.12194440e-4f;
    private const float MinX = -87.33654f;
    private const float MaxX = 88.3762626647949f;
    private const float OverX = 88.72283905206835f;
    private const float P0 = 1.9875691500E-4f;
    private const float P1 = 1.3981999507E-3f;
    private const float P2 = 8.3334519073E-3f;
    private const float P3 = 4.1665795894E-2f;
    private const float P4 = 1.6666665459E-1f;
    private const float P5 = 5.0000001201E-1f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Exp512(Vector512<float> x)
    {
        var c = Vector512.Min(Vector512.Max(x, Vector512.Create(MinX)), Vector512.Create(MaxX));
        var n = Vector512.Round(c * Vector512.Create(Log2E));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Hi), c);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Lo), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(P0), r, Vector512.Create(P1));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P5));
        var y = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        var pow = (Vector512.ConvertToInt32(n) + Vector512.Create(127)) << 23;
        y *= pow.AsSingle();
        y = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(MinX)), Vector512<float>.Zero, y);
        y = Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create(OverX)), Vector512.Create(float.PositiveInfinity), y);
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), y, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Exp256(Vector256<float> x)
    {
        var c = Vector256.Min(Vector256.Max(x, Vector256.Create(MinX)), Vector256.Create(MaxX));
        var n = Vector256.Round(c * Vector256.Create(Log2E));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Hi), c);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Lo), r);
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(P0), r, Vector256.Create(P1));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P2));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P3));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P4));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P5));
        var y = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        var pow = (Vector256.ConvertToInt32(n) + Vector256.Create(127)) << 23;
        y *= pow.AsSingle();
        y = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(MinX)), Vector256<float>.Zero, y);
        y = Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(OverX)), Vector256.Create(float.PositiveInfinity), y);
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), y, x);
    }

    /// <summary>Scalar twin of the vector path (same polynomial), used for tails.</summary>
    public static float Exp(float x)
    {
        if (float.IsNaN(x)) return x;
        if (x < MinX) return 0f;
        if (x > OverX) return float.PositiveInfinity;
        var c = Math.Min(x, MaxX);
        var n = MathF.Round(c * Log2E);
        var r = MathF.FusedMultiplyAdd(n, -Ln2Hi, c);
        r = MathF.FusedMultiplyAdd(n, -Ln2Lo, r);
        var p = MathF.FusedMultiplyAdd(P0, r, P1);
        p = MathF.FusedMultiplyAdd(p, r, P2);
        p = MathF.FusedMultiplyAdd(p, r, P3);
        p = MathF.FusedMultiplyAdd(p, r, P4);
        p = MathF.FusedMultiplyAdd(p, r, P5);
        var y = MathF.FusedMultiplyAdd(p, r * r, r) + 1f;
        return y * BitConverter.Int32BitsToSingle(((int)n + 127) << 23);
    }

    /// <summary>y = exp(x).</summary>
    public static void Exp(ReadOnlySpan<float> x, Span<float> y) => ExpShiftSum(x, 0f, y);

    /// <summary>
    /// y = exp(x − shift); returns Σ y in the canonical order of <see cref="Reductions"/>. y may alias x. Every
    /// path computes each lane with the same operations, so y and the sum have the same bits on any SIMD width.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe float ExpShiftSum(ReadOnlySpan<float> x, float shift, Span<float> y)
    {
        if (y.Length < x.Length) throw new ArgumentException("ExpShiftSum: destination too small");
        var n = x.Length;
        var i = 0;
        var acc = new Reductions.Accumulator();
        fixed (float* xs = x, ys = y)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                // One 512-bit register holds the 16 lanes: the same additions as the accumulator's two halves.
                var s = Vector512.Create(shift);
                var sum = Vector512<float>.Zero;
                for (; i + 16 <= n; i += 16)
                {
                    var e = Exp512(Vector512.Load(xs + i) - s);
                    e.Store(ys + i);
                    sum += e;
                }
                acc.Add(sum);
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                var s = Vector256.Create(shift);
                for (; i + 16 <= n; i += 16)
                {
                    var lo = Exp256(Vector256.Load(xs + i) - s);
                    var hi = Exp256(Vector256.Load(xs + i + 8) - s);
                    lo.Store(ys + i);
                    hi.Store(ys + i + 8);
                    acc.Add(lo, hi);
                }
            }
            var tail = i;
            for (; i < n; i++) ys[i] = Exp(xs[i] - shift);
            acc.Add(ys + tail, n - tail);
        }
        return acc.Total;
    }

    /// <summary>Maximum of a non-empty span (NaN if any element is NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Max(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty) throw new ArgumentException("Max of an empty span");
        ref var xs = ref MemoryMarshal.GetReference(x);
        var n = x.Length;
        var i = 0;
        var m = float.NegativeInfinity;
        var nan = false;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var acc = Vector512.Create(float.NegativeInfinity);
            var bad = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector512.LoadUnsafe(ref xs, (nuint)i);
                acc = Vector512.MaxNative(acc, v);
                bad |= ~Vector512.Equals(v, v);
            }
            nan = bad != Vector512<float>.Zero;
            for (var j = 0; j < 16; j++) m = Math.Max(m, acc[j]);
        }
        for (; i < n; i++)
        {
            var v = Unsafe.Add(ref xs, i);
            if (float.IsNaN(v)) nan = true;
            else if (v > m) m = v;
        }
        return nan ? float.NaN : m;
    }
}
