using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Unicode;
using ToolTune.Diagnostics;

namespace ToolTune.Data.Loaders;

/// <summary>One record of a JSON/JSONL file: its object, or the issue that made it unreadable.</summary>
/// <remarks><see cref="Column"/> is the 1-based byte column where the record starts (1 for JSONL; it tells records of a
/// single-line JSON array apart).</remarks>
public readonly record struct RawRecord(JsonObject? Value, string File, int Line, DataIssue? Issue, int Column = 1);

/// <summary>Stable reason strings (they are the keys of the dropped-by-reason counts in stats.csv).</summary>
public static class DropReasons
{
    public const string MalformedJson = "malformed JSON";
    public const string TruncatedRecord = "truncated record";
    public const string InvalidUtf8 = "invalid UTF-8";
    public const string NotAnObject = "record is not a JSON object";
    public const string UnknownRole = "unknown role";
    public const string MissingField = "missing field";
    public const string BadToolCall = "bad tool call";
    public const string BadTools = "bad tools";
    public const string InvalidRecord = "invalid record";
    public const string DuplicateId = "duplicate id";
    public const string EmptyConversation = "empty conversation";
    public const string NoToolCall = "no tool call";
    public const string EncodeFailed = "encode failed";
    public const string OverMaxLength = "over max length";
    public const string NoTrainedTokens = "no trained tokens";
    public const string EvalDuplicate = "same prompt as a held-out eval conversation";
}

/// <summary>
/// Streams the records of a JSON array file or a JSONL file, with the 1-based line of each record.
/// Each JSONL line is checked for strict UTF-8; a JSON array file is checked up front and a record
/// holding an invalid byte is skipped with the byte's line and column. A syntax error inside a JSON
/// array skips that record and resumes at the next line that starts an element at the first element's indentation
/// (pretty-printed files); when none can be found (one-line arrays) the rest of the file is reported as not read.
/// An empty file (no records at all) is always an error (<see cref="ErrorCodes.DataEmptyDataset"/>).
/// </summary>
public static class JsonRecordReader
{
    private static readonly JsonDocumentOptions DocOptions = new() { MaxDepth = 256 };
    private static readonly JsonNodeOptions NodeOptions = new() { PropertyNameCaseInsensitive = false };

    public static IEnumerable<RawRecord> Read(string path)
    {
        if (!File.Exists(path))
            throw new ToolTuneException(ErrorCodes.DataFileMissing, "data file not found", path);
        RejectUtf16(path);
        return IsJsonArrayFile(path) ? ReadArray(path) : ReadLines(path);
    }

    /// <summary>A UTF-16/32 file (Windows "Unicode" export) would otherwise fail on every line; say what it is once.</summary>
    private static void RejectUtf16(string path)
    {
        Span<byte> head = stackalloc byte[2];
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 16);
        if (fs.ReadAtLeast(head, 2, throwOnEndOfStream: false) == 2 && (head[0], head[1]) is (0xFF, 0xFE) or (0xFE, 0xFF))
            throw new ToolTuneException(ErrorCodes.DataInvalidUtf8, "the file is UTF-16 (byte order mark FF FE / FE FF), not UTF-8: re-save it as UTF-8", path, 1, 1);
    }

    /// <summary>True when the first non-blank byte (after a BOM) is <c>[</c>.</summary>
    public static bool IsJsonArrayFile(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096);
        int b;
        var first = true;
        while ((b = fs.ReadByte()) >= 0)
        {
            if (first && b == 0xEF) { fs.ReadByte(); fs.ReadByte(); first = false; continue; }
            first = false;
            if (b is ' ' or '\t' or '\r' or '\n') continue;
            return b == '[';
        }
        return false;
    }

    private static IEnumerable<RawRecord> ReadLines(string path)
    {
        var any = false;
        foreach (var (lineNo, line) in Utf8Lines(path))
        {
            var rec = ParseLine(path, lineNo, line.Span);
            if (rec is null) continue;
            any = true;
            yield return rec.Value;
        }
        if (!any) throw new ToolTuneException(ErrorCodes.DataEmptyDataset, "empty dataset: the file holds no records", path);
    }

    private static RawRecord? ParseLine(string path, int lineNo, ReadOnlySpan<byte> span)
    {
        var trimmed = TrimWs(span);
        if (trimmed.Length == 0) return null;
        if (!Utf8.IsValid(span))
        {
            var col = FirstInvalidUtf8(span) + 1;
            return new RawRecord(null, path, lineNo, new DataIssue(ErrorCodes.DataInvalidUtf8, DropReasons.InvalidUtf8, path, lineNo, col,
                Detail: $"invalid UTF-8 byte 0x{span[col - 1]:X2} at byte column {col}"));
        }
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(span, NodeOptions, DocOptions);
        }
        catch (JsonException ex)
        {
            var contentEnd = span.Length - (span.Length - span.TrimEnd(" \t\r\n"u8).Length);
            return new RawRecord(null, path, lineNo, ParseIssue(ex, path, lineNo, contentEnd, span.Length));
        }
        if (node is not JsonObject obj)
            return new RawRecord(null, path, lineNo, new DataIssue(ErrorCodes.DataInvalidRecord, DropReasons.NotAnObject, path, lineNo, 1,
                Detail: $"expected a JSON object, found {Kind(node)}"));
        return new RawRecord(obj, path, lineNo, LazyParseIssue(obj, path, lineNo, 1));
    }

    /// <summary>A parsed record's deferred JSON problem (<see cref="JsonNodeChecks"/>) as a located, counted skip.</summary>
    internal static DataIssue? LazyParseIssue(JsonObject record, string path, int line, int column) => JsonNodeChecks.Find(record) switch
    {
        (JsonNodeChecks.Problem.DuplicateKey, var message) => new DataIssue(ErrorCodes.DataMalformedJson, DropReasons.MalformedJson, path, line, column, Detail: message),
        (JsonNodeChecks.Problem.UnpairedSurrogate, var message) => new DataIssue(ErrorCodes.DataInvalidUtf8, DropReasons.InvalidUtf8, path, line, column, Detail: message),
        _ => null,
    };

    private static DataIssue ParseIssue(JsonException ex, string path, int lineNo, int contentEnd, int lineLength)
    {
        var inLine = (int)(ex.BytePositionInLine ?? 0);
        var col = inLine + 1;
        var truncated = inLine >= contentEnd || ex.Message.Contains("end of data", StringComparison.OrdinalIgnoreCase)
            || ex.Message.Contains("Expected depth to be zero", StringComparison.Ordinal);
        var msg = FirstSentence(ex.Message);
        return truncated
            ? new DataIssue(ErrorCodes.DataTruncatedRecord, DropReasons.TruncatedRecord, path, lineNo, Math.Min(col, lineLength + 1),
                Detail: "the JSON ends before the record is complete (truncated line?)")
            : new DataIssue(ErrorCodes.DataMalformedJson, DropReasons.MalformedJson, path, lineNo, col, Detail: msg);
    }

    private static string FirstSentence(string message)
    {
        var i = message.IndexOf(" Path:", StringComparison.Ordinal);
        if (i < 0) i = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (i > 0 ? message[..i] : message).Trim();
    }

    private static string Kind(JsonNode? n) => n switch
    {
        null => "null",
        JsonArray => "an array",
        JsonObject => "an object",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "a string",
            JsonValueKind.Number => "a number",
            _ => "a literal",
        },
        _ => "a value",
    };

    private static ReadOnlySpan<byte> TrimWs(ReadOnlySpan<byte> s) => s.Trim(" \t\r\n"u8);

    /// <summary>Byte index of the first invalid UTF-8 sequence, or -1.</summary>
    public static int FirstInvalidUtf8(ReadOnlySpan<byte> s)
    {
        var i = 0;
        while (i < s.Length)
        {
            var status = System.Text.Rune.DecodeFromUtf8(s[i..], out _, out var consumed);
            if (status != OperationStatus.Done) return i;
            i += consumed;
        }
        return -1;
    }

    /// <summary>Lines of a file as UTF-8 bytes (without the <c>\n</c> / <c>\r\n</c>), with 1-based numbers; a BOM is dropped.</summary>
    public static IEnumerable<(int Line, ReadOnlyMemory<byte> Bytes)> Utf8Lines(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var buf = new byte[1 << 20];
        int start = 0, end = 0, lineNo = 0;
        var eof = false;
        var firstChunk = true;
        while (true)
        {
            var nl = buf.AsSpan(start, end - start).IndexOf((byte)'\n');
            if (nl < 0)
            {
                if (eof)
                {
                    if (end > start)
                    {
                        lineNo++;
                        yield return (lineNo, StripCr(buf.AsMemory(start, end - start)));
                    }
                    yield break;
                }
                // compact / grow, then read more
                if (start > 0)
                {
                    Buffer.BlockCopy(buf, start, buf, 0, end - start);
                    end -= start;
                    start = 0;
                }
                if (end == buf.Length) Array.Resize(ref buf, buf.Length * 2);
                var n = fs.Read(buf, end, buf.Length - end);
                if (n == 0) eof = true;
                end += n;
                if (firstChunk && end >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF) start = 3;
                if (end >= 3 || eof) firstChunk = false;
                continue;
            }
            lineNo++;
            var line = StripCr(buf.AsMemory(start, nl));
            start += nl + 1;
            // The caller consumes the line before the next MoveNext, so handing out a slice of the buffer is safe.
            yield return (lineNo, line);
        }
    }

    private static ReadOnlyMemory<byte> StripCr(ReadOnlyMemory<byte> m) =>
        m.Length > 0 && m.Span[^1] == '\r' ? m[..^1] : m;

    private static IEnumerable<RawRecord> ReadArray(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var offset = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        var lineStarts = LineStarts(bytes);

        // Locate invalid UTF-8 up front; mask the bytes so the JSON reader can walk past them.
        var invalid = new List<int>();
        if (!Utf8.IsValid(bytes.AsSpan(offset)))
        {
            var i = offset;
            while (i < bytes.Length)
            {
                var status = System.Text.Rune.DecodeFromUtf8(bytes.AsSpan(i), out _, out var consumed);
                if (status != OperationStatus.Done)
                {
                    invalid.Add(i);
                    bytes[i] = (byte)'?';
                    consumed = 1;
                }
                i += consumed;
            }
        }

        var count = 0;
        var pos = SkipWs(bytes, offset);
        if (pos >= bytes.Length || bytes[pos] != '[')
            throw new ToolTuneException(ErrorCodes.DataMalformedJson, "expected a JSON array of records", path, 1, 1);
        pos++;
        string? indent = null; // whitespace before the first element on its line: used to resynchronise after a bad element
        var first = true;
        while (true)
        {
            pos = SkipWs(bytes, pos);
            if (pos >= bytes.Length)
            {
                var (l, c) = LineCol(lineStarts, Math.Max(LastNonWs(bytes), 0));
                count++;
                yield return new RawRecord(null, path, l, new DataIssue(ErrorCodes.DataTruncatedRecord, DropReasons.TruncatedRecord, path, l, c,
                    Detail: "the JSON array is not closed (truncated file?)"));
                break;
            }
            if (bytes[pos] == ']') break;
            if (!first)
            {
                if (bytes[pos] != ',')
                {
                    var (l, c) = LineCol(lineStarts, pos);
                    count++;
                    yield return new RawRecord(null, path, l, new DataIssue(ErrorCodes.DataMalformedJson, DropReasons.MalformedJson, path, l, c,
                        Detail: $"expected ',' or ']' between records, found '{(char)bytes[pos]}'; the records after this point were not read"));
                    break;
                }
                pos = SkipWs(bytes, pos + 1);
            }
            first = false;
            var start = pos;
            var (line, startCol) = LineCol(lineStarts, start);
            if (indent is null && IsBlank(bytes, lineStarts[line - 1], start)) indent = Encoding.ASCII.GetString(bytes, lineStarts[line - 1], start - lineStarts[line - 1]);
            var (rec, end, resumeAt) = ParseElement(bytes, start, path, line, startCol, lineStarts, invalid, indent);
            count++;
            yield return rec;
            if (end >= 0) pos = end;
            else if (resumeAt >= 0) { pos = resumeAt; first = true; }
            else break;
        }
        if (count == 0) throw new ToolTuneException(ErrorCodes.DataEmptyDataset, "empty dataset: the JSON array holds no records", path, 1, 1);
    }

    private static int SkipWs(byte[] b, int i)
    {
        while (i < b.Length && b[i] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') i++;
        return i;
    }

    private static bool IsBlank(byte[] b, int from, int to)
    {
        for (var i = from; i < to; i++) if (b[i] is not ((byte)' ' or (byte)'\t')) return false;
        return true;
    }

    private static (int Line, int Col) LineCol(int[] lineStarts, int offset)
    {
        var l = LineOf(lineStarts, offset);
        return (l, offset - lineStarts[l - 1] + 1);
    }

    /// <summary>
    /// Parses one array element at <paramref name="start"/>. Returns the record, the offset after it (or -1 on a syntax
    /// error) and, after an error, where the next element seems to start (a later line that begins with the first
    /// element's indentation and '{'), or -1 when the rest of the file cannot be located.
    /// </summary>
    private static (RawRecord Record, int End, int ResumeAt) ParseElement(byte[] bytes, int start, string path, int line, int startCol,
        int[] lineStarts, List<int> invalid, string? indent)
    {
        try
        {
            var reader = new Utf8JsonReader(bytes.AsSpan(start), new JsonReaderOptions { MaxDepth = 256 });
            if (!reader.Read()) throw new JsonException("unexpected end of data", null, 0, 0);
            var node = JsonNode.Parse(ref reader, NodeOptions); // this element only
            var end = start + (int)reader.BytesConsumed;
            var bad = invalid.Count == 0 ? -1 : invalid.Find(x => x >= start && x < end);
            if (invalid.Count > 0 && bad >= start && bad < end)
            {
                var (bl, bc) = LineCol(lineStarts, bad);
                return (new RawRecord(null, path, line, new DataIssue(ErrorCodes.DataInvalidUtf8, DropReasons.InvalidUtf8, path, bl, bc,
                    Detail: "invalid UTF-8 byte in this record"), startCol), end, -1);
            }
            var rec = node is JsonObject o
                ? new RawRecord(o, path, line, LazyParseIssue(o, path, line, startCol), startCol)
                : new RawRecord(null, path, line, new DataIssue(ErrorCodes.DataInvalidRecord, DropReasons.NotAnObject, path, line, startCol,
                    Detail: $"expected a JSON object, found {Kind(node)}"), startCol);
            return (rec, end, -1);
        }
        catch (JsonException ex)
        {
            // Positions are relative to the element start: line 0 is the element's own line.
            var relLine = (int)(ex.LineNumber ?? 0);
            var relCol = (int)(ex.BytePositionInLine ?? 0);
            var errLine = Math.Min(line + relLine, lineStarts.Length);
            var abs = relLine == 0 ? start + relCol : lineStarts[errLine - 1] + relCol;
            abs = Math.Min(abs, Math.Max(bytes.Length - 1, 0));
            var (el, ec) = LineCol(lineStarts, abs);
            var resume = indent is null ? -1 : FindNextElement(bytes, lineStarts, el, indent);
            var tail = resume >= 0 ? "" : "; the records after this point were not read";
            var truncated = abs >= LastNonWs(bytes) || ex.Message.Contains("end of data", StringComparison.OrdinalIgnoreCase);
            var issue = truncated
                ? new DataIssue(ErrorCodes.DataTruncatedRecord, DropReasons.TruncatedRecord, path, el, ec, Detail: "the JSON ends before the record is complete (truncated file?)" + tail)
                : new DataIssue(ErrorCodes.DataMalformedJson, DropReasons.MalformedJson, path, el, ec, Detail: FirstSentence(ex.Message) + tail);
            return (new RawRecord(null, path, el, issue, startCol), -1, resume);
        }
    }

    private static int FindNextElement(byte[] bytes, int[] lineStarts, int afterLine, string indent)
    {
        for (var l = afterLine; l < lineStarts.Length; l++) // l is the 0-based index of line l+1
        {
            var s = lineStarts[l];
            if (s + indent.Length >= bytes.Length) break;
            if (!IsBlank(bytes, s, s + indent.Length)) continue;
            if (bytes[s + indent.Length] == '{') return s + indent.Length;
        }
        return -1;
    }

    private static int LastNonWs(byte[] b)
    {
        var i = b.Length - 1;
        while (i >= 0 && b[i] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') i--;
        return i;
    }

    private static int[] LineStarts(byte[] bytes)
    {
        var starts = new List<int>(1024) { 0 };
        var span = bytes.AsSpan();
        var i = 0;
        while (true)
        {
            var j = span[i..].IndexOf((byte)'\n');
            if (j < 0) break;
            i += j + 1;
            starts.Add(i);
        }
        return starts.ToArray();
    }

    /// <summary>1-based line of a byte offset.</summary>
    private static int LineOf(int[] lineStarts, int offset)
    {
        var idx = Array.BinarySearch(lineStarts, offset);
        return idx >= 0 ? idx + 1 : ~idx;
    }

    internal static string Utf8Text(ReadOnlySpan<byte> s) => Encoding.UTF8.GetString(s);
}
