using ToolTune.Tensors;

namespace ToolTune.Tests.Tensors;

/// <summary>
/// The fused LM-head cross-entropy with an adapted tied head (<see cref="CrossEntropy.HeadExtra"/>): loss and every gradient
/// equal those of the plain kernel run on the explicitly merged head W' = replace(W, rows) + s·(B·A)ᵀ, for several chunk
/// sizes (multi-chunk paths), f32 and bf16 weights. dA = s·Bᵀ·dW'ᵀ, dB = s·dW'ᵀ·Aᵀ, dRows[i] = dW'[id_i].
/// </summary>
[TestClass]
public sealed class HeadExtraTests
{
    [TestMethod]
    [DataRow(false, 0)]
    [DataRow(false, 3)]
    [DataRow(true, 4)]
    [DataRow(true, 0)]
    public void MatchesTheMergedHead(bool bf16, int chunk)
    {
        const int T = 11, H = 12, V = 37, R = 3;
        const float s = 1.7f;
        var rnd = new Random(4);
        float[] Rand(int n, double sc) => Enumerable.Range(0, n).Select(_ => (float)((rnd.NextDouble() - 0.5) * sc)).ToArray();
        var hidden = Rand(T * H, 2);
        var w = Rand(V * H, 1);
        var wBits = w.Select(Precision.SingleToBF16).ToArray();
        if (bf16) w = wBits.Select(Precision.BF16ToSingle).ToArray();
        var a = Rand(R * V, 1);
        var b = Rand(H * R, 1);
        int[] ids = [5, 30];
        var rows = Rand(ids.Length * H, 1);
        var labels = Enumerable.Range(0, T).Select(t => t % 4 == 3 ? CrossEntropy.IgnoreIndex : (t * 7) % V).ToArray();
        labels[1] = 5; labels[2] = 30;

        var merged = (float[])w.Clone();
        for (var i = 0; i < ids.Length; i++) rows.AsSpan(i * H, H).CopyTo(merged.AsSpan(ids[i] * H, H));
        for (var v = 0; v < V; v++)
            for (var j = 0; j < H; j++)
            {
                double d = 0;
                for (var k = 0; k < R; k++) d += b[j * R + k] * a[k * V + v];
                merged[v * H + j] += (float)(s * d);
            }
        var dhWant = new float[T * H];
        var dW = new float[V * H];
        var want = CrossEntropy.LmHeadLoss(hidden, merged, labels, T, H, V, dhWant, dW, out _, 1f, chunk);

        var e = new CrossEntropy.HeadExtra { R = R, Scale = s, A = a, B = b, GradA = new float[R * V], GradB = new float[H * R], Ids = ids, Rows = rows, GradRows = new float[rows.Length] };
        var dh = new float[T * H];
        var got = bf16
            ? CrossEntropy.LmHeadLoss(hidden, wBits, labels, T, H, V, dh, [], out _, 1f, chunk, 0, e)
            : CrossEntropy.LmHeadLoss(hidden, w, labels, T, H, V, dh, [], out _, 1f, chunk, 0, e);
        Assert.AreEqual(want, got, 1e-5 * Math.Abs(want));
        for (var i = 0; i < dh.Length; i++) Assert.AreEqual(dhWant[i], dh[i], 1e-5, $"dh[{i}]");
        // dW' restricted: rows of overridden ids belong to Rows; the low-rank term sees the full dW'
        for (var i = 0; i < ids.Length; i++)
            for (var j = 0; j < H; j++) Assert.AreEqual(dW[ids[i] * H + j], e.GradRows[i * H + j], 1e-5, $"dRows[{i},{j}]");
        for (var k = 0; k < R; k++)
            for (var v = 0; v < V; v++)
            {
                double d = 0;
                for (var j = 0; j < H; j++) d += b[j * R + k] * dW[v * H + j];
                Assert.AreEqual(s * d, e.GradA[k * V + v], 1e-5, $"dA[{k},{v}]");
            }
        for (var j = 0; j < H; j++)
            for (var k = 0; k < R; k++)
            {
                double d = 0;
                for (var v = 0; v < V; v++) d += dW[v * H + j] * a[k * V + v];
                Assert.AreEqual(s * d, e.GradB[j * R + k], 1e-5, $"dB[{j},{k}]");
            }
        // logits without the loss
        var logits = new float[T * V];
        Gemm.MatMulTransB(hidden, w, logits, T, H, V);
        CrossEntropy.ApplyHeadExtra(e, hidden, logits, T, H, V);
        var logitsWant = new float[T * V];
        Gemm.MatMulTransB(hidden, merged, logitsWant, T, H, V);
        for (var i = 0; i < logits.Length; i++) Assert.AreEqual(logitsWant[i], logits[i], 1e-5, $"logits[{i}]");
    }

    [TestMethod]
    public void NoExtraIsBitIdentical()
    {
        const int T = 9, H = 8, V = 21;
        var rnd = new Random(2);
        var hidden = Enumerable.Range(0, T * H).Select(_ => (float)rnd.NextDouble() - 0.5f).ToArray();
        var w = Enumerable.Range(0, V * H).Select(_ => (float)rnd.NextDouble() - 0.5f).ToArray();
        var labels = Enumerable.Range(0, T).Select(t => t % V).ToArray();
        var dh1 = new float[T * H]; var dh2 = new float[T * H];
        var l1 = CrossEntropy.LmHeadLoss(hidden, w, labels, T, H, V, dh1, [], out _, 1f, 4);
        var l2 = CrossEntropy.LmHeadLoss(hidden, w, labels, T, H, V, dh2, [], out _, 1f, 4, 0, null);
        Assert.AreEqual(l1, l2);
        CollectionAssert.AreEqual(dh1, dh2);
    }
}
