using ToolTune.Tensors;

namespace ToolTune.Tests.Tensors;

/// <summary>
/// Central finite-difference checks of every backward: objective L = Σ w ∘ f(x) (accumulated in double),
/// ∂L/∂x_i ≈ (L(x+ε) − L(x−ε)) / 2ε on sampled coordinates, against the analytic backward.
/// </summary>
[TestClass]
public sealed class FiniteDifferenceTests
{
    private static float[] Rand(int n, int seed, float scale = 1f)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (var i = 0; i < n; i++) x[i] = (float)(r.NextDouble() * 2 - 1) * scale;
        return x;
    }

    private static double Dot(float[] w, float[] y)
    {
        double s = 0;
        for (var i = 0; i < w.Length; i++) s += (double)w[i] * y[i];
        return s;
    }

    /// <summary>Checks <paramref name="analytic"/> = ∂objective/∂x on up to <paramref name="samples"/> coordinates.</summary>
    private static void Check(string what, float[] x, float[] analytic, Func<double> objective, int samples = 24, float eps = 1e-2f, double tol = 1e-2)
    {
        var r = new Random(what.GetHashCode(StringComparison.Ordinal) & 0xFFFF);
        var scale = analytic.Max(v => Math.Abs((double)v));
        var idx = x.Length <= samples ? Enumerable.Range(0, x.Length) : Enumerable.Range(0, samples).Select(_ => r.Next(x.Length));
        foreach (var i in idx)
        {
            var orig = x[i];
            x[i] = orig + eps;
            var fp = objective();
            x[i] = orig - eps;
            var fm = objective();
            x[i] = orig;
            var numeric = (fp - fm) / (2.0 * eps);
            if (Math.Abs(numeric - analytic[i]) > tol * scale + 1e-4)
                Assert.Fail($"{what}[{i}]: numeric {numeric:G6} vs analytic {analytic[i]:G6} (scale {scale:G4})");
        }
    }

    [TestMethod]
    public void RmsNormGrad()
    {
        int rows = 3, d = 16;
        var x = Rand(rows * d, 1, 2f);
        var w = Rand(d, 2);
        var dy = Rand(rows * d, 3);
        var y = new float[rows * d];
        var rstd = new float[rows];
        double Obj() { RmsNorm.Forward(x, w, y, rstd, rows, d, 1e-6f); return Dot(dy, y); }
        Obj();
        var dx = new float[rows * d];
        var dw = new float[d];
        RmsNorm.Backward(dy, x, w, rstd, dx, dw, rows, d);
        Check("rmsnorm.dx", x, dx, Obj);
        Check("rmsnorm.dw", w, dw, Obj);
    }

    [TestMethod]
    public void RopeGrad()
    {
        int t = 5, h = 2, hd = 8;
        var rope = new ToolTune.Tensors.Rope(hd, 10000);
        var x = Rand(t * h * hd, 4);
        var dy = Rand(t * h * hd, 5);
        double Obj() { var y = (float[])x.Clone(); rope.Apply(y, t, h, 2); return Dot(dy, y); }
        var dx = (float[])dy.Clone();
        rope.Apply(dx, t, h, 2, inverse: true);
        Check("rope.dx", x, dx, Obj, samples: 80);
    }

    [TestMethod]
    public void SiluMulGrad()
    {
        var g = Rand(40, 6, 4f);
        var u = Rand(40, 7, 2f);
        var dh = Rand(40, 8);
        var h = new float[40];
        double Obj() { Activations.SiluMul(g, u, h); return Dot(dh, h); }
        var dg = new float[40];
        var du = new float[40];
        Activations.SiluMulBackward(dh, g, u, dg, du);
        Check("silu.dgate", g, dg, Obj, eps: 1e-3f);
        Check("silu.dup", u, du, Obj, eps: 1e-3f);
    }

    [TestMethod]
    public void SoftmaxGrad()
    {
        int rows = 3, cols = 11;
        var x = Rand(rows * cols, 9, 3f);
        var dy = Rand(rows * cols, 10);
        var y = new float[rows * cols];
        double Obj() { Activations.Softmax(x, y, rows, cols); return Dot(dy, y); }
        Obj();
        var dx = new float[rows * cols];
        Activations.SoftmaxBackward(y, dy, dx, rows, cols);
        Check("softmax.dx", x, dx, Obj, eps: 1e-3f);
    }

    [TestMethod]
    [DataRow(70, 70, 4, 2, 8, 512)]
    [DataRow(70, 70, 4, 2, 8, 24)]
    [DataRow(3, 9, 2, 1, 4, 4)]
    public void AttentionGrad(int tq, int tk, int hq, int hkv, int d, int blockK)
    {
        var scale = 1f / MathF.Sqrt(d);
        var q = Rand(tq * hq * d, 11);
        var k = Rand(tk * hkv * d, 12);
        var v = Rand(tk * hkv * d, 13);
        var dO = Rand(tq * hq * d, 14);
        var o = new float[tq * hq * d];
        var lse = new float[hq * tq];
        double Obj() { ToolTune.Tensors.Attention.Forward(q, k, v, o, [], tq, tk, hq, hkv, d, scale, blockK); return Dot(dO, o); }
        ToolTune.Tensors.Attention.Forward(q, k, v, o, lse, tq, tk, hq, hkv, d, scale, blockK);
        var dq = new float[q.Length];
        var dk = new float[k.Length];
        var dv = new float[v.Length];
        ToolTune.Tensors.Attention.Backward(dO, q, k, v, o, lse, dq, dk, dv, tq, tk, hq, hkv, d, scale, blockK);
        Check("attn.dq", q, dq, Obj, eps: 1e-2f);
        Check("attn.dk", k, dk, Obj, eps: 1e-2f);
        Check("attn.dv", v, dv, Obj, eps: 1e-2f);
    }

    [TestMethod]
    public void CrossEntropyLmHead()
    {
        int t = 9, h = 8, vocab = 37;
        var hidden = Rand(t * h, 15, 2f);
        var w = Rand(vocab * h, 16);
        var labels = new[] { 3, CrossEntropy.IgnoreIndex, 36, 0, 5, CrossEntropy.IgnoreIndex, 5, 20, 11 };
        double Obj() => CrossEntropy.LmHeadLoss(hidden, w, labels, t, h, vocab, out _, chunk: 4);
        var dh = new float[hidden.Length];
        var dw = new float[w.Length];
        CrossEntropy.LmHeadLoss(hidden, w, labels, t, h, vocab, dh, dw, out _, chunk: 4);
        Check("ce.dhidden", hidden, dh, Obj, eps: 1e-2f);
        Check("ce.dweight", w, dw, Obj, eps: 1e-2f);
    }

    [TestMethod]
    public void EmbeddingGrad()
    {
        int vocab = 6, dim = 3;
        var w = Rand(vocab * dim, 17);
        var ids = new[] { 1, 4, 1, 5, 1 };
        var dy = Rand(ids.Length * dim, 18);
        var y = new float[ids.Length * dim];
        double Obj() { ToolTune.Tensors.Embedding.Gather(w, vocab, dim, ids, y); return Dot(dy, y); }
        var dw = new float[w.Length];
        ToolTune.Tensors.Embedding.ScatterAdd(dy, ids, dw, vocab, dim);
        Check("embedding.dweight", w, dw, Obj);
    }

    [TestMethod]
    public void GemmBackwardIdentities()
    {
        // For C = A·Bᵀ (Linear forward), dA = dC·B and dB = dCᵀ·A: the GEMM variants used by the backward.
        int m = 7, k = 5, n = 6;
        var a = Rand(m * k, 19);
        var b = Rand(n * k, 20);
        var dc = Rand(m * n, 21);
        var c = new float[m * n];
        double Obj() { Gemm.MatMulTransB(a, b, c, m, k, n); return Dot(dc, c); }
        var da = new float[a.Length];
        var db = new float[b.Length];
        Gemm.MatMul(dc, b, da, m, n, k);
        Gemm.MatMulTransA(dc, a, db, n, m, k);
        Check("linear.dA", a, da, Obj);
        Check("linear.dB", b, db, Obj);
    }
}
