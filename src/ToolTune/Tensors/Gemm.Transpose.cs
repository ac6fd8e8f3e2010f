using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ToolTune.Tensors;

// 8×8 AVX transposes: packing transposed operands and the narrow path's Cᵀ.
public static unsafe partial class Gemm
{
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

    /// <summary>t[j·m + i] = C[i, j] for C m×n (ldc): the narrow path's Cᵀ, loaded before accumulating into it.</summary>
    private static void LoadTransposed(float* c, int ldc, int m, int n, float* t) => Transpose(c, ldc, m, n, t, m, accumulate: false);

    /// <summary>C[i, j] = (or +=) t[j·m + i] for C m×n (ldc): the narrow path's Cᵀ written back.</summary>
    private static void StoreTransposed(float* t, int m, int n, float* c, int ldc, bool accumulate) => Transpose(t, m, n, m, c, ldc, accumulate);

    /// <summary>
    /// dst[j·ldDst + i] = (or +=) src[i·ldSrc + j] for i &lt; rows, j &lt; cols: 8×8 AVX transposes, scalar edges (the
    /// element-wise loop read with a stride: ≈ 2 ms of a 32 ms tiny-preset training step).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Transpose(float* src, int ldSrc, int rows, int cols, float* dst, int ldDst, bool accumulate)
    {
        var i = 0;
        if (Avx.IsSupported)
            for (; i + 8 <= rows; i += 8)
            {
                var j = 0;
                for (; j + 8 <= cols; j += 8)
                {
                    var s = src + (long)i * ldSrc + j;
                    Transpose8x8(
                        Avx.LoadVector256(s), Avx.LoadVector256(s + ldSrc), Avx.LoadVector256(s + 2L * ldSrc), Avx.LoadVector256(s + 3L * ldSrc),
                        Avx.LoadVector256(s + 4L * ldSrc), Avx.LoadVector256(s + 5L * ldSrc), Avx.LoadVector256(s + 6L * ldSrc), Avx.LoadVector256(s + 7L * ldSrc),
                        out var o0, out var o1, out var o2, out var o3, out var o4, out var o5, out var o6, out var o7);
                    var d = dst + (long)j * ldDst + i;
                    StoreRow(d, o0, accumulate);
                    StoreRow(d + ldDst, o1, accumulate);
                    StoreRow(d + 2L * ldDst, o2, accumulate);
                    StoreRow(d + 3L * ldDst, o3, accumulate);
                    StoreRow(d + 4L * ldDst, o4, accumulate);
                    StoreRow(d + 5L * ldDst, o5, accumulate);
                    StoreRow(d + 6L * ldDst, o6, accumulate);
                    StoreRow(d + 7L * ldDst, o7, accumulate);
                }
                for (; j < cols; j++)
                    for (var r = i; r < i + 8; r++) Put(dst + (long)j * ldDst + r, src[(long)r * ldSrc + j], accumulate);
            }
        for (; i < rows; i++)
            for (var j = 0; j < cols; j++) Put(dst + (long)j * ldDst + i, src[(long)i * ldSrc + j], accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(float* d, float v, bool accumulate) => *d = accumulate ? *d + v : v;

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
