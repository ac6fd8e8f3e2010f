using System.Text.Json.Nodes;
using ToolTune.Text.Templates;

namespace ToolTune.Tests.Text.Templates;

[TestClass]
public sealed class TemplateParityTests
{
    internal static readonly RenderOptions Pinned = new() { Now = new DateTime(2025, 7, 10) };

    public TestContext TestContext { get; set; } = null!;

    internal static string DiffMessage(string expected, string actual)
    {
        int i = 0;
        while (i < expected.Length && i < actual.Length && expected[i] == actual[i]) i++;
        string Ctx(string s) => s.Substring(Math.Max(0, i - 40), Math.Min(s.Length, i + 40) - Math.Max(0, i - 40)).Replace("\n", "\\n");
        return $"first difference at UTF-16 offset {i} (expected length {expected.Length}, actual {actual.Length}); expected …{Ctx(expected)}… actual …{Ctx(actual)}…";
    }

    [TestMethod]
    public void TargetFiles_RenderByteIdentical()
    {
        var dir = SharedFixtures.RequireShared("parity", "chat-templates");
        var failures = new List<string>();
        int total = 0;
        foreach (var jinja in Directory.GetFiles(dir, "*.jinja").Order(StringComparer.Ordinal))
        {
            var stem = jinja[..^".jinja".Length];
            total++;
            var name = Path.GetFileName(stem);
            try
            {
                var tpl = ChatTemplate.Load(jinja);
                var ctx = JsonNode.Parse(File.ReadAllText(stem + ".data.json"))!.AsObject();
                var expected = File.ReadAllText(stem + ".target.txt");
                var result = tpl.Render(ctx, Pinned);
                if (result.Text != expected) { failures.Add($"{name}: {DiffMessage(expected, result.Text)}"); continue; }
                if (name == "HuggingFaceTB_SmolLM3-3B")
                {
                    CollectionAssert.AreEqual(new[] { (226, 403) }, result.GenerationSpans.ToArray(), "SmolLM3 generation span");
                    Assert.IsTrue(tpl.HasGenerationTags);
                }
            }
            catch (Exception e) when (e is not UnitTestAssertException) { failures.Add($"{name}: {e}"); }
        }
        TestContext.WriteLine($"{total - failures.Count}/{total} templates byte-identical (.target.txt)");
        foreach (var f in failures) TestContext.WriteLine(f);
        Assert.AreEqual(6, total, "expected six .target.txt cases");
        Assert.IsEmpty(failures, string.Join("\n", failures));
    }

    [TestMethod]
    public void CustomCases_RenderByteIdentical()
    {
        var path = SharedFixtures.RequireShared("parity", "chat-templates", "custom_cases.json");
        var cases = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var failures = new List<string>();
        int total = 0;
        foreach (var (key, node) in cases)
        {
            if (key == "MadeAgents/Hammer2.1") continue; // JS-produced target; covered by the Python-rendered fixture
            total++;
            try
            {
                var tpl = ChatTemplate.Parse(node!["t"]!.GetValue<string>(), key);
                var ctx = node["d"]!.AsObject();
                var expected = node["target"]!.GetValue<string>();
                var text = tpl.Render(ctx, Pinned).Text;
                if (text != expected) failures.Add($"{key}: {DiffMessage(expected, text)}");
            }
            catch (Exception e) when (e is not UnitTestAssertException) { failures.Add($"{key}: {e.Message}"); }
        }
        TestContext.WriteLine($"{total - failures.Count}/{total} templates byte-identical (custom_cases.json, Hammer2.1 excluded)");
        foreach (var f in failures) TestContext.WriteLine(f);
        Assert.AreEqual(44, total);
        Assert.IsEmpty(failures, string.Join("\n", failures));
    }

    [TestMethod]
    public void GeneratedFixtures_RenderByteIdentical()
    {
        var dir = SharedFixtures.Fixture("templates");
        Assert.IsTrue(Directory.Exists(dir), $"fixture folder missing: {dir}");
        var failures = new List<string>();
        var files = Directory.GetFiles(dir, "*.json").Order(StringComparer.Ordinal).ToList();
        bool ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        int skipped = 0;
        foreach (var file in files)
        {
            var name = Path.GetFileNameWithoutExtension(file);
            try
            {
                var fx = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
                var reference = fx["template"]!.GetValue<string>();
                // Fixtures over ../shared templates need the parity corpus; repo: fixtures always run.
                if (reference.StartsWith("shared", StringComparison.Ordinal) && SharedFixtures.SharedDir is null && !ci) { skipped++; continue; }
                var tpl = LoadFixtureTemplate(reference);
                var result = tpl.Render(fx["context"]!.AsObject(), Pinned);
                var expected = fx["text"]!.GetValue<string>();
                if (result.Text != expected) { failures.Add($"{name}: {DiffMessage(expected, result.Text)}"); continue; }
                var spans = fx["generation_spans"]!.AsArray().Select(s => (s![0]!.GetValue<int>(), s[1]!.GetValue<int>())).ToArray();
                if (!spans.SequenceEqual(result.GenerationSpans))
                    failures.Add($"{name}: spans expected [{string.Join(", ", spans)}] got [{string.Join(", ", result.GenerationSpans)}]");
            }
            catch (Exception e) when (e is not UnitTestAssertException) { failures.Add($"{name}: {e.Message}"); }
        }
        int run = files.Count - skipped;
        TestContext.WriteLine($"{run - failures.Count}/{run} generated fixtures byte-identical" + (skipped > 0 ? $" ({skipped} skipped: ../shared not found)" : ""));
        foreach (var f in failures) TestContext.WriteLine(f);
        Assert.IsNotEmpty(files);
        Assert.IsEmpty(failures, string.Join("\n", failures));
        if (run == 0) Assert.Inconclusive("../shared not found: every fixture needs the parity corpus.");
    }

    /// <summary>Fixture template references: <c>shared:chat-templates/X.jinja</c>, <c>repo:path</c>, <c>shared-all:key</c>.</summary>
    internal static ChatTemplate LoadFixtureTemplate(string reference)
    {
        if (reference.StartsWith("repo:", StringComparison.Ordinal))
            return ChatTemplate.Load(Path.Combine(SharedFixtures.RepoRoot, reference["repo:".Length..]));
        if (reference.StartsWith("shared:", StringComparison.Ordinal))
            return ChatTemplate.Load(SharedFixtures.RequireShared(["parity", .. reference["shared:".Length..].Split('/')]));
        if (reference.StartsWith("shared-all:", StringComparison.Ordinal))
        {
            var key = reference["shared-all:".Length..];
            var all = JsonNode.Parse(File.ReadAllText(SharedFixtures.RequireShared("parity", "chat-templates", "all_templates.json")))!.AsObject();
            return ChatTemplate.Parse(all[key]!.GetValue<string>(), key);
        }
        throw new ArgumentException($"unknown template reference {reference}");
    }
}

/// <summary>
/// 700 random conversations through every real template (tests/oracles/templates/conversation_matrix.py): text and
/// spans equal Python's, and where Python raises we raise too — TT1203 exactly when the template called raise_exception.
/// </summary>
[TestClass]
public sealed class TemplateConversationMatrixTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void RandomConversations_MatchPythonAcrossAllTemplates()
    {
        SharedFixtures.RequireShared("parity", "chat-templates", "all_templates.json");
        var root = JsonNode.Parse(File.ReadAllText(SharedFixtures.Fixture("template-expressions", "conversation_matrix.json")))!.AsObject();
        var cache = new Dictionary<string, ChatTemplate>();
        var failures = new List<string>();
        int total = 0, errors = 0;
        foreach (var c in root["cases"]!.AsArray())
        {
            total++;
            var reference = c!["template"]!.GetValue<string>();
            if (!cache.TryGetValue(reference, out var tpl)) cache[reference] = tpl = TemplateParityTests.LoadFixtureTemplate(reference);
            RenderResult? result = null;
            ToolTune.Diagnostics.ToolTuneException? error = null;
            try { result = tpl.Render(c["context"]!.AsObject(), TemplateParityTests.Pinned); }
            catch (ToolTune.Diagnostics.ToolTuneException e) { error = e; }
            if (c["ok"]!.GetValue<bool>())
            {
                var expected = c["text"]!.GetValue<string>();
                if (result is null) { failures.Add($"#{total} {reference}: unexpected {error}"); continue; }
                if (result.Text != expected) { failures.Add($"#{total} {reference}: {TemplateParityTests.DiffMessage(expected, result.Text)}"); continue; }
                var spans = c["generation_spans"]!.AsArray().Select(s => (s![0]!.GetValue<int>(), s[1]!.GetValue<int>())).ToArray();
                if (!spans.SequenceEqual(result.GenerationSpans)) failures.Add($"#{total} {reference}: spans differ");
            }
            else
            {
                errors++;
                var pyErr = c["err"]!.GetValue<string>();
                if (error is null) { failures.Add($"#{total} {reference}: Python raised {pyErr}, we rendered"); continue; }
                bool raised = pyErr.StartsWith("TemplateError:", StringComparison.Ordinal);
                if (raised != (error.Code == ToolTune.Diagnostics.ErrorCodes.TemplateRaisedException))
                    failures.Add($"#{total} {reference}: Python {pyErr} vs {error.Code} {error.Message}");
                else if (raised && pyErr != "TemplateError: " + error.Message)
                    failures.Add($"#{total} {reference}: raise_exception message differs: {pyErr} vs {error.Message}");
            }
        }
        TestContext.WriteLine($"{total - failures.Count}/{total} conversations agree with Python ({errors} expected errors)");
        Assert.IsEmpty(failures, string.Join("\n", failures.Take(30)));
    }
}
