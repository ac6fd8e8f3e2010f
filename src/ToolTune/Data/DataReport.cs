using ToolTune.Diagnostics;

namespace ToolTune.Data;

/// <summary>One skipped or dropped record: why, where (file + 1-based line/column), which record.</summary>
public sealed record DataIssue(string Code, string Reason, string File, int Line, int Column = 0, string? RecordId = null, string? Detail = null)
{
    public ToolTuneException ToException() =>
        new(Code, Detail is null ? Reason + (RecordId is null ? "" : $" (record {RecordId})") : $"{Reason}: {Detail}" + (RecordId is null ? "" : $" (record {RecordId})"), File, Line, Column);

    public override string ToString() => ToException().ToString();
}

/// <summary>Counts for one data source (one file or a named source over several files).</summary>
public sealed class SourceStats
{
    public SourceStats(string name, DataRole role)
    {
        Name = name;
        Role = role;
    }

    public string Name { get; }
    public DataRole Role { get; }
    public List<string> Files { get; } = [];

    /// <summary>Records seen in the files (valid or not).</summary>
    public int RecordsRead { get; set; }

    /// <summary>Records converted successfully.</summary>
    public int Loaded { get; set; }

    /// <summary>Dropped or skipped records by reason (load errors and selection filters alike).</summary>
    public SortedDictionary<string, int> DroppedByReason { get; } = new(StringComparer.Ordinal);

    public int Dropped => DroppedByReason.Values.Sum();

    /// <summary>Tool conversations without a call kept by <c>data.keep_no_call</c> (included in <see cref="Kept"/>).</summary>
    public int KeptNoCall { get; set; }

    /// <summary>Conversations that survived filters (before the mix).</summary>
    public int Kept { get; set; }

    /// <summary>Conversations picked by the mix.</summary>
    public int Selected { get; set; }

    public int Train { get; set; }
    public int Val { get; set; }
    public int ToolEval { get; set; }

    /// <summary>Encoded samples written to shards.</summary>
    public int Samples { get; set; }
    public long Tokens { get; set; }
    public long TrainedTokens { get; set; }
    public int ToolCalls { get; set; }
    public int ConversationsWithCalls { get; set; }
}

/// <summary>
/// Everything the data half observed: per-source counts and every issue with its location. Lenient mode
/// records issues; strict mode throws the first one as a <see cref="ToolTuneException"/>. Thread-safe for adds.
/// </summary>
public sealed class DataReport
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SourceStats> _sources = new(StringComparer.Ordinal);
    private readonly List<DataIssue> _issues = [];

    /// <summary>How many issues are kept in <see cref="Issues"/> (counts are always complete).</summary>
    public int MaxIssuesKept { get; init; } = 10_000;

    public IReadOnlyList<DataIssue> Issues
    {
        get { lock (_gate) return _issues.ToArray(); }
    }

    public IReadOnlyCollection<SourceStats> Sources
    {
        get { lock (_gate) return _sources.Values.ToArray(); }
    }

    public SourceStats Source(string name, DataRole role = DataRole.Tool)
    {
        lock (_gate)
        {
            if (!_sources.TryGetValue(name, out var s)) _sources[name] = s = new SourceStats(name, role);
            return s;
        }
    }

    /// <summary>Records a dropped record under <paramref name="source"/> (its reason counted, the issue kept).</summary>
    public void Drop(string source, DataIssue issue)
    {
        lock (_gate)
        {
            if (!_sources.TryGetValue(source, out var s)) _sources[source] = s = new SourceStats(source, DataRole.Tool);
            s.DroppedByReason[issue.Reason] = s.DroppedByReason.GetValueOrDefault(issue.Reason) + 1;
            if (_issues.Count < MaxIssuesKept) _issues.Add(issue);
        }
    }

    public int TotalDropped => Sources.Sum(s => s.Dropped);

    /// <summary>The "nothing left to train on" error: located at the first dropped record, with the drop reasons
    /// counted, so a user sees why every record went instead of a bare "empty dataset".</summary>
    public ToolTuneException EmptyDatasetError(string what)
    {
        var issues = Issues;
        if (issues.Count == 0) return new ToolTuneException(ErrorCodes.DataEmptyDataset, $"empty dataset: {what}");
        var reasons = Sources.SelectMany(s => s.DroppedByReason).GroupBy(kv => kv.Key)
            .Select(g => $"{g.Sum(kv => kv.Value)} {g.Key}");
        var first = issues[0];
        return new ToolTuneException(ErrorCodes.DataEmptyDataset,
            $"empty dataset: {what}; {TotalDropped} record(s) dropped ({string.Join(", ", reasons)}), the first here: {first.Reason}" +
            (first.Detail is null ? "" : $" ({first.Detail})"), first.File, first.Line, first.Column);
    }
}
