using System.Numerics.Tensors;

namespace ToolTune.Tensors;

/// <summary>
/// Cross-entropy over the LM head, fused and chunked: logits = hidden·Wᵀ are formed for at most
/// <c>chunk</c> non-ignored tokens at a time (never [T × V] at once), softmax and loss per row, then the
/// gradients <c>dHidden = dlogits·W</c> and <c>dW += dlogitsᵀ·hidden</c>. Labels equal to
/// <see cref="IgnoreIndex"/> contribute nothing (and are skipped entirely).
/// </summary>
public static unsafe class CrossEntropy
{
    public const int IgnoreIndex = -100;

    /// <summary>
    /// Mean loss over non-ignored tokens (NaN when every label is ignored, as torch). When
    /// <paramref name="dHidden"/> is non-empty it is overwritten with d(gradScale·loss)/d hidden; when
    /// <paramref name="dWeight"/> is non-empty the weight gradient is added into it.
    /// <paramref name="normalizer"/> replaces the count of non-ignored tokens as divisor (HF's num_items_in_batch).
    /// </summary>
    public static double LmHeadLoss(ReadOnlySpan<float> hidden, ReadOnlySpan<float> weight, ReadOnlySpan<int> labels,
        int tokens, int hiddenSize, int vocab, Span<float> dHidden, Span<float> dWeight,
        out int count, float gradScale = 1f, int chunk = 0, double normalizer = 0)
    {
        if (weight.Length < (long)vocab * hiddenSize) throw new ArgumentException("CrossEntropy: weight smaller than vocab × hidden");
        fixed (float* pw = weight)
            return Core(hidden, (nint)pw, false, labels, tokens, hiddenSize, vocab, dHidden, dWeight, out count, gradScale, chunk, normalizer);
    }

    /// <summary>As the f32 overload, with the head weight [vocab × hidden] in bf16 (e.g. tied, frozen, memory-mapped embeddings).</summary>
    public static double LmHeadLoss(ReadOnlySpan<float> hidden, ReadOnlySpan<ushort> weightBf16, ReadOnlySpan<int> labels,
        int tokens, int hiddenSize, int vocab, Span<float> dHidden, Span<float> dWeight,
        out int count, float gradScale = 1f, int chunk = 0, double normalizer = 0)
    {
        if (weightBf16.Length < (long)vocab * hiddenSize) throw new ArgumentException("CrossEntropy: weight smaller than vocab × hidden");
        fixed (ushort* pw = weightBf16)
            return Core(hidden, (nint)pw, true, labels, tokens, hiddenSize, vocab, dHidden, dWeight, out count, gradScale, chunk, normalizer);
    }

    /// <summary>Rows per chunk when not given: about 64 MB of logits, between 32 and 512 rows (larger chunks
    /// re-pack the head weight less often).</summary>
    public static int AutoChunk(int vocab) => (int)Math.Clamp(64L * 1024 * 1024 / (4L * Math.Max(1, vocab)), 32, 512);

    private static double Core(ReadOnlySpan<float> hidden, nint weightPtr, bool bf16, ReadOnlySpan<int> labels,
        int tokens, int hiddenSize, int vocab, Span<float> dHidden, Span<float> dWeight,
        out int count, float gradScale, int chunk, double normalizer)
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
        var gscale = (float)(gradScale / divisor);
        if (chunk <= 0) chunk = AutoChunk(vocab);
        chunk = Math.Max(1, Math.Min(chunk, count));
        // Pooled: the logits chunk is tens of MB and this runs once per training step.
        var pool = System.Buffers.ArrayPool<float>.Shared;
        var hcArr = pool.Rent(chunk * hiddenSize);
        var logitsArr = pool.Rent(chunk * vocab);
        var dhcArr = wantDh ? pool.Rent(chunk * hiddenSize) : [];
        var rowLoss = new double[chunk];
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
                var labelsLocal = new int[n];
                for (var r = 0; r < n; r++) labelsLocal[r] = labels[rows[c0 + r]];
                var wantGrad = wantDh || wantDw;
                WorkerPool.Shared.For(n, r =>
                {
                    var row = logits.AsSpan(r * vocab, vocab);
                    var max = FastMath.Max(row);
                    var label = labelsLocal[r];
                    var target = row[label];
                    var sum = FastMath.ExpShiftSum(row, max, row);
                    rowLoss[r] = max + Math.Log(sum) - target;
                    if (wantGrad)
                    {
                        TensorPrimitives.Multiply(row, gscale / sum, row);
                        row[label] -= gscale;
                    }
                });
                for (var r = 0; r < n; r++) total += rowLoss[r];
                if (wantDh)
                {
                    if (bf16) Gemm.MatMul(logits, new ReadOnlySpan<ushort>((void*)weightPtr, wLen), dhc, n, vocab, hiddenSize);
                    else Gemm.MatMul(logits, new ReadOnlySpan<float>((void*)weightPtr, wLen), dhc, n, vocab, hiddenSize);
                    for (var r = 0; r < n; r++) dhc.AsSpan(r * hiddenSize, hiddenSize).CopyTo(dHidden.Slice(rows[c0 + r] * hiddenSize, hiddenSize));
                }
                if (wantDw)
                    Gemm.MatMulTransA(logits, hc, dWeight, vocab, n, hiddenSize, accumulate: true);
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

    /// <summary>Loss only (no gradients).</summary>
    public static double LmHeadLoss(ReadOnlySpan<float> hidden, ReadOnlySpan<float> weight, ReadOnlySpan<int> labels,
        int tokens, int hiddenSize, int vocab, out int count, int chunk = 0) =>
        LmHeadLoss(hidden, weight, labels, tokens, hiddenSize, vocab, [], [], out count, 1f, chunk);
}
