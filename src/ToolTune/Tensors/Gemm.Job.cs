using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ToolTune.Tensors;

// One product (or a block of it): the Goto/BLIS loops around the micro-kernel and the packing of op(A) and op(B).
public static unsafe partial class Gemm
{
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
}
