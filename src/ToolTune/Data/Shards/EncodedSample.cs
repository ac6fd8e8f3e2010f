using ToolTune.Tensors;

namespace ToolTune.Data.Shards;

/// <summary>
/// A tokenized, masked conversation: input ids and labels of equal length (label = id inside trained spans,
/// <see cref="CrossEntropy.IgnoreIndex"/> elsewhere), or the reason it could not be encoded.
/// </summary>
public sealed class EncodedSample
{
    private EncodedSample(int[] inputIds, int[] labels, string? dropReason, string? detail, string? code)
    {
        InputIds = inputIds;
        LabelIds = labels;
        DropReason = dropReason;
        Detail = detail;
        Code = code;
    }

    public int[] InputIds { get; }
    public int[] LabelIds { get; }

    /// <summary>Null when encoded; otherwise the stats key (e.g. "over max length") the sample is dropped under.</summary>
    public string? DropReason { get; }
    public string? Detail { get; }

    /// <summary>Error code for the drop (defaults to TT3011).</summary>
    public string? Code { get; }

    public bool Ok => DropReason is null;

    public int TrainedTokens
    {
        get
        {
            var n = 0;
            foreach (var l in LabelIds) if (l != CrossEntropy.IgnoreIndex) n++;
            return n;
        }
    }

    public static EncodedSample Success(int[] inputIds, int[] labels)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        ArgumentNullException.ThrowIfNull(labels);
        if (inputIds.Length != labels.Length)
            throw new ArgumentException($"input ids ({inputIds.Length}) and labels ({labels.Length}) differ in length");
        return new EncodedSample(inputIds, labels, null, null, null);
    }

    /// <summary>A sample that is dropped and counted under <paramref name="reason"/> (e.g. <see cref="ToolTune.Data.Loaders.DropReasons.OverMaxLength"/>).</summary>
    public static EncodedSample Dropped(string reason, string? detail = null, string? code = null) => new([], [], reason, detail, code);
}

/// <summary>
/// Renders + tokenizes + masks one conversation (the text layer implements it; the data half only calls it).
/// Must be thread-safe when the shard writer runs with parallelism above 1; must be deterministic.
/// </summary>
public interface ISampleEncoder
{
    EncodedSample Encode(Conversation conversation);
}

/// <summary>Per-sample metadata stored in the shard so later stages can name the sample and its source line.</summary>
public sealed record SampleMeta(string Id, string Source, string File, int Line, int ToolCalls);
