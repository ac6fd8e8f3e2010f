using ToolTune.Tensors;
using static ToolTune.Tests.Tensors.KernelFixture;

namespace ToolTune.Tests.Tensors;

/// <summary>Forward and backward of each kernel against PyTorch fixtures (fp32, ~1e-5 global relative).</summary>
[TestClass]
public sealed class KernelOracleTests
{
    [TestMethod]
    public void RmsNormMatchesTorch()
    {
        var f = Load("rmsnorm");
        int rows = f.Int("rows"), d = f.Int("d");
        var eps = (float)f.Double("eps");
        var x = f.F("x");
        var w = f.F("w");
        var y = new float[rows * d];
        var rstd = new float[rows];
        RmsNorm.Forward(x, w, y, rstd, rows, d, eps);
        AssertClose("y", f.F("y"), y);
        var dx = new float[rows * d];
        var dw = new float[d];
        RmsNorm.Backward(f.F("dy"), x, w, rstd, dx, dw, rows, d);
        AssertClose("dx", f.F("dx"), dx);
        AssertClose("dw", f.F("dw"), dw);
    }

    [TestMethod]
    [DataRow("rope")]
    [DataRow("rope_long")]
    public void RopeMatchesTorch(string name)
    {
        var f = Load(name);
        int t = f.Int("tokens"), h = f.Int("heads"), hd = f.Int("head_dim");
        var rope = new Rope(hd, f.Double("theta"));
        var pos = f.I("positions");
        var y = f.F("x");
        rope.Apply(y, t, h, pos);
        AssertClose("y", f.F("y"), y, rel: 2e-6);
        var dx = f.F("dy");
        rope.Apply(dx, t, h, pos, inverse: true);
        AssertClose("dx", f.F("dx"), dx, rel: 2e-6);
    }

    [TestMethod]
    public void SiluMulMatchesTorch()
    {
        var f = Load("silu_mul");
        var g = f.F("gate");
        var u = f.F("up");
        var h = new float[g.Length];
        Activations.SiluMul(g, u, h);
        AssertClose("h", f.F("h"), h);
        var dg = new float[g.Length];
        var du = new float[g.Length];
        Activations.SiluMulBackward(f.F("dh"), g, u, dg, du);
        AssertClose("dgate", f.F("dgate"), dg);
        AssertClose("dup", f.F("dup"), du);
    }

    [TestMethod]
    public void SoftmaxMatchesTorch()
    {
        var f = Load("softmax");
        int rows = f.Int("rows"), cols = f.Int("cols");
        var y = new float[rows * cols];
        Activations.Softmax(f.F("x"), y, rows, cols);
        AssertClose("y", f.F("y"), y);
        var dx = new float[rows * cols];
        Activations.SoftmaxBackward(y, f.F("dy"), dx, rows, cols);
        AssertClose("dx", f.F("dx"), dx);
    }

    [TestMethod]
    [DataRow("attention", 0)]
    [DataRow("attention", 512)]
    [DataRow("attention", 64)]
    [DataRow("attention", 17)]
    [DataRow("attention_decode", 512)]
    [DataRow("attention_decode", 16)]
    [DataRow("attention_mha", 512)]
    [DataRow("attention_mha", 5)]
    public void AttentionMatchesTorch(string name, int blockK)
    {
        var f = Load(name);
        int tq = f.Int("tq"), tk = f.Int("tk"), hq = f.Int("hq"), hkv = f.Int("hkv"), hd = f.Int("head_dim");
        var scale = (float)f.Double("scale");
        var q = f.F("q");
        var k = f.F("k");
        var v = f.F("v");
        var o = new float[tq * hq * hd];
        var lse = new float[hq * tq];
        Attention.Forward(q, k, v, o, lse, tq, tk, hq, hkv, hd, scale, blockK);
        AssertClose("o", f.F("o"), o);
        var dq = new float[q.Length];
        var dk = new float[k.Length];
        var dv = new float[v.Length];
        Attention.Backward(f.F("do"), q, k, v, o, lse, dq, dk, dv, tq, tk, hq, hkv, hd, scale, blockK);
        AssertClose("dq", f.F("dq"), dq);
        AssertClose("dk", f.F("dk"), dk);
        AssertClose("dv", f.F("dv"), dv);
    }

    [TestMethod]
    [DoNotParallelize] // counts process-wide allocations
    public void AttentionMemoryIsLinearInSequenceLength()
    {
        // T = 4096: a T×T score matrix would be 64 MB per head; forward + backward must allocate far less.
        int t = 4096, hq = 2, hkv = 1, d = 32;
        var r = new Random(3);
        float[] Rand(int n) { var x = new float[n]; for (var i = 0; i < n; i++) x[i] = (float)(r.NextDouble() - 0.5); return x; }
        var q = Rand(t * hq * d);
        var k = Rand(t * hkv * d);
        var v = Rand(t * hkv * d);
        var dO = Rand(t * hq * d);
        var o = new float[q.Length];
        var lse = new float[hq * t];
        float[] dq = new float[q.Length], dk = new float[k.Length], dv = new float[v.Length];
        var before = GC.GetTotalAllocatedBytes(precise: true);
        Attention.Forward(q, k, v, o, lse, t, t, hq, hkv, d, 1f / MathF.Sqrt(d));
        Attention.Backward(dO, q, k, v, o, lse, dq, dk, dv, t, t, hq, hkv, d, 1f / MathF.Sqrt(d));
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Console.WriteLine($"attention T={t}: allocated {allocated / 1e6:F1} MB");
        Assert.IsTrue(allocated < 24_000_000, $"allocated {allocated} bytes");
        Assert.IsTrue(o.All(float.IsFinite) && dq.All(float.IsFinite) && dk.All(float.IsFinite));
    }

    [TestMethod]
    [DataRow(128)]
    [DataRow(7)]
    [DataRow(1)]
    public void CrossEntropyLmHeadMatchesTorch(int chunk)
    {
        var f = Load("cross_entropy");
        int t = f.Int("tokens"), h = f.Int("hidden"), v = f.Int("vocab");
        var hidden = f.F("hidden");
        var w = f.F("weight");
        var labels = f.I("labels");
        var dh = new float[hidden.Length];
        var dw = new float[w.Length];
        var loss = CrossEntropy.LmHeadLoss(hidden, w, labels, t, h, v, dh, dw, out var count, chunk: chunk);
        Assert.AreEqual(labels.Count(l => l != CrossEntropy.IgnoreIndex), count);
        Assert.AreEqual(f.Double("loss"), loss, 1e-5 * Math.Abs(f.Double("loss")));
        AssertClose("dhidden", f.F("dhidden"), dh);
        AssertClose("dweight", f.F("dweight"), dw);
        var lossOnly = CrossEntropy.LmHeadLoss(hidden, w, labels, t, h, v, out _, chunk);
        Assert.AreEqual(loss, lossOnly, 1e-12);
    }

    [TestMethod]
    public void CrossEntropyBF16WeightEqualsWidenedF32()
    {
        var f = Load("cross_entropy");
        int t = f.Int("tokens"), h = f.Int("hidden"), v = f.Int("vocab");
        var hidden = f.F("hidden");
        var bits = new ushort[v * h];
        Precision.SingleToBF16(f.F("weight"), bits);
        var widened = new float[bits.Length];
        Precision.BF16ToSingle(bits, widened);
        var labels = f.I("labels");
        float[] dh1 = new float[hidden.Length], dh2 = new float[hidden.Length], dw1 = new float[v * h], dw2 = new float[v * h];
        var l1 = CrossEntropy.LmHeadLoss(hidden, widened, labels, t, h, v, dh1, dw1, out _, chunk: 5);
        var l2 = CrossEntropy.LmHeadLoss(hidden, bits, labels, t, h, v, dh2, dw2, out _, chunk: 5);
        Assert.AreEqual(l1, l2);
        CollectionAssert.AreEqual(dh1, dh2);
        CollectionAssert.AreEqual(dw1, dw2);
        Assert.AreEqual(f.Double("loss"), l2, 1e-2 * f.Double("loss"), "bf16 weights stay within bf16 tolerance of the f32 loss");
    }

    [TestMethod]
    public void CrossEntropyAllIgnoredIsNaNWithZeroGrad()
    {
        var dh = new float[] { 1, 1, 1, 1 };
        var loss = CrossEntropy.LmHeadLoss(new float[4], new float[6], new[] { CrossEntropy.IgnoreIndex, CrossEntropy.IgnoreIndex }, 2, 2, 3, dh, new float[6], out var count);
        Assert.IsTrue(double.IsNaN(loss));
        Assert.AreEqual(0, count);
        CollectionAssert.AreEqual(new float[4], dh);
    }

    [TestMethod]
    public void EmbeddingMatchesTorch()
    {
        var f = Load("embedding");
        int vocab = f.Int("vocab"), dim = f.Int("dim");
        var ids = f.I("ids");
        var y = new float[ids.Length * dim];
        Embedding.Gather(f.F("weight"), vocab, dim, ids, y);
        AssertClose("y", f.F("y"), y, rel: 0, abs: 0);
        var dw = new float[vocab * dim];
        Embedding.ScatterAdd(f.F("dy"), ids, dw, vocab, dim);
        AssertClose("dweight", f.F("dweight"), dw, rel: 1e-6);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Embedding.Gather(f.F("weight"), vocab, dim, new[] { vocab }, new float[dim]));
        var bits = new ushort[vocab * dim];
        Precision.SingleToBF16(f.F("weight"), bits);
        var yb = new float[y.Length];
        Embedding.Gather(bits, vocab, dim, ids, yb);
        var expected = f.F("y").Select(v => Precision.BF16ToSingle(Precision.SingleToBF16(v))).ToArray();
        CollectionAssert.AreEqual(expected, yb);
    }

    [TestMethod]
    public void ConversionsMatchTorchBitForBit()
    {
        var f = Load("convert");
        var x = f.F("f32");
        var bfBits = f.I("bf16_bits");
        var f16Bits = f.I("f16_bits");
        var bf = new ushort[x.Length];
        Precision.SingleToBF16(x, bf);
        for (var i = 0; i < x.Length; i++)
            Assert.AreEqual((ushort)bfBits[i], bf[i], $"bf16 of {x[i]:R} (index {i})");
        var back = new float[x.Length];
        Precision.BF16ToSingle(bf, back);
        var bfAsF32 = f.F("bf16_as_f32");
        for (var i = 0; i < x.Length; i++) Assert.AreEqual(bfAsF32[i], back[i], $"bf16→f32 index {i}");
        var h = new Half[x.Length];
        Precision.SingleToHalf(x, h);
        var hb = new float[x.Length];
        Precision.HalfToSingle(h, hb);
        var f16AsF32 = f.F("f16_as_f32");
        for (var i = 0; i < x.Length; i++)
        {
            Assert.AreEqual((ushort)f16Bits[i], BitConverter.HalfToUInt16Bits(h[i]), $"f16 of {x[i]:R} (index {i})");
            Assert.AreEqual(f16AsF32[i], hb[i]);
        }
        Assert.IsTrue(float.IsNaN(Precision.BF16ToSingle(Precision.SingleToBF16(float.NaN))));
    }
}
