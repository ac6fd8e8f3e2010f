using System.Text;
using ToolTune.Data;
using ToolTune.Data.Loaders;
using ToolTune.Diagnostics;

namespace ToolTune.Tests.Data;

[TestClass]
public sealed class BadInputTests
{
    private static int s_goodId;

    // A fresh id per use: a repeated explicit id is itself a skipped record ("duplicate id").
    private const string GoodRecord = """{"id": "ok", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>"}]}""";
    private static string Good => GoodRecord.Replace("\"ok\"", $"\"ok{Interlocked.Increment(ref s_goodId)}\"", StringComparison.Ordinal);

    /// <summary>Line 2 of a JSONL file is bad; lines 1 and 3 are good. Lenient: 2 loaded, 1 issue at line 2; strict: throws at line 2.</summary>
    private static void AssertReported(string badLine, string code, string reason, int column = -1, DataFormat format = DataFormat.Hermes)
    {
        using var dir = new TempDir();
        var path = dir.Bytes("bad.jsonl", [.. Encoding.UTF8.GetBytes(Good + "\n"), .. Encoding.UTF8.GetBytes(badLine + "\n"), .. Encoding.UTF8.GetBytes(Good + "\n")]);
        AssertReportedFile(path, code, reason, 2, column, format, expectLoaded: 2);
    }

    private static void AssertReportedFile(string path, string code, string reason, int line, int column, DataFormat format, int expectLoaded)
    {
        var report = new DataReport();
        var spec = new DataSourceSpec("src", path, format);
        var convs = DataLoader.Load(spec, report).ToList();
        Assert.AreEqual(expectLoaded, convs.Count);
        var issue = report.Issues.Single();
        Assert.AreEqual(code, issue.Code, issue.ToString());
        Assert.AreEqual(reason, issue.Reason);
        Assert.AreEqual(path, issue.File);
        Assert.AreEqual(line, issue.Line, issue.ToString());
        if (column >= 0) Assert.AreEqual(column, issue.Column, issue.ToString());
        Assert.AreEqual(1, report.Source("src").DroppedByReason[reason]);

        var ex = Assert.ThrowsExactly<ToolTuneException>(() => DataLoader.Load(spec, new DataReport(), new LoadOptions { Strict = true }).ToList());
        Assert.AreEqual(code, ex.Code);
        Assert.AreEqual(path, ex.File);
        Assert.AreEqual(line, ex.Line);
        StringAssert.Contains(ex.ToString(), $"({line}");
    }

    [TestMethod]
    public void MalformedJson() => AssertReported("""{"id": "m", "conversations": [}""", ErrorCodes.DataMalformedJson, DropReasons.MalformedJson, column: 31);

    [TestMethod]
    public void TruncatedJsonlLine() => AssertReported("""{"id": "t", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "val""", ErrorCodes.DataTruncatedRecord, DropReasons.TruncatedRecord);

    [TestMethod]
    public void TruncatedLastLineWithoutNewline()
    {
        using var dir = new TempDir();
        var path = dir.File("t.jsonl", Good + "\n" + Good + "\n" + Good[..40]);
        AssertReportedFile(path, ErrorCodes.DataTruncatedRecord, DropReasons.TruncatedRecord, 3, -1, DataFormat.Hermes, expectLoaded: 2);
    }

    [TestMethod]
    public void UnknownRole() => AssertReported("""{"conversations": [{"from": "human", "value": "hi"}, {"from": "bot", "value": "x"}]}""", ErrorCodes.DataUnknownRole, DropReasons.UnknownRole);

    [TestMethod]
    public void UnknownOpenAiRole() => AssertReported("""{"messages": [{"role": "user", "content": "hi"}, {"role": "narrator", "content": "x"}]}""",
        ErrorCodes.DataUnknownRole, DropReasons.UnknownRole, format: DataFormat.Auto);

    [TestMethod]
    public void MissingConversations() => AssertReported("""{"id": "nc", "dialogue": []}""", ErrorCodes.DataMissingField, DropReasons.MissingField);

    [TestMethod]
    public void ToolCallThatIsNotJson() => AssertReported(
        """{"id": "bad", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "<tool_call>\nget_weather(city='Paris')\n</tool_call>"}]}""",
        ErrorCodes.DataBadToolCall, DropReasons.BadToolCall);

    [TestMethod]
    public void UnclosedToolCall() => AssertReported(
        """{"id": "bad", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}"}]}""",
        ErrorCodes.DataBadToolCall, DropReasons.BadToolCall);

    [TestMethod]
    public void ToolCallWithoutName() => AssertReported(
        """{"id": "bad", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "<tool_call>\n{\"arguments\": {}}\n</tool_call>"}]}""",
        ErrorCodes.DataBadToolCall, DropReasons.BadToolCall);

    [TestMethod]
    public void BadToolsBlock() => AssertReported(
        """{"id": "bt", "conversations": [{"from": "system", "value": "<tools>\n[{\"name\": \n</tools>"}, {"from": "human", "value": "hi"}, {"from": "gpt", "value": "x"}]}""",
        ErrorCodes.DataBadTools, DropReasons.BadTools);

    [TestMethod]
    public void NotAnObject() => AssertReported("""[1, 2]""", ErrorCodes.DataInvalidRecord, DropReasons.NotAnObject);

    [TestMethod]
    public void InvalidUtf8()
    {
        using var dir = new TempDir();
        var bad = Encoding.UTF8.GetBytes("""{"id": "u", "conversations": [{"from": "human", "value": "caf""").Concat(new byte[] { 0xC3, 0x28 })
            .Concat(Encoding.UTF8.GetBytes("\"}, {\"from\": \"gpt\", \"value\": \"x\"}]}\n")).ToArray();
        var path = dir.Bytes("u.jsonl", [.. Encoding.UTF8.GetBytes(Good + "\n"), .. bad, .. Encoding.UTF8.GetBytes(Good + "\n")]);
        AssertReportedFile(path, ErrorCodes.DataInvalidUtf8, DropReasons.InvalidUtf8, 2, 62, DataFormat.Hermes, expectLoaded: 2);
    }

    [TestMethod]
    public void InvalidUtf8InJsonArray()
    {
        using var dir = new TempDir();
        var text = "[\n" + Good + ",\n" + Good.Replace("\"hi\"", "\"h\u0001\"") + ",\n" + Good + "\n]\n";
        var bytes = Encoding.UTF8.GetBytes(text);
        var at = Array.IndexOf(bytes, (byte)1);
        bytes[at] = 0xFF;
        var path = dir.Bytes("u.json", bytes);
        AssertReportedFile(path, ErrorCodes.DataInvalidUtf8, DropReasons.InvalidUtf8, 3, -1, DataFormat.Hermes, expectLoaded: 2);
    }

    [TestMethod]
    public void MalformedJsonArrayStopsAtTheErrorWithItsLine()
    {
        using var dir = new TempDir();
        var path = dir.File("m.json", "[\n" + Good + ",\n" + Good + ",\n  {\"id\": \"x\", \"conversations\": [}\n]\n");
        AssertReportedFile(path, ErrorCodes.DataMalformedJson, DropReasons.MalformedJson, 4, -1, DataFormat.Hermes, expectLoaded: 2);
    }

    [TestMethod]
    public void TruncatedJsonArray()
    {
        using var dir = new TempDir();
        var path = dir.File("t.json", "[\n" + Good + ",\n" + Good + ",\n  {\"id\": \"x\", \"conver");
        AssertReportedFile(path, ErrorCodes.DataTruncatedRecord, DropReasons.TruncatedRecord, 4, -1, DataFormat.Hermes, expectLoaded: 2);
    }

    [TestMethod]
    public void EmptyDatasetIsAnErrorEvenWhenLenient()
    {
        using var dir = new TempDir();
        foreach (var (name, text) in new[] { ("e.jsonl", ""), ("w.jsonl", "\n  \n"), ("a.json", "[ ]\n") })
        {
            var path = dir.File(name, text);
            var ex = Assert.ThrowsExactly<ToolTuneException>(() => DataLoader.Load(new DataSourceSpec("s", path), new DataReport()).ToList());
            Assert.AreEqual(ErrorCodes.DataEmptyDataset, ex.Code);
            Assert.AreEqual(path, ex.File);
        }
        // All records bad → LoadAll reports an empty dataset with the reasons.
        var bad = dir.File("b.jsonl", "{oops\n");
        var ex2 = Assert.ThrowsExactly<ToolTuneException>(() => DataLoader.LoadAll(new DataSourceSpec("s2", bad), new DataReport()));
        Assert.AreEqual(ErrorCodes.DataEmptyDataset, ex2.Code);
        StringAssert.Contains(ex2.Message, "malformed JSON");
    }

    [TestMethod]
    public void MissingFileIsLocated()
    {
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => DataLoader.Load(new DataSourceSpec("s", "/nonexistent/x.jsonl"), new DataReport()).ToList());
        Assert.AreEqual(ErrorCodes.DataFileMissing, ex.Code);
    }

    [TestMethod]
    public void ToolsButNoCallIsFilteredWithReason()
    {
        using var dir = new TempDir();
        var path = dir.File("n.jsonl", Good + "\n" + """{"id": "nocall", "tools": "[{\"name\": \"f\"}]", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}""" + "\n");
        var report = new DataReport();
        var convs = DataLoader.Load(new DataSourceSpec("h", path, DataFormat.Hermes), report).ToList();
        Assert.AreEqual(2, convs.Count);
        var kept = ToolTune.Data.Selection.DataSelection.FilterToolConversations(convs, report);
        Assert.AreEqual(1, kept.Count);
        var issue = report.Issues.Single();
        Assert.AreEqual(DropReasons.NoToolCall, issue.Reason);
        Assert.AreEqual(2, issue.Line);
        Assert.AreEqual("nocall", issue.RecordId);
    }
}

[TestClass]
public sealed class SingleLineArrayTests
{
    [TestMethod]
    public void RecordsOfAOneLineArrayAreToldApartByColumn()
    {
        using var dir = new TempDir();
        const string good = """{"id": "a", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>"}]}""";
        const string bad = """{"id": "b", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "<tool_call>f()</tool_call>"}]}""";
        var path = dir.File("one.json", "[" + good + ", " + bad + "]");
        var report = new DataReport();
        var convs = DataLoader.Load(new DataSourceSpec("h", path, DataFormat.Hermes), report).ToList();
        Assert.AreEqual(1, convs.Single().SourceLine);
        Assert.AreEqual(2, convs.Single().SourceColumn);
        var issue = report.Issues.Single();
        Assert.AreEqual(1, issue.Line);
        Assert.AreEqual(good.Length + 4, issue.Column);
        StringAssert.Contains(issue.ToString(), $"one.json(1,{good.Length + 4}): error TT3006");
    }
}

[TestClass]
public sealed class JsonArrayResyncTests
{
    [TestMethod]
    public void APrettyPrintedArrayResumesAfterAMalformedRecord()
    {
        using var dir = new TempDir();
        var path = dir.Combine("pretty.json");
        ToolTune.Data.Generation.HermesGenerator.WriteJsonArray(path, ToolTune.Data.Generation.HermesGenerator.Generate(5, 3));
        var lines = File.ReadAllLines(path);
        var target = Array.FindIndex(lines, l => l.Contains("\"id\": \"gen-3-000002\""));
        var broken = Array.FindIndex(lines, target, l => l.Contains("\"from\": \"human\""));
        lines[broken] = lines[broken].Replace("\"from\": \"human\"", "\"from\" \"human\"");
        File.WriteAllText(path, string.Join("\n", lines) + "\n");

        var report = new DataReport();
        var convs = DataLoader.Load(new DataSourceSpec("h", path, DataFormat.Hermes), report).ToList();
        CollectionAssert.AreEqual(new[] { "gen-3-000000", "gen-3-000001", "gen-3-000003", "gen-3-000004" }, convs.Select(c => c.Id).ToArray());
        var issue = report.Issues.Single();
        Assert.AreEqual(ErrorCodes.DataMalformedJson, issue.Code);
        Assert.AreEqual(broken + 1, issue.Line);
        Assert.IsFalse(issue.Detail!.Contains("not read"), issue.Detail);
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => DataLoader.Load(new DataSourceSpec("h", path, DataFormat.Hermes), new DataReport(), new LoadOptions { Strict = true }).ToList());
        Assert.AreEqual(broken + 1, ex.Line);
    }
}
