using System.Text.Json;
using ToolTune.Cli.Commands;
using ToolTune.Diagnostics;
using ToolTune.Tensors;

namespace ToolTune.Tests.Cli;

[TestClass]
public sealed class LogitsCommandTests
{
    [TestMethod]
    public void PrintsOneRowPerPositionMatchingTheOracle()
    {
        var dir = SharedFixtures.Fixture("engine", "models", "smollm3_tied_nope_bf16");
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        var ids = meta.RootElement.GetProperty("input_ids").GetRawText();
        var output = new StringWriter();
        LogitsCommand.Run(dir, ids, output);
        using var doc = JsonDocument.Parse(output.ToString());
        var rows = doc.RootElement.GetProperty("logits").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        using var expected = SafetensorsFile.Open(Path.Combine(dir, "expected.safetensors"));
        var want = expected.ReadSingle("logits");
        Assert.AreEqual(meta.RootElement.GetProperty("input_ids").GetArrayLength(), rows.Length);
        var flat = rows.SelectMany(r => r).ToArray();
        Assert.AreEqual(want.Length, flat.Length);
        for (var i = 0; i < want.Length; i++) Assert.AreEqual(want[i], flat[i], 1e-4f);
    }

    [TestMethod]
    public void BadIdsAreReported()
    {
        var dir = SharedFixtures.Fixture("engine", "models", "llama_untied");
        Assert.AreEqual(ErrorCodes.ModelInputInvalid, Assert.ThrowsExactly<ToolTuneException>(() => LogitsCommand.Run(dir, "[1, 999]", new StringWriter())).Code);
        Assert.AreEqual(ErrorCodes.ModelInputInvalid, Assert.ThrowsExactly<ToolTuneException>(() => LogitsCommand.Run(dir, "{\"a\":1}", new StringWriter())).Code);
    }
}
