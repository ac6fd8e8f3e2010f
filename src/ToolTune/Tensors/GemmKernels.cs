using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ToolTune.Tensors;

/// <summary>
/// SGEMM register-tiled micro-kernels over packed panels: <c>a</c> holds kc groups of MR values (one per row),
/// <c>b</c> holds kc groups of NR values. They compute the MR×NR tile Σ_p a[p]·b[p]ᵀ and store it into C
/// (overwriting, or adding when <c>add</c>).
/// </summary>
internal static unsafe class GemmKernels
{
    /// <summary>AVX-512F 4×64: 16 zmm accumulators, 4 B loads + 4 broadcasts per k step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx512_4x64(float* a, float* b, int kc, float* c, int ldc, bool add)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        var p = 0;
        for (; p + 2 <= kc; p += 2)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var b2 = Vector512.Load(b + 32);
            var b3 = Vector512.Load(b + 48);
            var a0 = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00);
            c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01);
            c02 = Avx512F.FusedMultiplyAdd(a0, b2, c02);
            c03 = Avx512F.FusedMultiplyAdd(a0, b3, c03);
            var a1 = Vector512.Create(a[1]);
            c10 = Avx512F.FusedMultiplyAdd(a1, b0, c10);
            c11 = Avx512F.FusedMultiplyAdd(a1, b1, c11);
            c12 = Avx512F.FusedMultiplyAdd(a1, b2, c12);
            c13 = Avx512F.FusedMultiplyAdd(a1, b3, c13);
            var a2 = Vector512.Create(a[2]);
            c20 = Avx512F.FusedMultiplyAdd(a2, b0, c20);
            c21 = Avx512F.FusedMultiplyAdd(a2, b1, c21);
            c22 = Avx512F.FusedMultiplyAdd(a2, b2, c22);
            c23 = Avx512F.FusedMultiplyAdd(a2, b3, c23);
            var a3 = Vector512.Create(a[3]);
            c30 = Avx512F.FusedMultiplyAdd(a3, b0, c30);
            c31 = Avx512F.FusedMultiplyAdd(a3, b1, c31);
            c32 = Avx512F.FusedMultiplyAdd(a3, b2, c32);
            c33 = Avx512F.FusedMultiplyAdd(a3, b3, c33);

            b0 = Vector512.Load(b + 64);
            b1 = Vector512.Load(b + 80);
            b2 = Vector512.Load(b + 96);
            b3 = Vector512.Load(b + 112);
            a0 = Vector512.Create(a[4]);
            c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00);
            c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01);
            c02 = Avx512F.FusedMultiplyAdd(a0, b2, c02);
            c03 = Avx512F.FusedMultiplyAdd(a0, b3, c03);
            a1 = Vector512.Create(a[5]);
            c10 = Avx512F.FusedMultiplyAdd(a1, b0, c10);
            c11 = Avx512F.FusedMultiplyAdd(a1, b1, c11);
            c12 = Avx512F.FusedMultiplyAdd(a1, b2, c12);
            c13 = Avx512F.FusedMultiplyAdd(a1, b3, c13);
            a2 = Vector512.Create(a[6]);
            c20 = Avx512F.FusedMultiplyAdd(a2, b0, c20);
            c21 = Avx512F.FusedMultiplyAdd(a2, b1, c21);
            c22 = Avx512F.FusedMultiplyAdd(a2, b2, c22);
            c23 = Avx512F.FusedMultiplyAdd(a2, b3, c23);
            a3 = Vector512.Create(a[7]);
            c30 = Avx512F.FusedMultiplyAdd(a3, b0, c30);
            c31 = Avx512F.FusedMultiplyAdd(a3, b1, c31);
            c32 = Avx512F.FusedMultiplyAdd(a3, b2, c32);
            c33 = Avx512F.FusedMultiplyAdd(a3, b3, c33);
            a += 8;
            b += 128;
        }
        for (; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var b2 = Vector512.Load(b + 32);
            var b3 = Vector512.Load(b + 48);
            var a0 = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00);
            c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01);
            c02 = Avx512F.FusedMultiplyAdd(a0, b2, c02);
            c03 = Avx512F.FusedMultiplyAdd(a0, b3, c03);
            var a1 = Vector512.Create(a[1]);
            c10 = Avx512F.FusedMultiplyAdd(a1, b0, c10);
            c11 = Avx512F.FusedMultiplyAdd(a1, b1, c11);
            c12 = Avx512F.FusedMultiplyAdd(a1, b2, c12);
            c13 = Avx512F.FusedMultiplyAdd(a1, b3, c13);
            var a2 = Vector512.Create(a[2]);
            c20 = Avx512F.FusedMultiplyAdd(a2, b0, c20);
            c21 = Avx512F.FusedMultiplyAdd(a2, b1, c21);
            c22 = Avx512F.FusedMultiplyAdd(a2, b2, c22);
            c23 = Avx512F.FusedMultiplyAdd(a2, b3, c23);
            var a3 = Vector512.Create(a[3]);
            c30 = Avx512F.FusedMultiplyAdd(a3, b0, c30);
            c31 = Avx512F.FusedMultiplyAdd(a3, b1, c31);
            c32 = Avx512F.FusedMultiplyAdd(a3, b2, c32);
            c33 = Avx512F.FusedMultiplyAdd(a3, b3, c33);
            a += 4;
            b += 64;
        }
        Store4(c, add, c00, c01, c02, c03);
        Store4(c + ldc, add, c10, c11, c12, c13);
        Store4(c + 2 * (long)ldc, add, c20, c21, c22, c23);
        Store4(c + 3 * (long)ldc, add, c30, c31, c32, c33);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4(float* c, bool add, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3)
    {
        if (add)
        {
            v0 += Vector512.Load(c);
            v1 += Vector512.Load(c + 16);
            v2 += Vector512.Load(c + 32);
            v3 += Vector512.Load(c + 48);
        }
        v0.Store(c);
        v1.Store(c + 16);
        v2.Store(c + 32);
        v3.Store(c + 48);
    }

    /// <summary>AVX2+FMA 6×16: 12 ymm accumulators, 2 B loads + 6 broadcasts per k step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx2_6x16(float* a, float* b, int kc, float* c, int ldc, bool add)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (var p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]);
            c00 = Fma.MultiplyAdd(x, b0, c00);
            c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]);
            c10 = Fma.MultiplyAdd(x, b0, c10);
            c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]);
            c20 = Fma.MultiplyAdd(x, b0, c20);
            c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]);
            c30 = Fma.MultiplyAdd(x, b0, c30);
            c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]);
            c40 = Fma.MultiplyAdd(x, b0, c40);
            c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]);
            c50 = Fma.MultiplyAdd(x, b0, c50);
            c51 = Fma.MultiplyAdd(x, b1, c51);
            a += 6;
            b += 16;
        }
        Store2(c, add, c00, c01);
        Store2(c + ldc, add, c10, c11);
        Store2(c + 2 * (long)ldc, add, c20, c21);
        Store2(c + 3 * (long)ldc, add, c30, c31);
        Store2(c + 4 * (long)ldc, add, c40, c41);
        Store2(c + 5 * (long)ldc, add, c50, c51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store2(float* c, bool add, Vector256<float> v0, Vector256<float> v1)
    {
        if (add)
        {
            v0 += Vector256.Load(c);
            v1 += Vector256.Load(c + 8);
        }
        v0.Store(c);
        v1.Store(c + 8);
    }

    /// <summary>
    /// Portable 4×8 kernel: scalar fused multiply-adds, so every element sees the same rounding as in the vector
    /// kernels (an unfused multiply and add would round twice). Fast paths exist for AVX2 and AVX-512; this one is the
    /// reference the others agree with bit for bit, and the path of CPUs without FMA.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Portable_4x8(float* a, float* b, int kc, float* c, int ldc, bool add)
    {
        var acc = stackalloc float[32];
        new Span<float>(acc, 32).Clear();
        for (var p = 0; p < kc; p++)
        {
            for (var r = 0; r < 4; r++)
            {
                var x = a[r];
                var row = acc + r * 8;
                for (var j = 0; j < 8; j++) row[j] = MathF.FusedMultiplyAdd(x, b[j], row[j]);
            }
            a += 4;
            b += 8;
        }
        for (var r = 0; r < 4; r++)
        {
            var crow = c + r * (long)ldc;
            var row = acc + r * 8;
            if (add) for (var j = 0; j < 8; j++) crow[j] += row[j];
            else for (var j = 0; j < 8; j++) crow[j] = row[j];
        }
    }
}
