using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Data.Generation;
using ToolTune.Data.Shards;
using ToolTune.Diagnostics;
using ToolTune.Pipeline;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Stages;
using ToolTune.Tensors;

namespace ToolTune.Tests.Pipeline;

/// <summary>
/// A temporary project root for the PrepareData/VerifyTokens stages with the REAL SmolLM3-3B tokenizer from
/// ../shared (absolute path in the config; nothing copied into the repository) and the repository's fixed template.
/// </summary>
internal sealed class StageProject : IDisposable
{
    private readonly TempDir _dir = new("tt-stage-");

    public StageProject()
    {
        _dir.File("Pipeline.proj", "<Project />");
        Tokenizer = SharedFixtures.RequireShared("parity", "tokenizers", "smollm3-3b");
    }

    public string Root => _dir.Path;
    public string Tokenizer { get; }
    public static string FixedTemplate => Path.Combine(SharedFixtures.RepoRoot, "configs", "templates", "smollm3-tool-fixed.jinja");

    public string File(string relative, string content) => _dir.File(relative, content);

    public string Copy(string repoRelative, string to)
    {
        var target = _dir.File(to);
        System.IO.File.Copy(Path.Combine(SharedFixtures.RepoRoot, repoRelative), target, overwrite: true);
        return target;
    }

    /// <summary>A run config over the SmolLM3 tokenizer. <paramref name="sources"/> is the YAML list under data.sources.</summary>
    public string Config(string name, string sources, string data = "", string template = "", string tokens = "", bool strict = false) =>
        File($"configs/{name}.yaml", $"""
            run:
              name: {name}
              seed: 7
            model:
              tokenizer: {JsonSerializer.Serialize(Tokenizer)}
              chat_template: {JsonSerializer.Serialize(template.Length > 0 ? template : FixedTemplate)}
              template_kwargs:
                enable_thinking: false
            data:
              sources:
            {Indent(sources, 4)}
              tool_eval_count: 0
              strict: {(strict ? "true" : "false")}
            {Indent(data, 2)}
            tokens:
              expect_ids:
                tool_call: [128015, 128016]
                tool_response: [128013, 128014]
            {Indent(tokens, 2)}
            """);

    private static string Indent(string s, int n) =>
        string.Join("\n", s.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => new string(' ', n) + l));

    public LoadedConfig Load(string config, params string[] overrides) => ConfigLoader.Load(config, Root, overrides);

    public StageRunResult Run(string config, string stage, RecordingLog? log = null, params string[] overrides) =>
        StageRunner.Run(Load(config, overrides), stage, log ?? new RecordingLog());

    public string RunDir(string name) => Path.Combine(Root, "artifacts", name);

    public void Dispose() => _dir.Dispose();
}

internal sealed class RecordingLog : IPipelineLog
{
    public List<string> Messages { get; } = [];
    public List<string> Warnings { get; } = [];
    public void Message(string text, bool important = false) { lock (Messages) Messages.Add(text); }
    public void Warning(string code, string message, string? file = null, int line = 0, int column = 0)
    {
        lock (Warnings) Warnings.Add($"{file}({line},{column}): warning {code}: {message}");
    }
}

[TestClass]
[DoNotParallelize] // CPU-heavy (2 shared cores) and one test redirects Console
public sealed class DataStagesTests
{
    private const int ToolCallStart = 128015, ToolCallEnd = 128016;

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void CommittedGeneralSampleMatchesTheGenerator()
    {
        // Regenerate with: TOOLTUNE_REGENERATE_SAMPLES=1 dotnet test --filter CommittedGeneralSampleMatchesTheGenerator
        var path = Path.Combine(SharedFixtures.RepoRoot, "data", "samples", "general_sample.jsonl");
        using var dir = new TempDir();
        var fresh = dir.File("g.jsonl");
        HermesGenerator.WriteJsonl(fresh, HermesGenerator.GenerateGeneral(8, 5));
        if (Environment.GetEnvironmentVariable("TOOLTUNE_REGENERATE_SAMPLES") == "1") File.Copy(fresh, path, overwrite: true);
        CollectionAssert.AreEqual(File.ReadAllBytes(fresh), File.ReadAllBytes(path), "data/samples/general_sample.jsonl is stale");
    }

    /// <summary>The Hermes sample prepares into shards whose labelled regions hold 128015/128016 as single
    /// tokens, with the broken record reported (file + line) and skipped; VerifyTokens passes; preview shows the mask.</summary>
    [TestMethod]
    public void HermesSamplePreparesWithSingleTokenDelimitersInTheLabelsAndVerifies()
    {
        using var p = new StageProject();
        p.Copy("data/samples/hermes_sample.json", "data/hermes_sample.json");
        p.Copy("data/samples/general_sample.jsonl", "data/general.jsonl");
        var config = p.Config("sample", """
            - path: data/hermes_sample.json
            - path: data/general.jsonl
              format: instruct
              kind: general
            """, data: "val_fraction: 0");
        var log = new RecordingLog();
        p.Run(config, "PrepareData", log);
        var prepared = Path.Combine(p.RunDir("sample"), "prepared");

        // The broken call: reported with file and line, skipped.
        var dropped = File.ReadAllLines(Path.Combine(prepared, "dropped.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        var broken = dropped.Single(d => (string?)d["record_id"] == "sample-broken-call" || (string?)d["id"] == "sample-broken-call");
        TestContext.WriteLine(broken.ToJsonString());
        StringAssert.Contains(broken.ToJsonString(), "data/hermes_sample.json");
        Assert.IsTrue(broken.ToJsonString().Contains("TT3006"), broken.ToJsonString());
        Assert.IsTrue(log.Warnings.Any(w => w.StartsWith("data/hermes_sample.json(", StringComparison.Ordinal) && w.Contains("TT3006")), string.Join("\n", log.Warnings));
        Assert.IsTrue(dropped.Any(d => d.ToJsonString().Contains("sample-no-call")), "the conversation without a call is filtered and counted");

        var tok = ToolTune.Text.Tokenization.Tokenizer.FromDirectory(p.Tokenizer);
        using (var set = ShardSet.Open(prepared, "train"))
        {
            var ids = Enumerable.Range(0, set.Count).Select(i => set.Meta(i).Id).ToList();
            CollectionAssert.IsSubsetOf(new[] { "sample-single", "sample-parallel", "sample-multiturn", "sample-pydict", "sample-content-before-call", "sample-single-2" }, ids);
            Assert.IsFalse(ids.Contains("sample-broken-call"));
            var parallelSeen = false;
            for (var i = 0; i < set.Count; i++)
            {
                var meta = set.Meta(i);
                Assert.AreEqual("data/" + (meta.Id.StartsWith("general") ? "general.jsonl" : "hermes_sample.json"), meta.File, "repo-relative source path");
                Assert.IsTrue(meta.Line > 0);
                var input = set.InputIds(i).ToArray();
                var labels = set.LabelIds(i).ToArray();
                var trained = Enumerable.Range(0, input.Length).Where(k => labels[k] != CrossEntropy.IgnoreIndex).Select(k => input[k]).ToArray();
                Assert.AreEqual(meta.ToolCalls, trained.Count(id => id == ToolCallStart), $"{meta.Id}: one trained 128015 per call");
                Assert.AreEqual(meta.ToolCalls, trained.Count(id => id == ToolCallEnd), $"{meta.Id}: one trained 128016 per call");
                if (meta.ToolCalls == 0) continue;
                // Decoded labelled region: the delimiters appear as text, each from exactly one token.
                var decoded = tok.Decode(trained);
                Assert.AreEqual(meta.ToolCalls, CountOf(decoded, "<tool_call>"), decoded);
                Assert.AreEqual(meta.ToolCalls, CountOf(decoded, "</tool_call>"), decoded);
                Assert.IsFalse(decoded.Contains("<tool_response>"), "tool responses are masked");
                if (meta.Id == "sample-parallel") parallelSeen = meta.ToolCalls >= 2;
                if (meta.Id == "sample-pydict") StringAssert.Contains(decoded, "\"arguments\": {", "the Python-dict call is trained as JSON");
            }
            Assert.IsTrue(parallelSeen, "the parallel-call sample has two trained calls");
        }
        var preview = File.ReadAllText(Path.Combine(prepared, "preview.md"));
        StringAssert.Contains(preview, "⟦");
        StringAssert.Contains(preview, "<tool_call>");
        StringAssert.Contains(File.ReadAllText(Path.Combine(prepared, "stats.csv")), "data/hermes_sample.json");

        p.Run(config, "VerifyTokens", log);
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(p.RunDir("sample"), "verify", "report.json")))!;

        // Over-length samples are dropped and counted.
        int longest;
        using (var set = ShardSet.Open(prepared, "train")) longest = Enumerable.Range(0, set.Count).Max(set.SampleLength);
        var shorter = p.Load(config, $"data.max_seq_len={longest - 1}", "run.name=short");
        var result = PrepareDataStage.Prepare(shorter, Path.Combine(p.Root, "short"), NullPipelineLog.Instance);
        Assert.IsTrue(result.Report.Sources.Sum(s => s.DroppedByReason.GetValueOrDefault("over max length")) >= 1);
        StringAssert.Contains(File.ReadAllText(Path.Combine(p.Root, "short", "stats.csv")), "over max length");
        Assert.IsTrue((bool)report["passed"]!, report.ToJsonString());
        Assert.IsTrue((int)report["tool_calls_checked"]! >= 8, report.ToJsonString());
        Assert.AreEqual(128015, (int)report["delimiters"]![0]!["ids"]![0]!);
        StringAssert.Contains(File.ReadAllText(Path.Combine(p.RunDir("sample"), "verify", "report.md")), "**PASSED**");
    }

    /// <summary>The issue's acceptance case: SmolLM3's ORIGINAL template fails VerifyTokens with errors at the lost tool
    /// calls (lint TT1310 and every tool-call sample, by id and source line) and the tool-as-user rendering (TT1311).</summary>
    [TestMethod]
    public void OriginalSmolLM3TemplateFailsVerifyTokensWithLocatedErrors()
    {
        using var p = new StageProject();
        p.Copy("data/samples/hermes_sample.json", "data/hermes_sample.json");
        var original = SharedFixtures.RequireShared("parity", "chat-templates", "HuggingFaceTB_SmolLM3-3B.jinja");
        var config = p.Config("orig", "- path: data/hermes_sample.json", data: "val_fraction: 0", template: original);
        p.Run(config, "PrepareData");
        var ex = Assert.ThrowsExactly<ToolTuneMultiException>(() => p.Run(config, "VerifyTokens"));
        var lines = ex.Errors.Select(e => e.ToString()).ToList();
        TestContext.WriteLine(string.Join("\n", lines));
        Assert.IsTrue(lines.Any(l => l.Contains("error TT1310") && l.StartsWith(original, StringComparison.Ordinal)), "lint: tool calls lost");
        Assert.IsTrue(lines.Any(l => l.Contains("error TT1311") && l.Contains("tool response")), "lint: tool responses rendered as user turns");
        Assert.IsTrue(lines.Any(l => l.StartsWith("data/hermes_sample.json(", StringComparison.Ordinal) && l.Contains("error TT2103") && l.Contains("sample 'sample-parallel'")),
            "per-sample: the parallel sample's calls are missing from its labels, located at its record");
        Assert.AreEqual(ErrorCodes.VerifyFailed, ex.Errors[^1].Code);
        Assert.IsFalse(Directory.Exists(Path.Combine(p.RunDir("orig"), "verify")), "a failed verification commits no verify/ folder");
        StringAssert.Contains(File.ReadAllText(Path.Combine(p.RunDir("orig"), "verify-failed", "report.md")), "**FAILED**");
        Assert.IsFalse(Directory.EnumerateDirectories(p.RunDir("orig"), ".tmp-*").Any());
    }

    /// <summary>The 70/30 mix within ±1 on 1,000 records; the same seed gives byte-identical shards (even
    /// from another checkout folder); a different seed a different order — all through the PrepareData stage.</summary>
    [TestMethod]
    public void MixIsSeventyThirtyAndShardsDependOnlyOnTheSeed()
    {
        string Prepare(StageProject p, int seed)
        {
            HermesGenerator.WriteJsonl(Path.Combine(p.Root, "data", "tool.jsonl"), HermesGenerator.Generate(800, 11));
            HermesGenerator.WriteJsonl(Path.Combine(p.Root, "data", "general.jsonl"), HermesGenerator.GenerateGeneral(300, 11));
            var config = p.Config("mix", """
                - path: data/tool.jsonl
                - path: data/general.jsonl
                  format: instruct
                  kind: general
                """, data: "val_fraction: 0.05");
            PrepareDataStage.Prepare(p.Load(config, $"run.seed={seed}"), Path.Combine(p.Root, $"out-{seed}"), NullPipelineLog.Instance);
            return Path.Combine(p.Root, $"out-{seed}");
        }

        using var a = new StageProject();
        using var b = new StageProject();
        Directory.CreateDirectory(Path.Combine(a.Root, "data"));
        Directory.CreateDirectory(Path.Combine(b.Root, "data"));
        var first = Prepare(a, 1);
        var again = Prepare(b, 1); // same seed, another folder
        var other = Prepare(a, 2);

        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(first, "manifest.json")))!;
        var tool = (int)manifest["tool_selected"]!;
        var general = (int)manifest["general_selected"]!;
        TestContext.WriteLine($"mix: {tool} tool + {general} general");
        // The 300 general records bound the mix at ~1,000 (the largest N whose 70% share rounds within the pools).
        Assert.IsTrue(tool + general is >= 1000 and <= 1001, $"{tool} + {general}");
        Assert.AreEqual(300, general);
        Assert.IsTrue(Math.Abs(tool - 0.7 * (tool + general)) <= 1, $"{tool}/{general} is not 70/30 within one sample");

        foreach (var f in new[] { "train-00000.bin", "val-00000.bin", "manifest.json", "stats.csv", "tool_eval.jsonl", "dropped.jsonl", "preview.md" })
            CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(first, f)), File.ReadAllBytes(Path.Combine(again, f)), $"{f} differs for the same seed");

        List<string> Order(string dir)
        {
            using var set = ShardSet.Open(dir, "train");
            return Enumerable.Range(0, set.Count).Select(i => set.Meta(i).Id).ToList();
        }
        var o1 = Order(first);
        var o2 = Order(other);
        CollectionAssert.AreNotEqual(o1, o2, "another seed gives another order");
    }

    /// <summary>Bad input reported with file and line; lenient skips with counts, strict fails; an empty
    /// dataset and a YAML typo fail; a failed run leaves no half-written output and keeps the previous good one.</summary>
    [TestMethod]
    public void BadInputIsLocatedSkippedWhenLenientAndFatalWhenStrict()
    {
        using var p = new StageProject();
        var good = JsonSerializer.Serialize(new
        {
            id = "good",
            conversations = new object[]
            {
                new { from = "human", value = "Weather in Oslo?" },
                new { from = "gpt", value = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>" },
                new { from = "tool", value = "<tool_response>\n{\"temp\": 3}\n</tool_response>" },
                new { from = "gpt", value = "It is 3 degrees." },
            },
        });
        var bad = new[]
        {
            good,                                                                                  // line 1
            "{\"id\": \"malformed\", \"conversations\": [}",                                        // 2 malformed JSON
            good[..(good.Length / 2)],                                                             // 3 truncated line
            "{\"id\": \"role\", \"conversations\": [{\"from\": \"robot\", \"value\": \"x\"}]}",     // 4 unknown role
            "{\"id\": \"nofield\", \"messages_typo\": []}",                                         // 5 missing conversations
            "{\"id\": \"notjson\", \"conversations\": [{\"from\": \"human\", \"value\": \"q\"}, {\"from\": \"gpt\", \"value\": \"<tool_call>\\nget_weather(Oslo)\\n</tool_call>\"}]}", // 6 call not JSON
        };
        var bytes = new List<byte>();
        foreach (var l in bad) bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(l + "\n"));
        bytes.AddRange("{\"id\": \"utf8\", \"conversations\": \""u8.ToArray()); // 7 invalid UTF-8: 0xC3 0x28
        bytes.AddRange(new byte[] { 0xC3, 0x28 });
        bytes.AddRange("\"}\n"u8.ToArray());
        bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(good.Replace("\"good\"", "\"good2\"") + "\n")); // 8
        File.WriteAllBytes(p.File("data/bad.jsonl", ""), bytes.ToArray());

        // Lenient: skipped, counted, located.
        var lenient = p.Config("lenient", "- path: data/bad.jsonl", data: "val_fraction: 0");
        var log = new RecordingLog();
        p.Run(lenient, "PrepareData", log);
        var warnings = string.Join("\n", log.Warnings);
        TestContext.WriteLine(warnings);
        foreach (var (line, code) in new[] { (2, "TT3001"), (3, "TT3002"), (4, "TT3004"), (5, "TT3005"), (6, "TT3006"), (7, "TT3003") })
            Assert.IsTrue(log.Warnings.Any(w => w.StartsWith($"data/bad.jsonl({line},", StringComparison.Ordinal) && w.Contains(code)), $"line {line} {code}\n{warnings}");
        var stats = File.ReadAllText(Path.Combine(p.RunDir("lenient"), "prepared", "stats.csv"));
        StringAssert.Contains(stats, "malformed JSON");
        var prepared = Path.Combine(p.RunDir("lenient"), "prepared");
        var before = Directory.EnumerateFiles(prepared).ToDictionary(f => f, File.ReadAllBytes);

        // Strict: the first bad record fails the stage with its location; the previous outputs stay as they were.
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => p.Run(lenient, "PrepareData", null, "data.strict=true"));
        TestContext.WriteLine(ex.ToString());
        Assert.AreEqual("TT3001", ex.Code);
        StringAssert.StartsWith(ex.ToString(), "data/bad.jsonl(2,");
        foreach (var (f, content) in before) CollectionAssert.AreEqual(content, File.ReadAllBytes(f), $"{f} changed by a failed run");
        Assert.IsFalse(Directory.EnumerateDirectories(p.RunDir("lenient"), ".tmp-*").Any(), "no temporary folder left");

        // Empty dataset (both modes) and an all-bad file: no prepared/ at all.
        p.File("data/empty.jsonl", "\n\n");
        var empty = p.Config("empty", "- path: data/empty.jsonl");
        var e1 = Assert.ThrowsExactly<ToolTuneException>(() => p.Run(empty, "PrepareData"));
        Assert.AreEqual("TT3007", e1.Code, e1.ToString());
        Assert.IsFalse(Directory.Exists(Path.Combine(p.RunDir("empty"), "prepared")));

        // A YAML typo: a located config error.
        var typo = p.File("configs/typo.yaml", File.ReadAllText(lenient).Replace("  tool_eval_count:", "  tool_eval_cuont:"));
        var e2 = Assert.ThrowsExactly<ToolTuneException>(() => p.Load(typo));
        Assert.AreEqual("TT2002", e2.Code);
        Assert.IsTrue(e2.Line > 0 && e2.Column > 0, e2.ToString());
        StringAssert.Contains(e2.Message, "tool_eval_count");
    }

    /// <summary><c>tooltune prepare/verify</c>: same entry points; a ToolTuneException prints located and exits 1.</summary>
    [TestMethod]
    public void CliPrepareAndVerifyRunTheStagesAndPrintLocatedErrors()
    {
        using var p = new StageProject();
        p.Copy("data/samples/hermes_sample.json", "data/hermes_sample.json");
        var config = p.Config("cli", "- path: data/hermes_sample.json", data: "val_fraction: 0");
        var prep = Invoke("prepare", "--config", config);
        Assert.AreEqual(0, prep.Exit, prep.Err);
        StringAssert.Contains(prep.Err, "data/hermes_sample.json(");
        StringAssert.Contains(prep.Err, "warning TT3006");
        var verify = Invoke("verify", "--config", config);
        Assert.AreEqual(0, verify.Exit, verify.Err);
        Assert.IsTrue(File.Exists(Path.Combine(p.RunDir("cli"), "verify", "report.json")));

        // A bad delimiter expectation: one located error line per violation, exit code 1.
        var failed = Invoke("verify", "--config", config, "--set", "tokens.expect_ids.tool_call=[1, 2]");
        TestContext.WriteLine(failed.Err);
        Assert.AreEqual(1, failed.Exit);
        StringAssert.Contains(failed.Err, $"{Path.Combine(p.Root, "configs", "cli.yaml")}: error TT2102: tool_call start delimiter \"<tool_call>\" is token 128015, but tokens.expect_ids says 1");
        StringAssert.Contains(failed.Err, "error TT2108");

        // A YAML typo: file(line,col): error TT2002, exit 1 (the verb's exception is not swallowed by System.CommandLine).
        var typo = p.File("configs/typo.yaml", File.ReadAllText(config).Replace("  strict:", "  strikt:"));
        var typoRun = Invoke("prepare", "--config", typo);
        Assert.AreEqual(1, typoRun.Exit);
        StringAssert.Matches(typoRun.Err, new System.Text.RegularExpressions.Regex(@"typo\.yaml\(\d+,\d+\): error TT2002: Unknown key 'strikt' in 'data'"));

        var badSet = Invoke("prepare", "--config", config, "--set", "data.tool_ratio=3");
        Assert.AreEqual(1, badSet.Exit);
        StringAssert.Contains(badSet.Err, "error TT2004");
    }

    private static (int Exit, string Out, string Err) Invoke(params string[] args) => CliInvoker.Invoke(args);

    private static int CountOf(string s, string what)
    {
        var n = 0;
        for (var i = s.IndexOf(what, StringComparison.Ordinal); i >= 0; i = s.IndexOf(what, i + what.Length, StringComparison.Ordinal)) n++;
        return n;
    }
}

/// <summary>VerifyTokens' per-sample checks on hand-made shards (SmolLM3 ids): each violation is located at the
/// sample's source file/line and named by its id.</summary>
[TestClass]
public sealed class VerifyTokensSampleChecksTests
{
    [TestMethod]
    public void EachSampleViolationIsReportedWithItsIdAndSourceLine()
    {
        using var p = new StageProject();
        p.File("data/x.jsonl", "{}\n");
        var config = p.Load(p.Config("v", "- path: data/x.jsonl"));
        var tok = ToolTune.Text.Tokenization.Tokenizer.FromDirectory(p.Tokenizer);
        int[] Enc(string s) => tok.EncodeToIds(s).ToArray();
        var header = Enc("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n");
        (int[] Ids, int[] Labels) Sample(string assistant, bool train = true)
        {
            var body = Enc(assistant + "<|im_end|>");
            var ids = header.Concat(body).Concat(Enc("\n")).ToArray();
            var labels = ids.Select((id, i) => train && i >= header.Length && i < header.Length + body.Length ? id : CrossEntropy.IgnoreIndex).ToArray();
            return (ids, labels);
        }
        var cases = new (string Id, int Calls, (int[] Ids, int[] Labels) S)[]
        {
            ("ok", 1, Sample("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>")),
            ("not-json", 1, Sample("<tool_call>\nf(a=1)\n</tool_call>")),
            ("no-args", 1, Sample("<tool_call>\n{\"name\": \"f\"}\n</tool_call>")),
            ("unclosed", 1, Sample("<tool_call>\n{\"name\": \"f\", \"arguments\": {}}")),
            ("lost-call", 1, Sample("I will call f.")),
            ("untrained", 0, Sample("hello", train: false)),
        };
        var dir = Path.Combine(p.Root, "prepared");
        Directory.CreateDirectory(dir);
        var writer = new ShardWriter();
        for (var i = 0; i < cases.Length; i++)
            writer.Add(cases[i].S.Ids, cases[i].S.Labels, new SampleMeta(cases[i].Id, "data/x.jsonl", "data/x.jsonl", i + 1, cases[i].Calls));
        var info = writer.Write(Path.Combine(dir, "train-00000.bin"));
        var manifest = new ShardManifest();
        manifest.Splits["train"] = new SplitInfo("train", info.Samples, info.Tokens, info.TrainedTokens, 5, [info]);
        manifest.Write(dir);

        var report = VerifyTokensStage.Verify(config, dir, NullPipelineLog.Instance);
        var found = report.Violations.Select(v => $"{v.SampleId} {v.Code} {v.File}({v.Line})").ToList();
        foreach (var f in found) Console.WriteLine(f);
        CollectionAssert.AreEquivalent(new[]
        {
            "not-json TT2105 data/x.jsonl(2)",
            "no-args TT2105 data/x.jsonl(3)",
            "unclosed TT2104 data/x.jsonl(4)",
            "lost-call TT2103 data/x.jsonl(5)",
            "untrained TT2106 data/x.jsonl(6)",
        }, found);
        Assert.AreEqual(3, report.ToolCallsChecked, "ok, not-json and no-args each have one closed call");
    }
}

/// <summary>The embedded default (configs/sample.yaml: demo tokenizer, fixed template, sample data) prepares and verifies.</summary>
[TestClass]
public sealed class DefaultConfigTests
{
    [TestMethod]
    public void DefaultConfigPreparesAndVerifiesWithTheDemoTokenizer()
    {
        var repo = SharedFixtures.RepoRoot;
        if (!File.Exists(Path.Combine(repo, "data", "demo-model", "tokenizer.json")))
            Assert.Inconclusive("data/demo-model/tokenizer.json is missing.");
        using var dir = new TempDir();
        dir.File("Pipeline.proj", "<Project />");
        foreach (var f in new[] { "configs/sample.yaml", "configs/templates/smollm3-tool-fixed.jinja", "data/samples/hermes_sample.json",
                     "data/samples/general_sample.jsonl", "data/eval/emission_prompts.jsonl", "data/demo-model/tokenizer.json", "data/demo-model/tokenizer_config.json", "data/demo-model/chat_template.jinja" })
            File.Copy(Path.Combine(repo, f), dir.File(f));
        var config = ConfigLoader.Load("configs/sample.yaml", dir.Path);
        StageRunner.Run(config, "PrepareData", NullPipelineLog.Instance);
        StageRunner.Run(config, "VerifyTokens", NullPipelineLog.Instance);
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(config.RunDir, "verify", "report.json")))!;
        Assert.IsTrue((bool)report["passed"]!);
        Assert.IsTrue((int)report["tool_calls_checked"]! > 0);
        foreach (var d in report["delimiters"]!.AsArray()) Assert.IsTrue((bool)d!["single_token"]!, d.ToJsonString());
    }
}
