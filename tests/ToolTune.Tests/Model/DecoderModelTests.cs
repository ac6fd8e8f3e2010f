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

    [TestMethod]
    [DataRow("smollm3_tied_nope")]
    [DataRow("smollm3_tied_nope_bf16")]
    [DataRow("llama_untied")]
    [DataRow("llama_untied_bf16")]
    public void LossAndEveryGradientMatchTorch(string name)
    {
        var dir = SharedFixtures.Fixture("engine", "models", name);
        using var model = DecoderModel.Load(dir);
        using var expected = SafetensorsFile.Open(Path.Combine(dir, "expected.safetensors"));
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        var ids = meta.RootElement.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var labels = meta.RootElement.GetProperty("labels").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var grads = new Dictionary<string, float[]>();
        var loss = model.LossAndGradients(ids, labels, null, grads, out var dEmbeds);
        var want = expected.ReadSingle("loss")[0];
        Assert.AreEqual(want, loss, 1e-5 * Math.Abs(want), "loss");
        KernelFixture.AssertClose("grad.inputs_embeds", expected.ReadSingle("grad.inputs_embeds"), dEmbeds);
        Assert.AreEqual(model.Config.ExpectedTensors().Count, grads.Count);
        foreach (var (weight, g) in grads)
            KernelFixture.AssertClose("grad." + weight, expected.ReadSingle("grad." + weight), g);

        // Only the requested weights get gradients; they equal the full run's.
        var some = new HashSet<string> { "model.layers.1.self_attn.q_proj.weight", "model.norm.weight" };
        var partial = new Dictionary<string, float[]>();
        model.LossAndGradients(ids, labels, some, partial, out _);
        CollectionAssert.AreEquivalent(some.ToArray(), partial.Keys.ToArray());
        foreach (var k in some) CollectionAssert.AreEqual(grads[k], partial[k]);
    }
}
