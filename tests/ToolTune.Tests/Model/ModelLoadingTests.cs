using System.Text;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Model;

namespace ToolTune.Tests.Model;

/// <summary>Snapshot reading/writing and bad input.</summary>
[TestClass]
public sealed class ModelLoadingTests
{
    private static string Temp()
    {
        var d = Path.Combine(Path.GetTempPath(), "tooltune-model-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    private static string CopyFixture(string name)
    {
        var d = Temp();
        foreach (var file in Directory.GetFiles(SharedFixtures.Fixture("model", name)))
            File.Copy(file, Path.Combine(d, Path.GetFileName(file)));
        return d;
    }

    private static ToolTuneException Fails(string dir)
    {
        try { using var w = ModelWeights.Open(dir); }
        catch (ToolTuneException ex) { return ex; }
        Assert.Fail("expected a ToolTuneException");
        return null!;
    }

    [TestMethod]
    public void ConfigReadsSmolLM3AndLlamaFields()
    {
        var smol = ModelConfig.Load(SharedFixtures.Fixture("model", "smol_tied"));
        Assert.IsTrue(smol.IsSmolLM3);
        CollectionAssert.AreEqual(new[] { true, false, true }, smol.UseRope);
        Assert.AreEqual(8, smol.HeadDim);
        Assert.IsTrue(smol.TieWordEmbeddings);
        Assert.AreEqual(1e-6f, smol.RmsNormEps);
        var llama = ModelConfig.Load(SharedFixtures.Fixture("model", "llama_untied"));
        Assert.IsFalse(llama.TieWordEmbeddings);
        Assert.AreEqual(500000.0, llama.RopeTheta);
        Assert.IsTrue(llama.UseRope.All(u => u));
        // SmolLM3 default: every 4th layer NoPE (1 = RoPE, 0 = NoPE)
        var o = (JsonObject)JsonNode.Parse("""{"architectures":["SmolLM3ForCausalLM"],"vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":8,"num_attention_heads":2}""")!;
        var c = ModelConfig.Parse(o);
        CollectionAssert.AreEqual(new[] { true, true, true, false, true, true, true, false }, c.UseRope);
        Assert.AreEqual(2, c.NumKvHeads);
        Assert.AreEqual(4, c.HeadDim);
        Assert.AreEqual(2_000_000.0, c.RopeTheta);
        var preset = ModelConfig.Preset("smol135m");
        Assert.AreEqual(7, preset.UseRope.Count(u => !u));
    }

    [TestMethod]
    public void UnknownArchitectureIsTT4102()
    {
        var d = CopyFixture("smol_tied");
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(d, "config.json")))!.AsObject();
        cfg["architectures"] = new JsonArray("GPT2LMHeadModel");
        cfg["model_type"] = "gpt2";
        File.WriteAllText(Path.Combine(d, "config.json"), cfg.ToJsonString());
        var ex = Fails(d);
        Assert.AreEqual(ErrorCodes.ModelConfigUnsupported, ex.Code);
        StringAssert.Contains(ex.Message, "GPT2LMHeadModel");
        StringAssert.Contains(ex.File!, "config.json");
    }

    [TestMethod]
    public void ConfigAndWeightsDisagreeingInShapeNameFileAndTensor()
    {
        var d = CopyFixture("smol_tied");
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(d, "config.json")))!.AsObject();
        cfg["intermediate_size"] = 80;
        File.WriteAllText(Path.Combine(d, "config.json"), cfg.ToJsonString());
        var ex = Fails(d);
        Assert.AreEqual(ErrorCodes.ModelWeightShapeMismatch, ex.Code);
        StringAssert.Contains(ex.Message, "model.layers.0.mlp.gate_proj.weight");
        StringAssert.Contains(ex.Message, "[64, 32]");
        StringAssert.Contains(ex.Message, "[80, 32]");
        Assert.AreEqual(Path.Combine(d, "model.safetensors"), ex.File);
    }

    [TestMethod]
    public void MissingTensorIsNamed()
    {
        var d = CopyFixture("smol_tied");
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(d, "config.json")))!.AsObject();
        cfg["tie_word_embeddings"] = false;
        File.WriteAllText(Path.Combine(d, "config.json"), cfg.ToJsonString());
        var ex = Fails(d);
        Assert.AreEqual(ErrorCodes.ModelWeightMissing, ex.Code);
        StringAssert.Contains(ex.Message, "lm_head.weight");
        Assert.AreEqual(Path.Combine(d, "model.safetensors"), ex.File);
    }

    [TestMethod]
    public void TruncatedSafetensorsNamesFileAndTensor()
    {
        var d = CopyFixture("smol_tied");
        var path = Path.Combine(d, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length - 100).ToArray());
        var ex = Fails(d);
        Assert.AreEqual(ErrorCodes.SafetensorsTruncated, ex.Code);
        Assert.AreEqual(path, ex.File);
        StringAssert.Contains(ex.Message, "tensor '");
    }

    private static void EditHeader(string path, Func<string, string> edit)
    {
        var bytes = File.ReadAllBytes(path);
        var n = (int)BitConverter.ToUInt64(bytes, 0);
        var header = Encoding.UTF8.GetString(bytes, 8, n);
        var edited = edit(header);
        Assert.AreEqual(header.Length, edited.Length, "edit must keep the header length");
        Encoding.UTF8.GetBytes(edited).CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
    }

    [TestMethod]
    public void HeaderOffsetMismatchNamesFileAndTensor()
    {
        var d = CopyFixture("smol_tied");
        var path = Path.Combine(d, "model.safetensors");
        // shift the end of the first tensor's data_offsets by one digit so byte length ≠ shape × dtype
        EditHeader(path, h =>
        {
            var i = h.IndexOf("\"data_offsets\":[0,", StringComparison.Ordinal) + "\"data_offsets\":[0,".Length;
            var c = h[i] == '9' ? '8' : (char)(h[i] + 1);
            return h[..i] + c + h[(i + 1)..];
        });
        var ex = Fails(d);
        Assert.AreEqual(ErrorCodes.SafetensorsOffsetMismatch, ex.Code);
        Assert.AreEqual(path, ex.File);
        StringAssert.Contains(ex.Message, "tensor '");
    }

    [TestMethod]
    public void UnknownDTypeNamesFileAndTensor()
    {
        var d = CopyFixture("smol_tied");
        var path = Path.Combine(d, "model.safetensors");
        EditHeader(path, h =>
        {
            var i = h.IndexOf("\"model.norm.weight\":{\"dtype\":\"F32\"", StringComparison.Ordinal);
            Assert.IsTrue(i >= 0);
            var j = h.IndexOf("F32", i, StringComparison.Ordinal);
            return h[..j] + "Q32" + h[(j + 3)..];
        });
        var ex = Fails(d);
        Assert.AreEqual(ErrorCodes.SafetensorsUnknownDType, ex.Code);
        Assert.AreEqual(path, ex.File);
        StringAssert.Contains(ex.Message, "model.norm.weight");
    }

    [TestMethod]
    public void MissingShardNamesShardAndTensor()
    {
        var d = CopyFixture("llama_untied");
        File.Delete(Path.Combine(d, "model-00002-of-00002.safetensors"));
        var ex = Fails(d);
        Assert.AreEqual(ErrorCodes.SafetensorsShardMissing, ex.Code);
        StringAssert.Contains(ex.File!, "model-00002-of-00002.safetensors");
        StringAssert.Contains(ex.Message, "tensor '");
    }

    [TestMethod]
    public void UnsupportedWeightDTypeIsNamed()
    {
        // a valid safetensors file whose weight is I32: TT4008 naming the file and tensor
        var d = CopyFixture("smol_tied");
        var path = Path.Combine(d, "model.safetensors");
        EditHeader(path, h =>
        {
            var i = h.IndexOf("\"model.norm.weight\":{\"dtype\":\"F32\"", StringComparison.Ordinal);
            var j = h.IndexOf("F32", i, StringComparison.Ordinal);
            return h[..j] + "I32" + h[(j + 3)..];
        });
        var ex = Fails(d);
        Assert.AreEqual(ErrorCodes.SafetensorsDTypeUnsupported, ex.Code);
        Assert.AreEqual(path, ex.File);
        StringAssert.Contains(ex.Message, "model.norm.weight");
    }

    [TestMethod]
    [DataRow("F32", 0L)]
    [DataRow("BF16", 0L)]
    [DataRow("F16", 0L)]
    [DataRow("F32", 20_000L)] // sharded
    public void WrittenSnapshotReloadsWithSameLogits(string dtype, long maxShard)
    {
        using var f = new ModelFixture("llama_untied");
        var d = Temp();
        var files = f.Weights.Save(d, dtype, maxShard == 0 ? 5_000_000_000 : maxShard);
        Assert.AreEqual(maxShard != 0, File.Exists(Path.Combine(d, "model.safetensors.index.json")));
        if (maxShard != 0) Assert.IsTrue(files.Count > 3);
        using var w = ModelWeights.Open(d);
        Assert.AreEqual(dtype == "BF16", w["model.layers.0.mlp.up_proj.weight"].IsBF16);
        var a = new CausalLM(f.Weights).Logits(f.Ids, f.Batch, f.Seq);
        var b = new CausalLM(w).Logits(f.Ids, f.Batch, f.Seq);
        var rel = ModelFixture.GlobalRel([(b, a)]);
        Assert.IsTrue(dtype == "F32" ? rel == 0 : rel < 3e-2, $"{dtype}: rel {rel}");
        Assert.AreEqual(f.Weights.Config with { TorchDtype = w.Config.TorchDtype }, w.Config with { UseRope = f.Weights.Config.UseRope, EosTokenIds = f.Weights.Config.EosTokenIds });
    }
}
