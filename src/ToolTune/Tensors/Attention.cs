using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ToolTune.Tensors;

/// <summary>
/// Causal grouped-query attention, flash style: query tiles × key blocks with online softmax; scratch is
/// O(T·block) per thread, never the T×T score matrix (checked at T = 4096 by the tests). Layouts are the projections' natural row-major outputs:
/// q/o <c>[Tq × Hq × d]</c>, k/v <c>[Tk × Hkv × d]</c>; query head h reads kv head <c>h / (Hq/Hkv)</c>.
/// Query i sits at absolute position <c>Tk − Tq + i</c> and attends keys 0..that position (so Tq &lt; Tk
/// is decoding against a KV cache; k/v may be longer buffers, only their first Tk rows are read). The forward
/// stores the row log-sum-exp <c>lse [Hq × Tq]</c>; the backward recomputes the probabilities per key block for
/// all query rows that see it (FlashAttention-2 style, one GEMM per step). <c>scale</c> is head_dim^-0.5 for HF.
/// </summary>
public static unsafe class Attention
{
    private const int BlockQ = 64;

    /// <summary>Default key-tile length: large enough that the tile GEMMs amortise their packing, and still
    /// O(T) scratch (BlockQ × BlockK per thread), never T × T.</summary>
    public const int DefaultBlockK = 256;

    /// <summary>Default key-block length of the backward, which holds rows × block scratch (two buffers).</summary>
    public const int DefaultBackwardBlockK = 128;

    /// <summary>Forward. <paramref name="lse"/> may be empty when no backward will follow.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> o, Span<float> lse,
        int tq, int tk, int hq, int hkv, int d, float scale, int blockK = 0)
    {
        Validate(q.Length, k.Length, v.Length, o.Length, tq, tk, hq, hkv, d);
        if (blockK <= 0) blockK = DefaultBlockK;
        if (!lse.IsEmpty && lse.Length < hq * tq) throw new ArgumentException("Attention: lse too small");
        if (tq == 0) return;
        fixed (float* pq = q, pk = k, pv = v, po = o, pl = lse)
        {
            nint aq = (nint)pq, ak = (nint)pk, av = (nint)pv, ao = (nint)po, al = lse.IsEmpty ? 0 : (nint)pl;
            if (tq <= DecodeRows)
                WorkerPool.Shared.For(hq, h => DecodeHead((float*)aq, (float*)ak, (float*)av, (float*)ao, (float*)al, tq, tk, hq, hkv, d, scale, h));
            else
                WorkerPool.Shared.For(hq, h => ForwardHead((float*)aq, (float*)ak, (float*)av, (float*)ao, (float*)al, tq, tk, hq, hkv, d, scale, h, blockK));
        }
    }

    /// <summary>Query rows up to which the forward uses the direct (decoding) path instead of GEMM tiles.</summary>
    private const int DecodeRows = 4;

    /// <summary>
    /// KV-cache decoding (a few query rows against a long cache): scores as plain dot products, one softmax, and
    /// o = Σ p_j·v_j. The tile path's GEMMs would pack K and V per call for a single row, costing more than the math.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeHead(float* q, float* k, float* v, float* o, float* lse, int tq, int tk, int hq, int hkv, int d, float scale, int h)
    {
        var g = h / (hq / hkv);
        int qs = hq * d, ks = hkv * d, offset = tk - tq;
        var scores = ThreadScratch(ref t_scores, tk);
        for (var i = 0; i < tq; i++)
        {
            var n = offset + i + 1; // keys 0..offset+i are visible
            var qi = new ReadOnlySpan<float>(q + (long)i * qs + h * d, d);
            for (var j = 0; j < n; j++) scores[j] = scale * Reductions.Dot(qi, new ReadOnlySpan<float>(k + (long)j * ks + g * d, d));
            var row = scores.AsSpan(0, n);
            var max = FastMath.Max(row);
            var sum = FastMath.ExpShiftSum(row, max, row);
            var dst = new Span<float>(o + (long)i * qs + h * d, d);
            dst.Clear();
            for (var j = 0; j < n; j++) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(v + (long)j * ks + g * d, d), scores[j], dst, dst);
            TensorPrimitives.Multiply(dst, 1f / sum, dst);
            if (lse != null) lse[(long)h * tq + i] = max + MathF.Log(sum);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardHead(float* q, float* k, float* v, float* o, float* lse, int tq, int tk, int hq, int hkv, int d, float scale, int h, int blockK)
    {
        var g = h / (hq / hkv);
        var qs = hq * d;
        var ks = hkv * d;
        var offset = tk - tq;
        var (s, acc, mrow, lrow) = ForwardScratch(BlockQ * Math.Min(blockK, tk), BlockQ * d);
        var qSpan = new ReadOnlySpan<float>(q, (tq - 1) * qs + hq * d);
        var kSpan = new ReadOnlySpan<float>(k, (tk - 1) * ks + hkv * d);
        var vSpan = new ReadOnlySpan<float>(v, (tk - 1) * ks + hkv * d);
        for (var i0 = 0; i0 < tq; i0 += BlockQ)
        {
            var bq = Math.Min(BlockQ, tq - i0);
            Array.Fill(mrow, float.NegativeInfinity);
            Array.Clear(lrow);
            Array.Clear(acc);
            var kEnd = Math.Min(tk, offset + i0 + bq); // exclusive
            for (var j0 = 0; j0 < kEnd; j0 += blockK)
            {
                var bk = Math.Min(blockK, kEnd - j0);
                Gemm.Sgemm(false, true, bq, bk, d, scale, qSpan.Slice(i0 * qs + h * d), qs, kSpan.Slice(j0 * ks + g * d), ks, s, bk);
                for (var r = 0; r < bq; r++)
                {
                    var row = s.AsSpan(r * bk, bk);
                    var limit = offset + i0 + r - j0; // last visible key index within the tile
                    if (limit < bk - 1) row.Slice(Math.Max(0, limit + 1)).Fill(float.NegativeInfinity);
                    var mOld = mrow[r];
                    var mNew = Math.Max(mOld, FastMath.Max(row));
                    if (float.IsNegativeInfinity(mNew)) { row.Clear(); continue; }
                    var rowSum = FastMath.ExpShiftSum(row, mNew, row);
                    var correction = MathF.Exp(mOld - mNew);
                    lrow[r] = lrow[r] * correction + rowSum;
                    mrow[r] = mNew;
                    if (correction != 1f)
                    {
                        var a = acc.AsSpan(r * d, d);
                        TensorPrimitives.Multiply(a, correction, a);
                    }
                }
                Gemm.Sgemm(false, false, bq, d, bk, 1f, s, bk, vSpan.Slice(j0 * ks + g * d), ks, acc, d, accumulate: true);
            }
            for (var r = 0; r < bq; r++)
            {
                var dst = new Span<float>(o + (long)(i0 + r) * qs + h * d, d);
                TensorPrimitives.Multiply(acc.AsSpan(r * d, d), 1f / lrow[r], dst);
                if (lse != null) lse[(long)h * tq + i0 + r] = mrow[r] + MathF.Log(lrow[r]);
            }
        }
    }

    // Per-thread forward tile scratch, reused by every head, layer and step (it was ≈ 80 KB per head per layer).
    [ThreadStatic] private static float[]? t_scores, t_acc, t_mrow, t_lrow;

    private static (float[] S, float[] Acc, float[] MRow, float[] LRow) ForwardScratch(int scores, int acc) =>
        (ThreadScratch(ref t_scores, scores), ThreadScratch(ref t_acc, acc), ThreadScratch(ref t_mrow, BlockQ), ThreadScratch(ref t_lrow, BlockQ));

    /// <summary>
    /// Backward. Overwrites <paramref name="dq"/> [Tq × Hq × d], <paramref name="dk"/> and <paramref name="dv"/>
    /// [Tk × Hkv × d]. Needs the forward's output <paramref name="o"/> and <paramref name="lse"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Backward(ReadOnlySpan<float> dO, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> o, ReadOnlySpan<float> lse, Span<float> dq, Span<float> dk, Span<float> dv,
        int tq, int tk, int hq, int hkv, int d, float scale, int blockK = 0)
    {
        Validate(q.Length, k.Length, v.Length, o.Length, tq, tk, hq, hkv, d);
        if (blockK <= 0) blockK = DefaultBackwardBlockK;
        if (dO.Length < tq * hq * d || dq.Length < tq * hq * d || dk.Length < tk * hkv * d || dv.Length < tk * hkv * d || lse.Length < hq * tq)
            throw new ArgumentException("Attention.Backward: gradient buffers too small");
        dk.Slice(0, tk * hkv * d).Clear();
        dv.Slice(0, tk * hkv * d).Clear();
        if (tq == 0) return;
        // Per query head private dK/dV ([Tk × d] each), reduced into the shared kv head afterwards; kept per calling
        // thread and reused by every layer and step (ArrayPool.Shared holds too few arrays per size for hq × 2 of them).
        var (dkh, dvh) = HeadGradients(hq, tk * d);
        fixed (float* pdo = dO, pq = q, pk = k, pv = v, po = o, pl = lse, pdq = dq)
        {
            nint a0 = (nint)pdo, a1 = (nint)pq, a2 = (nint)pk, a3 = (nint)pv, a4 = (nint)po, a5 = (nint)pl, a6 = (nint)pdq;
            WorkerPool.Shared.For(hq, h =>
            {
                dkh[h].AsSpan(0, tk * d).Clear();
                dvh[h].AsSpan(0, tk * d).Clear();
                BackwardHead((float*)a0, (float*)a1, (float*)a2, (float*)a3, (float*)a4, (float*)a5, (float*)a6, dkh[h], dvh[h], tq, tk, hq, hkv, d, scale, h, blockK);
            });
        }
        var group = hq / hkv;
        for (var h = 0; h < hq; h++)
        {
            var g = h / group;
            for (var j = 0; j < tk; j++)
            {
                var dkr = dk.Slice(j * hkv * d + g * d, d);
                var dvr = dv.Slice(j * hkv * d + g * d, d);
                TensorPrimitives.Add(dkr, dkh[h].AsSpan(j * d, d), dkr);
                TensorPrimitives.Add(dvr, dvh[h].AsSpan(j * d, d), dvr);
            }
        }
    }

    [ThreadStatic] private static float[][]? t_dkh, t_dvh;

    private static (float[][] Dk, float[][] Dv) HeadGradients(int heads, int length)
    {
        static float[][] Grow(ref float[][]? set, int heads, int length)
        {
            if (set is null || set.Length < heads) set = new float[heads][];
            for (var h = 0; h < heads; h++)
                if (set[h] is null || set[h].Length < length) set[h] = new float[length];
            return set;
        }
        return (Grow(ref t_dkh, heads, length), Grow(ref t_dvh, heads, length));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardHead(float* dO, float* q, float* k, float* v, float* o, float* lse, float* dq,
        float[] dkh, float[] dvh, int tq, int tk, int hq, int hkv, int d, float scale, int h, int blockK)
    {
        var g = h / (hq / hkv);
        var qs = hq * d;
        var ks = hkv * d;
        var offset = tk - tq;
        var qSpan = new ReadOnlySpan<float>(q, (tq - 1) * qs + hq * d);
        var dOSpan = new ReadOnlySpan<float>(dO, (tq - 1) * qs + hq * d);
        var dqSpan = new Span<float>(dq, (tq - 1) * qs + hq * d);
        var kSpan = new ReadOnlySpan<float>(k, (tk - 1) * ks + hkv * d);
        var vSpan = new ReadOnlySpan<float>(v, (tk - 1) * ks + hkv * d);
        // D_i = rowsum(dO_i ∘ O_i)
        var dsum = ThreadScratch(ref t_dsum, tq);
        for (var i = 0; i < tq; i++)
        {
            dsum[i] = Reductions.Dot(new ReadOnlySpan<float>(dO + (long)i * qs + h * d, d), new ReadOnlySpan<float>(o + (long)i * qs + h * d, d));
            new Span<float>(dq + (long)i * qs + h * d, d).Clear();
        }
        // Per key block: all query rows that see it at once (rows × blockK scratch, O(T) for a fixed block),
        // so each step is one GEMM with a long inner dimension instead of many small tiles.
        var maxRows = tq;
        var pLen = maxRows * Math.Min(blockK, tk);
        var pArr = ThreadScratch(ref t_p, pLen);
        var dpArr = ThreadScratch(ref t_dp, pLen);
        var p = new ArraySegment<float>(pArr, 0, pLen);
        var dp = new ArraySegment<float>(dpArr, 0, pLen);
        for (var j0 = 0; j0 < tk; j0 += blockK)
        {
            var bk = Math.Min(blockK, tk - j0);
            var iFirst = Math.Max(0, j0 - offset); // first query row that sees key j0
            var rows = tq - iFirst;
            if (rows <= 0) continue;
            var qRows = qSpan.Slice(iFirst * qs + h * d);
            var dORows = dOSpan.Slice(iFirst * qs + h * d);
            var kBlock = kSpan.Slice(j0 * ks + g * d);
            var vBlock = vSpan.Slice(j0 * ks + g * d);
            // P = exp(scale · Q Kᵀ − lse), causal entries zeroed
            Gemm.Sgemm(false, true, rows, bk, d, scale, qRows, qs, kBlock, ks, p, bk);
            for (var r = 0; r < rows; r++)
            {
                var row = p.AsSpan(r * bk, bk);
                var limit = offset + iFirst + r - j0; // last visible key within the block
                FastMath.ExpShiftSum(row, lse[(long)h * tq + iFirst + r], row);
                if (limit < bk - 1) row.Slice(limit + 1).Clear();
            }
            // dV_j += Pᵀ dO ; dP = dO V_jᵀ
            Gemm.Sgemm(true, false, bk, d, rows, 1f, p, bk, dORows, qs, dvh.AsSpan(j0 * d), d, accumulate: true);
            Gemm.Sgemm(false, true, rows, bk, d, 1f, dORows, qs, vBlock, ks, dp, bk);
            // dS = P ∘ (dP − D)
            for (var r = 0; r < rows; r++)
                SoftmaxGrad(p.AsSpan(r * bk, bk), dp.AsSpan(r * bk, bk), dsum[iFirst + r]);
            // dQ += scale · dS K_j ; dK_j += scale · dSᵀ Q
            Gemm.Sgemm(false, false, rows, d, bk, scale, dp, bk, kBlock, ks, dqSpan.Slice(iFirst * qs + h * d), qs, accumulate: true);
            Gemm.Sgemm(true, false, bk, d, rows, scale, dp, bk, qRows, qs, dkh.AsSpan(j0 * d), d, accumulate: true);
        }
    }

    /// <summary>dp ← p ∘ (dp − d) in one pass (two TensorPrimitives passes before; same operations, same bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SoftmaxGrad(ReadOnlySpan<float> p, Span<float> dp, float d)
    {
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var dv = Vector512.Create(d);
            for (; i + 16 <= dp.Length; i += 16)
                ((Vector512.Create(dp.Slice(i, 16)) - dv) * Vector512.Create(p.Slice(i, 16))).CopyTo(dp.Slice(i, 16));
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var dv = Vector256.Create(d);
            for (; i + 8 <= dp.Length; i += 8)
                ((Vector256.Create(dp.Slice(i, 8)) - dv) * Vector256.Create(p.Slice(i, 8))).CopyTo(dp.Slice(i, 8));
        }
        for (; i < dp.Length; i++) dp[i] = (dp[i] - d) * p[i];
    }

    // Per-thread backward scratch (rows × block P and dP, row sums D), reused by every head, layer and step.
    [ThreadStatic] private static float[]? t_p, t_dp, t_dsum;

    private static float[] ThreadScratch(ref float[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length) buffer = new float[length];
        return buffer;
    }

    private static void Validate(int qLen, int kLen, int vLen, int oLen, int tq, int tk, int hq, int hkv, int d)
    {
        if (hkv <= 0 || hq % hkv != 0) throw new ArgumentException($"Attention: {hq} query heads not a multiple of {hkv} kv heads");
        if (tq > tk) throw new ArgumentException($"Attention: more queries ({tq}) than keys ({tk})");
        if (qLen < tq * hq * d || oLen < tq * hq * d || kLen < tk * hkv * d || vLen < tk * hkv * d)
            throw new ArgumentException("Attention: buffers smaller than their shapes");
    }
}
