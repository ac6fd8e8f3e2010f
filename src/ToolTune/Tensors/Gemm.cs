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
public static unsafe class Gemm
{
    private const int KC = 256;
    private const int StripPad = 16; // floats (64 bytes) added to each packed strip

    /// <summary>Work chunks per thread in a parallel GEMM (<c>TOOLTUNE_GEMM_CHUNKS</c>, default 3).</summary>
    internal static int ChunksPerThread { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("TOOLTUNE_GEMM_CHUNKS"), out var c) && c is > 0 and <= 64 ? c : 3;

    /// <summary>The path <see cref="GemmPath.Auto"/> resolves to in this process.</summary>
    public static GemmPath DefaultPath { get; } = ResolveDefault();

    /// <summary>Whether the CPU/runtime can run <paramref name="path"/>.</summary>
    public static bool IsSupported(GemmPath path) => path switch
    {
        GemmPath.Avx512 => Avx512F.IsSupported && Vector512.IsHardwareAccelerated,
        GemmPath.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        _ => true,
    };

    private static readonly bool PathForced = Enum.TryParse<GemmPath>(Environment.GetEnvironmentVariable("TOOLTUNE_GEMM_PATH"), true, out var p) && p != GemmPath.Auto;

    private static GemmPath ResolveDefault()
    {
        var env = Environment.GetEnvironmentVariable("TOOLTUNE_GEMM_PATH");
        if (!string.IsNullOrEmpty(env) && Enum.TryParse<GemmPath>(env, ignoreCase: true, out var forced)
            && forced != GemmPath.Auto && IsSupported(forced))
            return forced;
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
            // op(A)'s elements (now the packed B side), and C is loaded into Cᵀ first so that each K block is added to
            // it in the same order.
            var tmp = t_narrow is { } buf && buf.Length >= n * m ? buf : (t_narrow = new float[Math.Max(n * m, 4096)]);
            fixed (float* pa = a)
            fixed (float* pb = b)
            fixed (float* pt = tmp)
            fixed (float* pc = c)
            {
                // Within one K block, C + Σ is one addition either way; over several, C must be added to first.
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Execute(Job job, int threads)
    {
        int m = job.M, n = job.N, k = job.K;
        {
            job.Geometry(out var mr, out var nr);
            var pool = WorkerPool.Shared;
            var maxThreads = threads > 0 ? Math.Min(threads, pool.MaxParallelism) : pool.MaxParallelism;
            var flops = 2.0 * m * n * k;
            var parts = flops < 4e6 ? 1 : Math.Min(maxThreads, 2 + (int)(flops / 64e6));
            parts = Math.Min(parts, maxThreads);
            // Inside another parallel kernel (attention tiles) the pool would run the parts inline anyway: skip the
            // closures and chunking (≈ 3 MB of allocations per training step). Same M/N blocks, same result bits.
            if (parts <= 1 || pool.IsBusy)
            {
                job.Run(0, m, 0, n);
                return;
            }
            var unitsN = (n + nr - 1) / nr;
            var unitsM = (m + mr - 1) / mr;
            var kcMax = Math.Min(KC, k);
            var kBlocks = (k + kcMax - 1) / kcMax;
            var stripStride = kcMax * nr + StripPad;
            var prepackFloats = (long)kBlocks * unitsN * stripStride;
            if (prepackFloats <= PrepackLimitFloats && unitsM >= 2 * parts)
            {
                // Moderate op(B): pack all of it once, cooperatively, then split M. Every thread reads the shared
                // panels and packs only its own rows of A, so nothing is packed twice.
                var buf = Buffer(ref t_prepack, ref t_prepackCap, prepackFloats);
                var packer = job;
                var items = kBlocks * unitsN;
                var nextItem = -1;
                pool.Run(parts, _ =>
                {
                    int it;
                    while ((it = Interlocked.Increment(ref nextItem)) < items)
                    {
                        var kb = it / unitsN;
                        var strip = it % unitsN;
                        var pc = kb * kcMax;
                        packer.PackB(buf + (long)it * stripStride, stripStride, pc, Math.Min(kcMax, k - pc), strip * nr, Math.Min(nr, n - strip * nr), nr);
                    }
                });
                var shared = job;
                shared.PrePackedB = buf;
                shared.PrePackStride = stripStride;
                shared.PrePackStrips = unitsN;
                var mChunks = Math.Min(unitsM, parts * ChunksPerThread);
                var nextChunk = -1;
                pool.Run(parts, _ =>
                {
                    int c;
                    while ((c = Interlocked.Increment(ref nextChunk)) < mChunks)
                    {
                        var r0 = Math.Min(m, (int)((long)unitsM * c / mChunks) * mr);
                        var r1 = Math.Min(m, (int)((long)unitsM * (c + 1) / mChunks) * mr);
                        if (r1 > r0) shared.Run(r0, r1, 0, n);
                    }
                });
                return;
            }
            // Otherwise split along the dimension that balances best.
            double Imbalance(int units) => units < parts ? double.MaxValue : (double)((units + parts - 1) / parts) * parts / units;
            var imbN = Imbalance(unitsN);
            var imbM = Imbalance(unitsM);
            if (imbN == double.MaxValue && imbM == double.MaxValue)
            {
                job.Run(0, m, 0, n);
                return;
            }
            // Near-equal balance: split the dimension whose split duplicates the smaller packing
            // (splitting N re-packs all of A (m×k) per thread, splitting M re-packs all of B (k×n)).
            var splitN = Math.Abs(imbN - imbM) <= 0.05 ? m <= n : imbN < imbM;
            var units = splitN ? unitsN : unitsM;
            var gran = splitN ? nr : mr;
            var total = splitN ? n : m;
            var copy = job;
            // A few chunks per thread, claimed dynamically: a thread that is descheduled (shared machines)
            // does not hold the others back. Chunks split M or N only, so results do not depend on timing.
            // Each chunk re-packs the other operand (all of A for an N split, all of B for an M split), so chunks
            // stay at least ~1024 wide.
            var chunks = Math.Min(units, Math.Clamp(total / 1024, parts, parts * ChunksPerThread));
            var next = -1;
            pool.Run(parts, _ =>
            {
                int c;
                while ((c = Interlocked.Increment(ref next)) < chunks)
                {
                    var u0 = (int)((long)units * c / chunks);
                    var u1 = (int)((long)units * (c + 1) / chunks);
                    var s = Math.Min(total, u0 * gran);
                    var e = Math.Min(total, u1 * gran);
                    if (e <= s) continue;
                    if (splitN) copy.Run(0, m, s, e);
                    else copy.Run(s, e, 0, n);
                }
            });
        }
    }

    private static void CheckOperand(string name, int rows, int cols, int ld, int length)
    {
        if (ld < cols) throw new ArgumentException($"leading dimension of {name} ({ld}) < {cols}");
        if ((long)(rows - 1) * ld + cols > length) throw new ArgumentException($"{name} is too small: need {(long)(rows - 1) * ld + cols}, have {length}");
    }

    [ThreadStatic] private static float[]? t_narrow;
    [ThreadStatic] private static float* t_prepack;
    [ThreadStatic] private static long t_prepackCap;

    /// <summary>Largest op(B) (in packed floats, 16 MB) packed once and shared by all threads.</summary>
    private const long PrepackLimitFloats = 4L << 20;

    // Per-thread packing buffers (64-byte aligned native memory, grown on demand, kept for the thread's life).
    [ThreadStatic] private static float* t_packA;
    [ThreadStatic] private static long t_packACap;
    [ThreadStatic] private static float* t_packB;
    [ThreadStatic] private static long t_packBCap;

    private static float* Buffer(ref float* buf, ref long cap, long floats)
    {
        if (floats > cap)
        {
            if (buf != null) NativeMemory.AlignedFree(buf);
            buf = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
            cap = floats;
        }
        return buf;
    }

    private struct Job
    {
        public float* A, B, C;
        public ushort* B16; // when non-null, B is 16-bit: bf16, or f16 when B16IsHalf
        public float* PrePackedB; // when non-null, all of op(B) is packed here: [k block][strip], PrePackStride apart
        public int PrePackStride, PrePackStrips;
        public bool B16IsHalf;
        public int Lda, Ldb, Ldc, M, N, K;
        public bool TransA, TransB, Accumulate;
        public float Alpha;  // scales op(A) while it is packed
        public float AlphaB; // scales op(B) while it is packed (the narrow path's swapped operands)
        public GemmPath Path;

        public readonly void Geometry(out int mr, out int nr)
        {
            switch (Path)
            {
                case GemmPath.Avx512: mr = 4; nr = 64; break;
                case GemmPath.Avx2: mr = 6; nr = 16; break;
                default: mr = 4; nr = 8; break;
            }
        }

        /// <summary>Computes C[m0..m1, n0..n1] over the full K.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int m0, int m1, int n0, int n1)
        {
            Geometry(out var mr, out var nr);
            var mcMax = Path == GemmPath.Avx2 ? 192 : 256;    // multiple of mr
            var ncMax = nr * 64;                              // 4096 for AVX-512
            var kcMax = Math.Min(KC, K);
            var mcAlloc = Math.Min(mcMax, RoundUp(m1 - m0, mr));
            var ncAlloc = Math.Min(ncMax, RoundUp(n1 - n0, nr));
            var aStride = kcMax * mr + StripPad;
            var bStride = kcMax * nr + StripPad;
            var packA = Buffer(ref t_packA, ref t_packACap, (long)(mcAlloc / mr) * aStride);
            var packB = PrePackedB != null ? null : Buffer(ref t_packB, ref t_packBCap, (long)(ncAlloc / nr) * bStride);
            var tile = stackalloc float[6 * 64];

            for (var jc = n0; jc < n1; jc += ncMax)
            {
                var nc = Math.Min(ncMax, n1 - jc);
                for (var pc = 0; pc < K; pc += kcMax)
                {
                    var kc = Math.Min(kcMax, K - pc);
                    var add = Accumulate || pc > 0;
                    var bs = kc * nr + StripPad;
                    var as_ = kc * mr + StripPad;
                    if (PrePackedB == null) PackB(packB, bs, pc, kc, jc, nc, nr);
                    for (var ic = m0; ic < m1; ic += mcMax)
                    {
                        var mc = Math.Min(mcMax, m1 - ic);
                        PackA(packA, as_, ic, mc, pc, kc, mr);
                        for (var jr = 0; jr < nc; jr += nr)
                        {
                            var cols = Math.Min(nr, nc - jr);
                            var pbStrip = PrePackedB == null
                                ? packB + (jr / nr) * (long)bs
                                : PrePackedB + ((long)(pc / kcMax) * PrePackStrips + (jc + jr) / nr) * PrePackStride;
                            for (var ir = 0; ir < mc; ir += mr)
                            {
                                var rows = Math.Min(mr, mc - ir);
                                var paStrip = packA + (ir / mr) * (long)as_;
                                var cp = C + (long)(ic + ir) * Ldc + jc + jr;
                                if (rows == mr && cols == nr)
                                {
                                    Kernel(paStrip, pbStrip, kc, cp, Ldc, add);
                                }
                                else
                                {
                                    Kernel(paStrip, pbStrip, kc, tile, nr, false);
                                    for (var r = 0; r < rows; r++)
                                    {
                                        var crow = cp + (long)r * Ldc;
                                        var trow = tile + r * nr;
                                        if (add) for (var j = 0; j < cols; j++) crow[j] += trow[j];
                                        else for (var j = 0; j < cols; j++) crow[j] = trow[j];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        private readonly void Kernel(float* a, float* b, int kc, float* c, int ldc, bool add)
        {
            switch (Path)
            {
                case GemmPath.Avx512: GemmKernels.Avx512_4x64(a, b, kc, c, ldc, add); break;
                case GemmPath.Avx2: GemmKernels.Avx2_6x16(a, b, kc, c, ldc, add); break;
                default: GemmKernels.Portable_4x8(a, b, kc, c, ldc, add); break;
            }
        }

        /// <summary>Packs op(A)[ic..ic+mc, pc..pc+kc] × alpha into mr-row strips: strip[p*mr + r].</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void PackA(float* dst, int stride, int ic, int mc, int pc, int kc, int mr)
        {
            var alpha = Alpha;
            for (var s = 0; s < mc; s += mr)
            {
                var d = dst + (s / mr) * (long)stride;
                var rows = Math.Min(mr, mc - s);
                if (mr == 4 && rows == 4 && Avx.IsSupported)
                {
                    PackA4Vector(d, ic + s, pc, kc, alpha);
                }
                else if (mr == 6 && rows == 6 && Avx.IsSupported)
                {
                    PackA6Vector(d, ic + s, pc, kc, alpha);
                }
                else if (!TransA)
                {
                    // A row-major m×k: row i contiguous in k.
                    for (var r = 0; r < rows; r++)
                    {
                        var src = A + (long)(ic + s + r) * Lda + pc;
                        for (var p = 0; p < kc; p++) d[p * mr + r] = src[p] * alpha;
                    }
                    for (var r = rows; r < mr; r++)
                        for (var p = 0; p < kc; p++) d[p * mr + r] = 0f;
                }
                else
                {
                    // A stored k×m: op(A)[i, p] = A[p, i]; the mr values for one p are contiguous.
                    for (var p = 0; p < kc; p++)
                    {
                        var src = A + (long)(pc + p) * Lda + ic + s;
                        var dp = d + p * mr;
                        var r = 0;
                        for (; r < rows; r++) dp[r] = src[r] * alpha;
                        for (; r < mr; r++) dp[r] = 0f;
                    }
                }
            }
        }

        /// <summary>Full 4-row strip of op(A)·alpha: 4×8 AVX transposes (row-major A) or 128-bit copies (transposed A).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void PackA4Vector(float* d, int i0, int pc, int kc, float alpha)
        {
            var p = 0;
            if (TransA)
            {
                var va = Vector128.Create(alpha);
                for (; p < kc; p++)
                    (Vector128.Load(A + (long)(pc + p) * Lda + i0) * va).Store(d + p * 4);
                return;
            }
            var s0 = A + (long)i0 * Lda + pc;
            var s1 = s0 + Lda;
            var s2 = s1 + Lda;
            var s3 = s2 + Lda;
            var v = Vector256.Create(alpha);
            for (; p + 8 <= kc; p += 8)
            {
                var r0 = Avx.LoadVector256(s0 + p) * v;
                var r1 = Avx.LoadVector256(s1 + p) * v;
                var r2 = Avx.LoadVector256(s2 + p) * v;
                var r3 = Avx.LoadVector256(s3 + p) * v;
                var t0 = Avx.UnpackLow(r0, r1);   // r0p0 r1p0 r0p1 r1p1 | r0p4 r1p4 r0p5 r1p5
                var t1 = Avx.UnpackHigh(r0, r1);  // p2 p3 | p6 p7
                var t2 = Avx.UnpackLow(r2, r3);
                var t3 = Avx.UnpackHigh(r2, r3);
                var u0 = Avx.Shuffle(t0, t2, 0x44); // p0 | p4
                var u1 = Avx.Shuffle(t0, t2, 0xEE); // p1 | p5
                var u2 = Avx.Shuffle(t1, t3, 0x44); // p2 | p6
                var u3 = Avx.Shuffle(t1, t3, 0xEE); // p3 | p7
                var dp = d + p * 4;
                Avx.Store(dp, Avx.Permute2x128(u0, u1, 0x20));      // p0 p1
                Avx.Store(dp + 8, Avx.Permute2x128(u2, u3, 0x20));  // p2 p3
                Avx.Store(dp + 16, Avx.Permute2x128(u0, u1, 0x31)); // p4 p5
                Avx.Store(dp + 24, Avx.Permute2x128(u2, u3, 0x31)); // p6 p7
            }
            for (; p < kc; p++)
            {
                var dp = d + p * 4;
                dp[0] = s0[p] * alpha;
                dp[1] = s1[p] * alpha;
                dp[2] = s2[p] * alpha;
                dp[3] = s3[p] * alpha;
            }
        }

        /// <summary>
        /// Full 6-row strip of op(A)·alpha (the AVX2 tile): 8 values per store, each store's last two spilling into the
        /// next k step's slot, which that step then overwrites (the strip's 64-byte pad takes the last spill). Row-major A
        /// goes through 8×8 transposes of the six rows and two zero rows; transposed A copies 6 contiguous values per k.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void PackA6Vector(float* d, int i0, int pc, int kc, float alpha)
        {
            var va = Vector256.Create(alpha);
            var p = 0;
            if (TransA)
            {
                // Each k step reads 8 floats for the 6 it needs: the 2 extra lie in the same or the next stored row of A,
                // except in A's last row, which may end right after column i0 + 5.
                var safe = pc + kc < K || i0 + 8 <= M ? kc : kc - 1;
                for (; p < safe; p++)
                    Avx.Store(d + p * 6, Avx.LoadVector256(A + (long)(pc + p) * Lda + i0) * va);
                for (; p < kc; p++)
                {
                    var src = A + (long)(pc + p) * Lda + i0;
                    for (var r = 0; r < 6; r++) d[p * 6 + r] = src[r] * alpha;
                }
                return;
            }
            var s0 = A + (long)i0 * Lda + pc;
            var zero = Vector256<float>.Zero;
            for (; p + 8 <= kc; p += 8)
            {
                Transpose8x8(
                    Avx.LoadVector256(s0 + p) * va, Avx.LoadVector256(s0 + Lda + p) * va, Avx.LoadVector256(s0 + 2L * Lda + p) * va,
                    Avx.LoadVector256(s0 + 3L * Lda + p) * va, Avx.LoadVector256(s0 + 4L * Lda + p) * va, Avx.LoadVector256(s0 + 5L * Lda + p) * va,
                    zero, zero,
                    out var o0, out var o1, out var o2, out var o3, out var o4, out var o5, out var o6, out var o7);
                var dp = d + p * 6;
                Avx.Store(dp, o0);
                Avx.Store(dp + 6, o1);
                Avx.Store(dp + 12, o2);
                Avx.Store(dp + 18, o3);
                Avx.Store(dp + 24, o4);
                Avx.Store(dp + 30, o5);
                Avx.Store(dp + 36, o6);
                Avx.Store(dp + 42, o7);
            }
            for (; p < kc; p++)
                for (var r = 0; r < 6; r++) d[p * 6 + r] = s0[r * (long)Lda + p] * alpha;
        }

        private readonly void Widen(ushort* src, int count, Span<float> dst)
        {
            if (B16IsHalf) Precision.HalfToSingle(new ReadOnlySpan<Half>(src, count), dst);
            else Precision.BF16ToSingle(new ReadOnlySpan<ushort>(src, count), dst);
        }

        /// <summary>One nr-column strip of op(B) from bf16/f16 storage, widened to f32.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void PackB16Strip(float* d, int pc, int kc, int j0, int cols, int nr)
        {
            if (!TransB)
            {
                for (var p = 0; p < kc; p++)
                {
                    var dp = new Span<float>(d + p * nr, nr);
                    Widen(B16 + (long)(pc + p) * Ldb + j0, cols, dp);
                    if (cols < nr) dp.Slice(cols).Clear();
                }
                return;
            }
            if (cols < nr) new Span<float>(d, kc * nr).Clear();
            var j = 0;
            if (Avx.IsSupported)
            {
                // Widen 8 rows into a small f32 block, then the same 8×8 transposes as the f32 path.
                var block = stackalloc float[8 * kc];
                for (; j + 8 <= cols; j += 8)
                {
                    for (var r = 0; r < 8; r++)
                        Widen(B16 + (long)(j0 + j + r) * Ldb + pc, kc, new Span<float>(block + r * kc, kc));
                    PackTransposed8(block, kc, kc, d + j, nr);
                }
            }
            var row = stackalloc float[kc];
            for (; j < cols; j++)
            {
                Widen(B16 + (long)(j0 + j) * Ldb + pc, kc, new Span<float>(row, kc));
                for (var p = 0; p < kc; p++) d[p * nr + j] = row[p];
            }
        }

        /// <summary>Packs op(B)[pc..pc+kc, jc..jc+nc] into nr-column strips: strip[p*nr + j].</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void PackB(float* dst, int stride, int pc, int kc, int jc, int nc, int nr)
        {
            for (var s = 0; s < nc; s += nr)
            {
                var d = dst + (s / nr) * (long)stride;
                var cols = Math.Min(nr, nc - s);
                PackBStrip(d, pc, kc, jc + s, cols, nr);
                if (AlphaB != 1f)
                {
                    var strip = new Span<float>(d, kc * nr);
                    System.Numerics.Tensors.TensorPrimitives.Multiply(strip, AlphaB, strip); // elementwise: the same product on every width
                }
            }
        }

        /// <summary>One nr-column strip of op(B)[pc..pc+kc, j0..j0+cols], zero-padded to nr columns.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void PackBStrip(float* d, int pc, int kc, int j0, int cols, int nr)
        {
            if (B16 != null)
            {
                PackB16Strip(d, pc, kc, j0, cols, nr);
            }
            else if (!TransB)
            {
                // B row-major k×n: the nr values for one p are contiguous.
                for (var p = 0; p < kc; p++)
                {
                    var src = new ReadOnlySpan<float>(B + (long)(pc + p) * Ldb + j0, cols);
                    var dp = new Span<float>(d + p * nr, nr);
                    src.CopyTo(dp);
                    if (cols < nr) dp.Slice(cols).Clear();
                }
            }
            else
            {
                // B stored n×k: op(B)[p, j] = B[j, p]; row j contiguous in p.
                if (cols < nr) new Span<float>(d, kc * nr).Clear();
                var j = 0;
                if (Avx.IsSupported)
                    for (; j + 8 <= cols; j += 8)
                        PackTransposed8(B + (long)(j0 + j) * Ldb + pc, Ldb, kc, d + j, nr);
                for (; j + 4 <= cols; j += 4)
                {
                    var s0 = B + (long)(j0 + j) * Ldb + pc;
                    var s1 = s0 + Ldb;
                    var s2 = s1 + Ldb;
                    var s3 = s2 + Ldb;
                    var dp = d + j;
                    for (var p = 0; p < kc; p++)
                    {
                        dp[0] = s0[p]; dp[1] = s1[p]; dp[2] = s2[p]; dp[3] = s3[p];
                        dp += nr;
                    }
                }
                for (; j < cols; j++)
                {
                    var src = B + (long)(j0 + j) * Ldb + pc;
                    for (var p = 0; p < kc; p++) d[p * nr + j] = src[p];
                }
            }
        }
    }

    /// <summary>
    /// dst[p*dstStride + r] = src[r*ld + p] for 8 rows r and p &lt; kc: 8×8 AVX transposes, scalar tail.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackTransposed8(float* src, int ld, int kc, float* dst, int dstStride)
    {
        var p = 0;
        for (; p + 8 <= kc; p += 8)
        {
            Transpose8x8(
                Avx.LoadVector256(src + p), Avx.LoadVector256(src + ld + p), Avx.LoadVector256(src + 2L * ld + p), Avx.LoadVector256(src + 3L * ld + p),
                Avx.LoadVector256(src + 4L * ld + p), Avx.LoadVector256(src + 5L * ld + p), Avx.LoadVector256(src + 6L * ld + p), Avx.LoadVector256(src + 7L * ld + p),
                out var o0, out var o1, out var o2, out var o3, out var o4, out var o5, out var o6, out var o7);
            var d0 = dst + (long)p * dstStride;
            Avx.Store(d0, o0);
            Avx.Store(d0 + dstStride, o1);
            Avx.Store(d0 + 2L * dstStride, o2);
            Avx.Store(d0 + 3L * dstStride, o3);
            Avx.Store(d0 + 4L * dstStride, o4);
            Avx.Store(d0 + 5L * dstStride, o5);
            Avx.Store(d0 + 6L * dstStride, o6);
            Avx.Store(d0 + 7L * dstStride, o7);
        }
        for (; p < kc; p++)
        {
            var dp = dst + (long)p * dstStride;
            for (var r = 0; r < 8; r++) dp[r] = src[r * (long)ld + p];
        }
    }

    /// <summary>t[j·m + i] = C[i, j] for C m×n (ldc): the narrow path's Cᵀ, loaded before accumulating into it (8×8 AVX transposes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LoadTransposed(float* c, int ldc, int m, int n, float* t)
    {
        var i = 0;
        if (Avx.IsSupported)
            for (; i + 8 <= m; i += 8)
            {
                var j = 0;
                for (; j + 8 <= n; j += 8)
                {
                    var s = c + (long)i * ldc + j;
                    Transpose8x8(
                        Avx.LoadVector256(s), Avx.LoadVector256(s + ldc), Avx.LoadVector256(s + 2L * ldc), Avx.LoadVector256(s + 3L * ldc),
                        Avx.LoadVector256(s + 4L * ldc), Avx.LoadVector256(s + 5L * ldc), Avx.LoadVector256(s + 6L * ldc), Avx.LoadVector256(s + 7L * ldc),
                        out var o0, out var o1, out var o2, out var o3, out var o4, out var o5, out var o6, out var o7);
                    var d = t + (long)j * m + i;
                    Avx.Store(d, o0);
                    Avx.Store(d + m, o1);
                    Avx.Store(d + 2L * m, o2);
                    Avx.Store(d + 3L * m, o3);
                    Avx.Store(d + 4L * m, o4);
                    Avx.Store(d + 5L * m, o5);
                    Avx.Store(d + 6L * m, o6);
                    Avx.Store(d + 7L * m, o7);
                }
                for (; j < n; j++)
                    for (var r = i; r < i + 8; r++) t[(long)j * m + r] = c[(long)r * ldc + j];
            }
        for (; i < m; i++)
        {
            var row = c + (long)i * ldc;
            for (var j = 0; j < n; j++) t[(long)j * m + i] = row[j];
        }
    }

    /// <summary>
    /// C[i, j] = (or +=) t[j·m + i] for C m×n (ldc): the narrow path's Cᵀ written back. 8×8 AVX transposes (the
    /// element-wise loop read t with stride m: ≈ 2 ms of a 32 ms tiny-preset training step).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StoreTransposed(float* t, int m, int n, float* c, int ldc, bool accumulate)
    {
        var i = 0;
        if (Avx.IsSupported)
            for (; i + 8 <= m; i += 8)
            {
                var j = 0;
                for (; j + 8 <= n; j += 8)
                {
                    var s = t + (long)j * m + i;
                    Transpose8x8(
                        Avx.LoadVector256(s), Avx.LoadVector256(s + m), Avx.LoadVector256(s + 2L * m), Avx.LoadVector256(s + 3L * m),
                        Avx.LoadVector256(s + 4L * m), Avx.LoadVector256(s + 5L * m), Avx.LoadVector256(s + 6L * m), Avx.LoadVector256(s + 7L * m),
                        out var o0, out var o1, out var o2, out var o3, out var o4, out var o5, out var o6, out var o7);
                    var d = c + (long)i * ldc + j;
                    StoreRow(d, o0, accumulate);
                    StoreRow(d + ldc, o1, accumulate);
                    StoreRow(d + 2L * ldc, o2, accumulate);
                    StoreRow(d + 3L * ldc, o3, accumulate);
                    StoreRow(d + 4L * ldc, o4, accumulate);
                    StoreRow(d + 5L * ldc, o5, accumulate);
                    StoreRow(d + 6L * ldc, o6, accumulate);
                    StoreRow(d + 7L * ldc, o7, accumulate);
                }
                for (; j < n; j++)
                    for (var r = i; r < i + 8; r++)
                    {
                        var v = t[(long)j * m + r];
                        c[(long)r * ldc + j] = accumulate ? c[(long)r * ldc + j] + v : v;
                    }
            }
        for (; i < m; i++)
        {
            var row = c + (long)i * ldc;
            if (accumulate) for (var j = 0; j < n; j++) row[j] += t[(long)j * m + i];
            else for (var j = 0; j < n; j++) row[j] = t[(long)j * m + i];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow(float* d, Vector256<float> v, bool accumulate) => Avx.Store(d, accumulate ? Avx.LoadVector256(d) + v : v);

    /// <summary>o_p = (r0[p], r1[p], …, r7[p]): an 8×8 transpose in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7,
        out Vector256<float> o0, out Vector256<float> o1, out Vector256<float> o2, out Vector256<float> o3,
        out Vector256<float> o4, out Vector256<float> o5, out Vector256<float> o6, out Vector256<float> o7)
    {
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        o0 = Avx.Permute2x128(u0, u4, 0x20);
        o1 = Avx.Permute2x128(u1, u5, 0x20);
        o2 = Avx.Permute2x128(u2, u6, 0x20);
        o3 = Avx.Permute2x128(u3, u7, 0x20);
        o4 = Avx.Permute2x128(u0, u4, 0x31);
        o5 = Avx.Permute2x128(u1, u5, 0x31);
        o6 = Avx.Permute2x128(u2, u6, 0x31);
        o7 = Avx.Permute2x128(u3, u7, 0x31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int RoundUp(int x, int m) => (x + m - 1) / m * m;
}
