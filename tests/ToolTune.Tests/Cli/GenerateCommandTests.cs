using System.Text.Json;
using ToolTune.Cli.Commands;
using ToolTune.Model;

namespace ToolTune.Tests.Cli;

[TestClass]
public sealed class GenerateCommandTests
{
    [TestMethod]
    public void PrintsIdsAndTimings()
    {
        var dir = SharedFixtures.Fixture("engine", "models", "llama_untied");
        var output = new StringWriter();
        GenerateCommand.Run(dir, "[1, 2, 3]", new GenerationOptions { MaxNewTokens = 5 }, output);
        using var doc = JsonDocument.Parse(output.ToString());
        Assert.AreEqual(5, doc.RootElement.GetProperty("ids").GetArrayLength());
        Assert.AreEqual(5, doc.RootElement.GetProperty("step_s").GetArrayLength());
        Assert.IsFalse(doc.RootElement.GetProperty("stopped").GetBoolean());
        Assert.IsTrue(doc.RootElement.GetProperty("tokens_per_s").GetDouble() > 0);
    }
}
