using ToolTune.Tensors;

namespace ToolTune.Tests.Tensors;

/// <summary>
/// The SwiGLU kernels give, on whatever SIMD path this process runs, the bits of the scalar formula
/// (σ = 1 / (1 + exp(−g)) with FastMath's scalar exp, then the products in the same order), whatever the length: full
/// vectors, tails, parallel parts. CI runs this class with AVX-512 and AVX2 switched off too.
/// </summary>
[TestClass]
public sealed class SwiGluTests
{
    private static float[] Rand(int n, int seed, float scale)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (var i = 0; i < n; i++) x[i] = (float)(r.NextDouble() * 2 - 1) * scale;
        return x;
    }

    private static void AssertBitsEqual(float[] expected, float[] actual, string what)
    {
        for (var i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}[{i}] = {actual[i]:R}, the scalar formula gives {expected[i]:R}");
    }

    [TestMethod]
    [DataRow(16)]
    [DataRow(37)]
    [DataRow(1024)]
    [DataRow(16384 + 5)]
    [DataRow(3 * 16384 + 100)]
    public void ForwardAndBackwardMatchTheScalarFormula(int n)
    {
        // Gate values up to ±20 reach σ's saturated ends; one NaN and infinities go through the same formulas.
        var g = Rand(n, 1, 20f);
        var u = Rand(n, 2, 3f);
        var dh = Rand(n, 3, 1f);
        g[n / 2] = float.NaN;
        g[n / 3] = float.PositiveInfinity;
        g[n / 5] = float.NegativeInfinity;

        var sig = new float[n];
        var silu = new float[n];
        var hExpected = new float[n];
        var dUpExpected = new float[n];
        var dGateExpected = new float[n];
        for (var i = 0; i < n; i++)
        {
            sig[i] = 1f / (1f + FastMath.Exp(-g[i]));
            silu[i] = sig[i] * g[i];
            hExpected[i] = silu[i] * u[i];
            dUpExpected[i] = dh[i] * silu[i];
            dGateExpected[i] = dh[i] * u[i] * (sig[i] + silu[i] * (1f - sig[i]));
        }

        var h = new float[n];
        Activations.SiluMul(g, u, h);
        AssertBitsEqual(hExpected, h, "h");

        var dGate = new float[n];
        var dUp = new float[n];
        Activations.SiluMulBackward(dh, g, u, dGate, dUp);
        AssertBitsEqual(dGateExpected, dGate, "dGate");
        AssertBitsEqual(dUpExpected, dUp, "dUp");

        // In place, as the decoder may call it: dGate over gate, dUp over up.
        var gInPlace = (float[])g.Clone();
        var uInPlace = (float[])u.Clone();
        Activations.SiluMulBackward(dh, gInPlace, uInPlace, gInPlace, uInPlace);
        AssertBitsEqual(dGateExpected, gInPlace, "dGate (in place)");
        AssertBitsEqual(dUpExpected, uInPlace, "dUp (in place)");
    }
}
