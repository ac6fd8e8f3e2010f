using ToolTune.Data.Selection;
using ToolTune.Data.Shards;
using ToolTune.Tensors;

namespace ToolTune.Training;

/// <summary>Training or validation samples, as the trainer sees them.</summary>
public interface ITrainingData
{
    int Count { get; }
    /// <summary>Length in tokens of sample <paramref name="i"/> (after truncation).</summary>
    int Length(int i);
    /// <summary>A padded micro-batch of the given samples.</summary>
    Batch Materialize(int[] indices);
}

/// <summary>Prepared shards as training data (padded with <paramref name="padId"/>, truncated to <paramref name="maxLength"/>).</summary>
public sealed class ShardTrainingData(ShardSet set, int padId, int maxLength = int.MaxValue) : ITrainingData
{
    public int Count => set.Count;
    public int Length(int i) => Math.Min(set.SampleLength(i), maxLength);
    public Batch Materialize(int[] indices) => BatchIterator.Materialize(set, indices, padId, maxLength);
}

/// <summary>
/// The micro-batches of an epoch, deterministic from (seed, epoch):
/// <list type="bullet">
/// <item>fixed size: <see cref="BatchIterator.BatchIndices"/> (SplitMix64 Fisher–Yates of the sample order);</item>
/// <item>token budget: the same shuffled order is cut into windows of <see cref="GroupWindow"/> samples, each window is
/// sorted by length (longest first, ties by shuffled position) and packed greedily so that
/// rows × longest ≤ budget (padded tokens); a sample longer than the budget gets its own micro-batch; the
/// micro-batches are then shuffled with a second stream (<c>token-batches/epoch-N</c>), so similar lengths share a batch
/// (little padding) while the order stays random.</item>
/// </list>
/// </summary>
public static class BatchPlanner
{
    public const int GroupWindow = 1024;

    public static IReadOnlyList<int[]> Plan(ITrainingData data, long seed, int epoch, int batchSize, int? maxTokensPerBatch, bool shuffle = true)
    {
        if (maxTokensPerBatch is not { } budget)
            return BatchIterator.BatchIndices(data.Count, batchSize, seed, epoch, shuffle).ToList();
        if (budget <= 0) throw new ArgumentOutOfRangeException(nameof(maxTokensPerBatch));
        var order = BatchIterator.Order(data.Count, seed, epoch, shuffle);
        var batches = new List<int[]>();
        for (var w = 0; w < order.Length; w += GroupWindow)
        {
            var window = order.AsSpan(w, Math.Min(GroupWindow, order.Length - w)).ToArray();
            var pos = Enumerable.Range(0, window.Length).ToArray();
            Array.Sort(pos, (a, b) =>
            {
                var c = data.Length(window[b]).CompareTo(data.Length(window[a]));
                return c != 0 ? c : a.CompareTo(b);
            });
            var current = new List<int>();
            var longest = 0;
            foreach (var p in pos)
            {
                var i = window[p];
                var len = Math.Max(1, data.Length(i));
                var l = Math.Max(longest, len);
                if (current.Count > 0 && (long)(current.Count + 1) * l > budget)
                {
                    batches.Add(current.ToArray());
                    current.Clear();
                    l = len;
                }
                current.Add(i);
                longest = l;
            }
            if (current.Count > 0) batches.Add(current.ToArray());
        }
        if (shuffle)
        {
            var rng = SplitMix64.For(seed, $"token-batches/epoch-{epoch}");
            for (var i = batches.Count - 1; i > 0; i--)
            {
                var j = rng.NextInt(i + 1);
                (batches[i], batches[j]) = (batches[j], batches[i]);
            }
        }
        return batches;
    }

    /// <summary>Trained tokens of a batch with HF's causal shift: positions t ≥ 1 of each row whose label is not −100.</summary>
    public static long TrainedTokens(Batch batch)
    {
        long n = 0;
        for (var r = 0; r < batch.Rows; r++)
        {
            var labels = batch.LabelRow(r);
            for (var t = 1; t < batch.Lengths[r]; t++) if (labels[t] != CrossEntropy.IgnoreIndex) n++;
        }
        return n;
    }
}
