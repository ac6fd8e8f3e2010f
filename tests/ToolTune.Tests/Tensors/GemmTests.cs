using ToolTune.Tensors;

namespace ToolTune.Tests.Tensors;

[TestClass]
public sealed class GemmTests
{
    private static readonly int[] Sizes = [1, 3, 17, 63, 65, 129];

    private static float[] Random(int n, int seed)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (var i = 0; i < n; i++) x[i] = (float)(r.NextDouble() * 2 - 1);
        return x;
    }

    /// <summary>Naive double-precision reference with the same storage conventions as <see cref="Gemm.Sgemm"/>.</summary>
    private static double[] Reference(bool ta, bool tb, int m, int n, int k, float alpha, float[] a, int lda, float[] b, int ldb, float[]? c0, int ldc)
    {
        var c = new double[m * ldc];
        for (var i = 0; i < m; i++)
            for (var j = 0; j < n; j++)
            {
                double s = 0;
                for (var p = 0; p < k; p++)
                    s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = alpha * s + (c0 is null ? 0 : c0[i * ldc + j]);
            }
        return c;
    }

    private static void Check(GemmPath path, bool ta, bool tb, int m, int n, int k, bool accumulate, float alpha, int pad = 0, int threads = 0)
    {
        var lda = (ta ? m : k) + pad;
        var ldb = (tb ? k : n) + pad;
        var ldc = n + pad;
        var a = Random((ta ? k : m) * lda, 1 + m + 7 * n + 13 * k);
        var b = Random((tb ? n : k) * ldb, 2 + m + 7 * n + 13 * k);
        var c = Random(m * ldc, 3);
        var c0 = (float[])c.Clone();
        var expected = Reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, accumulate ? c0 : null, ldc);
        Gemm.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, c, ldc, accumulate, path, threads);
        var tol = 1e-5 * Math.Sqrt(k) * 4 + 1e-6;
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                var e = expected[i * ldc + j];
                var got = c[i * ldc + j];
                if (Math.Abs(got - e) > tol * (1 + Math.Abs(e)))
                    Assert.Fail($"{path} ta={ta} tb={tb} m={m} n={n} k={k} acc={accumulate}: C[{i},{j}] = {got}, expected {e}");
            }
            for (var j = n; j < ldc; j++)
                Assert.AreEqual(c0[i * ldc + j], c[i * ldc + j], "padding column was written");
        }
    }

    public static IEnumerable<object[]> PathsAndVariants()
    {
        foreach (var path in new[] { GemmPath.Avx512, GemmPath.Avx2, GemmPath.Portable })
            foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
                yield return [path, ta, tb];
    }

    [TestMethod]
    [DynamicData(nameof(PathsAndVariants))]
    public void AwkwardSizesMatchReference(GemmPath path, bool ta, bool tb)
    {
        if (!Gemm.IsSupported(path)) Assert.Inconclusive($"{path} not supported on this CPU");
        foreach (var m in Sizes)
            foreach (var n in Sizes)
                foreach (var k in new[] { 1, 17, 65, 257 })
                    Check(path, ta, tb, m, n, k, accumulate: false, alpha: 1f);
        foreach (var (m, n, k) in new[] { (257, 3, 65), (3, 257, 129), (257, 257, 17), (1, 257, 257), (257, 1, 3) })
            Check(path, ta, tb, m, n, k, accumulate: false, alpha: 1f);
    }

    [TestMethod]
    [DynamicData(nameof(PathsAndVariants))]
    public void AccumulateAlphaAndLeadingDimensions(GemmPath path, bool ta, bool tb)
    {
        if (!Gemm.IsSupported(path)) Assert.Inconclusive($"{path} not supported on this CPU");
        Check(path, ta, tb, 67, 131, 300, accumulate: true, alpha: 0.5f, pad: 3);
        Check(path, ta, tb, 5, 70, 513, accumulate: true, alpha: -2f, pad: 1);
        Check(path, ta, tb, 257, 63, 33, accumulate: false, alpha: 1.5f, pad: 5);
    }

    [TestMethod]
    [DynamicData(nameof(PathsAndVariants))]
    public void LargeThreadedMatchesReference(GemmPath path, bool ta, bool tb)
    {
        if (!Gemm.IsSupported(path)) Assert.Inconclusive($"{path} not supported on this CPU");
        // Multi-threaded split, N beyond NC (4096 on AVX-512) with K beyond KC (256); then M beyond MC (256).
        Check(path, ta, tb, 9, 4160, 300, accumulate: false, alpha: 1f, threads: 2);
        Check(path, ta, tb, 530, 70, 60, accumulate: true, alpha: 1f, threads: 2);
        // Shared pre-packed B (several K blocks, ragged N), split over M.
        Check(path, ta, tb, 203, 150, 600, accumulate: true, alpha: 0.5f, pad: 1, threads: 2);
    }

    [TestMethod]
    public void ZeroKClearsOrKeeps()
    {
        var c = new float[] { 1, 2, 3, 4 };
        Gemm.Sgemm(false, false, 2, 2, 0, 1f, [], 0, [], 2, c, 2, accumulate: true);
        CollectionAssert.AreEqual(new float[] { 1, 2, 3, 4 }, c);
        Gemm.Sgemm(false, false, 2, 2, 0, 1f, [], 0, [], 2, c, 2, accumulate: false);
        CollectionAssert.AreEqual(new float[] { 0, 0, 0, 0 }, c);
    }

    [TestMethod]
    public void TooSmallOperandThrows()
    {
        Assert.ThrowsExactly<ArgumentException>(() => Gemm.MatMul(new float[5], new float[6], new float[4], 2, 3, 2));
    }

    [TestMethod]
    public void ConvenienceWrappersAgree()
    {
        int m = 9, k = 70, n = 33;
        var a = Random(m * k, 5);
        var b = Random(k * n, 6);
        var bt = new float[n * k];
        for (var p = 0; p < k; p++) for (var j = 0; j < n; j++) bt[j * k + p] = b[p * n + j];
        var at = new float[k * m];
        for (var i = 0; i < m; i++) for (var p = 0; p < k; p++) at[p * m + i] = a[i * k + p];
        var c1 = new float[m * n];
        var c2 = new float[m * n];
        var c3 = new float[m * n];
        Gemm.MatMul(a, b, c1, m, k, n);
        Gemm.MatMulTransB(a, bt, c2, m, k, n);
        Gemm.MatMulTransA(at, b, c3, m, k, n);
        for (var i = 0; i < m * n; i++)
        {
            Assert.AreEqual(c1[i], c2[i], 1e-4f);
            Assert.AreEqual(c1[i], c3[i], 1e-4f);
        }
    }

    [TestMethod]
    [DynamicData(nameof(PathsAndVariants))]
    public void SixteenBitBMatchesWidenedReference(GemmPath path, bool ta, bool tb)
    {
        if (!Gemm.IsSupported(path)) Assert.Inconclusive($"{path} not supported on this CPU");
        foreach (var (m, n, k) in new[] { (1, 1, 1), (17, 65, 63), (70, 130, 300), (5, 1100, 257) })
        {
            var lda = ta ? m : k;
            var ldb = tb ? k : n;
            var a = Random(m * k, 11 + m);
            var bf = Random(n * k, 12 + n);
            var bits = new ushort[bf.Length];
            Precision.SingleToBF16(bf, bits);
            var widened = new float[bf.Length];
            Precision.BF16ToSingle(bits, widened);
            var expected = new float[m * n];
            var got = Random(m * n, 3);
            var start = (float[])got.Clone();
            Array.Copy(start, expected, expected.Length);
            Gemm.Sgemm(ta, tb, m, n, k, 0.75f, a, lda, widened, ldb, expected, n, accumulate: true, path);
            Gemm.SgemmBF16B(ta, tb, m, n, k, 0.75f, a, lda, bits, ldb, got, n, accumulate: true, path);
            CollectionAssert.AreEqual(expected, got, $"{path} {m}x{n}x{k} ta={ta} tb={tb}");

            var halves = new Half[bf.Length];
            Precision.SingleToHalf(bf, halves);
            Precision.HalfToSingle(halves, widened);
            Array.Copy(start, expected, expected.Length);
            Array.Copy(start, got, got.Length);
            Gemm.Sgemm(ta, tb, m, n, k, 0.75f, a, lda, widened, ldb, expected, n, accumulate: true, path);
            Gemm.SgemmF16B(ta, tb, m, n, k, 0.75f, a, lda, halves, ldb, got, n, accumulate: true, path);
            CollectionAssert.AreEqual(expected, got, $"f16 {path} {m}x{n}x{k} ta={ta} tb={tb}");
        }
    }

    [TestMethod]
    public void ConcurrentCallersGetCorrectResults()
    {
        // Several threads call the (pool-backed) GEMM at once: whoever finds the pool busy runs inline.
        int m = 96, k = 200, n = 300;
        var a = Random(m * k, 31);
        var b = Random(k * n, 32);
        var expected = new float[m * n];
        Gemm.MatMul(a, b, expected, m, k, n);
        Parallel.For(0, 8, _ =>
        {
            for (var rep = 0; rep < 5; rep++)
            {
                var c = new float[m * n];
                Gemm.MatMul(a, b, c, m, k, n);
                CollectionAssert.AreEqual(expected, c);
            }
        });
    }

    [TestMethod]
    [DataRow(false, false)]
    [DataRow(false, true)]
    [DataRow(true, false)]
    [DataRow(true, true)]
    public void NarrowAutoPathMatchesReference(bool ta, bool tb)
    {
        // Auto path with n ≤ 32 and m ≥ 64 computes Cᵀ on the wide tile (AVX-512 machines) and writes it back through
        // 8×8 transposes: shapes with full blocks and with row and column tails.
        foreach (var (m, n, k) in new[] { (64, 16, 300), (257, 1, 17), (530, 24, 65), (100, 3, 5), (128, 32, 512), (131, 29, 70) })
        {
            Check(GemmPath.Auto, ta, tb, m, n, k, accumulate: true, alpha: 0.5f, pad: 2);
            Check(GemmPath.Auto, ta, tb, m, n, k, accumulate: false, alpha: 1f);
        }
    }
}
