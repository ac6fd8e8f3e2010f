using System.Numerics.Tensors;

namespace ToolTune.Tensors;

/// <summary>
/// Causal grouped-query attention, flash style: query and key tiles, online softmax, memory O(T·d) per head
/// (the T×T score matrix is never stored). Layouts are the projections' natural row-major outputs:
/// q/o <c>[Tq × Hq × d]</c>, k/v <c>[Tk × Hkv × d]</c>; query head h reads kv head <c>h / (Hq/Hkv)</c>.
/// Query i sits at absolute position <c>Tk − Tq + i</c> and attends keys 0..that position (so Tq &lt; Tk
/// is decoding against a KV cache). The forward stores the row log-sum-exp <c>lse [Hq × Tq]</c>; the backward
/// recomputes the scores tile by tile (FlashAttention-2).
/// </summary>
public static unsafe class Attention
{
    private const int BlockQ = 64;

    /// <summary>Default key-tile length: large enough that the tile GEMMs amortise their packing, and still
    /// O(T) scratch (BlockQ × BlockK per thread), never T × T.</summary>
    public const int DefaultBlockK = 512;

    /// <summary>Forward. <paramref name="lse"/> may be empty when no backward will follow.</summary>
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> o, Span<float> lse,
        int tq, int tk, int hq, int hkv, int d, float scale, int blockK = DefaultBlockK)
    {
        Validate(q.Length, k.Length, v.Length, o.Length, tq, tk, hq, hkv, d);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockK, 1);
        if (!lse.IsEmpty && lse.Length < hq * tq) throw new ArgumentException("Attention: lse too small");
        if (tq == 0) return;
        fixed (float* pq = q, pk = k, pv = v, po = o, pl = lse)
        {
            nint aq = (nint)pq, ak = (nint)pk, av = (nint)pv, ao = (nint)po, al = lse.IsEmpty ? 0 : (nint)pl;
            WorkerPool.Shared.For(hq, h => ForwardHead((float*)aq, (float*)ak, (float*)av, (float*)ao, (float*)al, tq, tk, hq, hkv, d, scale, h, blockK));
        }
    }

    private static void ForwardHead(float* q, float* k, float* v, float* o, float* lse, int tq, int tk, int hq, int hkv, int d, float scale, int h, int blockK)
    {
        var g = h / (hq / hkv);
        var qs = hq * d;
        var ks = hkv * d;
        var offset = tk - tq;
        var s = new float[BlockQ * Math.Min(blockK, tk)];
        var acc = new float[BlockQ * d];
        var mrow = new float[BlockQ];
        var lrow = new float[BlockQ];
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

    /// <summary>
    /// Backward. Overwrites <paramref name="dq"/> [Tq × Hq × d], <paramref name="dk"/> and <paramref name="dv"/>
    /// [Tk × Hkv × d]. Needs the forward's output <paramref name="o"/> and <paramref name="lse"/>.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dO, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> o, ReadOnlySpan<float> lse, Span<float> dq, Span<float> dk, Span<float> dv,
        int tq, int tk, int hq, int hkv, int d, float scale, int blockK = DefaultBlockK)
    {
        Validate(q.Length, k.Length, v.Length, o.Length, tq, tk, hq, hkv, d);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockK, 1);
        if (dO.Length < tq * hq * d || dq.Length < tq * hq * d || dk.Length < tk * hkv * d || dv.Length < tk * hkv * d || lse.Length < hq * tq)
            throw new ArgumentException("Attention.Backward: gradient buffers too small");
        dk.Slice(0, tk * hkv * d).Clear();
        dv.Slice(0, tk * hkv * d).Clear();
        if (tq == 0) return;
        // Per query head private dK/dV ([Tk × d] each), reduced into the shared kv head afterwards.
        var dkh = new float[hq][];
        var dvh = new float[hq][];
        fixed (float* pdo = dO, pq = q, pk = k, pv = v, po = o, pl = lse, pdq = dq)
        {
            nint a0 = (nint)pdo, a1 = (nint)pq, a2 = (nint)pk, a3 = (nint)pv, a4 = (nint)po, a5 = (nint)pl, a6 = (nint)pdq;
            WorkerPool.Shared.For(hq, h =>
            {
                dkh[h] = new float[tk * d];
                dvh[h] = new float[tk * d];
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
        var dsum = new float[tq];
        for (var i = 0; i < tq; i++)
        {
            dsum[i] = TensorPrimitives.Dot(new ReadOnlySpan<float>(dO + (long)i * qs + h * d, d), new ReadOnlySpan<float>(o + (long)i * qs + h * d, d));
            new Span<float>(dq + (long)i * qs + h * d, d).Clear();
        }
        var p = new float[BlockQ * Math.Min(blockK, tk)];
        var dp = new float[BlockQ * Math.Min(blockK, tk)];
        for (var j0 = 0; j0 < tk; j0 += blockK)
        {
            var bkTile = Math.Min(blockK, tk - j0);
            // First query that sees key j0: offset + i >= j0.
            var iStart = Math.Max(0, j0 - offset) / BlockQ * BlockQ;
            for (var i0 = iStart; i0 < tq; i0 += BlockQ)
            {
                var bq = Math.Min(BlockQ, tq - i0);
                // Keys past the last query of this tile are masked for every row: leave them out.
                var bk = Math.Min(bkTile, offset + i0 + bq - j0);
                Gemm.Sgemm(false, true, bq, bk, d, scale, qSpan.Slice(i0 * qs + h * d), qs, kSpan.Slice(j0 * ks + g * d), ks, p, bk);
                for (var r = 0; r < bq; r++)
                {
                    var row = p.AsSpan(r * bk, bk);
                    var limit = offset + i0 + r - j0;
                    if (limit < 0) { row.Clear(); continue; }
                    FastMath.ExpShiftSum(row, lse[(long)h * tq + i0 + r], row);
                    if (limit < bk - 1) row.Slice(limit + 1).Clear();
                }
                // dV_j += Pᵀ dO_i
                Gemm.Sgemm(true, false, bk, d, bq, 1f, p, bk, dOSpan.Slice(i0 * qs + h * d), qs, dvh.AsSpan(j0 * d), d, accumulate: true);
                // dP = dO_i V_jᵀ
                Gemm.Sgemm(false, true, bq, bk, d, 1f, dOSpan.Slice(i0 * qs + h * d), qs, vSpan.Slice(j0 * ks + g * d), ks, dp, bk);
                // dS = P ∘ (dP − D_i)
                for (var r = 0; r < bq; r++)
                {
                    var dpr = dp.AsSpan(r * bk, bk);
                    TensorPrimitives.Subtract(dpr, dsum[i0 + r], dpr);
                    TensorPrimitives.Multiply(dpr, p.AsSpan(r * bk, bk), dpr);
                }
                // dQ_i += scale · dS K_j ; dK_j += scale · dSᵀ Q_i
                Gemm.Sgemm(false, false, bq, d, bk, scale, dp, bk, kSpan.Slice(j0 * ks + g * d), ks, dqSpan.Slice(i0 * qs + h * d), qs, accumulate: true);
                Gemm.Sgemm(true, false, bk, d, bq, scale, dp, bk, qSpan.Slice(i0 * qs + h * d), qs, dkh.AsSpan(j0 * d), d, accumulate: true);
            }
        }
    }

    private static void Validate(int qLen, int kLen, int vLen, int oLen, int tq, int tk, int hq, int hkv, int d)
    {
        if (hkv <= 0 || hq % hkv != 0) throw new ArgumentException($"Attention: {hq} query heads not a multiple of {hkv} kv heads");
        if (tq > tk) throw new ArgumentException($"Attention: more queries ({tq}) than keys ({tk})");
        if (qLen < tq * hq * d || oLen < tq * hq * d || kLen < tk * hkv * d || vLen < tk * hkv * d)
            throw new ArgumentException("Attention: buffers smaller than their shapes");
    }
}
