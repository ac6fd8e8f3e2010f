using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ToolTune.Tensors;

/// <summary>SwiGLU gate (<c>silu(g)·u</c>) and row softmax, each with its backward.</summary>
public static class Activations
{
    /// <summary>Elements per parallel part of the SwiGLU kernels: large enough to amortise a hand-off to a worker.</summary>
    private const int SiluPart = 16384;

    /// <summary><c>h = silu(g) · u</c> elementwise, <c>silu(g) = g·σ(g)</c>. <paramref name="h"/> must not alias the inputs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void SiluMul(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> h)
    {
        if (gate.Length != up.Length || h.Length < gate.Length) throw new ArgumentException("SiluMul: length mismatch");
        var n = gate.Length;
        fixed (float* pg = gate, pu = up, ph = h)
        {
            nint ag = (nint)pg, au = (nint)pu, ah = (nint)ph;
            WorkerPool.Shared.For((n + SiluPart - 1) / SiluPart, part =>
                SiluMulRange((float*)ag, (float*)au, (float*)ah, part * SiluPart, Math.Min(n, (part + 1) * SiluPart)));
        }
    }

    /// <summary>
    /// Backward of <see cref="SiluMul"/>: <c>dg = dh·u·σ(g)·(1 + g·(1 − σ(g)))</c>, <c>du = dh·silu(g)</c>.
    /// dGate/dUp may alias gate/up (the inputs are read before each element is written).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void SiluMulBackward(ReadOnlySpan<float> dh, ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> dGate, Span<float> dUp)
    {
        var n = gate.Length;
        if (up.Length != n || dh.Length < n || dGate.Length < n || dUp.Length < n) throw new ArgumentException("SiluMulBackward: length mismatch");
        fixed (float* pd = dh, pg = gate, pu = up, pdg = dGate, pdu = dUp)
        {
            nint ad = (nint)pd, ag = (nint)pg, au = (nint)pu, adg = (nint)pdg, adu = (nint)pdu;
            WorkerPool.Shared.For((n + SiluPart - 1) / SiluPart, part =>
                SiluMulBackwardRange((float*)ad, (float*)ag, (float*)au, (float*)adg, (float*)adu, part * SiluPart, Math.Min(n, (part + 1) * SiluPart)));
        }
    }

    // σ(g) = 1 / (1 + exp(−g)) with FastMath's exp, whose lanes do the scalar twin's operations, and the products in
    // one fixed order: every SIMD width (and the scalar tail) gives each element the same bits.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void SiluMulRange(float* g, float* u, float* h, int start, int end)
    {
        var i = start;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= end; i += 16)
            {
                var gv = Vector512.Load(g + i);
                var sig = Vector512<float>.One / (Vector512<float>.One + FastMath.Exp512(-gv));
                (sig * gv * Vector512.Load(u + i)).Store(h + i);
            }
        else if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= end; i += 8)
            {
                var gv = Vector256.Load(g + i);
                var sig = Vector256<float>.One / (Vector256<float>.One + FastMath.Exp256(-gv));
                (sig * gv * Vector256.Load(u + i)).Store(h + i);
            }
        for (; i < end; i++)
        {
            var sig = 1f / (1f + FastMath.Exp(-g[i]));
            h[i] = sig * g[i] * u[i];
        }
    }

    /// <summary>dg = d·u·(σ + silu·(1 − σ)), du = d·silu; an element's inputs are read before its outputs are written.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void SiluMulBackwardRange(float* dh, float* g, float* u, float* dGate, float* dUp, int start, int end)
    {
        var i = start;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= end; i += 16)
            {
                var gv = Vector512.Load(g + i);
                var uv = Vector512.Load(u + i);
                var dv = Vector512.Load(dh + i);
                var sig = Vector512<float>.One / (Vector512<float>.One + FastMath.Exp512(-gv));
                var silu = sig * gv;
                (dv * silu).Store(dUp + i);
                (dv * uv * (sig + silu * (Vector512<float>.One - sig))).Store(dGate + i);
            }
        else if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= end; i += 8)
            {
                var gv = Vector256.Load(g + i);
                var uv = Vector256.Load(u + i);
                var dv = Vector256.Load(dh + i);
                var sig = Vector256<float>.One / (Vector256<float>.One + FastMath.Exp256(-gv));
                var silu = sig * gv;
                (dv * silu).Store(dUp + i);
                (dv * uv * (sig + silu * (Vector256<float>.One - sig))).Store(dGate + i);
            }
        for (; i < end; i++)
        {
            float gi = g[i], ui = u[i], di = dh[i];
            var sig = 1f / (1f + FastMath.Exp(-gi));
            var silu = sig * gi;
            dUp[i] = di * silu;
            dGate[i] = di * ui * (sig + silu * (1f - sig));
        }
    }

    /// <summary>Softmax over each row of length <paramref name="cols"/>.</summary>
    public static void Softmax(ReadOnlySpan<float> x, Span<float> y, int rows, int cols)
    {
        for (var r = 0; r < rows; r++)
        {
            var yr = y.Slice(r * cols, cols);
            var xr = x.Slice(r * cols, cols);
            var sum = FastMath.ExpShiftSum(xr, FastMath.Max(xr), yr);
            TensorPrimitives.Multiply(yr, 1f / sum, yr);
        }
    }

    /// <summary>Softmax backward from its output: <c>dx = y·(dy − Σ dy·y)</c>.</summary>
    public static void SoftmaxBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int rows, int cols)
    {
        for (var r = 0; r < rows; r++)
        {
            var yr = y.Slice(r * cols, cols);
            var dyr = dy.Slice(r * cols, cols);
            var dxr = dx.Slice(r * cols, cols);
            var dot = Reductions.Dot(yr, dyr);
            TensorPrimitives.Subtract(dyr, dot, dxr);
            TensorPrimitives.Multiply(dxr, yr, dxr);
        }
    }
}
