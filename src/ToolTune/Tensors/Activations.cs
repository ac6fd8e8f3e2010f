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

    // σ is computed as TensorPrimitives.Sigmoid computes it on AVX-512 for a span of 16 or more (1 / (1 + Vector512.Exp(−g)),
    // lane by lane), and the products in the order of the former TensorPrimitives passes: one fused pass, same bits
    // (SwiGluTests compares with the TensorPrimitives composition). Without AVX-512 the TensorPrimitives passes run.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void SiluMulRange(float* g, float* u, float* h, int start, int end)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            var i = start;
            for (; i + 16 <= end; i += 16) SiluMul16(g + i, u + i, h + i);
            if (i == end) return;
            // Tail: lanes are independent, so a zero-padded vector gives the values an overlapping one would.
            float* tg = stackalloc float[16], tu = stackalloc float[16], th = stackalloc float[16];
            var rem = end - i;
            Pad(g + i, tg, rem);
            Pad(u + i, tu, rem);
            SiluMul16(tg, tu, th);
            new ReadOnlySpan<float>(th, rem).CopyTo(new Span<float>(h + i, rem));
            return;
        }
        var len = end - start;
        var gs = new ReadOnlySpan<float>(g + start, len);
        var hs = new Span<float>(h + start, len);
        TensorPrimitives.Sigmoid(gs, hs);
        TensorPrimitives.Multiply(hs, gs, hs);
        TensorPrimitives.Multiply(hs, new ReadOnlySpan<float>(u + start, len), hs);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void SiluMul16(float* g, float* u, float* h)
    {
        var gv = Vector512.Load(g);
        var sig = Vector512<float>.One / (Vector512<float>.One + Vector512.Exp(-gv));
        (sig * gv * Vector512.Load(u)).Store(h);
    }

    /// <summary>dg = d·u·(σ + silu·(1 − σ)), du = d·silu for 16 lanes; all inputs are loaded before the outputs are stored.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void SiluMulBackward16(float* d, float* g, float* u, float* dGate, float* dUp)
    {
        var gv = Vector512.Load(g);
        var uv = Vector512.Load(u);
        var dv = Vector512.Load(d);
        var sig = Vector512<float>.One / (Vector512<float>.One + Vector512.Exp(-gv));
        var silu = sig * gv;
        (dv * silu).Store(dUp);
        (dv * uv * (sig + silu * (Vector512<float>.One - sig))).Store(dGate);
    }

    private static unsafe void Pad(float* src, float* dst16, int count)
    {
        new Span<float>(dst16, 16).Clear();
        new ReadOnlySpan<float>(src, count).CopyTo(new Span<float>(dst16, count));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void SiluMulBackwardRange(float* dh, float* g, float* u, float* dGate, float* dUp, int start, int end)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            var i = start;
            for (; i + 16 <= end; i += 16) SiluMulBackward16(dh + i, g + i, u + i, dGate + i, dUp + i);
            if (i == end) return;
            float* td = stackalloc float[16], tg = stackalloc float[16], tu = stackalloc float[16], tdg = stackalloc float[16], tdu = stackalloc float[16];
            var rem = end - i;
            Pad(dh + i, td, rem);
            Pad(g + i, tg, rem);
            Pad(u + i, tu, rem);
            SiluMulBackward16(td, tg, tu, tdg, tdu);
            new ReadOnlySpan<float>(tdg, rem).CopyTo(new Span<float>(dGate + i, rem));
            new ReadOnlySpan<float>(tdu, rem).CopyTo(new Span<float>(dUp + i, rem));
            return;
        }
        SiluMulBackwardPortable(dh, g, u, dGate, dUp, start, end);
    }

    /// <summary>The TensorPrimitives σ (whatever vector width this machine has), then the products in one vector pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void SiluMulBackwardPortable(float* dh, float* g, float* u, float* dGate, float* dUp, int start, int end)
    {
        const int Chunk = 1024;
        var sig = stackalloc float[Chunk];
        var silu = stackalloc float[Chunk];
        for (var s = start; s < end; s += Chunk)
        {
            var len = Math.Min(Chunk, end - s);
            var gs = new ReadOnlySpan<float>(g + s, len);
            TensorPrimitives.Sigmoid(gs, new Span<float>(sig, len));
            TensorPrimitives.Multiply(new ReadOnlySpan<float>(sig, len), gs, new Span<float>(silu, len));
            // dg = d·u·(σ + silu·(1 − σ)), du = d·silu; inputs of an element are read before its outputs are written.
            float* d = dh + s, uu = u + s, dg = dGate + s, du = dUp + s;
            var i = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; i + 8 <= len; i += 8)
                {
                    var di = Vector256.Load(d + i);
                    var ui = Vector256.Load(uu + i);
                    var sg = Vector256.Load(sig + i);
                    var sl = Vector256.Load(silu + i);
                    (di * sl).Store(du + i);
                    (di * ui * (sg + sl * (Vector256<float>.One - sg))).Store(dg + i);
                }
            for (; i < len; i++)
            {
                float di = d[i], ui = uu[i], sg = sig[i], sl = silu[i];
                du[i] = di * sl;
                dg[i] = di * ui * (sg + sl * (1f - sg));
            }
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
            var dot = TensorPrimitives.Dot(yr, dyr);
            TensorPrimitives.Subtract(dyr, dot, dxr);
            TensorPrimitives.Multiply(dxr, yr, dxr);
        }
    }
}
