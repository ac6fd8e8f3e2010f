using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ToolTune.Tensors;

namespace ToolTune.Model;

/// <summary>
/// <c>y (+)= x·Wᵀ</c> for a handful of rows (KV-cache decoding: one token per step). The packed GEMM re-packs (and
/// widens) the whole weight per call, which dominates at m = 1; here each weight row is streamed once, bf16 widened
/// in registers, split over the worker pool by output rows. Every dot product sums in the canonical order of
/// <see cref="Reductions"/> (16 lanes, folded in halves), so decoding gives the same bits on every SIMD path.
/// </summary>
internal static unsafe class Gemv
{
    public const int MaxRows = 4;

    /// <summary>Output rows computed together: independent accumulator chains keep the FMA units busy.</summary>
    private const int Group = 4;

    public static void MatMulWT(ReadOnlySpan<float> x, Param w, Span<float> y, int rows, bool accumulate)
    {
        int n = w.Rows, k = w.Cols;
        if (x.Length < rows * k || y.Length < rows * n) throw new ArgumentException("Gemv: shapes do not agree");
        if (n == 0 || rows == 0) return;
        var parts = Math.Max(1, Math.Min(WorkerPool.Shared.MaxParallelism * 4, n / 64));
        var per = (n + parts - 1) / parts;
        per = (per + Group - 1) / Group * Group;
        parts = (n + per - 1) / per;
        fixed (float* px = x, py = y)
        fixed (float* pf = w.IsBF16 ? default : w.F32)
        fixed (ushort* pb = w.IsBF16 ? w.BF16 : default)
        {
            nint ax = (nint)px, ay = (nint)py, af = (nint)pf, ab = (nint)pb;
            WorkerPool.Shared.For(parts, p =>
            {
                var d = stackalloc float[Group];
                var j1 = Math.Min(n, (p + 1) * per);
                for (var j = p * per; j < j1; j += Group)
                {
                    var g = Math.Min(Group, j1 - j);
                    for (var r = 0; r < rows; r++)
                    {
                        var xr = (float*)ax + (long)r * k;
                        if (ab != 0) DotRows((ushort*)ab + (long)j * k, xr, k, g, d);
                        else DotRows((float*)af + (long)j * k, xr, k, g, d);
                        var o = (float*)ay + (long)r * n + j;
                        for (var i = 0; i < g; i++) o[i] = accumulate ? o[i] + d[i] : d[i];
                    }
                }
            });
        }
    }

    /// <summary>d[i] = Σ_p w[i·k + p]·x[p] for <paramref name="count"/> (≤ 4) f32 weight rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotRows(float* w, float* x, int k, int count, float* d)
    {
        if (count < Group || !Vector256.IsHardwareAccelerated)
        {
            for (var i = 0; i < count; i++) d[i] = Reductions.Dot(w + (long)i * k, x, k);
            return;
        }
        var full = k & ~(Reductions.Lanes - 1);
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (var p = 0; p < full; p += 16)
            {
                var xv = Vector512.Load(x + p);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w + p), xv, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(w + k + p), xv, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(w + 2L * k + p), xv, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(w + 3L * k + p), xv, a3);
            }
            Finish(a0.GetLower(), a0.GetUpper(), w, x, k, full, d);
            Finish(a1.GetLower(), a1.GetUpper(), w + k, x, k, full, d + 1);
            Finish(a2.GetLower(), a2.GetUpper(), w + 2L * k, x, k, full, d + 2);
            Finish(a3.GetLower(), a3.GetUpper(), w + 3L * k, x, k, full, d + 3);
            return;
        }
        Vector256<float> l0 = default, h0 = default, l1 = default, h1 = default, l2 = default, h2 = default, l3 = default, h3 = default;
        for (var p = 0; p < full; p += 16)
        {
            var xl = Vector256.Load(x + p);
            var xh = Vector256.Load(x + p + 8);
            l0 = Vector256.FusedMultiplyAdd(Vector256.Load(w + p), xl, l0);
            h0 = Vector256.FusedMultiplyAdd(Vector256.Load(w + p + 8), xh, h0);
            l1 = Vector256.FusedMultiplyAdd(Vector256.Load(w + k + p), xl, l1);
            h1 = Vector256.FusedMultiplyAdd(Vector256.Load(w + k + p + 8), xh, h1);
            l2 = Vector256.FusedMultiplyAdd(Vector256.Load(w + 2L * k + p), xl, l2);
            h2 = Vector256.FusedMultiplyAdd(Vector256.Load(w + 2L * k + p + 8), xh, h2);
            l3 = Vector256.FusedMultiplyAdd(Vector256.Load(w + 3L * k + p), xl, l3);
            h3 = Vector256.FusedMultiplyAdd(Vector256.Load(w + 3L * k + p + 8), xh, h3);
        }
        Finish(l0, h0, w, x, k, full, d);
        Finish(l1, h1, w + k, x, k, full, d + 1);
        Finish(l2, h2, w + 2L * k, x, k, full, d + 2);
        Finish(l3, h3, w + 3L * k, x, k, full, d + 3);
    }

    /// <summary>Adds the zero-padded tail of one row to its lanes and folds them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(Vector256<float> lo, Vector256<float> hi, float* w, float* x, int k, int full, float* d)
    {
        if (full < k)
        {
            var tw = stackalloc float[Reductions.Lanes];
            var tx = stackalloc float[Reductions.Lanes];
            Reductions.Pad(w + full, k - full, tw, 0f);
            Reductions.Pad(x + full, k - full, tx, 0f);
            lo = Vector256.FusedMultiplyAdd(Vector256.Load(tw), Vector256.Load(tx), lo);
            hi = Vector256.FusedMultiplyAdd(Vector256.Load(tw + 8), Vector256.Load(tx + 8), hi);
        }
        *d = Reductions.Fold(lo, hi);
    }

    /// <summary>As the f32 rows, with bf16 weight rows first widened (exactly: bits &lt;&lt; 16) into a per-thread buffer.</summary>
    private static void DotRows(ushort* w, float* x, int k, int count, float* d)
    {
        var need = Group * k;
        if (t_wide is null || t_wide.Length < need) t_wide = new float[need];
        fixed (float* wide = t_wide)
        {
            for (var i = 0; i < count; i++)
                Precision.BF16ToSingle(new ReadOnlySpan<ushort>(w + (long)i * k, k), new Span<float>(wide + (long)i * k, k));
            DotRows(wide, x, k, count, d);
        }
    }

    [ThreadStatic] private static float[]? t_wide;
}
