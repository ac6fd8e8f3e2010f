using System.Text.Json;
using ToolTune.Model;
using ToolTune.Tensors;
using ToolTune.Tests.Tensors;

namespace ToolTune.Tests.Model;

[TestClass]
public sealed class DecoderModelTests
{
    [TestMethod]
    [DataRow("smollm3_tied_nope")]
    [DataRow("smollm3_tied_nope_bf16")]
    [DataRow("llama_untied")]
    [DataRow("llama_untied_bf16")]
    public void LogitsMatchTorch(string name)
    {
        var dir = SharedFixtures.Fixture("engine", "models", name);
        using var model = DecoderModel.Load(dir);
        using var expected = SafetensorsFile.Open(Path.Combine(dir, "expected.safetensors"));
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        var ids = meta.RootElement.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var logits = model.Logits(ids);
        var want = expected.ReadSingle("logits");
        KernelFixture.AssertClose("logits", want, logits);
        var maxAbs = logits.Zip(want, (a, b) => Math.Abs(a - b)).Max();
        Assert.IsTrue(maxAbs <= 1e-4, $"logits max abs error {maxAbs} > 1e-4");
    }
}
