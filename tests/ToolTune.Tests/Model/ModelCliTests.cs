using System.Text.Json;
using ToolTune.Cli.Commands;
using ToolTune.Model;

namespace ToolTune.Tests.Model;

[TestClass]
public sealed class ModelCliTests
{
    [TestMethod]
    public void LogitsVerbPrintsPyTorchLogits()
    {
        using var f = new ModelFixture("llama_untied");
        var ids = f.Ids.Take(f.Seq).ToArray();
        var ms = new MemoryStream();
        LogitsCommand.Run(f.Dir, ids, ms);
        using var doc = JsonDocument.Parse(ms.ToArray());
        var rows = doc.RootElement.GetProperty("logits").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
        Assert.AreEqual(f.Seq, rows.Length);
        var expected = f.Get("logits"); // [2, 12, V]; the first sequence
        var v = rows[0].Length;
        Assert.AreEqual(128, v);
        for (var t = 0; t < f.Seq; t++)
            for (var j = 0; j < v; j++) Assert.AreEqual(expected[t * v + j], rows[t][j], 1e-4);
    }

    [TestMethod]
    public void GenerateVerbPrintsGreedyIdsAndStopsOnEos()
    {
        using var f = new ModelFixture("smol_tied");
        var sw = new StringWriter();
        var r = GenerateCommand.Run(f.Dir, f.GreedyPrompt, new GenerationOptions { MaxNewTokens = 16, StopIds = null! }, sw);
        using var doc = JsonDocument.Parse(sw.ToString());
        var ids = doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var stopAt = Array.IndexOf(f.Greedy, 2); // eos_token_id 2 from config.json
        var expect = stopAt >= 0 && stopAt < 16 ? f.Greedy.Take(stopAt + 1) : f.Greedy.Take(16);
        CollectionAssert.AreEqual(expect.ToArray(), ids);
        Assert.IsTrue(doc.RootElement.GetProperty("tokens_per_s").GetDouble() >= 0);
        Assert.AreEqual(r.Ids.Length, ids.Length);
    }

    [TestMethod]
    public void BenchTrainTinyReportsJson()
    {
        var sw = new StringWriter();
        BenchTrainCommand.Run("tiny", 32, 1, 16, checkpointing: true, sw);
        using var doc = JsonDocument.Parse(sw.ToString());
        Assert.IsTrue(doc.RootElement.GetProperty("step_s").GetDouble() > 0);
        Assert.IsTrue(doc.RootElement.GetProperty("peak_rss_mb").GetDouble() > 0);
        Assert.IsTrue(double.IsFinite(doc.RootElement.GetProperty("loss").GetDouble()));
    }
}
