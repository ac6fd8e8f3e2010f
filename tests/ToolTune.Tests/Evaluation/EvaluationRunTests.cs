using System.Globalization;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using CsvHelper;
using ToolTune.Diagnostics;
using ToolTune.Evaluation;
using ToolTune.Evaluation.Reporting;
using ToolTune.Model;
using static ToolTune.Tests.Evaluation.EvalTestUtil;

namespace ToolTune.Tests.Evaluation;

[TestClass]
public sealed class EvaluationRunTests
{
    public TestContext TestContext { get; set; } = null!;

    /// <summary>A small tool-eval set with categories and the scripted base/tuned outputs for it.</summary>
    internal static (List<EvalItem> Items, List<EvalItem> Emission, ScriptedGenerator Base, ScriptedGenerator Tuned) Scenario()
    {
        var items = new List<EvalItem>
        {
            Item("weather#1", "What's the weather in Paris?", G("get_weather", """{"city": "Paris"}""")) with { Category = "weather" },
            Item("weather#2", "Weather in Oslo, in celsius please", G("get_weather", """{"city": "Oslo", "unit": "celsius"}""")) with { Category = "weather" },
            Item("multi#1", "Weather and local time in Tokyo?", G("get_weather", """{"city": "Tokyo"}"""), G("get_time", """{"timezone": "Asia/Tokyo"}""")) with { Category = "multi" },
            Item("search#1", "Find recent papers on LoRA", G("search", """{"query": "LoRA papers"}""")) with { Category = "search" },
            Item("search#2", "Look up the capital of Peru", G("search", """{"query": "capital of Peru"}""")) with { Category = "search" },
            Item("chat#1", "Thanks, that's all I needed!") with { Category = "chat" },
        };
        var emission = new List<EvalItem>
        {
            Emission("emit/write_file", "Write 'hello' to notes.txt", "write_file"),
            Emission("emit/save_config", "Save my settings to config.yaml", "write_file"),
        };
        var baseGen = new ScriptedGenerator("SmolLM3-3B", new()
        {
            ["What's the weather in Paris?"] = ("I'll check:\n```python\nprint(get_weather(city=\"Paris\"))\n```", true),
            ["Weather in Oslo, in celsius please"] = ("<tool_call>\n{'name': 'get_weather', 'arguments': {'city': 'Oslo'}}\n</tool_call>", true),
            ["Weather and local time in Tokyo?"] = (Call("get_weather", """{"city": "Tokyo"}"""), true),
            ["Find recent papers on LoRA"] = ("Here are some papers on LoRA: Hu et al. 2021 ...", true),
            ["Look up the capital of Peru"] = ("The capital of Peru is Lima.", true),
            ["Thanks, that's all I needed!"] = ("You're welcome!", true),
            ["Write 'hello' to notes.txt"] = ("```python\nwith open('notes.txt', 'w') as f:\n    f.write('hello')\n```", true),
            ["Save my settings to config.yaml"] = ("Sure, here is how:\nwrite_file(\"config.yaml\", settings)\nThis writes", false),
        });
        var tunedGen = new ScriptedGenerator("merged", new()
        {
            ["What's the weather in Paris?"] = (Call("get_weather", """{"city": "Paris"}"""), true),
            ["Weather in Oslo, in celsius please"] = (Call("get_weather", """{"city": "Oslo", "unit": "fahrenheit"}"""), true),
            ["Weather and local time in Tokyo?"] = (Call("get_weather", """{"city": "Tokyo"}""") + "\n" + Call("get_time", """{"timezone": "Asia/Tokyo"}"""), true),
            ["Find recent papers on LoRA"] = (Call("search", """{"query": "LoRA papers"}"""), true),
            ["Look up the capital of Peru"] = ("Let me search.\n" + Call("search", """{"query": "capital of Peru"}"""), true),
            ["Thanks, that's all I needed!"] = ("You're welcome! Happy to help.", true),
            ["Write 'hello' to notes.txt"] = (Call("write_file", """{"path": "notes.txt", "content": "hello"}"""), true),
            ["Save my settings to config.yaml"] = (Call("write_file", """{"path": "config.yaml", "content": "settings"}"""), true),
        });
        return (items, emission, baseGen, tunedGen);
    }

    private static EvaluationRequest Request(string dir, IEnumerable<Gate> gates, string? lossSvg = null)
    {
        var (items, emission, b, t) = Scenario();
        return new EvaluationRequest
        {
            OutputDirectory = dir,
            Tokenizer = Tok,
            RenderPrompt = Render,
            Tuned = t,
            Base = b,
            ToolEvalItems = items,
            EmissionItems = emission,
            Options = new EvaluationOptions { MaxNewTokens = 128, Gates = gates.ToList() },
            TunedEvalLoss = 0.41,
            BaseEvalLoss = 1.37,
            LossCurveSvg = lossSvg,
            MergedModelDirectory = "runs/default/merged",
            ChatTemplatePath = "runs/default/merged/chat_template.jinja",
            ConfigFile = "configs/sample.yaml",
        };
    }

    private static string NewDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "tt-eval-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(d);
        return d;
    }

    [TestMethod]
    public void ExecuteWritesEveryOutputAndPassesGates()
    {
        var dir = NewDir();
        try
        {
            var gates = new[] { GateEvaluator.Parse("emission_rate >= 1.0"), GateEvaluator.Parse("hallucination_rate <= 0.05"), GateEvaluator.Parse("tool_call_f1 >= 0.99", warn: true) };
            var outcome = EvaluationRun.Execute(Request(dir, gates), CancellationToken.None);
            Assert.AreEqual(1, outcome.Warnings.Count, string.Join("\n", outcome.Warnings));
            StringAssert.Contains(outcome.Warnings[0], "tool_call_f1");

            var t = outcome.Tuned.Metrics;
            var b = outcome.Base!.Metrics;
            Assert.AreEqual(1.0, t["emission_rate"]);
            Assert.AreEqual(0.0, b["emission_rate"]);
            Assert.AreEqual(0.2, b["code_dump_rate"]!.Value, 1e-12, "base dumps Python for Paris (1 of 5)");
            Assert.AreEqual(Math.Exp(0.41), t["perplexity"]!.Value, 1e-12);
            CollectionAssert.AreEqual(
                new[] { Verdict.ExactMatch, Verdict.WrongArguments, Verdict.ExactMatch, Verdict.ExactMatch, Verdict.ExactMatch, Verdict.CorrectNoCall, Verdict.ExactMatch, Verdict.ExactMatch },
                outcome.Tuned.Samples.Select(s => s.Verdict).ToArray());
            CollectionAssert.AreEqual(
                new[] { Verdict.CodeDump, Verdict.BrokenJson, Verdict.WrongCallCount, Verdict.MissingCall, Verdict.MissingCall, Verdict.CorrectNoCall, Verdict.MissingCall, Verdict.CodeDump },
                outcome.Base.Samples.Select(s => s.Verdict).ToArray());
            Assert.AreEqual(4, outcome.Tuned.Categories.Count);

            foreach (var f in new[] { "metrics.json", "metrics.csv", "samples.jsonl", "report.md", "metrics.svg" })
                Assert.IsTrue(File.Exists(Path.Combine(dir, f)), f);
            Assert.AreEqual(0, Directory.GetFiles(dir, "*.tmp").Length + Directory.GetFiles(dir, ".*").Length, "no temp files left");

            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "metrics.json")))!;
            Assert.AreEqual(1.0, json["tuned"]!["metrics"]!["emission_rate"]!.GetValue<double>());
            Assert.AreEqual(1.0, json["delta"]!["emission_rate"]!.GetValue<double>());
            Assert.AreEqual(3, json["gates"]!.AsArray().Count);
            Assert.AreEqual(1, json["tuned"]!["verdicts"]!["WrongArguments"]!.GetValue<int>());

            using (var reader = new StreamReader(Path.Combine(dir, "metrics.csv")))
            using (var csv = CsvReader.Create(reader, null, leaveOpen: false))
            {
                var rows = new List<(string Scope, string Metric, string Base, string Tuned)>();
                while (csv.Read()) rows.Add((csv.GetString("scope"), csv.GetString("metric"), csv.GetString("base"), csv.GetString("tuned")));
                Assert.AreEqual(MetricCatalog.All.Count, rows.Count(r => r.Scope == "all"));
                Assert.IsTrue(rows.Contains(("all", "emission_rate", "0", "1")));
                Assert.IsTrue(rows.Any(r => r.Scope == "category:weather" && r.Metric == "tool_call_f1" && r.Tuned == "0.5"));
            }

            var lines = File.ReadAllLines(Path.Combine(dir, "samples.jsonl"));
            Assert.AreEqual(16, lines.Length, "8 items × (base, tuned)");
            var last = JsonNode.Parse(lines[^1])!;
            Assert.AreEqual("tuned", last["model"]!.GetValue<string>());
            Assert.AreEqual("ExactMatch", last["verdict"]!.GetValue<string>());
            StringAssert.Contains(last["text"]!.GetValue<string>(), "<tool_call>");
            StringAssert.EndsWith(last["prompt"]!.GetValue<string>(), "<|im_start|>assistant\n<think>\n\n</think>\n");
            Assert.AreEqual(128015, last["generated_ids"]![0]!.GetValue<int>());
            Assert.AreEqual("write_file", last["calls"]![0]!["name"]!.GetValue<string>());

            var md = File.ReadAllText(Path.Combine(dir, "report.md"));
            StringAssert.Contains(md, "| metric | base | tuned | Δ |");
            StringAssert.Contains(md, "| `emission_rate` | 0.0 % | 100.0 % | +100.0 pp ▲ |");
            StringAssert.Contains(md, "![Tool-call metrics, base vs tuned](metrics.svg)");
            StringAssert.Contains(md, "vllm serve runs/default/merged --enable-auto-tool-choice --tool-call-parser hermes --chat-template runs/default/merged/chat_template.jinja");
            StringAssert.Contains(md, "<tool_call>\n{\"name\": \"get_weather\"");
            StringAssert.Contains(md, "<|im_end|>");
            Assert.AreEqual(3, md.Split("\n### ").Length - 1, "three example generations");
            StringAssert.Contains(md, "## Per category");

            // SVG is well-formed XML with a title, axis ticks in percent and a legend.
            var svg = XDocument.Load(Path.Combine(dir, "metrics.svg"));
            var texts = svg.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value).ToList();
            CollectionAssert.Contains(texts, "Tool-call metrics: base vs tuned");
            CollectionAssert.Contains(texts, "100%");
            CollectionAssert.Contains(texts, "value (%)");
            CollectionAssert.Contains(texts, "base");
            CollectionAssert.Contains(texts, "tuned");
            CollectionAssert.Contains(texts, "hallucination_rate (lower is better)");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [TestMethod]
    public void AMissedGateFailsWithTheMetricNamedAfterWritingTheReport()
    {
        var dir = NewDir();
        try
        {
            var ex = Assert.ThrowsExactly<ToolTuneException>(() =>
                EvaluationRun.Execute(Request(dir, [GateEvaluator.Parse("args_exact_match >= 0.95")]), CancellationToken.None));
            Assert.AreEqual(ErrorCodes.EvalGateFailed, ex.Code);
            StringAssert.Contains(ex.Message, "args_exact_match >= 0.95");
            StringAssert.Contains(ex.Message, "args_exact_match = 0.8333");
            StringAssert.Contains(ex.Message, "weather#2 [WrongArguments]");
            StringAssert.StartsWith(ex.ToString(), "configs/sample.yaml: error TT7000:");
            StringAssert.Contains(File.ReadAllText(Path.Combine(dir, "report.md")), "❌ FAILED");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [TestMethod]
    public void ReadsToolEvalJsonlAndEmissionPrompts()
    {
        var dir = NewDir();
        try
        {
            var te = Path.Combine(dir, "tool_eval.jsonl");
            File.WriteAllText(te,
                """
                {"id":"c1#2","messages":[{"role":"user","content":"Weather?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{}}}],"expect_call":true,"expected":"tool_call","gold_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}],"gold_content":"","category":"weather"}
                {"id":"c1#4","messages":[{"role":"user","content":"Thanks"}],"tools":[],"expect_call":false,"expected":"no call expected","gold_calls":[],"gold_content":"bye"}
                """);
            var items = EvalItem.ReadFile(te, EvalItemKind.ToolEval);
            Assert.AreEqual(2, items.Count);
            Assert.IsTrue(items[0].ExpectCall);
            Assert.AreEqual("weather", items[0].Category);
            CollectionAssert.AreEqual(new[] { "get_weather" }, items[0].ToolNames.ToArray());
            Assert.IsFalse(items[1].ExpectCall);

            var ep = Path.Combine(dir, "prompts.jsonl");
            File.WriteAllText(ep, """{"prompt":"Save it","tools":[],"expect_tool":"write_file"}""" + "\n");
            var em = EvalItem.ReadFile(ep, EvalItemKind.Emission);
            Assert.IsTrue(em[0].ExpectCall);
            Assert.AreEqual("write_file", em[0].GoldCalls[0].Name);
            Assert.IsNull(em[0].GoldCalls[0].Arguments);
            Assert.AreEqual("Save it", em[0].LastUserMessage);

            File.WriteAllText(ep, "{\"prompt\": 1}\n");
            var ex = Assert.ThrowsExactly<ToolTuneException>(() => EvalItem.ReadFile(ep, EvalItemKind.Emission));
            Assert.AreEqual(ErrorCodes.EvalSetInvalid, ex.Code);
            Assert.AreEqual(1, ex.Line);
            Assert.AreEqual(ErrorCodes.EvalSetMissing, Assert.ThrowsExactly<ToolTuneException>(() => EvalItem.ReadFile(Path.Combine(dir, "nope.jsonl"), EvalItemKind.ToolEval)).Code);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [TestMethod]
    public void FromToolEvalItemKeepsPromptGoldAndCategory()
    {
        var tools = new List<JsonObject> { Tool("get_weather", "city") };
        var conv = new ToolTune.Data.Conversation("c7",
        [
            new ToolTune.Data.Message("user", "Weather in Paris?"),
            new ToolTune.Data.Message("assistant", "", [new ToolTune.Data.ToolCall("get_weather", new JsonObject { ["city"] = "Paris" })]),
            new ToolTune.Data.Message("tool", "{\"temp\": 21}"),
            new ToolTune.Data.Message("assistant", "It is 21 °C."),
        ], tools) { Category = "weather" };
        var items = ToolTune.Data.Selection.ToolEvalItem.FromConversation(conv).Select(EvalItem.FromToolEvalItem).ToList();
        Assert.AreEqual(2, items.Count);
        Assert.AreEqual("c7#1", items[0].Id);
        Assert.IsTrue(items[0].ExpectCall);
        Assert.AreEqual("weather", items[0].Category);
        Assert.AreEqual(1, items[0].RenderContext["messages"]!.AsArray().Count, "prompt = messages before the turn");
        Assert.AreEqual("get_weather", items[0].GoldCalls[0].Name);
        Assert.IsFalse(items[1].ExpectCall, "the final text answer: no call expected");
        Assert.AreEqual(3, items[1].RenderContext["messages"]!.AsArray().Count);
    }

    [TestMethod]
    public void SmolLM3StopIdsAreImEndAndEndOfText()
    {
        CollectionAssert.AreEquivalent(new[] { 128012, 128001 }, ModelSnapshot.TokenizerStopIds(Tok).ToArray());
    }

    [TestMethod]
    public void CancellationStopsTheRun()
    {
        var dir = NewDir();
        try
        {
            using var cts = new CancellationTokenSource();
            cts.Cancel();
            Assert.ThrowsExactly<OperationCanceledException>(() => EvaluationRun.Execute(Request(dir, []), cts.Token));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [TestMethod]
    public void LineChartHasAxesLabelsUnitsAndLegend()
    {
        var train = Enumerable.Range(0, 200).Select(i => ((double)i, 2.4 * Math.Exp(-i / 40.0) + 0.35 + 0.05 * Math.Sin(i))).ToList();
        var val = Enumerable.Range(1, 8).Select(i => (i * 25.0, 2.4 * Math.Exp(-i * 25 / 40.0) + 0.45)).ToList();
        var svg = XDocument.Parse(SvgLineChart.LossCurve(train, val).Render());
        var texts = svg.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value).ToList();
        CollectionAssert.Contains(texts, "optimizer step");
        CollectionAssert.Contains(texts, "loss (nats / token)");
        CollectionAssert.Contains(texts, "train");
        CollectionAssert.Contains(texts, "validation");
        CollectionAssert.Contains(texts, "200");
        Assert.AreEqual(2, svg.Descendants().Count(e => e.Name.LocalName == "path"));
        // Long runs get k-suffixed step ticks; a narrow loss range gets enough decimals to tell ticks apart.
        var longRun = XDocument.Parse(SvgLineChart.LossCurve(Enumerable.Range(0, 20001).Select(i => ((double)i, 1.001 + 0.002 * i / 20000.0)).ToList()).Render());
        var longTexts = longRun.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value).ToList();
        CollectionAssert.Contains(longTexts, "20k");
        CollectionAssert.Contains(longTexts, "1.0020");
        // Empty and single-point charts still render.
        XDocument.Parse(new SvgLineChart { Title = "empty" }.Render());
        XDocument.Parse(SvgLineChart.LossCurve([(0, 1.0)]).Render());
    }

    /// <summary>
    /// Renders the sample report (set TOOLTUNE_EVAL_SAMPLE_OUT to keep it, e.g. to convert the SVGs to PNG and look at them).
    /// </summary>
    [TestMethod]
    public void RenderSampleReport()
    {
        var keep = Environment.GetEnvironmentVariable("TOOLTUNE_EVAL_SAMPLE_OUT");
        var dir = keep ?? NewDir();
        try
        {
            Directory.CreateDirectory(dir);
            var train = Enumerable.Range(0, 301).Select(i => ((double)i, 2.1 * Math.Exp(-i / 60.0) + 0.38 + 0.04 * Math.Sin(i * 0.7))).ToList();
            var val = Enumerable.Range(0, 7).Select(i => (i * 50.0, 2.1 * Math.Exp(-i * 50 / 60.0) + 0.46)).ToList();
            var loss = Path.Combine(dir, "loss.svg");
            SvgLineChart.LossCurve(train, val, "SmolLM3-3B LoRA: training loss").Save(loss);
            var outcome = EvaluationRun.Execute(Request(dir, [GateEvaluator.Parse("tool_call_f1 >= 0.8"), GateEvaluator.Parse("emission_rate >= 1.0"),
                GateEvaluator.Parse("hallucination_rate <= 0.05"), GateEvaluator.Parse("args_exact_match >= 0.9", warn: true)], loss), CancellationToken.None);
            var md = File.ReadAllText(Path.Combine(dir, "report.md"));
            StringAssert.Contains(md, "![Training and validation loss](loss.svg)");
            TestContext.WriteLine(md);
            Assert.AreEqual(1, outcome.Warnings.Count);
        }
        finally
        {
            if (keep is null) Directory.Delete(dir, true);
        }
    }
}
