using System.Text.Json.Nodes;
using ToolTune.Data;
using ToolTune.Data.Generation;
using ToolTune.Data.Loaders;
using ToolTune.Diagnostics;
using ToolTune.Python;

namespace ToolTune.Tests.Data;

[TestClass]
public sealed class PyLiteralTests
{
    [TestMethod]
    public void NormalisesPythonDictToJson()
    {
        Assert.IsTrue(PyLiteral.TryParse("{'name': 'f', 'arguments': {'a': True, 'b': None, 'c': False, 'd': -1.5e3, 'e': (1, 2,)}}", out var n, out var err), err);
        Assert.AreEqual("""{"name":"f","arguments":{"a":true,"b":null,"c":false,"d":-1.5e3,"e":[1,2]}}""", n!.ToJsonString());
    }

    [TestMethod]
    public void HandlesEscapedQuotesNestingAndMixedQuotes()
    {
        Assert.IsTrue(PyLiteral.TryParse(@"{'text': 'it\'s \""fine\""', ""k"": ""say 'hi'"", 'nested': {'list': [{'x': 'a\\b'}, [], {}], 'u': '\u00e9'}}", out var n, out var err), err);
        var o = n!.AsObject();
        Assert.AreEqual("it's \"fine\"", (string)o["text"]!);
        Assert.AreEqual("say 'hi'", (string)o["k"]!);
        Assert.AreEqual(@"a\b", (string)o["nested"]!["list"]![0]!["x"]!);
        Assert.AreEqual("é", (string)o["nested"]!["u"]!);
    }

    [TestMethod]
    public void KeepsKeyOrderAndRejectsGarbage()
    {
        Assert.IsTrue(PyLiteral.TryParse("{'arguments': {'symbol': 'TSLA'}, 'name': 'get_stock_fundamentals'}", out var n, out _));
        Assert.AreEqual("arguments", n!.AsObject().First().Key);
        Assert.IsFalse(PyLiteral.TryParse("{'name': 'f', 'arguments': {'a': 1}", out _, out var e1));
        StringAssert.Contains(e1, "unterminated");
        Assert.IsFalse(PyLiteral.TryParse("call f(a=1)", out _, out _));
        Assert.IsFalse(PyLiteral.TryParse("{'a': undefined_name}", out _, out _));
    }

    [TestMethod]
    public void ToolCallIsNormalisedNameFirst()
    {
        var call = ToolFormat.ParseCall("{'arguments': {'symbol': 'TSLA', 'live': True}, 'name': 'get_stock_price'}", 0);
        Assert.AreEqual("""{"name":"get_stock_price","arguments":{"symbol":"TSLA","live":true}}""", call.ToString());
    }
}

[TestClass]
public sealed class HermesLoaderTests
{
    private static readonly string Sys = HermesGenerator.SystemPrefix +
        """[{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}, {"type": "function", "function": {"name": "get_time", "description": "Time", "parameters": {"type": "object", "properties": {}}}}]"""
        + HermesGenerator.SystemSuffix;

    private static JsonObject Rec(string id, params (string From, string Value)[] turns) => new()
    {
        ["id"] = id,
        ["conversations"] = new JsonArray(turns.Select(t => (JsonNode)new JsonObject { ["from"] = t.From, ["value"] = t.Value }).ToArray()),
        ["category"] = "Weather",
        ["subcategory"] = "Forecast",
        ["task"] = "t",
    };

    private static List<Conversation> LoadJsonl(TempDir dir, DataReport report, bool strict, params JsonObject[] recs)
    {
        var path = dir.File("h.jsonl", string.Join("\n", recs.Select(r => r.ToJsonString())) + "\n");
        return DataLoader.Load(new DataSourceSpec("hermes", path, DataFormat.Hermes), report, new LoadOptions { Strict = strict }).ToList();
    }

    [TestMethod]
    public void ConvertsToolsCallsResponsesAndContent()
    {
        using var dir = new TempDir();
        var report = new DataReport();
        var convs = LoadJsonl(dir, report, false, Rec("a",
            ("system", Sys),
            ("human", "Weather and time in Paris?"),
            ("gpt", "Checking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{'name': 'get_time', 'arguments': {}}\n</tool_call>\n"),
            ("tool", "<tool_response>\n{\"name\": \"get_weather\", \"content\": {\"temp\": 20}}\n</tool_response>\n<tool_response>\n{'name': 'get_time', 'content': None}\n</tool_response>"),
            ("gpt", "It is 20 degrees.")));
        Assert.AreEqual(1, convs.Count);
        var c = convs[0];
        Assert.AreEqual("a", c.Id);
        Assert.AreEqual(1, c.SourceLine);
        Assert.AreEqual("Weather", c.Category);
        CollectionAssert.AreEqual(new[] { "get_weather", "get_time" }, c.ToolNames().ToArray());
        // The Hermes boilerplate and <tools> block are gone: nothing else was in the system prompt.
        CollectionAssert.AreEqual(new[] { "user", "assistant", "tool", "tool", "assistant" }, c.Messages.Select(m => m.Role).ToArray());
        var a = c.Messages[1];
        Assert.AreEqual("Checking.", a.Content);
        Assert.AreEqual(2, a.ToolCalls.Count);
        Assert.AreEqual("""{"name":"get_time","arguments":{}}""", a.ToolCalls[1].ToString());
        Assert.AreEqual("get_weather", c.Messages[2].Name);
        Assert.AreEqual("{'name': 'get_time', 'content': None}", c.Messages[3].Content);
        Assert.AreEqual(2, c.ToolCallCount);

        var ctx = c.ToRenderContext();
        Assert.AreEqual(2, ctx["tools"]!.AsArray().Count);
        var call = ctx["messages"]![1]!["tool_calls"]![0]!;
        Assert.AreEqual("function", (string)call["type"]!);
        Assert.AreEqual("get_weather", (string)call["function"]!["name"]!);
        Assert.IsInstanceOfType<JsonObject>(call["function"]!["arguments"]);
        Assert.AreEqual("tool", (string)ctx["messages"]![2]!["role"]!);
    }

    [TestMethod]
    public void KeepsUserTextOfSystemPromptAndReadsToolsField()
    {
        using var dir = new TempDir();
        var rec = Rec("b", ("system", "You are Bob, a travel agent.\n\n" + Sys), ("human", "hi"), ("gpt", "<tool_call>\n{\"name\": \"book\", \"arguments\": {}}\n</tool_call>"));
        rec["tools"] = """[{"name": "book", "description": "Book", "parameters": {"type": "object", "properties": {}}}]""";
        var c = LoadJsonl(dir, new DataReport(), true, rec).Single();
        Assert.AreEqual("You are Bob, a travel agent.", c.Messages[0].Content);
        CollectionAssert.AreEqual(new[] { "book", "get_weather", "get_time" }, c.ToolNames().ToArray());
        Assert.AreEqual("function", (string)c.Tools[0]["type"]!);
    }

    [TestMethod]
    public void JsonArrayRecordsCarryTheirLineNumbers()
    {
        using var dir = new TempDir();
        var path = dir.Combine("sample.json");
        HermesGenerator.WriteJsonArray(path, HermesGenerator.Generate(5, 1));
        var report = new DataReport();
        var convs = DataLoader.Load(new DataSourceSpec("h", path, DataFormat.Hermes), report).ToList();
        Assert.AreEqual(5, convs.Count);
        var lines = File.ReadAllLines(path);
        foreach (var c in convs)
        {
            Assert.AreEqual("  {", lines[c.SourceLine - 1], $"record {c.Id} should start at line {c.SourceLine}");
            StringAssert.Contains(lines[c.SourceLine], c.Id);
        }
    }

    [TestMethod]
    public void GeneratedSampleFileLoadsWithBrokenCallReportedAndNoCallFiltered()
    {
        var path = Path.Combine(SharedFixtures.RepoRoot, "data", "samples", "hermes_sample.json");
        var report = new DataReport();
        var convs = DataLoader.Load(new DataSourceSpec("hermes", path, DataFormat.Hermes), report).ToList();
        var broken = report.Issues.Single();
        Assert.AreEqual(ErrorCodes.DataBadToolCall, broken.Code);
        Assert.AreEqual("sample-broken-call", broken.RecordId);
        Assert.AreEqual(path, broken.File);
        StringAssert.StartsWith(File.ReadAllLines(path)[broken.Line - 1], "  {");
        var kept = ToolTune.Data.Selection.DataSelection.FilterToolConversations(convs, report);
        Assert.AreEqual(convs.Count - 1, kept.Count);
        Assert.AreEqual(DropReasons.NoToolCall, report.Issues[1].Reason);
        Assert.AreEqual("sample-no-call", report.Issues[1].RecordId);
        Assert.IsTrue(kept.Any(c => c.Messages.Any(m => m.ToolCalls.Count >= 2)), "parallel calls");
        Assert.IsTrue(kept.Any(c => c.Messages.Count(m => m.HasToolCalls) >= 2), "multi-turn follow-up calls");
        Assert.IsTrue(kept.Any(c => c.Id == "sample-pydict" && c.HasToolCalls));
        Assert.AreEqual(2, report.Source("hermes").DroppedByReason.Values.Sum());
    }

    [TestMethod]
    public void CommittedSampleFileMatchesTheGenerator()
    {
        // Regenerate with: TOOLTUNE_REGENERATE_SAMPLES=1 dotnet test --filter CommittedSampleFileMatchesTheGenerator
        var path = Path.Combine(SharedFixtures.RepoRoot, "data", "samples", "hermes_sample.json");
        using var dir = new TempDir();
        var fresh = dir.Combine("s.json");
        HermesGenerator.WriteJsonArray(fresh, HermesGenerator.SampleFile(seed: 3));
        if (Environment.GetEnvironmentVariable("TOOLTUNE_REGENERATE_SAMPLES") == "1") File.Copy(fresh, path, overwrite: true);
        CollectionAssert.AreEqual(File.ReadAllBytes(fresh), File.ReadAllBytes(path), "data/samples/hermes_sample.json is stale");
    }
}

[TestClass]
public sealed class OpenAiAndInstructLoaderTests
{
    [TestMethod]
    public void OpenAiWithStringAndObjectArguments()
    {
        using var dir = new TempDir();
        var path = dir.File("o.jsonl", """
            {"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}}, {"id": "c2", "type": "function", "function": {"name": "g", "arguments": {"y": [true]}}}]}, {"role": "tool", "tool_call_id": "c1", "name": "f", "content": "ok"}, {"role": "tool", "tool_call_id": "c2", "content": "ok2"}, {"role": "assistant", "content": "done"}], "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}

            {"id": "x2", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>"}]}
            """);
        var convs = DataLoader.Load(new DataSourceSpec("oa", path, DataFormat.OpenAI), new DataReport(), new LoadOptions { Strict = true }).ToList();
        Assert.AreEqual(2, convs.Count);
        var a = convs[0].Messages[2];
        Assert.AreEqual("""{"name":"f","arguments":{"x":1}}""", a.ToolCalls[0].ToString());
        Assert.AreEqual("c2", a.ToolCalls[1].Id);
        Assert.AreEqual("hi", convs[0].Messages[1].Content);
        Assert.AreEqual("c1", convs[0].Messages[3].ToolCallId);
        Assert.AreEqual("c1", (string)convs[0].ToRenderContext()["messages"]![2]!["tool_calls"]![0]!["id"]!);
        Assert.AreEqual(3, convs[1].SourceLine);
        Assert.AreEqual("x2", convs[1].Id);
        Assert.AreEqual(1, convs[1].ToolCallCount);
    }

    [TestMethod]
    public void InstructShapes()
    {
        using var dir = new TempDir();
        var path = dir.File("g.jsonl", """
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
            {"instruction": "Summarise", "input": "text", "output": "sum", "system": "be brief"}
            {"prompt": "p", "completion": "c"}
            {"conversations": [{"from": "human", "value": "h"}, {"from": "gpt", "value": "g"}]}
            """);
        var report = new DataReport();
        var convs = DataLoader.Load(new DataSourceSpec("gen", path, DataFormat.Instruct, DataRole.General), report, new LoadOptions { Strict = true }).ToList();
        Assert.AreEqual(4, convs.Count);
        Assert.AreEqual("Summarise\n\ntext", convs[1].Messages[1].Content);
        Assert.AreEqual("be brief", convs[1].Messages[0].Content);
        Assert.AreEqual("c", convs[2].Messages[1].Content);
        Assert.AreEqual("g", convs[3].Messages[1].Content);
        Assert.IsTrue(convs.All(c => c.DataRole == DataRole.General));
        Assert.AreEqual(4, report.Source("gen").Loaded);
    }
}

[TestClass]
public sealed class HermesVariantTests
{
    [TestMethod]
    public void ToolsAsObjectSequenceOrPythonListAndPydanticPromptAreHandled()
    {
        using var dir = new TempDir();
        const string pyd = "You are a function calling AI model. You are provided with function signatures within <tools></tools> XML tags. " +
            "<tools>\n{'type': 'function', 'function': {'name': 'a', 'description': 'A', 'parameters': {'type': 'object', 'properties': {}}}}\n" +
            "{\"type\": \"function\", \"function\": {\"name\": \"b\", \"parameters\": {}}}\n</tools>\n" +
            "Use the following pydantic model json schema for each tool call you will make: {'title': 'FunctionCall', 'type': 'object', 'properties': {'arguments': {'title': 'Arguments', 'type': 'object'}, 'name': {'title': 'Name', 'type': 'string'}}, 'required': ['arguments', 'name']} " +
            "For each function call return a json object with function name and arguments within <tool_call></tool_call> XML tags as follows:\n<tool_call>\n{'arguments': <args-dict>, 'name': <function-name>}\n</tool_call>";
        var rec = new JsonObject
        {
            ["id"] = "v",
            ["conversations"] = new JsonArray(
                new JsonObject { ["from"] = "system", ["value"] = pyd },
                new JsonObject { ["from"] = "human", ["value"] = "go" },
                new JsonObject { ["from"] = "gpt", ["value"] = "<tool_call>\n{'arguments': {'q': 'x\\'y'}, 'name': 'a'}\n</tool_call>" }),
        };
        var path = dir.File("v.jsonl", rec.ToJsonString() + "\n");
        var c = DataLoader.Load(new DataSourceSpec("h", path, DataFormat.Hermes), new DataReport(), new LoadOptions { Strict = true }).Single();
        CollectionAssert.AreEqual(new[] { "a", "b" }, c.ToolNames().ToArray());
        Assert.AreEqual("user", c.Messages[0].Role, "the system prompt was all boilerplate: " + c.Messages[0].Content);
        Assert.AreEqual("""{"name":"a","arguments":{"q":"x'y"}}""", c.Messages[1].ToolCalls[0].ToString());
        var ctx = c.ToRenderContext(kwargs: new JsonObject { ["add_generation_prompt"] = false });
        Assert.IsFalse((bool)ctx["add_generation_prompt"]!);
    }
}
