using System.Text.Json.Nodes;
using ToolTune.Evaluation;
using ToolTune.Evaluation.Reporting;
using ToolTune.Python;
using static ToolTune.Tests.Evaluation.EvalTestUtil;

namespace ToolTune.Tests.Evaluation;

[TestClass]
public sealed class CodeDumpCallsTests
{
    private static JsonArray DemoTools() =>
    [
        Tool("save_config", "name", "config"),
        Tool("search_news", "topic", "limit"),
        Tool("set_timer", "minutes"),
        Tool("get_weather", "city", "unit"),
    ];

    private static string Calls(CodeCalls c) =>
        c.Error ?? string.Join(" ", c.Calls.Select(x => x.Name + PythonJson.Canonical(x.Arguments)));

    private static CodeCalls Code(string code) => CodeDumpCalls.ParseCode(code, DemoTools());

    [TestMethod]
    public void KeywordArgumentsWithLiterals()
    {
        Assert.AreEqual("""get_weather{"city":"Par'is","unit":"c"}""", Calls(Code("get_weather(city='Par\\'is', unit=\"c\")")));
        Assert.AreEqual("""save_config{"config":{"a":[1,25e-1,-3],"b":true,"c":null,"d":false},"name":"x\ny"}""",
            Calls(Code("save_config(name='x\\ny', config={'a': [1, 2.5, -3], 'b': True, 'c': None, 'd': False})")));
        // Spread over lines, with a trailing comma and a comment.
        Assert.AreEqual("""set_timer{"minutes":5}""", Calls(Code("set_timer(\n    minutes=5,  # five\n)")));
    }

    [TestMethod]
    public void PositionalArgumentsFollowTheSchemaOrder()
    {
        Assert.AreEqual("""search_news{"limit":3,"topic":"housing"}""", Calls(Code("search_news('housing', 3)")));
        Assert.AreEqual("""search_news{"limit":3,"topic":"housing"}""", Calls(Code("search_news('housing', limit=3)")));
        StringAssert.Contains(Code("set_timer(1, 2)").Error, "more than 1 positional");
        StringAssert.Contains(Code("search_news(topic='x', 3)").Error, "positional argument after a keyword");
        StringAssert.Contains(Code("search_news('x', topic='y')").Error, "given twice");
        // No properties in the schema: a positional argument has nowhere to go.
        var bare = CodeDumpCalls.ParseCode("ping(1)", [new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "ping" } }]);
        StringAssert.Contains(bare.Error, "no parameter order");
    }

    [TestMethod]
    public void DoubleStarDictWithJsonLiterals()
    {
        const string text = """
            ```python
            from tools import save_config

            result = save_config(**{"name": "build", "config": {"timeout": 55, "verbose": false, "theme": "high contrast"}})
            print(result)
            ```
            """;
        var item = Item("x", "save it") with { RenderContext = new JsonObject { ["messages"] = new JsonArray(), ["tools"] = DemoTools() } };
        var dump = CodeDumpDetector.Find(text, item.ToolNames)!;
        Assert.AreEqual("fenced", dump.Where);
        Assert.AreEqual("""save_config{"config":{"theme":"high contrast","timeout":55,"verbose":false},"name":"build"}""",
            Calls(CodeDumpCalls.Parse(text, dump, DemoTools())));
        StringAssert.Contains(Code("save_config(**cfg)").Error, "unexpected name");
        StringAssert.Contains(Code("save_config(**[1])").Error, "dict literal");
    }

    [TestMethod]
    public void SeveralCallsInOneBlockFencedOrBare()
    {
        const string code = """
            from tools import search_news, set_timer

            result_1 = search_news(topic='housing prices', limit=3)
            print(result_1)
            result_2 = tools.set_timer(minutes=1)
            print(result_2)
            """;
        const string expected = """search_news{"limit":3,"topic":"housing prices"} set_timer{"minutes":1}""";
        Assert.AreEqual(expected, Calls(Code(code)));
        foreach (var text in new[] { "```python\n" + code + "```", "Here you go:\n" + code })
        {
            var dump = CodeDumpDetector.Find(text, ["search_news", "set_timer"])!;
            Assert.AreEqual(expected, Calls(CodeDumpCalls.Parse(text, dump, DemoTools())), text);
        }
        // Inline code and prose around a statement.
        const string inline = "I would run `get_weather(city='Paris')` for you.";
        Assert.AreEqual("""get_weather{"city":"Paris"}""", Calls(CodeDumpCalls.Parse(inline, CodeDumpDetector.Find(inline, ["get_weather"])!, DemoTools())));
    }

    [TestMethod]
    public void DefinitionsCommentsAndImportsAreNotCalls()
    {
        const string code = """
            from tools import set_timer
            def set_timer(minutes):
                pass
            # set_timer(99)
            set_timer(minutes=2)
            """;
        Assert.AreEqual("""set_timer{"minutes":2}""", Calls(Code(code)));
    }

    [TestMethod]
    public void MalformedCodeIsUnparsedNeverAnException()
    {
        foreach (var code in new[]
        {
            "get_weather(city=city)", "get_weather(city='Paris'", "get_weather(city='Paris' unit='c')", "get_weather(city=get_city())",
            "get_weather(city='unterminated)", "save_config(**{'a': })", "from tools import get_weather", "", "get_weather(city=\"\\ud800\")",
        })
        {
            var r = Code(code);
            Assert.IsFalse(r.Parsed, code);
            Assert.IsNotNull(r.Error, code);
            Assert.AreEqual(0, r.Calls.Count, code);
        }
        Assert.IsFalse(CodeDumpCalls.ParseCode("get_weather(city='x')", null).Parsed);
    }

    [TestMethod]
    public void ScorerKeepsTheCodeCallsOfADump()
    {
        var item = Item("A", "Weather in Paris?", G("get_weather", """{"city": "Paris"}"""));
        var s = Score(item, "```python\nprint(get_weather('Paris'))\n```");
        Assert.AreEqual(Verdict.CodeDump, s.Verdict);
        Assert.AreEqual("""get_weather{"city":"Paris"}""", Calls(s.CodeCalls!));
        Assert.IsTrue(EvalMetrics.BaseIntentCorrect(s));
        var row = EvalOutputs.SampleJson(s, null);
        Assert.AreEqual("""[{"name":"get_weather","arguments":{"city":"Paris"}}]""", row["code_calls"]!.ToJsonString());
        // No dump: no code calls, and the row has no such field.
        var plain = Score(item, Call("get_weather", """{"city": "Paris"}"""));
        Assert.IsNull(plain.CodeCalls);
        Assert.IsFalse(EvalOutputs.SampleJson(plain, null).ContainsKey("code_calls"));
    }
}

[TestClass]
public sealed class IntentMetricsTests
{
    private static ModelEvaluation Eval(string label, List<SampleResult> samples) =>
        new(label, label + "-model", samples, EvalMetrics.Compute(samples), EvalMetrics.ByCategory(samples),
            new EvalSpeed(samples.Count, 0, 0, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.FromSeconds(1)));

    /// <summary>
    /// A: base codes the gold call, tuned emits it. B: base codes a wrong call (positional), tuned emits the same wrong call.
    /// C: base code does not parse (a variable). D: base answers in text. E: no call expected. F: base codes the gold call, tuned
    /// changes the argument. G: emission prompt, base codes write_file, tuned emits it.
    /// </summary>
    private static (ModelEvaluation Base, ModelEvaluation Tuned) Pair()
    {
        EvalItem[] items =
        [
            Item("A", "Weather in Paris?", G("get_weather", """{"city": "Paris"}""")) with { Category = "weather" },
            Item("B", "Search for cats", G("search", """{"query": "cats"}""")),
            Item("C", "Time in UTC?", G("get_time", """{"timezone": "UTC"}""")),
            Item("D", "Weather in Rome?", G("get_weather", """{"city": "Rome"}""")),
            Item("E", "Thanks!"),
            Item("F", "Weather in Oslo?", G("get_weather", """{"city": "Oslo"}""")) with { Category = "weather" },
            Emission("G", "Write a file", "write_file"),
        ];
        string[] baseOut =
        [
            "```python\nresult = get_weather(city='Paris')\nprint(result)\n```",
            "```python\nsearch('dogs')\n```",
            "```python\nget_time(timezone=tz)\n```",
            "It is sunny in Rome.",
            "You're welcome!",
            "`get_weather(city=\"Oslo\")`",
            "```python\nwrite_file('a.txt', 'x')\n```",
        ];
        string[] tunedOut =
        [
            Call("get_weather", """{"city": "Paris"}"""),
            Call("search", """{"query": "dogs"}"""),
            Call("get_time", """{"timezone": "UTC"}"""),
            Call("get_weather", """{"city": "Rome"}"""),
            "You're welcome!",
            Call("get_weather", """{"city": "Bergen"}"""),
            Call("write_file", """{"content": "x", "path": "a.txt"}"""),
        ];
        var b = Eval("base", items.Zip(baseOut, (i, o) => Score(i, o)).ToList());
        var t = Eval("tuned", items.Zip(tunedOut, (i, o) => Score(i, o)).ToList());
        return (b, t);
    }

    [TestMethod]
    public void BaseIntentAndIntentPreserved()
    {
        var (b, t) = Pair();
        Assert.IsNull(b.Metrics["base_intent_correct"]); // before the comparison: unknown
        EvalMetrics.CompareBase(t, b);
        Assert.AreEqual(2 / 5.0, b.Metrics["base_intent_correct"]!.Value, 1e-12); // A, F of the tool-eval items A-D, F
        Assert.AreEqual(3 / 4.0, t.Metrics["intent_preserved"]!.Value, 1e-12); // A, B, G of A, B, F, G (C's code did not parse)
        Assert.AreEqual(4, t.Metrics.Counts["intent_items"]);
        Assert.IsNull(t.Metrics["base_intent_correct"]);
        Assert.IsNull(b.Metrics["intent_preserved"]);
        Assert.AreEqual(5, b.Metrics.Counts["code_dumps"]); // A, B, C, F, G
        Assert.AreEqual(4, b.Metrics.Counts["code_dumps_parsed"]);
        // Per category: weather = A (kept), F (changed).
        Assert.AreEqual(1.0, b.Categories["weather"]["base_intent_correct"]);
        Assert.AreEqual(0.5, t.Categories["weather"]["intent_preserved"]);
    }

    [TestMethod]
    public void GatesReadBaseMetrics()
    {
        var (b, t) = Pair();
        EvalMetrics.CompareBase(t, b);
        var gates = new[]
        {
            GateEvaluator.Parse("intent_preserved >= 0.9"),
            GateEvaluator.Parse("base_intent_correct >= 0.4"),
            GateEvaluator.Parse("base.code_dump_rate >= 0.8"),
            GateEvaluator.Parse("code_dump_rate <= 0"),
        };
        var r = GateEvaluator.Evaluate(gates, t.Metrics, t.Samples, b);
        CollectionAssert.AreEqual(new[] { false, true, true, true }, r.Select(x => x.Passed).ToArray());
        Assert.AreEqual(0.75, r[0].Actual!.Value, 1e-12);
        CollectionAssert.AreEqual(new[] { "F" }, r[0].Worst.Select(s => s.Id).ToArray());
        Assert.AreSame(t.Samples[5], r[0].Worst[0]); // the tuned generation
        Assert.AreEqual(0.4, r[1].Actual!.Value, 1e-12);
        Assert.AreEqual(0.8, r[2].Actual!.Value, 1e-12);
        // Without a base, a base gate is not measured: a miss.
        var (_, t2) = Pair();
        var alone = GateEvaluator.Evaluate([GateEvaluator.Parse("base.code_dump_rate >= 0.8"), GateEvaluator.Parse("intent_preserved >= 0.5")], t2.Metrics, t2.Samples);
        Assert.IsTrue(alone.All(x => !x.Passed && x.Actual is null));
        // The base carries no intent_preserved; unknown names stay unknown.
        foreach (var bad in new[] { "base.intent_preserved >= 0.5", "base.nope >= 1", "tuned.tool_call_f1 >= 1" })
            Assert.AreEqual(ToolTune.Diagnostics.ErrorCodes.EvalGateInvalid,
                Assert.ThrowsExactly<ToolTune.Diagnostics.ToolTuneException>(() => GateEvaluator.Parse(bad)).Code, bad);
    }

    [TestMethod]
    public void ConfigGatesOnBaseMetrics()
    {
        var c = ToolTune.Pipeline.Config.ConfigLoader.Parse("""
            eval:
              gates:
                - "intent_preserved >= 0.9"
                - "base_intent_correct >= 0.4"
                - {gate: "base.code_dump_rate >= 0.9", warn: true}
            """, "run.yaml", Path.GetTempPath(), checkPaths: false).Config;
        CollectionAssert.AreEqual(new[] { "intent_preserved", "base_intent_correct", "base.code_dump_rate" }, c.Eval.Gates.Select(g => g.Metric).ToArray());
        var (b, t) = Pair();
        EvalMetrics.CompareBase(t, b);
        var r = GateEvaluator.Evaluate(c.Eval.Gates, t.Metrics, t.Samples, b);
        CollectionAssert.AreEqual(new[] { false, true, false }, r.Select(x => x.Passed).ToArray());
        Assert.IsTrue(r[2].IsWarning);
        var ex = Assert.ThrowsExactly<ToolTune.Diagnostics.ToolTuneException>(() => ToolTune.Pipeline.Config.ConfigLoader.Parse("""
            eval:
              gates: ["base.intent_preserved >= 0.9"]
            """, "run.yaml", Path.GetTempPath(), checkPaths: false));
        StringAssert.Contains(ex.Message, "'base.intent_preserved' is unknown");
    }

    [TestMethod]
    public void ReportShowsCodeToToolCallLines()
    {
        var (b, t) = Pair();
        EvalMetrics.CompareBase(t, b);
        var lines = ReportWriter.IntentExamples(b.Samples, t.Samples);
        CollectionAssert.AreEqual(new[] { "A", "B", "G", "F" }, lines.Select(l => l[1..2]).ToArray());
        Assert.AreEqual("""`A`: the base wrote `get_weather(city='Paris')` as code → the tuned model emits `<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>`""", lines[0]);
        Assert.IsTrue(lines[3].EndsWith(" ✗", StringComparison.Ordinal), lines[3]);
        // Fewer slots: the preserved ones first, and still one that was not preserved.
        CollectionAssert.AreEqual(new[] { "A", "F" }, ReportWriter.IntentExamples(b.Samples, t.Samples, 2).Select(l => l[1..2]).ToArray());

        var md = ReportWriter.Render(new ReportInput { Tuned = t, Base = b, Options = new GenerationOptions(64, 0, [], 1) });
        StringAssert.Contains(md, "## Code → tool call");
        StringAssert.Contains(md, "(`intent_preserved`: 75.0 %)");
        StringAssert.Contains(md, lines[0]);
        Assert.IsFalse(ReportWriter.Render(new ReportInput { Tuned = t, Options = new GenerationOptions(64, 0, [], 1) }).Contains("## Code → tool call"));
    }
}
