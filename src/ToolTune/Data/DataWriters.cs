using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using CsvHelper;
using ToolTune.Data.Selection;
using ToolTune.Data.Shards;
using ToolTune.IO;

namespace ToolTune.Data;

/// <summary>
/// One row of <c>stats.csv</c>. Per source: a totals row (empty <see cref="Reason"/>) and one row per drop reason
/// (only <see cref="Dropped"/> set); a final <c>*</c> row sums every source.
/// </summary>
public sealed class StatsRow
{
    public string Source { get; set; } = "";
    public string Role { get; set; } = "";
    public string Reason { get; set; } = "";
    public int? RecordsRead { get; set; }
    public int? Loaded { get; set; }
    public int Dropped { get; set; }
    public int? Kept { get; set; }
    public int? Selected { get; set; }
    public int? Train { get; set; }
    public int? Val { get; set; }
    public int? ToolEval { get; set; }
    public int? Samples { get; set; }
    public long? Tokens { get; set; }
    public long? TrainedTokens { get; set; }
    public string? TrainedFraction { get; set; }
    public int? ToolCalls { get; set; }
    public int? ConversationsWithCalls { get; set; }
    public string Files { get; set; } = "";
}

/// <summary>Writers for the prepared-data side files: <c>stats.csv</c> and the tool-eval JSONL.</summary>
public static class DataWriters
{
    public static readonly JsonSerializerOptions JsonLineOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static List<StatsRow> StatsRows(DataReport report)
    {
        var rows = new List<StatsRow>();
        var total = new StatsRow { Source = "*", Role = "" , RecordsRead = 0, Loaded = 0, Kept = 0, Selected = 0, Train = 0, Val = 0, ToolEval = 0,
            Samples = 0, Tokens = 0, TrainedTokens = 0, ToolCalls = 0, ConversationsWithCalls = 0 };
        foreach (var s in report.Sources.OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            rows.Add(new StatsRow
            {
                Source = s.Name,
                Role = s.Role == DataRole.Tool ? "tool" : "general",
                RecordsRead = s.RecordsRead,
                Loaded = s.Loaded,
                Dropped = s.Dropped,
                Kept = s.Kept,
                Selected = s.Selected,
                Train = s.Train,
                Val = s.Val,
                ToolEval = s.ToolEval,
                Samples = s.Samples,
                Tokens = s.Tokens,
                TrainedTokens = s.TrainedTokens,
                TrainedFraction = Fraction(s.TrainedTokens, s.Tokens),
                ToolCalls = s.ToolCalls,
                ConversationsWithCalls = s.ConversationsWithCalls,
                Files = string.Join(';', s.Files.Select(Path.GetFileName)),
            });
            foreach (var (reason, n) in s.DroppedByReason)
                rows.Add(new StatsRow { Source = s.Name, Role = s.Role == DataRole.Tool ? "tool" : "general", Reason = reason, Dropped = n });
            total.RecordsRead += s.RecordsRead;
            total.Loaded += s.Loaded;
            total.Dropped += s.Dropped;
            total.Kept += s.Kept;
            total.Selected += s.Selected;
            total.Train += s.Train;
            total.Val += s.Val;
            total.ToolEval += s.ToolEval;
            total.Samples += s.Samples;
            total.Tokens += s.Tokens;
            total.TrainedTokens += s.TrainedTokens;
            total.ToolCalls += s.ToolCalls;
            total.ConversationsWithCalls += s.ConversationsWithCalls;
        }
        total.TrainedFraction = Fraction(total.TrainedTokens ?? 0, total.Tokens ?? 0);
        rows.Add(total);
        return rows;
    }

    private static string Fraction(long a, long b) => b == 0 ? "0" : ((double)a / b).ToString("0.######", CultureInfo.InvariantCulture);

    /// <summary>Column names of <c>stats.csv</c>, in order.</summary>
    public static readonly string[] StatsColumns =
    [
        "source", "role", "reason", "records_read", "loaded", "dropped", "kept", "selected", "train", "val", "tool_eval",
        "samples", "tokens", "trained_tokens", "trained_fraction", "tool_calls", "conversations_with_calls", "files",
    ];

    private static string?[] Fields(StatsRow r) =>
    [
        r.Source, r.Role, r.Reason, N(r.RecordsRead), N(r.Loaded), N(r.Dropped), N(r.Kept), N(r.Selected), N(r.Train), N(r.Val), N(r.ToolEval),
        N(r.Samples), N(r.Tokens), N(r.TrainedTokens), r.TrainedFraction, N(r.ToolCalls), N(r.ConversationsWithCalls), r.Files,
    ];

    private static string N(long? v) => v?.ToString(CultureInfo.InvariantCulture) ?? "";

    /// <summary>Writes <c>stats.csv</c> (CsvHelper, invariant culture, RFC 4180 CRLF records) atomically.</summary>
    public static void WriteStatsCsv(string path, DataReport report)
    {
        var sw = new StringWriter(CultureInfo.InvariantCulture);
        using (var csv = CsvWriter.Create(sw, null, leaveOpen: true))
        {
            foreach (var c in StatsColumns) csv.WriteField(c);
            csv.EndRecord();
            foreach (var row in StatsRows(report))
            {
                foreach (var f in Fields(row)) csv.WriteField(f ?? "");
                csv.EndRecord();
            }
            csv.Flush();
        }
        var bytes = new UTF8Encoding(false).GetBytes(sw.ToString());
        AtomicFile.Write(path, fs => fs.Write(bytes));
    }

    /// <summary>Reads <c>stats.csv</c> back as one dictionary per row (column name → value), for tests and reports.</summary>
    public static List<Dictionary<string, string>> ReadStatsCsv(string path)
    {
        using var sr = new StreamReader(path);
        using var csv = CsvReader.Create(sr, null, leaveOpen: false);
        var rows = new List<Dictionary<string, string>>();
        while (csv.Read())
        {
            var d = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var c in StatsColumns) d[c] = csv.GetString(c);
            rows.Add(d);
        }
        return rows;
    }

    /// <summary>Writes the tool-eval set: one JSON object per line (prompt messages, tools, gold calls or "no call expected").</summary>
    public static void WriteToolEvalJsonl(string path, IEnumerable<ToolEvalItem> items)
    {
        var sb = new StringBuilder();
        foreach (var item in items) sb.Append(item.ToJson().ToJsonString(JsonLineOptions)).Append('\n');
        var bytes = new UTF8Encoding(false).GetBytes(sb.ToString());
        AtomicFile.Write(path, fs => fs.Write(bytes));
    }

    /// <summary>Writes the dropped/skipped records (code, reason, file, line, record id, detail) as JSONL, for the report.</summary>
    public static void WriteIssuesJsonl(string path, DataReport report)
    {
        var sb = new StringBuilder();
        foreach (var i in report.Issues)
        {
            var o = new System.Text.Json.Nodes.JsonObject
            {
                ["code"] = i.Code,
                ["reason"] = i.Reason,
                ["file"] = i.File,
                ["line"] = i.Line,
                ["column"] = i.Column,
                ["record_id"] = i.RecordId,
                ["detail"] = i.Detail,
            };
            sb.Append(o.ToJsonString(JsonLineOptions)).Append('\n');
        }
        var bytes = new UTF8Encoding(false).GetBytes(sb.ToString());
        AtomicFile.Write(path, fs => fs.Write(bytes));
    }
}
