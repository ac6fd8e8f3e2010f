using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ToolTune.Tensors;

/// <summary>
/// Cross-entropy over the LM head, fused and chunked: logits = hidden·Wᵀ are formed for at most
/// <c>chunk</c> non-ignored tokens at a time (never [T × V] at once), softmax and loss per row, then the
/// gradients <c>dHidden = dlogits·W</c> and <c>dW += dlogitsᵀ·hidden</c>. Labels equal to
/// <see cref="IgnoreIndex"/> contribute nothing (and are skipped entirely).
/// </summary>
public static unsafe class CrossEntropy
{
    /// <summary>
    /// Extra terms of an adapted (tied) head, applied per token chunk so full logits are never formed:
    /// a low-rank term <c>logits += scale·(h·B)·A</c> (A [r × vocab], B [hidden × r]: an embedding LoRA's ΔEᵀ) and/or
    /// row overrides (head rows <c>Ids[i]</c> replaced by <c>Rows[i]</c>, trainable tokens; applied before the low-rank
    /// term, the order of the embedding wrappers). Gradients (when the grad spans are non-empty) are added into them.
    /// </summary>
    public sealed class HeadExtra
    {
        public int R;
        public float Scale;
        public float[]? A, B, GradA, GradB;
        public int[]? Ids;
        public float[]? Rows, GradRows;
    }

    /// <summary>
    /// The label of a token that does not count in the loss (PyTorch's <c>ignore_index</c>): masks write it, shards store
    /// it, batches pad with it and the loss skips it; every layer spells it through this one constant.
    /// </summary>
    public const int IgnoreIndex = -100;

    /// <summary>
    /// Mean loss over non-ignored tokens (NaN when every label is ignored, as torch). When
    /// <paramref name="dHidden"/> is non-empty it is overwritten with d(gradScale·loss)/d hidden; when
    /// <paramref name="dWeight"/> is non-empty the weight gradient is added into it.
    /// <paramref name="normalizer"/> replaces the count of non-ignored tokens as divisor (HF's num_items_in_batch).
    /// </summary>
    public static double LmHeadLoss(ReadOnlySpan<float> hidden, ReadOnlySpan<float> weight, ReadOnlySpan<int> labels,
        int tokens, int hiddenSize, int vocab, Span<float> dHidden, Span<float> dWeight,
        out int count, float gradScale = 1f, int chunk = 0, double normalizer = 0, HeadExtra? extra = null)
    {
        if (weight.Length < (long)vocab * hiddenSize) throw new ArgumentException("CrossEntropy: weight smaller than vocab × hidden");
        fixed (float* pw = weight)
            return Core(hidden, (nint)pw, false, labels, tokens, hiddenSize, vocab, dHidden, dWeight, out count, gradScale, chunk, normalizer, extra);
    }

    /// <summary>As the f32 overload, with the head weight [vocab × hidden] in bf16 (e.g. tied, frozen, memory-mapped embeddings).</summary>
    public static double LmHeadLoss(ReadOnlySpan<float> hidden, ReadOnlySpan<ushort> weightBf16, ReadOnlySpan<int> labels,
        int tokens, int hiddenSize, int vocab, Span<float> dHidden, Span<float> dWeight,
        out int count, float gradScale = 1f, int chunk = 0, double normalizer = 0, HeadExtra? extra = null)
    {
        if (weightBf16.Length < (long)vocab * hiddenSize) throw new ArgumentException("CrossEntropy: weight smaller than vocab × hidden");
        fixed (ushort* pw = weightBf16)
            return Core(hidden, (nint)pw, true, labels, tokens, hiddenSize, vocab, dHidden, dWeight, out count, gradScale, chunk, normalizer, extra);
    }

    /// <summary>Rows per chunk when not given: about 64 MB of logits, between 32 and 512 rows (larger chunks
    /// re-pack the head weight less often).</summary>
    public static int AutoChunk(int vocab) => (int)Math.Clamp(64L * 1024 * 1024 / (4L * Math.Max(1, vocab)), 32, 512);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double Core(ReadOnlySpan<float> hidden, nint weightPtr, bool bf16, ReadOnlySpan<int> labels,
        int tokens, int hiddenSize, int vocab, Span<float> dHidden, Span<float> dWeight,
        out int count, float gradScale, int chunk, double normalizer, HeadExtra? extra)
    {
        var wLen = (int)Math.Min(int.MaxValue, (long)vocab * hiddenSize);
        if (hidden.Length < tokens * hiddenSize || labels.Length < tokens)
            throw new ArgumentException("CrossEntropy: shapes do not agree");
        var wantDh = !dHidden.IsEmpty;
        var wantDw = !dWeight.IsEmpty;
        if (wantDh && dHidden.Length < tokens * hiddenSize) throw new ArgumentException("CrossEntropy: dHidden too small");
        if (wantDw && dWeight.Length < (long)vocab * hiddenSize) throw new ArgumentException("CrossEntropy: dWeight too small");
        var rows = new List<int>();
        for (var t = 0; t < tokens; t++)
        {
            var y = labels[t];
            if (y == IgnoreIndex) continue;
            if ((uint)y >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(labels), $"label {y} at position {t} is outside the vocabulary (size {vocab})");
            rows.Add(t);
        }
        count = rows.Count;
        if (wantDh) dHidden.Slice(0, tokens * hiddenSize).Clear();
        if (count == 0) return double.NaN;
        var divisor = normalizer > 0 ? normalizer : count;
        var gscale = (double)gradScale / divisor;
        if (chunk <= 0) chunk = AutoChunk(vocab);
        chunk = Math.Max(1, Math.Min(chunk, count));
        // Pooled: the logits chunk is tens of MB and this runs once per training step.
        var pool = System.Buffers.ArrayPool<float>.Shared;
        var hcArr = pool.Rent(chunk * hiddenSize);
        var logitsArr = pool.Rent(chunk * vocab);
        var dhcArr = wantDh ? pool.Rent(chunk * hiddenSize) : [];
        var rowLoss = new double[chunk];
        float[]? u = null;
        double total = 0;
        try
        {
            var hc = new ArraySegment<float>(hcArr, 0, chunk * hiddenSize);
            var logits = new ArraySegment<float>(logitsArr, 0, chunk * vocab);
            var dhc = wantDh ? new ArraySegment<float>(dhcArr, 0, chunk * hiddenSize) : ArraySegment<float>.Empty;
            for (var c0 = 0; c0 < count; c0 += chunk)
            {
                var n = Math.Min(chunk, count - c0);
                for (var r = 0; r < n; r++) hidden.Slice(rows[c0 + r] * hiddenSize, hiddenSize).CopyTo(hc.AsSpan(r * hiddenSize));
                if (bf16) Gemm.MatMulTransB(hc, new ReadOnlySpan<ushort>((void*)weightPtr, wLen), logits, n, hiddenSize, vocab);
                else Gemm.MatMulTransB(hc, new ReadOnlySpan<float>((void*)weightPtr, wLen), logits, n, hiddenSize, vocab);
                if (extra is not null) ExtraForward(extra, hc, logits, n, hiddenSize, vocab, ref u);
                var labelsLocal = new int[n];
                for (var r = 0; r < n; r++) labelsLocal[r] = labels[rows[c0 + r]];
                var wantGrad = wantDh || wantDw;
                WorkerPool.Shared.For(n, r =>
                {
                    var row = logits.AsSpan(r * vocab, vocab);
                    var max = FastMath.Max(row);
                    var label = labelsLocal[r];
                    var target = row[label];
                    // softmax in double, dlogits rounded once: an f32 softmax's rounding was what training runs amplified most
                    var e = RowScratch(vocab);
                    var sum = FastMath.ExpShiftSum(row, max, e);
                    rowLoss[r] = max + Math.Log(sum) - target;
                    if (wantGrad)
                    {
                        var k = gscale / sum;
                        var atLabel = e[label] * k - gscale;
                        ScaleToSingle(e, k, row);
                        row[label] = (float)atLabel;
                    }
                });
                for (var r = 0; r < n; r++) total += rowLoss[r];
                if (wantDh)
                {
                    if (bf16) Gemm.MatMul(logits, new ReadOnlySpan<ushort>((void*)weightPtr, wLen), dhc, n, vocab, hiddenSize);
                    else Gemm.MatMul(logits, new ReadOnlySpan<float>((void*)weightPtr, wLen), dhc, n, vocab, hiddenSize);
                    for (var r = 0; r < n; r++) dhc.AsSpan(r * hiddenSize, hiddenSize).CopyTo(dHidden.Slice(rows[c0 + r] * hiddenSize, hiddenSize));
                }
                if (extra is not null) ExtraBackward(extra, hc, logits, u, wantDh ? dhc : default, n, hiddenSize, vocab, weightPtr, bf16);
                if (wantDh && extra is not null)
                    for (var r = 0; r < n; r++) dhc.AsSpan(r * hiddenSize, hiddenSize).CopyTo(dHidden.Slice(rows[c0 + r] * hiddenSize, hiddenSize));
                if (wantDw)
                {
                    if (extra?.Ids is { } oids) // overridden head rows are not the weight's: no gradient into them
                        for (var r = 0; r < n; r++) foreach (var id in oids) logits[r * vocab + id] = 0;
                    Gemm.MatMulTransA(logits, hc, dWeight, vocab, n, hiddenSize, accumulate: true);
                }
            }
        }
        finally
        {
            pool.Return(hcArr);
            pool.Return(logitsArr);
            if (wantDh) pool.Return(dhcArr);
        }
        return total / divisor;
    }

    [ThreadStatic] private static double[]? t_row;

    private static Span<double> RowScratch(int n)
    {
        if (t_row is null || t_row.Length < n) t_row = new double[n];
        return t_row.AsSpan(0, n);
    }

    /// <summary>dst = (float)(e·k), one rounding per element (the vector conversions round to nearest as the scalar cast).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScaleToSingle(ReadOnlySpan<double> e, double k, Span<float> dst)
    {
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (var kv = Vector512.Create(k); i + 16 <= e.Length; i += 16)
                Vector512.Narrow(Vector512.Create(e.Slice(i, 8)) * kv, Vector512.Create(e.Slice(i + 8, 8)) * kv).CopyTo(dst.Slice(i, 16));
        else if (Vector256.IsHardwareAccelerated)
            for (var kv = Vector256.Create(k); i + 8 <= e.Length; i += 8)
                Vector256.Narrow(Vector256.Create(e.Slice(i, 4)) * kv, Vector256.Create(e.Slice(i + 4, 4)) * kv).CopyTo(dst.Slice(i, 8));
        for (; i < e.Length; i++) dst[i] = (float)(e[i] * k);
    }

    /// <summary>logits[n × vocab] (= h·Wᵀ) gets the overridden columns replaced and the low-rank term added; u = s·h·B [n × r].</summary>
    private static void ExtraForward(HeadExtra e, ReadOnlySpan<float> h, Span<float> logits, int n, int hidden, int vocab, ref float[]? u)
    {
        if (e.Ids is { } ids)
            for (var r = 0; r < n; r++)
            {
                var hr = h.Slice(r * hidden, hidden);
                for (var i = 0; i < ids.Length; i++)
                    logits[r * vocab + ids[i]] = Reductions.Dot(hr, e.Rows!.AsSpan(i * hidden, hidden));
            }
        if (e.A is null || e.R == 0) return;
        if (u is null || u.Length < n * e.R) u = new float[n * e.R];
        Gemm.MatMul(h, e.B!, u, n, hidden, e.R, alpha: e.Scale);
        Gemm.MatMul(u, e.A, logits, n, e.R, vocab, accumulate: true);
    }

    /// <summary>
    /// Given dlogits (in place of logits), adds the extra terms' gradients: dA += uᵀ·dlogits, du = dlogits·Aᵀ,
    /// dB += s·hᵀ·du, dh += s·du·Bᵀ; overridden rows: dRows[i] += dlogits[:, id]ᵀ·h and dh += dlogits[:, id]·(Rows[i] − W[id]).
    /// </summary>
    private static void ExtraBackward(HeadExtra e, ReadOnlySpan<float> h, ReadOnlySpan<float> dlogits, float[]? u, Span<float> dh,
        int n, int hidden, int vocab, nint weightPtr, bool bf16)
    {
        var wantDh = !dh.IsEmpty;
        if (e.A is not null && e.R > 0)
        {
            var r = e.R;
            if (e.GradA is { } gA) Gemm.MatMulTransA(u!, dlogits, gA, r, n, vocab, accumulate: true);
            if (e.GradB is not null || wantDh)
            {
                var du = new float[n * r];
                Gemm.MatMulTransB(dlogits, e.A, du, n, vocab, r);
                if (e.GradB is { } gB) Gemm.MatMulTransA(h, du, gB, hidden, n, r, accumulate: true, alpha: e.Scale);
                if (wantDh) Gemm.MatMulTransB(du, e.B!, dh, n, r, hidden, accumulate: true, alpha: e.Scale);
            }
        }
        if (e.Ids is { } ids)
        {
            var diff = wantDh ? new float[hidden] : null;
            for (var i = 0; i < ids.Length; i++)
            {
                var row = e.Rows!.AsSpan(i * hidden, hidden);
                if (diff is not null)
                {
                    var off = (long)ids[i] * hidden;
                    if (bf16) Precision.BF16ToSingle(new ReadOnlySpan<ushort>((ushort*)weightPtr + off, hidden), diff);
                    else new ReadOnlySpan<float>((float*)weightPtr + off, hidden).CopyTo(diff);
                    TensorPrimitives.Subtract(row, diff, diff);
                }
                for (var t = 0; t < n; t++)
                {
                    var g = dlogits[t * vocab + ids[i]];
                    if (g == 0) continue;
                    if (e.GradRows is { } gR) TensorPrimitives.MultiplyAdd(h.Slice(t * hidden, hidden), g, gR.AsSpan(i * hidden, hidden), gR.AsSpan(i * hidden, hidden));
                    if (diff is not null) TensorPrimitives.MultiplyAdd(diff, g, dh.Slice(t * hidden, hidden), dh.Slice(t * hidden, hidden));
                }
            }
        }
    }

    /// <summary>Logits without the loss: <paramref name="logits"/> [n × vocab] already holds h·Wᵀ; adds the extra head terms.</summary>
    public static void ApplyHeadExtra(HeadExtra e, ReadOnlySpan<float> h, Span<float> logits, int n, int hidden, int vocab)
    {
        float[]? u = null;
        ExtraForward(e, h, logits, n, hidden, vocab, ref u);
    }

    /// <summary>Loss only (no gradients).</summary>
    public static double LmHeadLoss(ReadOnlySpan<float> hidden, ReadOnlySpan<float> weight, ReadOnlySpan<int> labels,
        int tokens, int hiddenSize, int vocab, out int count, int chunk = 0) =>
        LmHeadLoss(hidden, weight, labels, tokens, hiddenSize, vocab, [], [], out count, 1f, chunk);
}
