using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ToolTune.Tensors;

/// <summary>Which SGEMM implementation runs.</summary>
public enum GemmPath
{
    /// <summary>The best the CPU supports, or the one named by <c>TOOLTUNE_GEMM_PATH</c>.</summary>
    Auto,
    /// <summary>AVX-512F: 4×64 register tile (16 zmm accumulators).</summary>
    Avx512,
    /// <summary>AVX2 + FMA: 6×16 register tile (12 ymm accumulators).</summary>
    Avx2,
    /// <summary><see cref="System.Numerics.Vector{T}"/>: 4×(2·Count) tile, any hardware.</summary>
    Portable,
}

/// <summary>
/// Single-precision GEMM, row-major: <c>C = alpha·op(A)·op(B) (+ C when accumulate)</c>, with op = identity or
/// transpose. op(A) is M×K, op(B) is K×N, C is M×N. Goto/BLIS structure: B is packed into KC×NR strips,
/// A into MR×KC strips (alpha folded in), both zero-padded so the register-tiled micro-kernel never branches
/// on edges; edge tiles go through a small buffer. Strips are padded so that consecutive strips are not
/// 4 KB apart (store-to-load aliasing). Large problems are split over two (or more) threads along the
/// dimension that balances best.
/// </summary>
public static unsafe partial class Gemm
{
    private const int KC = 256;
    private const int StripPad = 16; // floats (64 bytes) added to each packed strip

    /// <summary>The path <see cref="GemmPath.Auto"/> resolves to in this process.</summary>
    public static GemmPath DefaultPath { get; } = ResolveDefault();

    /// <summary>Whether the CPU/runtime can run <paramref name="path"/>.</summary>
    public static bool IsSupported(GemmPath path) => path switch
    {
        GemmPath.Avx512 => Avx512F.IsSupported && Vector512.IsHardwareAccelerated,
        GemmPath.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        _ => true,
    };

    private static readonly bool PathForced = GemmEnvironment.ForcedPath is not null;

    private static GemmPath ResolveDefault()
    {
        if (GemmEnvironment.ForcedPath is { } forced && IsSupported(forced)) return forced;
        if (IsSupported(GemmPath.Avx512)) return GemmPath.Avx512;
        if (IsSupported(GemmPath.Avx2)) return GemmPath.Avx2;
        return GemmPath.Portable;
    }

    /// <summary>C[m×n] (+)= alpha · A[m×k] · B[k×n].</summary>
    public static void MatMul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n,
        bool accumulate = false, float alpha = 1f) =>
        Sgemm(false, false, m, n, k, alpha, a, k, b, n, c, n, accumulate);

    /// <summary>C[m×n] (+)= alpha · A[m×k] · B[n×k]ᵀ (the nn.Linear forward: x·Wᵀ).</summary>
    public static void MatMulTransB(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n,
        bool accumulate = false, float alpha = 1f) =>
        Sgemm(false, true, m, n, k, alpha, a, k, b, k, c, n, accumulate);

    /// <summary>C[m×n] (+)= alpha · A[k×m]ᵀ · B[k×n] (weight gradients: dyᵀ·x).</summary>
    public static void MatMulTransA(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n,
        bool accumulate = false, float alpha = 1f) =>
        Sgemm(true, false, m, n, k, alpha, a, m, b, n, c, n, accumulate);

    /// <summary>
    /// General entry. A is stored m×k (lda ≥ k) or, when <paramref name="transA"/>, k×m (lda ≥ m); B is k×n
    /// (ldb ≥ n) or, when <paramref name="transB"/>, n×k (ldb ≥ k); C is m×n with ldc ≥ n.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc,
        bool accumulate = false, GemmPath path = GemmPath.Auto, int threads = 0)
    {
        var auto = path == GemmPath.Auto;
        if (!Prologue(transA, transB, m, n, k, alpha, a.Length, lda, b.Length, ldb, c, ldc, accumulate, ref path)) return;
        if (auto && !PathForced && n <= 32 && m >= 64 && DefaultPath == GemmPath.Avx512)
        {
            // Narrow C (LoRA rank n = 16, attention head_dim 32: the 64-lane tile would be half empty or worse): compute
            // Cᵀ = op(B)ᵀ·op(A)ᵀ, whose wide side fills the tile and whose large operand packs with vector
            // copies/transposes, then write it back transposed. Same bits as the direct product: alpha still scales
            // op(A)'s elements (now the packed B side), and when K spans several blocks C is loaded into Cᵀ first so
            // that each block is added to it in the same order.
            var tmp = t_narrow is { } buf && buf.Length >= n * m ? buf : (t_narrow = new float[Math.Max(n * m, 4096)]);
            fixed (float* pa = a)
            fixed (float* pb = b)
            fixed (float* pt = tmp)
            fixed (float* pc = c)
            {
                // Within one K block, C + Σ is one addition either way.
                var preload = accumulate && k > KC;
                if (preload) LoadTransposed(pc, ldc, m, n, pt);
                Execute(new Job
                {
                    A = pb, B = pa, C = pt, Lda = ldb, Ldb = lda, Ldc = m, TransA = !transB, TransB = !transA,
                    M = n, N = m, K = k, Alpha = 1f, AlphaB = alpha, Accumulate = preload, Path = GemmPath.Avx512,
                }, threads);
                StoreTransposed(pt, m, n, pc, ldc, accumulate: accumulate && !preload);
            }
            return;
        }
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            Execute(new Job
            {
                A = pa, B = pb, C = pc, Lda = lda, Ldb = ldb, Ldc = ldc, TransA = transA, TransB = transB,
                M = m, N = n, K = k, Alpha = alpha, AlphaB = 1f, Accumulate = accumulate, Path = path,
            }, threads);
        }
    }

    /// <summary>
    /// As <see cref="Sgemm"/>, with B given as bf16 bits (e.g. memory-mapped checkpoint weights): B is widened
    /// to f32 while it is packed, so the weights are never copied to f32 wholesale.
    /// </summary>
    public static void SgemmBF16B(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<ushort> b, int ldb, Span<float> c, int ldc,
        bool accumulate = false, GemmPath path = GemmPath.Auto, int threads = 0)
    {
        if (!Prologue(transA, transB, m, n, k, alpha, a.Length, lda, b.Length, ldb, c, ldc, accumulate, ref path)) return;
        fixed (float* pa = a)
        fixed (ushort* pb = b)
        fixed (float* pc = c)
        {
            Execute(new Job
            {
                A = pa, B16 = pb, C = pc, Lda = lda, Ldb = ldb, Ldc = ldc, TransA = transA, TransB = transB,
                M = m, N = n, K = k, Alpha = alpha, AlphaB = 1f, Accumulate = accumulate, Path = path,
            }, threads);
        }
    }

    /// <summary>As <see cref="SgemmBF16B"/>, with B in IEEE half precision (F16 checkpoints).</summary>
    public static void SgemmF16B(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<Half> b, int ldb, Span<float> c, int ldc,
        bool accumulate = false, GemmPath path = GemmPath.Auto, int threads = 0)
    {
        if (!Prologue(transA, transB, m, n, k, alpha, a.Length, lda, b.Length, ldb, c, ldc, accumulate, ref path)) return;
        fixed (float* pa = a)
        fixed (Half* pb = b)
        fixed (float* pc = c)
        {
            Execute(new Job
            {
                A = pa, B16 = (ushort*)pb, B16IsHalf = true, C = pc, Lda = lda, Ldb = ldb, Ldc = ldc, TransA = transA, TransB = transB,
                M = m, N = n, K = k, Alpha = alpha, AlphaB = 1f, Accumulate = accumulate, Path = path,
            }, threads);
        }
    }

    /// <summary>C[m×n] (+)= alpha · A[m×k] · W[n×k]ᵀ with W in bf16 (nn.Linear forward on bf16 weights).</summary>
    public static void MatMulTransB(ReadOnlySpan<float> a, ReadOnlySpan<ushort> bBf16, Span<float> c, int m, int k, int n,
        bool accumulate = false, float alpha = 1f) =>
        SgemmBF16B(false, true, m, n, k, alpha, a, k, bBf16, k, c, n, accumulate);

    /// <summary>C[m×n] (+)= alpha · A[m×k] · W[k×n] with W in bf16 (input gradient through bf16 weights).</summary>
    public static void MatMul(ReadOnlySpan<float> a, ReadOnlySpan<ushort> bBf16, Span<float> c, int m, int k, int n,
        bool accumulate = false, float alpha = 1f) =>
        SgemmBF16B(false, false, m, n, k, alpha, a, k, bBf16, n, c, n, accumulate);

    /// <summary>Validates; handles the trivial cases (returns false when nothing is left to do).</summary>
    private static bool Prologue(bool transA, bool transB, int m, int n, int k, float alpha, int aLength, int lda, int bLength, int ldb,
        Span<float> c, int ldc, bool accumulate, ref GemmPath path)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (m == 0 || n == 0) return false;
        if (ldc < n) throw new ArgumentException($"ldc {ldc} < n {n}");
        if ((long)(m - 1) * ldc + n > c.Length) throw new ArgumentException("C is too small");
        if (k == 0 || alpha == 0f)
        {
            if (!accumulate)
                for (var i = 0; i < m; i++) c.Slice(i * ldc, n).Clear();
            return false;
        }
        CheckOperand("A", transA ? k : m, transA ? m : k, lda, aLength);
        CheckOperand("B", transB ? n : k, transB ? k : n, ldb, bLength);
        if (path == GemmPath.Auto)
        {
            path = DefaultPath;
            // Narrow C (LoRA rank-sized n): a 64-wide AVX-512 tile would waste most of its lanes; the 16-wide
            // AVX2 tile does more useful work per cycle there.
            if (path == GemmPath.Avx512 && !PathForced && n <= 24 && IsSupported(GemmPath.Avx2)) path = GemmPath.Avx2;
        }
        else if (!IsSupported(path)) throw new PlatformNotSupportedException($"GEMM path {path} is not supported here");
        return true;
    }

    private static void CheckOperand(string name, int rows, int cols, int ld, int length)
    {
        if (ld < cols) throw new ArgumentException($"leading dimension of {name} ({ld}) < {cols}");
        if ((long)(rows - 1) * ld + cols > length) throw new ArgumentException($"{name} is too small: need {(long)(rows - 1) * ld + cols}, have {length}");
    }
}
