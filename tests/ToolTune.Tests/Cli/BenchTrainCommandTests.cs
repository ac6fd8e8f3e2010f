using System.Text.Json;
using ToolTune.Cli.Commands;

namespace ToolTune.Tests.Cli;

[TestClass]
public sealed class BenchTrainCommandTests
{
    [TestMethod]
    public void TinyPresetReportsOneJsonLine()
    {
        var output = new StringWriter();
        BenchTrainCommand.Run("tiny", seq: 32, steps: 1, rank: 16, output);
        using var doc = JsonDocument.Parse(output.ToString());
        Assert.IsTrue(doc.RootElement.GetProperty("step_s").GetDouble() > 0);
        Assert.IsTrue(doc.RootElement.GetProperty("peak_rss_mb").GetDouble() > 0);
        Assert.IsTrue(double.IsFinite(doc.RootElement.GetProperty("loss").GetDouble()));
    }
}
