using System.Text.Json;
using ToolTune.Cli.Commands;

namespace ToolTune.Tests.Text.Tokenization;

[TestClass]
public sealed class TokenizeCommandTests
{
    [TestMethod]
    public void PrintsOneJsonLinePerString()
    {
        var dir = SharedFixtures.RequireShared("parity", "tokenizers", "smollm3-3b");
        var input = Path.Combine(Path.GetTempPath(), $"tt-tok-{Guid.NewGuid():N}.json");
        File.WriteAllText(input, JsonSerializer.Serialize(new[] { "<tool_call>\n{\"name\": \"x\"}\n</tool_call>", "", "𝐀 café" }));
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.AreEqual(0, TokenizeCommand.Run(dir, input, addSpecialTokens: false, stdout, stderr), stderr.ToString());
        var lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual(3, lines.Length);
        using var first = JsonDocument.Parse(lines[0]);
        Assert.AreEqual(0, first.RootElement.GetProperty("index").GetInt32());
        var ids = first.RootElement.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        Assert.AreEqual(128015, ids[0]);
        Assert.AreEqual(128016, ids[^1]);
        Assert.AreEqual("<tool_call>\n{\"name\": \"x\"}\n</tool_call>", first.RootElement.GetProperty("decoded").GetString());
        using var third = JsonDocument.Parse(lines[2]);
        Assert.AreEqual("𝐀 café", third.RootElement.GetProperty("decoded").GetString());
    }

    [TestMethod]
    public void ErrorsAreReportedWithCodeAndFile()
    {
        var stderr = new StringWriter();
        var missing = Path.Combine(Path.GetTempPath(), $"tt-missing-{Guid.NewGuid():N}", "tokenizer.json");
        Assert.AreEqual(1, TokenizeCommand.Run(missing, "x.json", false, new StringWriter(), stderr));
        StringAssert.Contains(stderr.ToString(), "error TT1100");
        StringAssert.Contains(stderr.ToString(), missing);

        var dir = SharedFixtures.RequireShared("parity", "tokenizers", "phi-2");
        var bad = Path.Combine(Path.GetTempPath(), $"tt-bad-{Guid.NewGuid():N}.json");
        File.WriteAllText(bad, "[\"ok\",\n 3]");
        stderr = new StringWriter();
        Assert.AreEqual(1, TokenizeCommand.Run(dir, bad, false, new StringWriter(), stderr));
        StringAssert.StartsWith(stderr.ToString(), $"{bad}(2,");
        StringAssert.Contains(stderr.ToString(), "error TT1106");
    }
}
