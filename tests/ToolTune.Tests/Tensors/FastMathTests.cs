using ToolTune.Tensors;

namespace ToolTune.Tests.Tensors;

[TestClass]
public sealed class FastMathTests
{
    [TestMethod]
    public void ExpMatchesDoublePrecisionOverTheNormalRange()
    {
        var n = 200_003;
        var x = new float[n];
        for (var i = 0; i < n; i++) x[i] = -87f + 175f * i / (n - 1);
        var y = new float[n];
        FastMath.Exp(x, y);
        double worst = 0;
        for (var i = 0; i < n; i++)
        {
            var e = Math.Exp(x[i]);
            worst = Math.Max(worst, Math.Abs(y[i] - e) / e);
            if (i % 997 == 0) Assert.AreEqual(y[i], FastMath.Exp(x[i]), Math.Abs(y[i]) * 1e-6f, "scalar tail agrees with the vector path");
        }
        Assert.IsTrue(worst < 4e-7, $"max relative error {worst:G3}");
    }

    [TestMethod]
    public void ExpSpecialValuesAndShiftSum()
    {
        float[] x = [float.NegativeInfinity, -1000f, -88f, 0f, 89f, float.PositiveInfinity, float.NaN, 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f, 10f, 11f];
        var y = new float[x.Length];
        FastMath.Exp(x, y);
        Assert.AreEqual(0f, y[0]);
        Assert.AreEqual(0f, y[1]);
        Assert.AreEqual(0f, y[2]);
        Assert.AreEqual(1f, y[3]);
        Assert.IsTrue(float.IsPositiveInfinity(y[4]));
        Assert.IsTrue(float.IsPositiveInfinity(y[5]));
        Assert.IsTrue(float.IsNaN(y[6]));
        var z = Enumerable.Range(0, 37).Select(i => i * 0.1f - 2f).ToArray();
        var w = new float[z.Length];
        var sum = FastMath.ExpShiftSum(z, 1.5f, w);
        Assert.AreEqual(z.Sum(v => Math.Exp(v - 1.5)), sum, 1e-5);
        Assert.AreEqual(1.6f, FastMath.Max(z), 1e-6f);
        Assert.IsTrue(float.IsNaN(FastMath.Max([1f, float.NaN, 2f])));
        Assert.IsTrue(float.IsNaN(FastMath.Max(Enumerable.Range(0, 40).Select(i => i == 20 ? float.NaN : i).ToArray())));
    }

    [TestMethod]
    public void DoubleExpShiftSumIsExactToDoublePrecision()
    {
        // the LM-head softmax's exp: x − shift from −708 to +709.7, every value within 1e-14 of Math.Exp
        var n = 100_003;
        var x = new float[n];
        for (var i = 0; i < n; i++) x[i] = -700f + 1400f * i / (n - 1);
        var y = new double[n];
        var sum = FastMath.ExpShiftSum(x, 8f, y);
        double worst = 0, reference = 0;
        for (var i = 0; i < n; i++)
        {
            var e = Math.Exp((double)x[i] - 8);
            reference += e;
            if (e > 0 && !double.IsInfinity(e)) worst = Math.Max(worst, Math.Abs(y[i] - e) / e);
        }
        Assert.IsTrue(worst < 1e-14, $"max relative error {worst:G3}");
        Assert.AreEqual(reference, sum, reference * 1e-13);
        Assert.AreEqual(0.0, FastMath.Exp(-709.0));
        Assert.AreEqual(0.0, FastMath.Exp(double.NegativeInfinity));
        Assert.AreEqual(1.0, FastMath.Exp(0.0));
        Assert.AreEqual(Math.Exp(709.7), FastMath.Exp(709.7), Math.Exp(709.7) * 1e-14);
        Assert.IsTrue(double.IsPositiveInfinity(FastMath.Exp(710.0)));
        Assert.IsTrue(double.IsNaN(FastMath.Exp(double.NaN)));
        var special = new double[18];
        FastMath.ExpShiftSum([float.NegativeInfinity, -1000f, 0f, float.NaN, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14], 0f, special);
        Assert.AreEqual(0.0, special[0]);
        Assert.AreEqual(0.0, special[1]);
        Assert.AreEqual(1.0, special[2]);
        Assert.IsTrue(double.IsNaN(special[3]));
    }

    [TestMethod]
    public void VectorBF16RoundingEqualsScalar()
    {
        var r = new Random(5);
        var x = new float[100_003];
        for (var i = 0; i < x.Length; i++) x[i] = BitConverter.Int32BitsToSingle(r.Next() ^ (r.Next() << 1));
        x[7] = float.NaN;
        x[8] = float.PositiveInfinity;
        x[9] = -0f;
        x[10] = BitConverter.Int32BitsToSingle(0x3F80_8000); // tie, even → down
        x[11] = BitConverter.Int32BitsToSingle(0x3F81_8000); // tie, odd → up
        x[12] = BitConverter.Int32BitsToSingle(0x7F7F_FFFF); // max float → +inf in bf16
        var v = new ushort[x.Length];
        Precision.SingleToBF16(x, v);
        for (var i = 0; i < x.Length; i++) Assert.AreEqual(Precision.SingleToBF16(x[i]), v[i], $"index {i} bits {BitConverter.SingleToInt32Bits(x[i]):X8}");
        Assert.AreEqual((ushort)0x3F80, v[10]);
        Assert.AreEqual((ushort)0x3F82, v[11]);
        Assert.AreEqual((ushort)0x7F80, v[12]);
    }
}
