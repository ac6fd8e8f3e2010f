using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Data;
using ToolTune.Data.Loaders;
using ToolTune.Diagnostics;
using ToolTune.Lora;
using ToolTune.Lora.Merge;
using ToolTune.Model;
using ToolTune.Pipeline;
using ToolTune.Tensors;
using ToolTune.Tests.Pipeline;
using YamlDotNet.RepresentationModel;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;

namespace ToolTune.Tests.BadInputs;

/// <summary>
/// The bad-input corpus (<c>tests/bad-inputs/cases.yaml</c>, one folder per case): every case runs through the real
/// entry point on a private copy of its files, under a time bound, and must end in the coded error (or counted skip)
/// the manifest names, located at the file and line/column or tensor it names, with no output left behind.
/// </summary>
[TestClass]
public sealed class BadInputCorpusTests
{
    private static readonly TimeSpan PerCaseBound = TimeSpan.FromSeconds(20);

    public static string CorpusDir => Path.Combine(SharedFixtures.RepoRoot, "tests", "bad-inputs");

    public static IEnumerable<object[]> Cases() => BadInputCase.LoadAll(CorpusDir).Select(c => new object[] { c.Id });

    [TestMethod]
    public void ManifestCoversEveryInputKindAndEveryFolder()
    {
        var cases = BadInputCase.LoadAll(CorpusDir);
        Assert.IsGreaterThanOrEqualTo(60, cases.Count);
        foreach (var kind in new[] { "dataset", "config", "tokenizer", "template", "safetensors", "adapter" })
            Assert.IsTrue(cases.Any(c => c.Kind == kind), $"no {kind} case");
        var folders = Directory.GetDirectories(CorpusDir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        var withFiles = cases.Where(c => c.Generate is null || Directory.Exists(Path.Combine(CorpusDir, c.Id))).Select(c => c.Id);
        CollectionAssert.IsSubsetOf(folders, cases.Select(c => c.Id).ToArray(), "a case folder is not in cases.yaml");
        foreach (var id in withFiles) Assert.IsTrue(Directory.Exists(Path.Combine(CorpusDir, id)), $"case {id} has no folder");
    }

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void BadInputIsReportedLocatedAndLeavesNoOutput(string id)
    {
        var c = BadInputCase.LoadAll(CorpusDir).Single(x => x.Id == id);
        using var work = new TempDir("tt-bad-");
        var caseDir = Path.Combine(work.Path, "case");
        CopyDirectory(Path.Combine(CorpusDir, c.Id), caseDir);
        c.Generate?.Write(caseDir);
        var before = Snapshot(work.Path);

        using var cts = new CancellationTokenSource();
        var run = Task.Run(() => CaseRunner.Run(c, work.Path, caseDir, cts.Token));
        if (!run.Wait(PerCaseBound))
        {
            cts.Cancel();
            Assert.Fail($"{c.Id}: no result within {PerCaseBound.TotalSeconds} s (hang)");
        }
        var outcome = run.Result;

        if (c.Expect == "ok")
        {
            Assert.IsNull(outcome.Error, $"{c.Id}: expected to be handled, got {outcome.Error}");
            Assert.AreEqual(c.Loaded, outcome.Loaded, $"{c.Id}: records loaded");
            if (c.Rendered is not null) Assert.AreEqual(c.Rendered, outcome.Rendered, $"{c.Id}: rendered text");
            return;
        }
        if (c.Skipped > 0)
        {
            Assert.IsNull(outcome.Error, $"{c.Id}: expected a counted skip, got {outcome.Error}");
            Assert.AreEqual(c.Skipped, outcome.Issues.Count, $"{c.Id}: skipped count; issues: {string.Join("; ", outcome.Issues)}");
            Assert.AreEqual(c.Loaded, outcome.Loaded, $"{c.Id}: records loaded");
            var issue = outcome.Issues[0];
            Assert.AreEqual(c.Expect, issue.Code, $"{c.Id}: {issue}");
            if (c.Reason is not null) Assert.AreEqual(c.Reason, issue.Reason, $"{c.Id}: {issue}");
            AssertLocation(c, issue.File, issue.Line, issue.Column, issue.Detail ?? issue.Reason, issue.ToString());
            if (c.Entry == "data-load")
            {
                // Strict mode turns the same skip into a located error.
                var strict = CaseRunner.Run(c with { Strict = true }, work.Path, caseDir, CancellationToken.None);
                Assert.IsNotNull(strict.Error, $"{c.Id}: strict mode must fail");
                Assert.AreEqual(c.Expect, strict.Error.Code);
                AssertLocation(c, strict.Error.File, strict.Error.Line, strict.Error.Column, strict.Error.Message, strict.Error.ToString());
            }
            return;
        }

        Assert.IsNotNull(outcome.Error, $"{c.Id}: expected {c.Expect}, but the input was accepted");
        var e = outcome.Error;
        Assert.AreEqual(c.Expect, e.Code, $"{c.Id}: {e}");
        AssertLocation(c, e.File, e.Line, e.Column, e.Message, e.ToString());
        if (c.Message is not null) StringAssert.Contains(e.Message, c.Message, $"{c.Id}: {e}");
        // Nothing half-written: the working folder holds exactly what it held before (inputs), plus only
        // fingerprints/logs the pipeline keeps on failure — never a stage output, manifest, stamp or temp folder.
        var added = Snapshot(work.Path).Except(before).Where(f => !CaseRunner.AllowedAfterFailure(f)).ToArray();
        Assert.AreEqual(0, added.Length, $"{c.Id}: output left after the failure: {string.Join(", ", added)}");
    }

    private static void AssertLocation(BadInputCase c, string? file, int line, int column, string message, string shown)
    {
        if (c.File is not null)
        {
            Assert.IsNotNull(file, $"{c.Id}: no file in the error");
            Assert.IsTrue(file.Replace('\\', '/').EndsWith("/" + c.File, StringComparison.Ordinal) || file == c.File,
                $"{c.Id}: error names '{file}', expected '{c.File}'");
        }
        if (c.Line > 0) Assert.AreEqual(c.Line, line, $"{c.Id}: line of {shown}");
        if (c.Column > 0) Assert.AreEqual(c.Column, column, $"{c.Id}: column of {shown}");
        if (c.Tensor is not null) StringAssert.Contains(message, c.Tensor, $"{c.Id}: the error must name the tensor");
    }

    private static HashSet<string> Snapshot(string root) =>
        Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(root, p).Replace('\\', '/')).ToHashSet(StringComparer.Ordinal);

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        if (!Directory.Exists(from)) return;
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }
}

/// <summary>What one case run produced: a ToolTuneException, or the records loaded and the issues counted.</summary>
internal sealed record CaseOutcome(ToolTuneException? Error, int Loaded, IReadOnlyList<DataIssue> Issues, string? Rendered = null);

/// <summary>The real entry point for each <c>entry:</c> of the manifest.</summary>
internal static class CaseRunner
{
    private static string DemoModel => Path.Combine(SharedFixtures.RepoRoot, "data", "demo-model");
    private static string FixedTemplate => Path.Combine(SharedFixtures.RepoRoot, "configs", "templates", "smollm3-tool-fixed.jinja");

    /// <summary>Files a failed stage may leave: its fingerprint inputs and the run log, which never look like output.</summary>
    public static bool AllowedAfterFailure(string relative) =>
        relative.EndsWith(".fp", StringComparison.Ordinal) || relative.EndsWith(".log", StringComparison.Ordinal)
        || relative is "root/artifacts" or "root/artifacts/case" || relative.StartsWith("root/configs", StringComparison.Ordinal)
        || relative is "root/Pipeline.proj" || relative.StartsWith("root/data", StringComparison.Ordinal) || relative is "root";

    public static CaseOutcome Run(BadInputCase c, string work, string caseDir, CancellationToken cancellation)
    {
        var input = Path.Combine(caseDir, c.Input);
        try
        {
            switch (c.Entry)
            {
                case "data-load":
                    {
                        var report = new DataReport();
                        var spec = new DataSourceSpec("case", input, c.Format);
                        var loaded = DataLoader.Load(spec, report, new LoadOptions { Strict = c.Strict }).Count();
                        return new CaseOutcome(null, loaded, report.Issues);
                    }
                case "prepare":
                    return Prepare(c, work, caseDir, cancellation);
                case "config-load":
                    PipelineApi.LoadConfig(input, caseDir, c.Overrides);
                    return new CaseOutcome(null, 0, []);
                case "tokenizer-load":
                    {
                        var tokenizer = Directory.Exists(input) ? Tokenizer.FromDirectory(input) : Tokenizer.FromFile(input);
                        tokenizer.Decode(tokenizer.EncodeToIds("hello <tool_call> world", addSpecialTokens: true));
                        return new CaseOutcome(null, 0, []);
                    }
                case "template-parse":
                    ChatTemplate.Load(input);
                    return new CaseOutcome(null, 0, []);
                case "template-render":
                    {
                        var text = ChatTemplate.Load(input).RenderText(RenderContext(caseDir), new RenderOptions { Now = new DateTime(2025, 7, 10) });
                        return new CaseOutcome(null, 0, [], text);
                    }
                case "safetensors-open":
                    {
                        using var file = SafetensorsFile.Open(input);
                        foreach (var entry in file.Entries.Values)
                            if (entry.DType is "F32" or "BF16" or "F16") file.ReadSingle(entry.Name);
                        return new CaseOutcome(null, 0, []);
                    }
                case "model-open":
                    ModelWeights.Open(input);
                    return new CaseOutcome(null, 0, []);
                case "adapter-load":
                    PeftAdapterIO.Load(input, ModelConfig.Load(DemoModel));
                    return new CaseOutcome(null, 0, []);
                case "merge":
                    AdapterMerger.Merge(new MergeOptions { BaseDir = DemoModel, AdapterDir = input, OutputDir = Path.Combine(work, "merged") }, cancellation);
                    return new CaseOutcome(null, 0, []);
                default:
                    throw new InvalidOperationException($"unknown entry '{c.Entry}' in case {c.Id}");
            }
        }
        catch (ToolTuneException e)
        {
            return new CaseOutcome(e, 0, []);
        }
    }

    /// <summary>PrepareData through <see cref="PipelineApi.RunStage"/> on a temp root: the case files under data/, the
    /// demo tokenizer and the fixed template by absolute path; the case's own config.yaml when it has one.</summary>
    private static CaseOutcome Prepare(BadInputCase c, string work, string caseDir, CancellationToken cancellation)
    {
        var root = Path.Combine(work, "root");
        Directory.CreateDirectory(Path.Combine(root, "configs"));
        File.WriteAllText(Path.Combine(root, "Pipeline.proj"), "<Project />");
        var data = Path.Combine(root, "data");
        Directory.CreateDirectory(data);
        foreach (var f in Directory.GetFiles(caseDir)) File.Copy(f, Path.Combine(data, Path.GetFileName(f)));
        var config = Path.Combine(root, "configs", "case.yaml");
        var format = c.Format == DataFormat.Auto ? "" : $"\n      format: {c.Format.ToString().ToLowerInvariant()}";
        File.WriteAllText(config, $"""
            run:
              name: case
            model:
              tokenizer: {JsonSerializer.Serialize(DemoModel)}
              chat_template: {JsonSerializer.Serialize(FixedTemplate)}
              template_kwargs:
                enable_thinking: false
            data:
              sources:
                - path: data/{c.Input}{format}
              tool_eval_count: 0
              val_fraction: 0
              strict: {(c.Strict ? "true" : "false")}
            """);
        var log = new RecordingLog();
        var result = PipelineApi.RunStage(config, root, c.Overrides, "PrepareData", log, cancellation);
        var dropped = File.ReadAllLines(Path.Combine(result.OutputDir, DataPreparation.DroppedFile)).Where(l => l.Length > 0)
            .Select(l => JsonNode.Parse(l)!.AsObject())
            .Select(o => new DataIssue((string)o["code"]!, (string)o["reason"]!, (string?)o["file"] ?? "", (int?)o["line"] ?? 0, (int?)o["column"] ?? 0,
                Detail: (string?)o["detail"]))
            .ToList();
        var manifest = ToolTune.Data.Shards.ShardManifest.Read(result.OutputDir);
        return new CaseOutcome(null, manifest.Splits.Values.Sum(s => s.Samples), dropped);
    }

    private static JsonObject RenderContext(string caseDir)
    {
        var custom = Path.Combine(caseDir, "context.json");
        if (File.Exists(custom)) return JsonNode.Parse(File.ReadAllText(custom))!.AsObject();
        return new JsonObject
        {
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "system", ["content"] = "You are helpful." },
                new JsonObject { ["role"] = "user", ["content"] = "Weather in Paris?" }),
            ["tools"] = new JsonArray(new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "get_weather" } }),
            ["add_generation_prompt"] = true,
            ["bos_token"] = "<s>",
        };
    }
}

/// <summary>A generated input too big to commit (a giant single line): <c>generate: {file, prefix, fill, bytes, suffix}</c>.</summary>
internal sealed record GeneratedInput(string File, string Prefix, string Fill, int Bytes, string Suffix)
{
    public void Write(string caseDir)
    {
        Directory.CreateDirectory(caseDir);
        using var stream = System.IO.File.Create(Path.Combine(caseDir, File));
        stream.Write(Encoding.UTF8.GetBytes(Prefix));
        var fill = Encoding.UTF8.GetBytes(Fill);
        for (var written = 0; written < Bytes; written += fill.Length) stream.Write(fill);
        stream.Write(Encoding.UTF8.GetBytes(Suffix));
    }
}

/// <summary>One entry of cases.yaml.</summary>
internal sealed record BadInputCase(string Id, string Kind, string Entry, string Input, string Expect)
{
    public int Skipped { get; init; }
    public int Loaded { get; init; }
    public string? Reason { get; init; }
    public string? File { get; init; }
    public int Line { get; init; }
    public int Column { get; init; }
    public string? Tensor { get; init; }
    public string? Message { get; init; }
    /// <summary>For a template that must render (safely) instead of failing: the exact text.</summary>
    public string? Rendered { get; init; }
    public bool Strict { get; init; }
    public DataFormat Format { get; init; }
    public string? Overrides { get; init; }
    public GeneratedInput? Generate { get; init; }

    private static readonly object Gate = new();
    private static IReadOnlyList<BadInputCase>? s_cases;

    public static IReadOnlyList<BadInputCase> LoadAll(string corpusDir)
    {
        lock (Gate) return s_cases ??= Parse(Path.Combine(corpusDir, "cases.yaml"));
    }

    private static IReadOnlyList<BadInputCase> Parse(string manifest)
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(manifest)) yaml.Load(reader);
        var list = new List<BadInputCase>();
        var known = new HashSet<string>(StringComparer.Ordinal)
        {
            "id", "kind", "entry", "input", "expect", "skipped", "loaded", "reason", "file", "line", "column", "tensor", "message",
            "strict", "format", "overrides", "generate", "why", "rendered",
        };
        foreach (var node in ((YamlMappingNode)yaml.Documents[0].RootNode)["cases"].AllNodes.OfType<YamlMappingNode>()
                     .Where(n => n.Children.ContainsKey("id")))
        {
            string? S(string key) => node.Children.TryGetValue(key, out var v) ? ((YamlScalarNode)v).Value : null;
            int I(string key) => S(key) is { } v ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : 0;
            foreach (var k in node.Children.Keys.Cast<YamlScalarNode>())
                if (!known.Contains(k.Value!)) throw new InvalidDataException($"cases.yaml({k.Start.Line}): unknown key '{k.Value}'");
            GeneratedInput? generate = null;
            if (node.Children.TryGetValue("generate", out var g) && g is YamlMappingNode gm)
            {
                string G(string key) => gm.Children.TryGetValue(key, out var v) ? ((YamlScalarNode)v).Value ?? "" : "";
                generate = new GeneratedInput(G("file"), G("prefix"), G("fill"), int.Parse(G("bytes"), System.Globalization.CultureInfo.InvariantCulture), G("suffix"));
            }
            list.Add(new BadInputCase(S("id")!, S("kind")!, S("entry")!, S("input") ?? "", S("expect")!)
            {
                Skipped = I("skipped"), Loaded = I("loaded"), Reason = S("reason"), File = S("file"), Line = I("line"), Column = I("column"),
                Tensor = S("tensor"), Message = S("message"), Rendered = S("rendered"), Strict = S("strict") == "true",
                Format = S("format") is { } f ? DataSourceSpec.ParseFormat(f) : DataFormat.Auto, Overrides = S("overrides"), Generate = generate,
            });
        }
        var dup = list.GroupBy(c => c.Id).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new InvalidDataException($"cases.yaml: duplicate case id '{dup.Key}'");
        return list;
    }
}
