using System.Numerics.Tensors;

namespace ToolTune.Tensors;

/// <summary>SwiGLU gate (<c>silu(g)·u</c>) and row softmax, each with its backward.</summary>
public static class Activations
{
    /// <summary><c>h = silu(g) · u</c> elementwise, <c>silu(g) = g·σ(g)</c>. <paramref name="h"/> must not alias the inputs.</summary>
    public static void SiluMul(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> h)
    {
        if (gate.Length != up.Length || h.Length < gate.Length) throw new ArgumentException("SiluMul: length mismatch");
        var hs = h.Slice(0, gate.Length);
        TensorPrimitives.Sigmoid(gate, hs);
        TensorPrimitives.Multiply(hs, gate, hs);
        TensorPrimitives.Multiply(hs, up, hs);
    }

    /// <summary>
    /// Backward of <see cref="SiluMul"/>: <c>dg = dh·u·σ(g)·(1 + g·(1 − σ(g)))</c>, <c>du = dh·silu(g)</c>.
    /// dGate/dUp may alias gate/up (the inputs are read before each element is written).
    /// </summary>
    public static void SiluMulBackward(ReadOnlySpan<float> dh, ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> dGate, Span<float> dUp)
    {
        var n = gate.Length;
        if (up.Length != n || dh.Length < n || dGate.Length < n || dUp.Length < n) throw new ArgumentException("SiluMulBackward: length mismatch");
        const int Chunk = 1024;
        Span<float> sig = stackalloc float[Chunk];
        Span<float> silu = stackalloc float[Chunk];
        for (var s = 0; s < n; s += Chunk)
        {
            var len = Math.Min(Chunk, n - s);
            var g = gate.Slice(s, len);
            var u = up.Slice(s, len);
            var d = dh.Slice(s, len);
            var sg = sig.Slice(0, len);
            var sl = silu.Slice(0, len);
            TensorPrimitives.Sigmoid(g, sg);
            TensorPrimitives.Multiply(sg, g, sl);
            // dg = d*u*(sg + silu*(1-sg)) = d*u*(sg + silu - silu*sg); compute in place in sg.
            for (var i = 0; i < len; i++)
            {
                var sgi = sg[i];
                var sli = sl[i];
                var di = d[i];
                var ui = u[i];
                dUp[s + i] = di * sli;
                dGate[s + i] = di * ui * (sgi + sli * (1f - sgi));
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
