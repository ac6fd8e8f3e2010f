using ToolTune.Diagnostics;
using ToolTune.Model;
using ToolTune.Tensors;

namespace ToolTune.Tests.Model;

[TestClass]
public sealed class ModelConfigTests
{
    private static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tooltune-cfg-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private const string Smol = """
        {"architectures": ["SmolLM3ForCausalLM"], "model_type": "smollm3", "vocab_size": 50, "hidden_size": 8,
         "intermediate_size": 12, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
         "rms_norm_eps": 1e-6, "rope_theta": 5000000.0, "max_position_embeddings": 65536, "tie_word_embeddings": true,
         "no_rope_layers": [1, 1, 1, 0], "torch_dtype": "bfloat16", "hidden_act": "silu"}
        """;

    [TestMethod]
    public void ParsesSmolLM3AndLlama()
    {
        var dir = TempDir();
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), Smol);
            var c = ModelConfig.Load(dir);
            Assert.AreEqual("smollm3", c.ModelType);
            Assert.AreEqual(2, c.HeadDim);
            Assert.AreEqual(2, c.NumKvHeads);
            Assert.AreEqual(5_000_000.0, c.RopeTheta);
            Assert.IsTrue(c.TieWordEmbeddings);
            CollectionAssert.AreEqual(new[] { true, true, true, false }, c.UseRope);
            Assert.AreEqual(1 + 4 * 9 + 1, c.ExpectedTensors().Count);

            File.WriteAllText(Path.Combine(dir, "config.json"), """
                {"model_type": "smollm3", "vocab_size": 50, "hidden_size": 8, "intermediate_size": 12,
                 "num_hidden_layers": 8, "num_attention_heads": 2}
                """);
            c = ModelConfig.Load(dir);
            CollectionAssert.AreEqual(new[] { true, true, true, false, true, true, true, false }, c.UseRope);
            Assert.AreEqual(2_000_000.0, c.RopeTheta);
            Assert.AreEqual(2, c.NumKvHeads);

            File.WriteAllText(Path.Combine(dir, "config.json"), """
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 50, "hidden_size": 8,
                 "intermediate_size": 12, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
                 "rope_theta": 10000.0}
                """);
            c = ModelConfig.Load(dir);
            Assert.IsFalse(c.TieWordEmbeddings);
            Assert.IsTrue(c.UseRope.All(u => u));
            Assert.AreEqual("lm_head.weight", c.ExpectedTensors()[^1].Name);
        }
        finally { Directory.Delete(dir, true); }
    }

    [TestMethod]
    public void BadConfigsAreReportedWithCodes()
    {
        var dir = TempDir();
        try
        {
            var file = Path.Combine(dir, "config.json");
            Assert.AreEqual(ErrorCodes.ModelConfigMissing, Assert.ThrowsExactly<ToolTuneException>(() => ModelConfig.Load(dir)).Code);
            File.WriteAllText(file, "{");
            Assert.AreEqual(ErrorCodes.ModelConfigInvalid, Assert.ThrowsExactly<ToolTuneException>(() => ModelConfig.Load(dir)).Code);
            File.WriteAllText(file, """{"model_type": "gpt2", "vocab_size": 5}""");
            Assert.AreEqual(ErrorCodes.ModelConfigUnsupported, Assert.ThrowsExactly<ToolTuneException>(() => ModelConfig.Load(dir)).Code);
            File.WriteAllText(file, Smol.Replace("\"no_rope_layers\": [1, 1, 1, 0]", "\"no_rope_layers\": [1, 0]"));
            var ex = Assert.ThrowsExactly<ToolTuneException>(() => ModelConfig.Load(dir));
            Assert.AreEqual(ErrorCodes.ModelConfigInvalid, ex.Code);
            Assert.AreEqual(file, ex.File);
            File.WriteAllText(file, Smol.Replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3"));
            Assert.AreEqual(ErrorCodes.ModelConfigInvalid, Assert.ThrowsExactly<ToolTuneException>(() => ModelConfig.Load(dir)).Code);
        }
        finally { Directory.Delete(dir, true); }
    }

    [TestMethod]
    public void ValidateNamesFileAndTensorOnShapeMismatchOrMissingWeight()
    {
        var dir = TempDir();
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), Smol);
            var config = ModelConfig.Load(dir);
            var tensors = config.ExpectedTensors()
                .Select(t => SafetensorsTensor.FromSingleAsBF16(t.Name, t.Shape, new float[t.Shape.Aggregate(1L, (a, b) => a * b)]))
                .ToList();
            SafetensorsWriter.WriteModel(dir, tensors);
            using (var ck = SafetensorsCheckpoint.Open(dir)) config.Validate(ck);

            // Tied checkpoints may also carry lm_head.weight.
            SafetensorsWriter.WriteModel(dir, tensors.Append(SafetensorsTensor.FromSingle("lm_head.weight", [50, 8], new float[400])));
            using (var ck = SafetensorsCheckpoint.Open(dir)) config.Validate(ck);

            var bad = tensors.Select(t => t.Name == "model.layers.2.self_attn.k_proj.weight"
                ? SafetensorsTensor.FromSingle(t.Name, [8, 8], new float[64]) : t).ToList();
            SafetensorsWriter.WriteModel(dir, bad);
            using (var ck = SafetensorsCheckpoint.Open(dir))
            {
                var ex = Assert.ThrowsExactly<ToolTuneException>(() => config.Validate(ck));
                Assert.AreEqual(ErrorCodes.ModelWeightShapeMismatch, ex.Code);
                StringAssert.Contains(ex.Message, "model.layers.2.self_attn.k_proj.weight");
                StringAssert.EndsWith(ex.File, "model.safetensors");
            }

            SafetensorsWriter.WriteModel(dir, tensors.Where(t => t.Name != "model.norm.weight"));
            using (var ck = SafetensorsCheckpoint.Open(dir))
            {
                var ex = Assert.ThrowsExactly<ToolTuneException>(() => config.Validate(ck));
                Assert.AreEqual(ErrorCodes.ModelWeightMissing, ex.Code);
                StringAssert.Contains(ex.Message, "model.norm.weight");
            }
        }
        finally { Directory.Delete(dir, true); }
    }
}
