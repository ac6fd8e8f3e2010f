using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace ToolTune.Tensors;

/// <summary>
/// RMSNorm as in HF Llama/SmolLM3: <c>y = (x · rsqrt(mean(x²) + eps)) · w</c> per row of length d.
/// </summary>
public static class RmsNorm
{
    /// <summary>Forward over <paramref name="rows"/> rows; stores 1/rms per row in <paramref name="rstd"/> for backward.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, Span<float> rstd, int rows, int d, float eps)
    {
        Check(x.Length, rows, d, weight.Length, y.Length, rstd.Length);
        for (var r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * d, d);
            var yr = y.Slice(r * d, d);
            var ms = TensorPrimitives.SumOfSquares(xr) / d;
            var inv = 1f / MathF.Sqrt(ms + eps);
            rstd[r] = inv;
            TensorPrimitives.Multiply(xr, inv, yr);
            TensorPrimitives.Multiply(yr, weight, yr);
        }
    }

    /// <summary>
    /// Backward: <c>dx = rstd·(g − x̂·mean(g·x̂))</c> with <c>g = dy·w</c>, <c>x̂ = x·rstd</c>; adds <c>Σ dy·x̂</c> into
    /// <paramref name="dWeight"/> (when non-empty). <paramref name="dx"/> is overwritten, or added to when
    /// <paramref name="accumulateDx"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> rstd,
        Span<float> dx, Span<float> dWeight, int rows, int d, bool accumulateDx = false)
    {
        Check(x.Length, rows, d, weight.Length, dx.Length, rstd.Length);
        // Row scratch on the stack (d is the hidden size: 8 KB each at 2048); heap only for unusually wide rows.
        Span<float> g = d <= 4096 ? stackalloc float[d] : new float[d];
        Span<float> xh = d <= 4096 ? stackalloc float[d] : new float[d];
        for (var r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * d, d);
            var dyr = dy.Slice(r * d, d);
            var inv = rstd[r];
            TensorPrimitives.Multiply(xr, inv, xh);
            if (!dWeight.IsEmpty) TensorPrimitives.MultiplyAdd(dyr, xh, dWeight, dWeight);
            TensorPrimitives.Multiply(dyr, weight, g);
            var mean = TensorPrimitives.Dot(g, xh) / d;
            // dx = inv * (g - xh * mean)
            TensorPrimitives.MultiplyAdd(xh, -mean, g, g);
            var dxr = dx.Slice(r * d, d);
            if (accumulateDx) TensorPrimitives.MultiplyAdd(g, inv, dxr, dxr);
            else TensorPrimitives.Multiply(g, inv, dxr);
        }
    }

    private static void Check(int xLen, int rows, int d, int wLen, int yLen, int rLen)
    {
        if (xLen < rows * d || yLen < rows * d || wLen != d || rLen < rows)
            throw new ArgumentException($"RmsNorm: shapes do not agree (rows {rows}, d {d}, x {xLen}, w {wLen}, y {yLen}, rstd {rLen})");
    }
}
