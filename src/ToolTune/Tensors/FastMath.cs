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

    // Double exp for the LM-head softmax: the same reduction with a degree-11 Taylor polynomial on |r| ≤ ln2/2
    // (relative error < 1e-14), n from the 1.5·2⁵² rounding trick so every path uses plain adds and FMAs.
    private const double Log2ED = 1.4426950408889634;
    private const double Ln2HiD = 6.93147180369123816490e-01;
    private const double Ln2LoD = 1.90821492927058770002e-10;
    private const double MinXD = -708.0;
    private const double OverXD = 709.782712893384;
    private const double Round52 = 6755399441055744.0;
    private const double C2 = 1.0 / 2, C3 = 1.0 / 6, C4 = 1.0 / 24, C5 = 1.0 / 120, C6 = 1.0 / 720, C7 = 1.0 / 5040,
        C8 = 1.0 / 40320, C9 = 1.0 / 362880, C10 = 1.0 / 3628800, C11 = 1.0 / 39916800;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Exp512(Vector512<double> x)
    {
        var c = Vector512.Min(Vector512.Max(x, Vector512.Create(MinXD)), Vector512.Create(OverXD));
        var t = c * Vector512.Create(Log2ED) + Vector512.Create(Round52);
        var n = t - Vector512.Create(Round52);
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2HiD), c);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2LoD), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(C11), r, Vector512.Create(C10));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C9));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C8));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C7));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C5));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<double>.One);
        var y = Vector512.FusedMultiplyAdd(p, r, Vector512<double>.One);
        // 2ⁿ as 2ⁿ⁻¹·2: n reaches 1024 just below the overflow bound
        y = y * ((t.AsInt64() + Vector512.Create(1022L)) << 52).AsDouble() * Vector512.Create(2.0);
        y = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(MinXD)), Vector512<double>.Zero, y);
        y = Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create(OverXD)), Vector512.Create(double.PositiveInfinity), y);
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), y, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Exp256(Vector256<double> x)
    {
        var c = Vector256.Min(Vector256.Max(x, Vector256.Create(MinXD)), Vector256.Create(OverXD));
        var t = c * Vector256.Create(Log2ED) + Vector256.Create(Round52);
        var n = t - Vector256.Create(Round52);
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2HiD), c);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2LoD), r);
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(C11), r, Vector256.Create(C10));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(C9));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(C8));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(C7));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(C6));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(C5));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(C4));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(C3));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(C2));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<double>.One);
        var y = Vector256.FusedMultiplyAdd(p, r, Vector256<double>.One);
        y = y * ((t.AsInt64() + Vector256.Create(1022L)) << 52).AsDouble() * Vector256.Create(2.0);
        y = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(MinXD)), Vector256<double>.Zero, y);
        y = Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(OverXD)), Vector256.Create(double.PositiveInfinity), y);
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), y, x);
    }

    /// <summary>Double exp, the scalar twin of the vector paths: inputs below −708 give 0, above ln(double.MaxValue) +∞.</summary>
    public static double Exp(double x)
    {
        if (double.IsNaN(x)) return x;
        if (x < MinXD) return 0;
        if (x > OverXD) return double.PositiveInfinity;
        var t = x * Log2ED + Round52;
        var n = t - Round52;
        var r = Math.FusedMultiplyAdd(n, -Ln2HiD, x);
        r = Math.FusedMultiplyAdd(n, -Ln2LoD, r);
        var p = Math.FusedMultiplyAdd(C11, r, C10);
        p = Math.FusedMultiplyAdd(p, r, C9);
        p = Math.FusedMultiplyAdd(p, r, C8);
        p = Math.FusedMultiplyAdd(p, r, C7);
        p = Math.FusedMultiplyAdd(p, r, C6);
        p = Math.FusedMultiplyAdd(p, r, C5);
        p = Math.FusedMultiplyAdd(p, r, C4);
        p = Math.FusedMultiplyAdd(p, r, C3);
        p = Math.FusedMultiplyAdd(p, r, C2);
        p = Math.FusedMultiplyAdd(p, r, 1.0);
        var y = Math.FusedMultiplyAdd(p, r, 1.0);
        return y * BitConverter.Int64BitsToDouble((BitConverter.DoubleToInt64Bits(t) + 1022) << 52) * 2.0;
    }

    /// <summary>
    /// y = exp(x − shift) in double (x and shift widened); returns Σ y in double, summed in 8 lanes (element i in lane
    /// i mod 8) folded as ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)), the same bits on every path.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe double ExpShiftSum(ReadOnlySpan<float> x, float shift, Span<double> y)
    {
        if (y.Length < x.Length) throw new ArgumentException("ExpShiftSum: destination too small");
        var n = x.Length;
        var i = 0;
        var lanes = stackalloc double[8];
        for (var l = 0; l < 8; l++) lanes[l] = 0;
        fixed (float* xs = x)
        fixed (double* ys = y)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                var s = Vector512.Create((double)shift);
                var sum = Vector512<double>.Zero;
                for (; i + 16 <= n; i += 16)
                {
                    var (a, b) = Vector512.Widen(Vector512.Load(xs + i));
                    var ea = Exp512(a - s);
                    var eb = Exp512(b - s);
                    ea.Store(ys + i);
                    eb.Store(ys + i + 8);
                    sum += ea;
                    sum += eb;
                }
                sum.Store(lanes);
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                var s = Vector256.Create((double)shift);
                Vector256<double> lo = default, hi = default;
                for (; i + 8 <= n; i += 8)
                {
                    var (a, b) = Vector256.Widen(Vector256.Load(xs + i));
                    var ea = Exp256(a - s);
                    var eb = Exp256(b - s);
                    ea.Store(ys + i);
                    eb.Store(ys + i + 4);
                    lo += ea;
                    hi += eb;
                }
                lo.Store(lanes);
                hi.Store(lanes + 4);
            }
            for (; i < n; i++)
            {
                ys[i] = Exp((double)xs[i] - shift);
                lanes[i & 7] += ys[i];
            }
        }
        return ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
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
