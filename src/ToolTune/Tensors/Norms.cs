using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace ToolTune.Tensors;

/// <summary>
/// RMSNorm as in HF Llama/SmolLM3: <c>y = (x · rsqrt(mean(x²) + eps)) · w</c> per row of length d.
/// </summary>
public static class RmsNorm
{
    /// <summary>Rows per parallel part: rows are independent, so splitting them changes no bits.</summary>
    private const int PartRows = 64;

    /// <summary>Forward over <paramref name="rows"/> rows; stores 1/rms per row in <paramref name="rstd"/> for backward.</summary>
    public static unsafe void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, Span<float> rstd, int rows, int d, float eps)
    {
        Check(x.Length, rows, d, weight.Length, y.Length, rstd.Length);
        fixed (float* px = x, pw = weight, py = y, pr = rstd)
        {
            if (rows < 2 * PartRows) { ForwardRows(px, pw, py, pr, 0, rows, d, eps); return; }
            nint ax = (nint)px, aw = (nint)pw, ay = (nint)py, ar = (nint)pr;
            WorkerPool.Shared.For((rows + PartRows - 1) / PartRows, part =>
                ForwardRows((float*)ax, (float*)aw, (float*)ay, (float*)ar, part * PartRows, Math.Min(rows, (part + 1) * PartRows), d, eps));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardRows(float* x, float* weight, float* y, float* rstd, int r0, int r1, int d, float eps)
    {
        var w = new ReadOnlySpan<float>(weight, d);
        for (var r = r0; r < r1; r++)
        {
            var xr = new ReadOnlySpan<float>(x + (long)r * d, d);
            var yr = new Span<float>(y + (long)r * d, d);
            var ms = Reductions.SumOfSquares(xr) / d;
            var inv = 1f / MathF.Sqrt(ms + eps);
            rstd[r] = inv;
            TensorPrimitives.Multiply(xr, inv, yr);
            TensorPrimitives.Multiply(yr, w, yr);
        }
    }

    /// <summary>
    /// Backward: <c>dx = rstd·(g − x̂·mean(g·x̂))</c> with <c>g = dy·w</c>, <c>x̂ = x·rstd</c>; adds <c>Σ dy·x̂</c> into
    /// <paramref name="dWeight"/> (when non-empty). <paramref name="dx"/> is overwritten, or added to when
    /// <paramref name="accumulateDx"/>.
    /// </summary>
    public static unsafe void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> rstd,
        Span<float> dx, Span<float> dWeight, int rows, int d, bool accumulateDx = false)
    {
        Check(x.Length, rows, d, weight.Length, dx.Length, rstd.Length);
        fixed (float* pdy = dy, px = x, pw = weight, pr = rstd, pdx = dx, pdw = dWeight)
        {
            // dWeight sums over rows in row order: only a frozen weight lets the rows run in parallel.
            if (!dWeight.IsEmpty || rows < 2 * PartRows) { BackwardRows(pdy, px, pw, pr, pdx, pdw, 0, rows, d, accumulateDx); return; }
            nint ady = (nint)pdy, ax = (nint)px, aw = (nint)pw, ar = (nint)pr, adx = (nint)pdx;
            WorkerPool.Shared.For((rows + PartRows - 1) / PartRows, part =>
                BackwardRows((float*)ady, (float*)ax, (float*)aw, (float*)ar, (float*)adx, null, part * PartRows, Math.Min(rows, (part + 1) * PartRows), d, accumulateDx));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void BackwardRows(float* dy, float* x, float* weight, float* rstd, float* dx, float* dWeight, int r0, int r1, int d, bool accumulateDx)
    {
        var w = new ReadOnlySpan<float>(weight, d);
        var dW = dWeight == null ? default : new Span<float>(dWeight, d);
        // Row scratch on the stack (d is the hidden size: 8 KB each at 2048); heap only for unusually wide rows.
        Span<float> g = d <= 4096 ? stackalloc float[d] : new float[d];
        Span<float> xh = d <= 4096 ? stackalloc float[d] : new float[d];
        for (var r = r0; r < r1; r++)
        {
            var xr = new ReadOnlySpan<float>(x + (long)r * d, d);
            var dyr = new ReadOnlySpan<float>(dy + (long)r * d, d);
            var inv = rstd[r];
            TensorPrimitives.Multiply(xr, inv, xh);
            if (dWeight != null) TensorPrimitives.MultiplyAdd(dyr, xh, dW, dW);
            TensorPrimitives.Multiply(dyr, w, g);
            var mean = Reductions.Dot(g, xh) / d;
            // dx = inv * (g - xh * mean)
            TensorPrimitives.MultiplyAdd(xh, -mean, g, g);
            var dxr = new Span<float>(dx + (long)r * d, d);
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
