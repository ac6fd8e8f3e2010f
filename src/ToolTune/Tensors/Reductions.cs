using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ToolTune.Tensors;

/// <summary>
/// Sums and dot products with one canonical summation order, so a result has the same bits on every SIMD path
/// (AVX-512, AVX2, scalar) and for any thread count. The order: element i goes to lane i mod 16; each lane adds its
/// elements in index order (products fused: <c>acc = fma(x, y, acc)</c>); a tail shorter than 16 is zero-padded;
/// then the 16 lanes fold in halves, <c>l + (l + 8)</c>, <c>+ 4</c>, <c>+ 2</c>, <c>+ 1</c>. One 512-bit vector, two
/// 256-bit vectors (lanes 0–7 and 8–15) or 16 scalars hold the same lanes and do the same operations on them.
/// </summary>
/// <remarks>
/// The zero padding changes nothing: a lane starts at +0 and a round-to-nearest sum is −0 only when both terms are, so
/// no lane is ever −0, and <c>fma(0, 0, acc)</c> and <c>acc + 0</c> are <c>acc</c>.
/// </remarks>
public static unsafe class Reductions
{
    /// <summary>Lanes of the canonical layout.</summary>
    public const int Lanes = 16;

    /// <summary>Σ x[i]·y[i] over two spans of equal length.</summary>
    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"Dot: lengths differ ({x.Length}, {y.Length})");
        fixed (float* px = x, py = y) return Dot(px, py, x.Length);
    }

    /// <summary>Σ x[i]².</summary>
    public static float SumOfSquares(ReadOnlySpan<float> x)
    {
        fixed (float* px = x) return Dot(px, px, x.Length);
    }

    /// <summary>Σ x[i]·y[i] for n elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(float* x, float* y, int n)
    {
        var full = n & ~(Lanes - 1);
        var rem = n - full;
        var tx = stackalloc float[Lanes];
        var ty = stackalloc float[Lanes];
        if (rem > 0)
        {
            Pad(x + full, rem, tx, 0f);
            Pad(y + full, rem, ty, 0f);
        }
        if (Vector512.IsHardwareAccelerated)
        {
            var acc = Vector512<float>.Zero;
            for (var i = 0; i < full; i += Lanes)
                acc = Vector512.FusedMultiplyAdd(Vector512.Load(x + i), Vector512.Load(y + i), acc);
            if (rem > 0) acc = Vector512.FusedMultiplyAdd(Vector512.Load(tx), Vector512.Load(ty), acc);
            return Fold(acc.GetLower(), acc.GetUpper());
        }
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> lo = default, hi = default;
            for (var i = 0; i < full; i += Lanes)
            {
                lo = Vector256.FusedMultiplyAdd(Vector256.Load(x + i), Vector256.Load(y + i), lo);
                hi = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 8), Vector256.Load(y + i + 8), hi);
            }
            if (rem > 0)
            {
                lo = Vector256.FusedMultiplyAdd(Vector256.Load(tx), Vector256.Load(ty), lo);
                hi = Vector256.FusedMultiplyAdd(Vector256.Load(tx + 8), Vector256.Load(ty + 8), hi);
            }
            return Fold(lo, hi);
        }
        var lanes = stackalloc float[Lanes];
        new Span<float>(lanes, Lanes).Clear();
        for (var i = 0; i < full; i += Lanes)
            for (var l = 0; l < Lanes; l++) lanes[l] = MathF.FusedMultiplyAdd(x[i + l], y[i + l], lanes[l]);
        if (rem > 0)
            for (var l = 0; l < Lanes; l++) lanes[l] = MathF.FusedMultiplyAdd(tx[l], ty[l], lanes[l]);
        return Fold(lanes);
    }

    /// <summary>Σ x[i].</summary>
    public static float Sum(ReadOnlySpan<float> x)
    {
        var acc = new Accumulator();
        fixed (float* px = x) acc.Add(px, x.Length);
        return acc.Total;
    }

    /// <summary>The canonical fold of 16 lanes held as two 256-bit halves (lanes 0–7, 8–15).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Fold(Vector256<float> lo, Vector256<float> hi)
    {
        var s8 = lo + hi;
        var s4 = s8.GetLower() + s8.GetUpper();
        return (s4.GetElement(0) + s4.GetElement(2)) + (s4.GetElement(1) + s4.GetElement(3));
    }

    /// <summary>The canonical fold of 16 scalar lanes.</summary>
    public static float Fold(float* lanes)
    {
        var s8 = stackalloc float[8];
        for (var l = 0; l < 8; l++) s8[l] = lanes[l] + lanes[l + 8];
        float a = s8[0] + s8[4], b = s8[1] + s8[5], c = s8[2] + s8[6], d = s8[3] + s8[7];
        return (a + c) + (b + d);
    }

    /// <summary>Copies <paramref name="count"/> (&lt; 16) values and fills the rest of the 16 lanes with <paramref name="fill"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Pad(float* src, int count, float* dst16, float fill)
    {
        for (var l = 0; l < count; l++) dst16[l] = src[l];
        for (var l = count; l < Lanes; l++) dst16[l] = fill;
    }

    /// <summary>
    /// A running canonical sum fed in blocks of 16 (e.g. values computed 16 at a time by another kernel): the same
    /// lanes as <see cref="Sum"/> provided every block but the last is whole.
    /// </summary>
    public struct Accumulator
    {
        private Vector256<float> _lo, _hi;

        /// <summary>Adds 16 lanes.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(Vector512<float> v)
        {
            _lo += v.GetLower();
            _hi += v.GetUpper();
        }

        /// <summary>Adds 16 lanes given as halves.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(Vector256<float> lo, Vector256<float> hi)
        {
            _lo += lo;
            _hi += hi;
        }

        /// <summary>Adds n values in blocks of 16 (a short last block zero-padded).</summary>
        public void Add(float* x, int n)
        {
            var i = 0;
            for (; i + Lanes <= n; i += Lanes) AddBlock(x + i);
            if (i == n) return;
            var t = stackalloc float[Lanes];
            Pad(x + i, n - i, t, 0f);
            AddBlock(t);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void AddBlock(float* p)
        {
            // Without hardware support Vector256 is computed lane by lane: the same additions.
            _lo += Vector256.Load(p);
            _hi += Vector256.Load(p + 8);
        }

        /// <summary>The folded sum.</summary>
        public readonly float Total => Fold(_lo, _hi);
    }
}
