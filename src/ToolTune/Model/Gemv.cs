using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using ToolTune.Tensors;

namespace ToolTune.Model;

/// <summary>
/// <c>y (+)= x·Wᵀ</c> for a handful of rows (KV-cache decoding: one token per step). The packed GEMM re-packs (and
/// widens) the whole weight per call, which dominates at m = 1; here each weight row is streamed once, bf16 widened
/// in registers, split over the worker pool by output rows.
/// </summary>
internal static unsafe class Gemv
{
    public const int MaxRows = 4;

    public static void MatMulWT(ReadOnlySpan<float> x, Param w, Span<float> y, int rows, bool accumulate)
    {
        int n = w.Rows, k = w.Cols;
        if (x.Length < rows * k || y.Length < rows * n) throw new ArgumentException("Gemv: shapes do not agree");
        var parts = Math.Max(1, Math.Min(WorkerPool.Shared.MaxParallelism * 4, n / 64));
        var per = (n + parts - 1) / parts;
        fixed (float* px = x, py = y)
        {
            nint ax = (nint)px, ay = (nint)py;
            if (w.IsBF16)
            {
                fixed (ushort* pw = w.BF16)
                {
                    nint aw = (nint)pw;
                    WorkerPool.Shared.For(parts, p =>
                    {
                        var j1 = Math.Min(n, (p + 1) * per);
                        for (var j = p * per; j < j1; j++)
                            for (var r = 0; r < rows; r++)
                            {
                                var d = DotBF16((float*)ax + r * k, (ushort*)aw + (long)j * k, k);
                                var o = (float*)ay + (long)r * n + j;
                                *o = accumulate ? *o + d : d;
                            }
                    });
                }
            }
            else
            {
                fixed (float* pw = w.F32)
                {
                    nint aw = (nint)pw;
                    WorkerPool.Shared.For(parts, p =>
                    {
                        var j1 = Math.Min(n, (p + 1) * per);
                        for (var j = p * per; j < j1; j++)
                            for (var r = 0; r < rows; r++)
                            {
                                var d = TensorPrimitives.Dot(new ReadOnlySpan<float>((float*)ax + r * k, k), new ReadOnlySpan<float>((float*)aw + (long)j * k, k));
                                var o = (float*)ay + (long)r * n + j;
                                *o = accumulate ? *o + d : d;
                            }
                    });
                }
            }
        }
    }

    /// <summary>Σ x[i]·bf16(w[i]), widening 16 bf16 values per iteration (bits &lt;&lt; 16 is the f32 value).</summary>
    public static float DotBF16(float* x, ushort* w, int k)
    {
        var i = 0;
        float sum;
        if (Vector256.IsHardwareAccelerated && k >= 16)
        {
            var acc0 = Vector256<float>.Zero;
            var acc1 = Vector256<float>.Zero;
            for (; i + 16 <= k; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(w + i));
                acc0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(lo, 16).AsSingle(), Vector256.Load(x + i), acc0);
                acc1 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(hi, 16).AsSingle(), Vector256.Load(x + i + 8), acc1);
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        else sum = 0;
        for (; i < k; i++) sum += x[i] * Precision.BF16ToSingle(w[i]);
        return sum;
    }
}
