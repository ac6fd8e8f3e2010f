using System.Text.Json;
using ToolTune.Cli.Commands;
using ToolTune.Demo;
using ToolTune.Text.Tokenization;
using ToolTune.Text.Training;

namespace ToolTune.Tests.Text.Training;

[TestClass]
public sealed class MakeTokenizerCommandTests
{
    [TestMethod]
    public void TrainsOnTextAndConversationFiles_WritesLoadableTokenizer()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"tt-mktok-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var txt = Path.Combine(dir, "plain.txt");
            File.WriteAllText(txt, string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 20)));
            var jsonl = Path.Combine(dir, "chat.jsonl");
            File.WriteAllLines(jsonl, Enumerable.Range(0, 10).Select(i => JsonSerializer.Serialize(new
            {
                messages = new object[]
                {
                    new { role = "user", content = $"Convert {i} km to miles." },
                    new { role = "assistant", content = $"{i} km is {i * 0.621371:F2} miles." },
                },
            })));
            var template = Path.Combine(SharedFixtures.RepoRoot, DemoTokenizer.TemplatePath);
            var outDir = Path.Combine(dir, "out");
            var stdout = new StringWriter();
            int rc = MakeTokenizerCommand.Run([txt, jsonl, "gen:hermes:5:1"], 700, template, outDir, 2, 13, 4096, digitGroups: false, SplitPatterns.Llama3, "2025-01-02", stdout);
            Assert.AreEqual(0, rc);
            StringAssert.Contains(stdout.ToString(), "15 conversations rendered");
            var tok = Tokenizer.FromDirectory(outDir);
            Assert.IsTrue(tok.VocabularySize <= 700);
            Assert.AreEqual(1, tok.EncodeToIds(" quick").Count);
            using var cfg = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "tokenizer_config.json")));
            Assert.AreEqual(4096, cfg.RootElement.GetProperty("model_max_length").GetInt32());
            Assert.AreEqual(File.ReadAllText(template), File.ReadAllText(Path.Combine(outDir, "chat_template.jinja")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
