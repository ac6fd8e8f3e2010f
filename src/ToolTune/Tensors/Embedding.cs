using System.Runtime.CompilerServices;

namespace ToolTune.Tensors;

/// <summary>Embedding lookup (row gather) and its backward (scatter-add of rows).</summary>
public static class Embedding
{
    /// <summary><c>y[t] = weight[ids[t]]</c>; weight is [vocab × dim].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gather(ReadOnlySpan<float> weight, int vocab, int dim, ReadOnlySpan<int> ids, Span<float> y)
    {
        if (weight.Length < (long)vocab * dim || y.Length < ids.Length * dim) throw new ArgumentException("Embedding.Gather: shapes do not agree");
        for (var t = 0; t < ids.Length; t++)
        {
            var id = ids[t];
            if ((uint)id >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} at position {t} is outside the vocabulary (size {vocab})");
            weight.Slice(id * dim, dim).CopyTo(y.Slice(t * dim, dim));
        }
    }

    /// <summary><c>y[t] = weight[ids[t]]</c> with the table in bf16 (e.g. memory-mapped): only the gathered rows are widened.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gather(ReadOnlySpan<ushort> weightBf16, int vocab, int dim, ReadOnlySpan<int> ids, Span<float> y)
    {
        if (weightBf16.Length < (long)vocab * dim || y.Length < ids.Length * dim) throw new ArgumentException("Embedding.Gather: shapes do not agree");
        for (var t = 0; t < ids.Length; t++)
        {
            var id = ids[t];
            if ((uint)id >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} at position {t} is outside the vocabulary (size {vocab})");
            Precision.BF16ToSingle(weightBf16.Slice(id * dim, dim), y.Slice(t * dim, dim));
        }
    }

    /// <summary><c>dWeight[ids[t]] += dy[t]</c> (repeated ids accumulate).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ScatterAdd(ReadOnlySpan<float> dy, ReadOnlySpan<int> ids, Span<float> dWeight, int vocab, int dim)
    {
        if (dWeight.Length < (long)vocab * dim || dy.Length < ids.Length * dim) throw new ArgumentException("Embedding.ScatterAdd: shapes do not agree");
        for (var t = 0; t < ids.Length; t++)
        {
            var id = ids[t];
            if ((uint)id >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} at position {t} is outside the vocabulary (size {vocab})");
            var row = dWeight.Slice(id * dim, dim);
            System.Numerics.Tensors.TensorPrimitives.Add(row, dy.Slice(t * dim, dim), row);
        }
    }
}
