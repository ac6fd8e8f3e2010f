using System.Text.Json.Nodes;
using ToolTune.Diagnostics;

namespace ToolTune.Data.Loaders;

/// <summary>Record formats the loaders understand.</summary>
public enum DataFormat
{
    /// <summary>Per record: <c>conversations</c> → Hermes/ShareGPT, <c>messages</c> → OpenAI, otherwise instruct.</summary>
    Auto,
    /// <summary>Hermes-Function-Calling-V1 ShareGPT (JSON array or JSONL).</summary>
    Hermes,
    /// <summary>OpenAI chat JSONL (<c>messages</c>, <c>tools</c>).</summary>
    OpenAI,
    /// <summary>General instruct JSONL (<c>messages</c>, <c>instruction</c>/<c>input</c>/<c>output</c>, <c>prompt</c>/<c>completion</c>).</summary>
    Instruct,
}

/// <summary>A configured data source: a name (stats key), files, their format and role in the mix.</summary>
public sealed record DataSourceSpec(string Name, IReadOnlyList<string> Files, DataFormat Format = DataFormat.Auto, DataRole Role = DataRole.Tool)
{
    public DataSourceSpec(string name, string file, DataFormat format = DataFormat.Auto, DataRole role = DataRole.Tool)
        : this(name, [file], format, role) { }

    /// <summary>When set, files under this folder are recorded (conversations, issues, stats, shards) by their path
    /// relative to it with '/' separators, so outputs do not depend on where the checkout lives. Files outside it keep
    /// their full path.</summary>
    public string? DisplayRoot { get; init; }

    /// <summary>Read at most this many conversations from the source (null: all).</summary>
    public int? Limit { get; init; }

    /// <summary>How <paramref name="file"/> is recorded (see <see cref="DisplayRoot"/>).</summary>
    public string DisplayPath(string file)
    {
        if (DisplayRoot is null) return file;
        var rel = Path.GetRelativePath(DisplayRoot, file);
        if (rel == ".." || rel.StartsWith(".." + Path.DirectorySeparatorChar, StringComparison.Ordinal) || Path.IsPathRooted(rel)) return file;
        return rel.Replace('\\', '/');
    }

    /// <summary>Format names as the YAML config spells them: <c>hermes</c>, <c>openai</c>, <c>instruct</c>, <c>auto</c>.</summary>
    public static DataFormat ParseFormat(string s) => s.Trim().ToLowerInvariant() switch
    {
        "auto" or "" => DataFormat.Auto,
        "hermes" or "sharegpt" => DataFormat.Hermes,
        "openai" => DataFormat.OpenAI,
        "instruct" or "general" => DataFormat.Instruct,
        _ => throw new ArgumentException($"unknown data format '{s}' (expected hermes, openai, instruct or auto)"),
    };
}

/// <summary>Loader options.</summary>
public sealed record LoadOptions
{
    /// <summary>Strict: the first bad record throws a located <see cref="ToolTuneException"/>. Lenient (default): skip, count, report.</summary>
    public bool Strict { get; init; }

    public ConversionOptions Conversion { get; init; } = new();
}

/// <summary>
/// The loader entry point: streams <see cref="Conversation"/>s from a source's files, skipping (lenient) or throwing
/// on (strict) every bad record with its reason, file and line; counts go to the <see cref="DataReport"/>.
/// </summary>
public static class DataLoader
{
    public static IEnumerable<Conversation> Load(DataSourceSpec spec, DataReport report, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        var stats = report.Source(spec.Name, spec.Role);
        var loaded = 0;
        // Explicit ids must be unique within a source: a repeated id is a duplicated record (concatenated exports).
        var firstLineOfId = new Dictionary<string, (string File, int Line)>(StringComparer.Ordinal);
        foreach (var file in spec.Files)
        {
            if (spec.Limit is { } cap && loaded >= cap) yield break;
            var shown = spec.DisplayPath(file);
            lock (stats) stats.Files.Add(shown);
            foreach (var read in JsonRecordReader.Read(file))
            {
                if (spec.Limit is { } max && loaded >= max) yield break;
                var raw = ReferenceEquals(shown, file) ? read
                    : read with { File = shown, Issue = read.Issue is { } i ? i with { File = shown } : null };
                lock (stats) stats.RecordsRead++;
                var conv = Convert(raw, spec, options, out var issue);
                if (issue is null && raw.Value!["id"] is not null && !firstLineOfId.TryAdd(conv!.Id, (raw.File, raw.Line)))
                {
                    var (firstFile, firstLine) = firstLineOfId[conv.Id];
                    issue = new DataIssue(ErrorCodes.DataInvalidRecord, DropReasons.DuplicateId, raw.File, raw.Line, raw.Column > 1 ? raw.Column : 0, conv.Id,
                        $"id '{conv.Id}' was already used at {(firstFile == raw.File ? "" : Path.GetFileName(firstFile) + " ")}line {firstLine}");
                }
                if (issue is not null)
                {
                    if (options.Strict) throw issue.ToException();
                    report.Drop(spec.Name, issue);
                    continue;
                }
                lock (stats) stats.Loaded++;
                loaded++;
                yield return conv!;
            }
        }
    }

    /// <summary>Loads a whole source into memory and fails when nothing usable is left (an empty dataset).</summary>
    public static List<Conversation> LoadAll(DataSourceSpec spec, DataReport report, LoadOptions? options = null)
    {
        var list = Load(spec, report, options).ToList();
        if (list.Count == 0)
        {
            var stats = report.Source(spec.Name, spec.Role);
            var why = stats.Dropped > 0 ? $"; {stats.Dropped} record(s) were skipped: " + string.Join(", ", stats.DroppedByReason.Select(kv => $"{kv.Value} {kv.Key}")) : "";
            throw new ToolTuneException(ErrorCodes.DataEmptyDataset, $"empty dataset: source '{spec.Name}' has no usable records{why}",
                spec.Files.Count > 0 ? spec.Files[0] : null);
        }
        return list;
    }

    /// <summary>Converts one parsed record; <paramref name="issue"/> is set (located) when it cannot be.</summary>
    public static Conversation? Convert(RawRecord raw, DataSourceSpec spec, LoadOptions options, out DataIssue? issue)
    {
        if (raw.Issue is not null)
        {
            issue = raw.Issue;
            return null;
        }
        var rec = raw.Value!;
        var origin = new RecordOrigin(spec.Name, raw.File, raw.Line, spec.Role, raw.Column);
        try
        {
            issue = null;
            return ConvertRecord(rec, origin, spec.Format, options.Conversion);
        }
        catch (RecordException ex)
        {
            issue = new DataIssue(ex.Code, ex.Reason, raw.File, raw.Line, raw.Column > 1 ? raw.Column : 0, TryId(rec), ex.Message);
            return null;
        }
    }

    /// <summary>A record the project generated (<see cref="Generation.HermesGenerator"/>): format detected, default conversion,
    /// <paramref name="source"/> as both source name and file.</summary>
    public static Conversation ConvertGenerated(JsonObject rec, string source, int line, DataRole role = DataRole.Tool) =>
        ConvertRecord(rec, new RecordOrigin(source, source, line, role), DataFormat.Auto, new ConversionOptions());

    public static Conversation ConvertRecord(JsonObject rec, RecordOrigin origin, DataFormat format, ConversionOptions options) => format switch
    {
        DataFormat.Hermes => HermesConverter.Convert(rec, origin, options),
        DataFormat.OpenAI => OpenAiConverter.Convert(rec, origin, options),
        DataFormat.Instruct => InstructConverter.Convert(rec, origin, options),
        _ => rec.ContainsKey("conversations") ? HermesConverter.Convert(rec, origin, options)
            : rec.ContainsKey("messages") ? OpenAiConverter.Convert(rec, origin, options)
            : InstructConverter.Convert(rec, origin, options),
    };

    private static string? TryId(JsonObject rec) => ToolFormat.Str(rec["id"]);
}
