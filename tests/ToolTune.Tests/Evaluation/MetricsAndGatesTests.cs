using ToolTune.Diagnostics;
using ToolTune.Evaluation;
using ToolTune.Pipeline.Config;
using static ToolTune.Tests.Evaluation.EvalTestUtil;

namespace ToolTune.Tests.Evaluation;

[TestClass]
public sealed class MetricsAndGatesTests
{
    /// <summary>
    /// A: 1 gold, exact. B: 2 gold (parallel), names right, one argument wrong. C: 1 gold, no call, cut by max_new_tokens.
    /// D: no call expected, hallucinated call followed by text (no clean stop). E: emission prompt, write_file emitted.
    /// </summary>
    private static List<SampleResult> SmallSet() =>
    [
        Score(Item("A", "Weather in Paris?", G("get_weather", """{"city": "Paris"}""")), Call("get_weather", """{"city": "Paris"}""")),
        Score(Item("B", "Weather and time?", G("get_weather", """{"city": "Paris"}"""), G("get_time", """{"timezone": "UTC"}""")),
            Call("get_weather", """{"city": "Paris"}""") + Call("get_time", """{"timezone": "PST"}""")),
        Score(Item("C", "Search for cats", G("search", """{"query": "cats"}""")), "Cats are small domesticated", stop: false),
        Score(Item("D", "Thanks!"), Call("get_weather", """{"city": "Paris"}""") + " anything else?"),
        Score(Emission("E", "Save the config", "write_file"), Call("write_file", """{"path": "c.yaml", "content": "x"}""")),
    ];

    [TestMethod]
    public void MetricArithmeticOnASmallSet()
    {
        var set = SmallSet();
        CollectionAssert.AreEqual(
            new[] { Verdict.ExactMatch, Verdict.WrongArguments, Verdict.MissingCall, Verdict.HallucinatedCall, Verdict.ExactMatch },
            set.Select(s => s.Verdict).ToArray());
        var m = EvalMetrics.Compute(set, evalLoss: Math.Log(4));
        void Is(string name, double? expected)
        {
            if (expected is null) Assert.IsNull(m[name], name);
            else Assert.AreEqual(expected.Value, m[name]!.Value, 1e-12, name);
        }
        // Tool-eval items A-D: gold 1+2+1+0 = 4 calls, predicted 1+2+0+1 = 4, names right 1+2 = 3, full calls right 1+1 = 2.
        Is("name_precision", 3 / 4.0);
        Is("name_recall", 3 / 4.0);
        Is("name_f1", 0.75);
        Is("tool_call_precision", 0.5);
        Is("tool_call_recall", 0.5);
        Is("tool_call_f1", 0.5);
        Is("parallel_f1", 0.5); // B: 1 of 2 predicted, 1 of 2 gold
        Is("exact_match_rate", 1 / 3.0); // A of A, B, C
        Is("start_token_rate", 2 / 3.0);
        Is("end_token_rate", 2 / 3.0);
        Is("json_valid", 1.0); // A, B, D all parse
        Is("args_parse_rate", 1.0); // 4 blocks, all object arguments
        Is("args_exact_match", 2 / 3.0); // pairs: A weather, B weather, B time
        Is("args_key_match", 2 / 3.0); // A city 1/1, B city 1/1, B timezone 0/1
        Is("hallucination_rate", 1.0);
        Is("code_dump_rate", 0.0);
        Is("stop_rate", 3 / 4.0); // A, B, E stop after </tool_call>; D does not
        Is("end_of_turn_rate", 4 / 5.0); // C hit max_new_tokens
        Is("emission_rate", 1.0);
        Is("emission_tool_match", 1.0);
        Is("eval_loss", Math.Log(4));
        Is("perplexity", 4.0);
        Assert.AreEqual(4, m.Counts["tool_eval_items"]);
        Assert.AreEqual(1, m.Counts["parallel_items"]);
        Assert.AreEqual(2, m.Verdicts[Verdict.ExactMatch]);
    }

    [TestMethod]
    public void EmissionToolMatchCountsOnlyCallsToTheExpectedTool()
    {
        var set = new[]
        {
            Score(Emission("right", "Save the config", "write_file"), Call("write_file", """{"path": "c.yaml", "content": "x"}""")),
            Score(Emission("wrong", "Delete old.txt", "delete_file"), Call("write_file", """{"path": "old.txt", "content": ""}""")),
            Score(Emission("mixed", "Delete old.txt", "delete_file"), Call("delete_file", """{"path": "old.txt"}""") + "\n" + Call("set_timer", """{"minutes": 3}""")),
            Score(Emission("silent", "Delete old.txt", "delete_file"), "Sure."),
            Score(Emission("no-expectation", "Do something"), Call("set_timer", """{"minutes": 3}""")),
        };
        var m = EvalMetrics.Compute(set);
        Assert.AreEqual(4 / 5.0, m["emission_rate"]!.Value, 1e-12); // any parsable call
        Assert.AreEqual(1 / 4.0, m["emission_tool_match"]!.Value, 1e-12); // of the four that name a tool, only "right"
        CollectionAssert.AreEqual(new[] { "mixed", "silent", "wrong" },
            GateEvaluator.WorstExamples("emission_tool_match", set, 5).Select(s => s.Id).Order(StringComparer.Ordinal).ToArray());
    }

    [TestMethod]
    public void SilentModelHasZeroPrecisionNotUndefined()
    {
        var m = EvalMetrics.Compute([Score(Item("A", "Weather?", G("get_weather", """{"city": "Paris"}""")), "No idea.")]);
        Assert.AreEqual(0.0, m["name_precision"]);
        Assert.AreEqual(0.0, m["tool_call_f1"]);
        Assert.IsNull(m["parallel_f1"]);
        Assert.IsNull(m["hallucination_rate"]);
        Assert.IsNull(m["json_valid"]);
        Assert.IsNull(m["emission_rate"]);
        Assert.IsNull(m["emission_tool_match"]);
    }

    [TestMethod]
    public void PerCategoryBreakdown()
    {
        var a = Score(Item("A", "Weather?", G("get_weather", """{"city": "Paris"}""")) with { Category = "weather" }, Call("get_weather", """{"city": "Paris"}"""));
        var b = Score(Item("B", "Search", G("search", """{"query": "x"}""")) with { Category = "search" }, "no");
        var cats = EvalMetrics.ByCategory([a, b]);
        CollectionAssert.AreEqual(new[] { "search", "weather" }, cats.Keys.ToArray());
        Assert.AreEqual(1.0, cats["weather"]["tool_call_f1"]);
        Assert.AreEqual(0.0, cats["search"]["tool_call_f1"]);
    }

    [TestMethod]
    public void EveryConfigMetricIsComputedAndViceVersa()
    {
        CollectionAssert.AreEquivalent(EvalSection.Metrics.ToList(), MetricCatalog.Names.ToList());
        var m = EvalMetrics.Compute(SmallSet(), 1.0);
        foreach (var name in MetricCatalog.Names) Assert.IsTrue(m.Values.ContainsKey(name), name);
    }

    [TestMethod]
    public void GatesPassFailAndWarn()
    {
        var set = SmallSet();
        var m = EvalMetrics.Compute(set);
        var gates = new[]
        {
            GateEvaluator.Parse("tool_call_f1 >= 0.9"),
            GateEvaluator.Parse("hallucination_rate <= 0.05", warn: true),
            GateEvaluator.Parse("emission_rate >= 1.0"),
            GateEvaluator.Parse("name_f1 > 0.7"),
            GateEvaluator.Parse("stop_rate == 0.75"),
            GateEvaluator.Parse("code_dump_rate < 0.01"),
            GateEvaluator.Parse("perplexity <= 10"), // not measured → miss
        };
        var r = GateEvaluator.Evaluate(gates, m, set);
        CollectionAssert.AreEqual(new[] { false, false, true, true, true, true, false }, r.Select(x => x.Passed).ToArray());
        Assert.IsTrue(r[1].IsWarning);
        CollectionAssert.AreEqual(new[] { "D", "C", "B" }, r[0].Worst.Select(w => w.Id).ToArray(), "worst first: Hallucinated, MissingCall, WrongArguments");
        CollectionAssert.AreEqual(new[] { "D" }, r[1].Worst.Select(w => w.Id).ToArray());

        var ex = Assert.ThrowsExactly<ToolTuneException>(() => GateEvaluator.Enforce(r, "configs/sample.yaml"));
        Assert.AreEqual(ErrorCodes.EvalGateFailed, ex.Code);
        Assert.AreEqual("configs/sample.yaml", ex.File);
        StringAssert.Contains(ex.Message, "2 evaluation gate(s) failed");
        StringAssert.Contains(ex.Message, "gate 'tool_call_f1 >= 0.9' missed: tool_call_f1 = 0.5");
        StringAssert.Contains(ex.Message, "C [MissingCall] \"Cats are small domesticated\"");
        StringAssert.Contains(ex.Message, "perplexity = not measured");
        Assert.IsFalse(ex.Message.Contains("hallucination_rate <= 0.05' missed"), "warn-only gates do not fail");

        var warnings = GateEvaluator.Enforce(r.Where(x => !x.IsFailure).ToList());
        Assert.AreEqual(1, warnings.Count);
        StringAssert.Contains(warnings[0], "TT7000");
        StringAssert.Contains(warnings[0], "hallucination_rate = 1");
    }

    [TestMethod]
    public void ConfigGatesFromTheIssueEvaluate()
    {
        var c = ConfigLoader.Parse("""
            eval:
              gates:
                - "tool_call_f1 >= 0.9"
                - "json_valid >= 0.98"
                - "hallucination_rate <= 0.05"
                - "emission_rate >= 1.0"
                - {gate: "stop_rate > 0.5", warn: true}
            """, "run.yaml", Path.GetTempPath(), checkPaths: false).Config;
        var set = SmallSet();
        var r = GateEvaluator.Evaluate(c.Eval.Gates, EvalMetrics.Compute(set), set);
        CollectionAssert.AreEqual(new[] { false, true, false, true, true }, r.Select(x => x.Passed).ToArray());
        Assert.IsTrue(r[4].Gate.Warn);
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => GateEvaluator.Enforce(r, "run.yaml"));
        StringAssert.Contains(ex.Message, "tool_call_f1 = 0.5");
        StringAssert.Contains(ex.Message, "hallucination_rate = 1");
    }

    [TestMethod]
    public void GateParsingErrors()
    {
        Assert.AreEqual(ErrorCodes.EvalGateInvalid, Assert.ThrowsExactly<ToolTuneException>(() => GateEvaluator.Parse("f1 >= 0.9")).Code);
        Assert.AreEqual(ErrorCodes.EvalGateInvalid, Assert.ThrowsExactly<ToolTuneException>(() => GateEvaluator.Parse("tool_call_f1 => 0.9")).Code);
        var g = GateEvaluator.Parse("  json_valid>=0.98 ");
        Assert.AreEqual("json_valid", g.Metric);
        Assert.AreEqual(0.98, g.Value);
        Assert.IsTrue(GateEvaluator.Holds(0.98, ">=", 0.98));
        Assert.IsFalse(GateEvaluator.Holds(0.98, ">", 0.98));
        Assert.IsTrue(GateEvaluator.Holds(1 - 1e-12, "==", 1));
    }
}
