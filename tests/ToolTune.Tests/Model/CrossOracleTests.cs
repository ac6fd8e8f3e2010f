using System.Text.Json;
using ToolTune.Model;
using ToolTune.Tensors;

namespace ToolTune.Tests.Model;

/// <summary>
/// A second, independent oracle: the snapshots of tests/oracles/engine/make_model_fixtures.py (fp32 torch, batch 1,
/// labels on the second half) under Fixtures/engine/models, or where TOOLTUNE_ENGINE_MODELS points; Inconclusive
/// when they are absent.
/// </summary>
[TestClass]
public sealed class CrossOracleTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow("smollm3_tied_nope")]
    [DataRow("smollm3_tied_nope_bf16")]
    [DataRow("llama_untied")]
    [DataRow("llama_untied_bf16")]
    public void CausalLMMatchesEngineSnapshots(string name)
    {
        var root = Environment.GetEnvironmentVariable("TOOLTUNE_ENGINE_MODELS") is { Length: > 0 } env ? env : SharedFixtures.Fixture("engine", "models");
        var dir = Path.Combine(root, name);
        if (!File.Exists(Path.Combine(dir, "expected.safetensors"))) Assert.Inconclusive($"{dir} not present (tests/oracles/engine/make_model_fixtures.py writes it)");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        var ids = doc.RootElement.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var labels = doc.RootElement.GetProperty("labels").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var lossRef = doc.RootElement.GetProperty("loss").GetDouble();
        using var weights = ModelWeights.Open(dir);
        using var exp = SafetensorsFile.Open(Path.Combine(dir, "expected.safetensors"));
        var lm = new CausalLM(weights);
        var logits = lm.Logits(ids);
        var maxAbs = ModelFixture.MaxAbs(logits, exp.ReadSingle("logits"));
        lm.SetTrainable(_ => true);
        var dEmb = new float[ids.Length * weights.Config.HiddenSize];
        var loss = lm.ForwardBackward(ids, labels, 1, ids.Length, dEmb);
        var lossRel = Math.Abs(loss - lossRef) / Math.Abs(lossRef);
        var gradRel = ModelFixture.GlobalRel(lm.Parameters.Select(p => (p.Grad!, exp.ReadSingle("grad." + p.Name))));
        var embRel = ModelFixture.GlobalRel([(dEmb, exp.ReadSingle("grad.inputs_embeds"))]);
        TestContext.WriteLine($"{name}: logits max abs {maxAbs:G3}, loss rel {lossRel:G3}, grad global rel {gradRel:G3}, inputs_embeds rel {embRel:G3}");
        Assert.IsTrue(maxAbs <= 1e-4 && lossRel <= 1e-5 && gradRel <= 1e-4 && embRel <= 1e-4);
    }
}
