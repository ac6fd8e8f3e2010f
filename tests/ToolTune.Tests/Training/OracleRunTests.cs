using System.Text.Json.Nodes;
using ToolTune.Lora;
using ToolTune.Model;
using ToolTune.Tensors;
using ToolTune.Training;

namespace ToolTune.Tests.Training;

/// <summary>
/// The PyTorch oracle run (tests/oracles/training/make_oracle_run.py, float64): same tiny checkpoint,
/// same data order, LoRA init read from a PEFT folder, AdamW + cosine warmup + clipping, 20 steps, no dropout.
/// </summary>
[TestClass]
public sealed class OracleRunTests
{
    [TestMethod]
    public void TwentyStepsMatchPyTorch()
    {
        var root = SharedFixtures.Fixture("training", "oracle_run");
        var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(root, "expected.json")))!;
        var samples = JsonNode.Parse(File.ReadAllText(Path.Combine(root, "data.json")))!["samples"]!.AsArray();
        var data = new ToyData(samples.Select(s => s!["ids"]!.AsArray().Select(v => (int)v!).ToArray()).ToArray(),
            samples.Select(s => s!["labels"]!.AsArray().Select(v => (int)v!).ToArray()).ToArray());
        var dir = Path.Combine(Path.GetTempPath(), "tt-oracle-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var weights = ModelWeights.Open(SharedFixtures.Fixture("model", "smol_tied"));
            var lm = new CausalLM(weights);
            var adapter = PeftAdapterIO.Load(Path.Combine(root, "adapter_init"), lm.Config);
            var res = new Trainer(new LoraTrainableModel(lm, adapter), data, null, new TrainerOptions
            {
                OutputDirectory = dir, Epochs = 1, LearningRate = 1e-2, Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8, WeightDecay = 0.01,
                Schedule = "cosine", WarmupRatio = 0.1, BatchSize = 2, GradAccum = 2, MaxGradNorm = 1.0, Shuffle = false,
            }).Run();
            var losses = expected["losses"]!.AsArray().Select(v => (double)v!).ToArray();
            var lrs = expected["lrs"]!.AsArray().Select(v => (double)v!).ToArray();
            var norms = expected["grad_norms"]!.AsArray().Select(v => (double)v!).ToArray();
            Assert.AreEqual(20, res.Steps);
            var worst = 0.0;
            for (var i = 0; i < 20; i++)
            {
                var rel = Math.Abs(res.Log[i].Loss - losses[i]) / Math.Abs(losses[i]);
                worst = Math.Max(worst, rel);
                Assert.IsTrue(rel <= 1e-4, $"step {i + 1}: loss {res.Log[i].Loss} vs torch {losses[i]} (rel {rel:e2})");
                Assert.AreEqual(lrs[i], res.Log[i].Lr, 1e-15, $"lr step {i + 1}");
                Assert.AreEqual(norms[i], res.Log[i].GradNorm, 1e-4 * norms[i], $"grad norm step {i + 1}");
            }
            using var got = SafetensorsFile.Open(Path.Combine(dir, PeftAdapterIO.WeightsFileName));
            using var want = SafetensorsFile.Open(Path.Combine(root, "expected_adapter.safetensors"));
            CollectionAssert.AreEquivalent(want.Entries.Keys.ToArray(), got.Entries.Keys.ToArray());
            foreach (var k in want.Entries.Keys) LoraTests.Close(want.ReadSingle(k), got.ReadSingle(k), 1e-4, k);
            Console.WriteLine($"worst per-step loss rel error {worst:e2}");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
