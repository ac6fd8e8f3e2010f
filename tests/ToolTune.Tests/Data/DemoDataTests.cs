using System.Text.Json.Nodes;
using ToolTune.Data.Generation;
using ToolTune.Demo;
using ToolTune.Model;

namespace ToolTune.Tests.Data;

/// <summary>
/// The embedded default's data (data/demo/, <c>tooltune demo make-data</c>) is what the generator writes, and its held-out
/// emission prompts are really held out: they ask for tools both training sets cover (the base code-dumps them, the LoRA
/// data calls them) in words neither training set contains.
/// </summary>
[TestClass]
public sealed class DemoDataTests
{
    private static string Repo(string relative) => Path.Combine(SharedFixtures.RepoRoot, relative);

    [TestMethod]
    public void CommittedDemoDataMatchesTheGenerator()
    {
        using var dir = new TempDir();
        foreach (var fresh in DemoData.Write(dir.Path, new DemoDataOptions()))
        {
            var committed = Repo(Path.Combine("data", "demo", Path.GetFileName(fresh)));
            CollectionAssert.AreEqual(File.ReadAllBytes(fresh), File.ReadAllBytes(committed), $"{committed} is stale: run `tooltune demo make-data`");
        }
    }

    [TestMethod]
    public void EmissionPromptsAreHeldOutPromptsForToolsTheDataCovers()
    {
        var prompts = File.ReadLines(Repo("data/eval/emission_prompts.jsonl")).Where(l => l.Trim().Length > 0)
            .Select(l => JsonNode.Parse(l)!).ToList();
        var extra = HermesGenerator.ExtraToolNames.ToHashSet();
        Assert.IsTrue(prompts.Count >= 4);
        foreach (var p in prompts) Assert.IsTrue(extra.Contains((string)p["expect_tool"]!), $"{p["id"]}: one of the generator's extra tools");

        // Both training sets know the tools (the base code-dumps them; the LoRA data calls them) ...
        var demo = File.ReadAllText(Repo("data/demo/hermes_tools.json"));
        var baseTexts = string.Join("\n", DemoBase.TrainingConversations(new DemoBaseOptions()).SelectMany(c => c.Messages).Select(m => m.Content));
        foreach (var name in extra)
        {
            // A call inside a Hermes turn's value: <tool_call>\n{\"name\":\"write_file\", … (JSON-escaped in the file).
            Assert.IsTrue(demo.Contains($"\\\"name\\\":\\\"{name}\\\"", StringComparison.Ordinal), $"the LoRA data never calls {name}");
            Assert.IsTrue(baseTexts.Contains($"from tools import {name}", StringComparison.Ordinal), $"the base is never trained to code-dump {name}");
        }
        // ... but never saw these requests: the prompts are worded differently from every generated one, the copy lessons'
        // many phrasings included.
        foreach (var p in prompts)
        {
            var text = (string)p["prompt"]!;
            Assert.IsFalse(baseTexts.Contains(text, StringComparison.Ordinal) || demo.Contains(text, StringComparison.Ordinal), $"{p["id"]} is in a training set");
        }
    }
}
