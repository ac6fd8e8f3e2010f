using System.Runtime.Intrinsics;
using System.Security.Cryptography;
using ToolTune.Model;
using ToolTune.Tensors;

namespace ToolTune.Tests.Tensors;

/// <summary>
/// The engine's arithmetic has the same bits on every SIMD path. GEMM paths can be chosen in-process and are compared
/// directly; the other kernels pick their width when the JIT compiles them, so <see cref="EveryKernelGivesTheCommittedDigest"/>
/// hashes their outputs against one committed digest, and CI runs this class with AVX-512 and then AVX2 switched
/// off (<c>DOTNET_EnableAVX512=0</c>, <c>DOTNET_EnableAVX2=0</c>): every path must reproduce the same digest.
/// </summary>
[TestClass]
public sealed class CrossPathIdentityTests
{
    /// <summary>
    /// SHA-256 of the outputs of <see cref="KernelOutputs"/>. Changing any kernel's arithmetic changes it: recompute it
    /// (the failure message prints the new value) on one path, and check the other paths give the same.
    /// </summary>
    private const string CommittedDigest = "e7ade05986859c6ec7bb1e23b952c5d328846011264e6cc335b490eeb3e9bb1a";

    public TestContext TestContext { get; set; } = null!;

    private static float[] Rand(int n, int seed, float scale = 1f)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (var i = 0; i < n; i++) x[i] = (float)(r.NextDouble() * 2 - 1) * scale;
        return x;
    }

    private static void AssertSameBits(float[] expected, float[] actual, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length, what);
        for (var i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, the reference path gives {expected[i]:R}");
    }

    public static IEnumerable<object[]> GemmCases()
    {
        // (ta, tb, m, n, k, alpha, accumulate): edge tiles, K over one 256 block, narrow n (the transposed AVX-512 route),
        // alpha ≠ 1 (scales op(A) on every route), accumulation across K blocks.
        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            yield return [ta, tb, 67, 130, 300, 1f, false];
            yield return [ta, tb, 67, 130, 600, 0.37f, true];
            yield return [ta, tb, 200, 16, 520, 0.25f, true];
            yield return [ta, tb, 130, 32, 257, 1.5f, false];
            yield return [ta, tb, 5, 9, 3, 2f, true];
        }
    }

    [TestMethod]
    [DynamicData(nameof(GemmCases))]
    public void GemmPathsAgreeBitForBit(bool ta, bool tb, int m, int n, int k, float alpha, bool accumulate)
    {
        var a = Rand(m * k, 1 + m + n + k);
        var b = Rand(k * n, 2 + m + n + k);
        var c0 = Rand(m * n, 3);
        float[] Run(GemmPath path, int threads)
        {
            var c = (float[])c0.Clone();
            Gemm.Sgemm(ta, tb, m, n, k, alpha, a, ta ? m : k, b, tb ? k : n, c, n, accumulate, path, threads);
            return c;
        }
        var reference = Run(GemmPath.Portable, 1);
        foreach (var path in new[] { GemmPath.Auto, GemmPath.Avx512, GemmPath.Avx2, GemmPath.Portable })
        {
            if (!Gemm.IsSupported(path)) continue;
            foreach (var threads in new[] { 1, 2, 0 })
                AssertSameBits(reference, Run(path, threads), $"{path} threads={threads} ta={ta} tb={tb} {m}x{n}x{k} alpha={alpha} acc={accumulate}");
        }
    }

    [TestMethod]
    public void Bf16GemmPathsAgreeBitForBit()
    {
        const int m = 70, n = 96, k = 530;
        var a = Rand(m * k, 5);
        var w = new ushort[n * k];
        Precision.SingleToBF16(Rand(n * k, 6), w);
        float[] Run(GemmPath path)
        {
            var c = new float[m * n];
            Gemm.SgemmBF16B(false, true, m, n, k, 0.5f, a, k, w, k, c, n, path: path);
            return c;
        }
        var reference = Run(GemmPath.Portable);
        foreach (var path in new[] { GemmPath.Auto, GemmPath.Avx512, GemmPath.Avx2 })
            if (Gemm.IsSupported(path)) AssertSameBits(reference, Run(path), $"bf16 {path}");
    }

    [TestMethod]
    public void ReductionsFollowTheCanonicalOrder()
    {
        // The order written out with scalars: lane i mod 16, fused products in index order, halves folded.
        static float Reference(float[] x, float[] y)
        {
            var lanes = new float[16];
            for (var i = 0; i < x.Length; i++) lanes[i % 16] = MathF.FusedMultiplyAdd(x[i], y[i], lanes[i % 16]);
            for (var width = 8; width >= 1; width /= 2)
                for (var l = 0; l < width; l++) lanes[l] += lanes[l + width];
            return lanes[0];
        }
        foreach (var n in new[] { 0, 1, 7, 15, 16, 17, 31, 33, 100, 255, 1000, 4099 })
        {
            var x = Rand(n, n, 3f);
            var y = Rand(n, n + 1, 3f);
            Assert.AreEqual(BitConverter.SingleToInt32Bits(Reference(x, y)), BitConverter.SingleToInt32Bits(Reductions.Dot(x, y)), $"Dot n={n}");
            var ones = Enumerable.Repeat(1f, n).ToArray();
            Assert.AreEqual(BitConverter.SingleToInt32Bits(Reference(x, ones)), BitConverter.SingleToInt32Bits(Reductions.Sum(x)), $"Sum n={n}");
            Assert.AreEqual(BitConverter.SingleToInt32Bits(Reference(x, x)), BitConverter.SingleToInt32Bits(Reductions.SumOfSquares(x)), $"SumOfSquares n={n}");
            var e = new float[n];
            var s = FastMath.ExpShiftSum(x, 0.5f, e);
            var expected = new float[n];
            for (var i = 0; i < n; i++) expected[i] = FastMath.Exp(x[i] - 0.5f);
            AssertSameBits(expected, e, $"ExpShiftSum values n={n}");
            Assert.AreEqual(BitConverter.SingleToInt32Bits(Reference(expected, ones)), BitConverter.SingleToInt32Bits(s), $"ExpShiftSum sum n={n}");

            // the double variant (LM-head softmax): scalar twin per element, 8 lanes folded ((0+4)+(2+6))+((1+5)+(3+7))
            var ed = new double[n];
            var sd = FastMath.ExpShiftSum(x, 0.5f, ed);
            var lanes = new double[8];
            for (var i = 0; i < n; i++)
            {
                var v = FastMath.Exp((double)x[i] - 0.5);
                Assert.AreEqual(BitConverter.DoubleToInt64Bits(v), BitConverter.DoubleToInt64Bits(ed[i]), $"double ExpShiftSum value {i}, n={n}");
                lanes[i % 8] += v;
            }
            var fold = ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
            Assert.AreEqual(BitConverter.DoubleToInt64Bits(fold), BitConverter.DoubleToInt64Bits(sd), $"double ExpShiftSum sum n={n}");
        }
    }

    [TestMethod]
    public void EveryKernelGivesTheCommittedDigest()
    {
        var digest = Convert.ToHexStringLower(SHA256.HashData(KernelOutputs()));
        var isa = Vector512.IsHardwareAccelerated ? "AVX-512" : Vector256.IsHardwareAccelerated ? "AVX2" : "no AVX2 (scalar)";
        TestContext.WriteLine($"kernel digest on the {isa} path: {digest}");
        Assert.AreEqual(CommittedDigest, digest, $"the kernels' outputs on the {isa} path hash to {digest}, not the committed digest");
    }

    /// <summary>Outputs (as raw bits) of every kernel family on fixed inputs, and of a small model's training step and decoding.</summary>
    private static byte[] KernelOutputs()
    {
        var outputs = new List<float>();
        void Add(ReadOnlySpan<float> x) { foreach (var v in x) outputs.Add(v); }

        foreach (var n in new[] { 5, 16, 37, 300 })
        {
            var x = Rand(n, 10 + n, 4f);
            var y = Rand(n, 20 + n, 4f);
            outputs.Add(Reductions.Dot(x, y));
            outputs.Add(Reductions.Sum(x));
            var e = new float[n];
            outputs.Add(FastMath.ExpShiftSum(x, FastMath.Max(x), e));
            Add(e);
            var ed = new double[n];
            var sd = FastMath.ExpShiftSum(x, FastMath.Max(x), ed);
            foreach (var v in ed.Append(sd)) // both halves of each double
            {
                outputs.Add(BitConverter.Int32BitsToSingle((int)BitConverter.DoubleToInt64Bits(v)));
                outputs.Add(BitConverter.Int32BitsToSingle((int)(BitConverter.DoubleToInt64Bits(v) >> 32)));
            }
        }

        const int rows = 9, d = 70;
        var xs = Rand(rows * d, 30, 2f);
        var w = Rand(d, 31);
        var yN = new float[rows * d];
        var rstd = new float[rows];
        RmsNorm.Forward(xs, w, yN, rstd, rows, d, 1e-5f);
        Add(yN);
        var dx = new float[rows * d];
        var dw = new float[d];
        RmsNorm.Backward(Rand(rows * d, 32), xs, w, rstd, dx, dw, rows, d);
        Add(dx);
        Add(dw);

        var g = Rand(1000, 33, 8f);
        var u = Rand(1000, 34, 2f);
        var h = new float[1000];
        Activations.SiluMul(g, u, h);
        Add(h);
        var dg = new float[1000];
        var du = new float[1000];
        Activations.SiluMulBackward(Rand(1000, 35), g, u, dg, du);
        Add(dg);
        Add(du);

        var sm = new float[rows * d];
        Activations.Softmax(xs, sm, rows, d);
        Add(sm);
        var dsm = new float[rows * d];
        Activations.SoftmaxBackward(sm, Rand(rows * d, 36), dsm, rows, d);
        Add(dsm);

        // Attention: prefill-sized (GEMM tiles) and decode-sized (direct path) query blocks, with the backward.
        foreach (var (tq, tk) in new[] { (70, 70), (2, 40) })
        {
            const int hq = 4, hkv = 2, hd = 32;
            var q = Rand(tq * hq * hd, 40 + tq);
            var k = Rand(tk * hkv * hd, 41 + tq);
            var v = Rand(tk * hkv * hd, 42 + tq);
            var o = new float[tq * hq * hd];
            var lse = new float[hq * tq];
            Attention.Forward(q, k, v, o, lse, tq, tk, hq, hkv, hd, 0.17f);
            Add(o);
            Add(lse);
            var dq = new float[q.Length];
            var dk = new float[k.Length];
            var dv = new float[v.Length];
            Attention.Backward(Rand(o.Length, 43), q, k, v, o, lse, dq, dk, dv, tq, tk, hq, hkv, hd, 0.17f);
            Add(dq);
            Add(dk);
            Add(dv);
        }

        const int tokens = 20, hidden = 48, vocab = 333;
        var hs = Rand(tokens * hidden, 50);
        var head = Rand(vocab * hidden, 51, 0.3f);
        var labels = Enumerable.Range(0, tokens).Select(i => i % 5 == 0 ? CrossEntropy.IgnoreIndex : (i * 37) % vocab).ToArray();
        var dh = new float[hs.Length];
        var dHead = new float[head.Length];
        outputs.Add((float)CrossEntropy.LmHeadLoss(hs, head, labels, tokens, hidden, vocab, dh, dHead, out _));
        Add(dh);
        Add(dHead);

        // A small decoder: a full-parameter training step's gradients, then greedy decoding (GEMM prefill, GEMV steps).
        var config = ModelConfig.Preset("tiny") with { VocabSize = 300, NumLayers = 2, UseRope = [true, false] };
        using var weights = ModelWeights.CreateRandom(config, seed: 9, std: 0.3f);
        var model = new CausalLM(weights);
        model.SetTrainable(_ => true);
        var ids = Enumerable.Range(0, 40).Select(i => (i * 7 + 3) % 300).ToArray();
        var targets = ids.Select((t, i) => i % 3 == 0 ? CrossEntropy.IgnoreIndex : t).ToArray();
        outputs.Add((float)model.ForwardBackward(ids, targets, 2, 20));
        foreach (var p in model.Parameters) Add(p.Grad!);
        var generated = Generator.Generate(model, ids.AsSpan(0, 12), new DecodingOptions { MaxNewTokens = 12 });
        foreach (var id in generated.Ids) outputs.Add(id);

        var bytes = new byte[outputs.Count * 4];
        for (var i = 0; i < outputs.Count; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 4), outputs[i]);
        return bytes;
    }
}
