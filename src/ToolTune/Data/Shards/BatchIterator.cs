using ToolTune.Data.Selection;
using ToolTune.Tensors;

namespace ToolTune.Data.Shards;

/// <summary>A padded batch: row-major <c>[Rows × Width]</c> ids and labels, with each row's true length.</summary>
public sealed class Batch
{
    public required int[] SampleIndices { get; init; }
    public required int Width { get; init; }
    public required int[] InputIds { get; init; }
    public required int[] LabelIds { get; init; }
    public required int[] Lengths { get; init; }
    public int Rows => SampleIndices.Length;
    public Span<int> Row(int r) => InputIds.AsSpan(r * Width, Width);
    public Span<int> LabelRow(int r) => LabelIds.AsSpan(r * Width, Width);
}

/// <summary>
/// Deterministic batches over a <see cref="ShardSet"/>: the sample order is a SplitMix64 Fisher–Yates shuffle
/// of (seed, epoch) over the sample count, so the same shard bytes and seed always give the same batches.
/// </summary>
public static class BatchIterator
{
    /// <summary>The global sample order of an epoch.</summary>
    public static int[] Order(int count, long seed, int epoch, bool shuffle = true)
    {
        var order = new int[count];
        for (var i = 0; i < count; i++) order[i] = i;
        if (shuffle) SplitMix64.For(seed, $"batches/epoch-{epoch}").Shuffle(order);
        return order;
    }

    /// <summary>Sample indices per batch for one epoch.</summary>
    public static IEnumerable<int[]> BatchIndices(int count, int batchSize, long seed, int epoch, bool shuffle = true, bool dropLast = false)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize));
        var order = Order(count, seed, epoch, shuffle);
        for (var i = 0; i < order.Length; i += batchSize)
        {
            var n = Math.Min(batchSize, order.Length - i);
            if (n < batchSize && dropLast) yield break;
            yield return order.AsSpan(i, n).ToArray();
        }
    }

    /// <summary>
    /// Padded batches for one epoch: rows padded to the longest sample in the batch (capped by <paramref name="maxLength"/>,
    /// which truncates) with <paramref name="padId"/> and label -100.
    /// </summary>
    public static IEnumerable<Batch> Batches(ShardSet set, int batchSize, long seed, int epoch, int padId, bool shuffle = true, bool dropLast = false,
        int maxLength = int.MaxValue)
    {
        foreach (var idx in BatchIndices(set.Count, batchSize, seed, epoch, shuffle, dropLast))
            yield return Materialize(set, idx, padId, maxLength);
    }

    public static Batch Materialize(ShardSet set, int[] indices, int padId, int maxLength = int.MaxValue)
    {
        var lengths = new int[indices.Length];
        var width = 0;
        for (var r = 0; r < indices.Length; r++)
        {
            lengths[r] = Math.Min(set.SampleLength(indices[r]), maxLength);
            width = Math.Max(width, lengths[r]);
        }
        var ids = new int[indices.Length * width];
        var labels = new int[indices.Length * width];
        ids.AsSpan().Fill(padId);
        labels.AsSpan().Fill(CrossEntropy.IgnoreIndex);
        for (var r = 0; r < indices.Length; r++)
        {
            set.InputIds(indices[r])[..lengths[r]].CopyTo(ids.AsSpan(r * width));
            set.LabelIds(indices[r])[..lengths[r]].CopyTo(labels.AsSpan(r * width));
        }
        return new Batch { SampleIndices = indices, Width = width, InputIds = ids, LabelIds = labels, Lengths = lengths };
    }
}
