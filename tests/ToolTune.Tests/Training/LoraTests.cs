using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Lora;
using ToolTune.Model;
using ToolTune.Pipeline.Config;

namespace ToolTune.Tests.Training;

/// <summary>LoRA forward/backward vs PyTorch fixtures (tests/oracles/training/make_fixtures.py) and finite differences; PEFT I/O.</summary>
[TestClass]
public sealed class LoraTests
{
    internal static JsonObject Fixtures { get; } =
        JsonNode.Parse(File.ReadAllText(SharedFixtures.Fixture("training", "training_fixtures.json")))!.AsObject();

    internal static float[] F(JsonNode? n) => n!.AsArray().Select(v => (float)v!.GetValue<double>()).ToArray();

    internal static void Close(float[] expected, ReadOnlySpan<float> actual, double rel, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length, what);
        double num = 0, den = 0;
        for (var i = 0; i < expected.Length; i++) { num += Math.Pow(expected[i] - actual[i], 2); den += Math.Pow(expected[i], 2); }
        var err = Math.Sqrt(num / Math.Max(den, 1e-30));
        Assert.IsTrue(err <= rel, $"{what}: relative error {err:e2} > {rel:e0}");
    }

    internal static ModelConfig TinyModel(int layers = 2, int vocab = 50, bool tied = true) => new()
    {
        ModelType = "llama", VocabSize = vocab, HiddenSize = 16, IntermediateSize = 24, NumLayers = layers, NumHeads = 4, NumKvHeads = 2,
        HeadDim = 4, RmsNormEps = 1e-6f, RopeTheta = 10000, MaxPositionEmbeddings = 128, TieWordEmbeddings = tied, UseRope = Enumerable.Repeat(true, layers).ToArray(),
    };

    [TestMethod]
    public void LinearForwardBackwardMatchesTorch()
    {
        var f = Fixtures["lora_linear"]!;
        int rows = (int)f["rows"]!, fin = (int)f["fin"]!, fout = (int)f["fout"]!, r = (int)f["r"]!;
        var l = new LoraLinear("m", fin, fout, r, (float)((double)f["alpha"]! / r), 0.25);
        F(f["A"]).CopyTo(l.A.Data);
        F(f["B"]).CopyTo(l.B.Data);
        var x = F(f["x"]);
        var mask = F(f["mask"]);
        var y = new float[rows * fout];
        l.ForwardDelta(x, y, rows, mask);
        Close(F(f["y"]), y, 1e-6, "y");
        var dx = new float[rows * fin];
        l.BackwardDelta(F(f["dy"]), x, dx, rows, mask, accumulateDx: false);
        Close(F(f["dx"]), dx, 1e-6, "dx");
        Close(F(f["dA"]), l.A.Grad, 1e-6, "dA");
        Close(F(f["dB"]), l.B.Grad, 1e-6, "dB");
    }

    [TestMethod]
    public void EmbeddingForwardBackwardMatchesTorch()
    {
        var f = Fixtures["lora_embedding"]!;
        int vocab = (int)f["vocab"]!, dim = (int)f["dim"]!, r = (int)f["r"]!;
        var e = new LoraEmbedding(vocab, dim, r, (float)((double)f["alpha"]! / r));
        F(f["A"]).CopyTo(e.A.Data);
        F(f["B"]).CopyTo(e.B.Data);
        var ids = f["ids"]!.AsArray().Select(v => (int)v!).ToArray();
        var y = new float[ids.Length * dim];
        e.ForwardDelta(ids, y);
        Close(F(f["y"]), y, 1e-6, "y");
        e.BackwardDelta(ids, F(f["dy"]));
        Close(F(f["dA"]), e.A.Grad, 1e-6, "dA");
        Close(F(f["dB"]), e.B.Grad, 1e-6, "dB");
        Close(F(f["delta"]), e.Delta(), 1e-6, "merge delta");
    }

    [TestMethod]
    public void LinearBackwardMatchesFiniteDifferences()
    {
        const int rows = 3, fin = 6, fout = 5, r = 2;
        var l = new LoraLinear("fd", fin, fout, r, 1.5f, 0.3) { DropoutKey = 42 };
        var rnd = new Random(7);
        foreach (var p in new[] { l.A, l.B }) for (var i = 0; i < p.Count; i++) p.Data[i] = (float)(rnd.NextDouble() * 2 - 1);
        var x = Enumerable.Range(0, rows * fin).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray();
        var w = Enumerable.Range(0, rows * fout).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray();
        var mask = l.Mask(rows);
        Assert.IsTrue(mask.Contains(0f), "dropout active");
        double L()
        {
            var y = new float[rows * fout];
            l.ForwardDelta(x, y, rows, l.Mask(rows));
            double s = 0;
            for (var i = 0; i < y.Length; i++) s += (double)w[i] * y[i];
            return s;
        }
        var dx = new float[rows * fin];
        l.BackwardDelta(w, x, dx, rows, mask, accumulateDx: false);
        const float eps = 1e-2f;
        void Check(float[] v, ReadOnlySpan<float> grad, string what)
        {
            var g = grad.ToArray();
            for (var i = 0; i < v.Length; i++)
            {
                var keep = v[i];
                v[i] = keep + eps; var lp = L();
                v[i] = keep - eps; var lm = L();
                v[i] = keep;
                Assert.AreEqual((lp - lm) / (2 * eps), g[i], 2e-3, $"{what}[{i}]");
            }
        }
        Check(x, dx, "dx");
        Check(GetData(l.A), l.A.Grad, "dA");
        Check(GetData(l.B), l.B.Grad, "dB");
    }

    private static float[] GetData(Param p) => (float[])typeof(Param).GetField("_owned", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(p)!;

    [TestMethod]
    public void DropoutMaskIsDeterministicVectorEqualsScalarAndHasRateP()
    {
        static uint Fm(uint h) { h ^= h >> 16; h *= 0x85EBCA6B; h ^= h >> 13; h *= 0xC2B2AE35; return h ^ (h >> 16); }
        const int n = 100_003;
        const ulong key = 0x1234_5678_9ABC_DEF0UL;
        var ones = Enumerable.Repeat(1f, n).ToArray();
        var got = new float[n];
        LoraRandom.ApplyDropout(ones, got, key, 0.1);
        var threshold = (uint)Math.Round(0.1 * 4294967296.0);
        for (var i = 0; i < n; i++)
        {
            var dropped = Fm(Fm((uint)i + unchecked((uint)key)) ^ (uint)(key >> 32)) < threshold;
            Assert.AreEqual(dropped ? 0f : (float)(1 / 0.9), got[i], $"element {i}");
        }
        var rate = got.Count(v => v == 0) / (double)n;
        Assert.AreEqual(0.1, rate, 0.005);
        var again = new float[n];
        LoraRandom.ApplyDropout(ones, again, key, 0.1);
        CollectionAssert.AreEqual(got, again);
    }

    /// <summary>A LoRA layer (scale 2, dropout 0.2 under <paramref name="dropoutKey"/>) over a zero base, A and B random.</summary>
    private static LoraLinear RandomKeyedLayer(string path, int fin, int fout, int r, ulong dropoutKey)
    {
        var l = new LoraLinear(path, fin, fout, r, 2f, 0.2) { Base = new Linear(new Param("w", [fout, fin], new float[fout * fin])), DropoutKey = dropoutKey };
        var rnd = new Random(1);
        foreach (var p in new[] { l.A, l.B }) for (var i = 0; i < p.Count; i++) p.Data[i] = (float)(rnd.NextDouble() - 0.5);
        return l;
    }

    [TestMethod]
    public void KeyedDropoutPathEqualsExplicitMaskPath()
    {
        const int rows = 37, fin = 19, fout = 11, r = 3;
        LoraLinear Make() => RandomKeyedLayer("model.layers.0.mlp.up_proj", fin, fout, r, dropoutKey: 99);
        var rnd = new Random(2);
        var x = Enumerable.Range(0, rows * fin).Select(_ => (float)(rnd.NextDouble() - 0.5)).ToArray();
        var dy = Enumerable.Range(0, rows * fout).Select(_ => (float)(rnd.NextDouble() - 0.5)).ToArray();
        var k = Make();
        var e = Make();
        var mask = e.Mask(rows);
        var yk = new float[rows * fout];
        var ye = new float[rows * fout];
        k.Forward(x, yk, rows);
        e.ForwardDelta(x, ye, rows, mask);
        CollectionAssert.AreEqual(ye, yk);
        var dxk = new float[rows * fin];
        var dxe = new float[rows * fin];
        k.Backward(dy, x, dxk, rows, accumulateDx: false);
        e.BackwardDelta(dy, x, dxe, rows, mask, accumulateDx: false);
        CollectionAssert.AreEqual(dxe, dxk);
        CollectionAssert.AreEqual(e.A.Grad, k.A.Grad);
        CollectionAssert.AreEqual(e.B.Grad, k.B.Grad);
    }

    [TestMethod]
    public void BackwardRecomputesHWhenTheLastForwardSawAnotherInput()
    {
        // The backward reuses the forward's x·Aᵀ only for the buffer, rows and dropout key it was computed from.
        const int rows = 9, fin = 12, fout = 7, r = 3;
        var rnd = new Random(5);
        float[] Rand(int n) => Enumerable.Range(0, n).Select(_ => (float)(rnd.NextDouble() - 0.5)).ToArray();
        LoraLinear Make() => RandomKeyedLayer("model.layers.0.self_attn.q_proj", fin, fout, r, dropoutKey: 7);
        var x1 = Rand(rows * fin);
        var x2 = Rand(rows * fin);
        var dy = Rand(rows * fout);
        var y = new float[rows * fout];
        var (reused, fresh) = (Make(), Make());
        reused.Forward(x1, y, rows);
        reused.Forward(x2, y, rows);            // h now belongs to x2
        var dxReused = new float[rows * fin];
        reused.Backward(dy, x1, dxReused, rows, accumulateDx: false);
        fresh.Forward(x1, y, rows);
        var dxFresh = new float[rows * fin];
        fresh.Backward(dy, x1, dxFresh, rows, accumulateDx: false);
        CollectionAssert.AreEqual(dxFresh, dxReused);
        CollectionAssert.AreEqual(fresh.B.Grad, reused.B.Grad, "dB uses h = drop(x1)·Aᵀ");
        CollectionAssert.AreEqual(fresh.A.Grad, reused.A.Grad);
        reused.DropoutKey = 8;                   // same buffer, other mask: recomputed as well
        var keyed = Make();
        keyed.DropoutKey = 8;
        reused.B.Grad!.AsSpan().Clear();
        reused.Backward(dy, x1, dxReused, rows, accumulateDx: false);
        keyed.Backward(dy, x1, dxFresh, rows, accumulateDx: false);
        CollectionAssert.AreEqual(keyed.B.Grad, reused.B.Grad);
        Assert.IsFalse(fresh.B.Grad!.SequenceEqual(keyed.B.Grad!), "another dropout key gives another dB");
    }

    [TestMethod]
    public void InitFollowsPeft()
    {
        var a = LoraAdapter.Create(new LoraConfig { R = 4, Alpha = 8, TargetModules = ["q_proj", "embed_tokens"] }, TinyModel(), seed: 1);
        var q = a.Linears["model.layers.0.self_attn.q_proj"];
        var bound = 1 / Math.Sqrt(16);
        Assert.IsTrue(q.A.F32.ToArray().All(v => Math.Abs(v) <= bound) && q.A.F32.ToArray().Any(v => v != 0), "A ~ U(±1/√in)");
        Assert.IsTrue(q.B.F32.ToArray().All(v => v == 0), "B = 0");
        Assert.IsTrue(a.Embedding!.A.F32.ToArray().All(v => v == 0), "embedding A = 0");
        var b = a.Embedding.B.F32.ToArray();
        var std = Math.Sqrt(b.Select(v => (double)v * v).Average());
        Assert.IsTrue(std is > 0.6 and < 1.4, $"embedding B ~ N(0,1), rms {std}");
        Assert.AreEqual(2f, q.Scale);
    }

    [TestMethod]
    public void UnknownModuleListsRealOnes()
    {
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => new LoraConfig { TargetModules = ["qproj"] }.Validate());
        Assert.AreEqual(ErrorCodes.LoraUnknownModule, ex.Code);
        StringAssert.Contains(ex.Message, "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, embed_tokens");
        var ex2 = Assert.ThrowsExactly<ToolTuneException>(() =>
            new LoraConfig().WithTrainableTokens(["<nope>"], _ => null));
        Assert.AreEqual(ErrorCodes.LoraTrainableTokenUnknown, ex2.Code);
        var ok = new LoraConfig().WithTrainableTokens(["<b>", "<a>"], t => t == "<a>" ? 5 : 3);
        CollectionAssert.AreEqual(new[] { 3, 5 }, ok.TrainableTokenIds.ToArray());
    }

    /// <summary>The key set PEFT saves for a 2-layer model with all modules + embed_tokens + trainable tokens
    /// (PEFT's get_peft_model_state_dict), hand-derived.</summary>
    [TestMethod]
    public void KeySetMatchesPeft()
    {
        var cfg = new LoraConfig
        {
            R = 4, Alpha = 8,
            TargetModules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "embed_tokens"],
            TrainableTokenIds = [7, 9],
        };
        var a = LoraAdapter.Create(cfg, TinyModel(), seed: 3, embeddingRow: id => Enumerable.Repeat((float)id, 16).ToArray());
        var expected = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            foreach (var m in new[] { "q_proj", "k_proj", "v_proj", "o_proj" })
                expected.AddRange([$"base_model.model.model.layers.{i}.self_attn.{m}.lora_A.weight", $"base_model.model.model.layers.{i}.self_attn.{m}.lora_B.weight"]);
            foreach (var m in new[] { "gate_proj", "up_proj", "down_proj" })
                expected.AddRange([$"base_model.model.model.layers.{i}.mlp.{m}.lora_A.weight", $"base_model.model.model.layers.{i}.mlp.{m}.lora_B.weight"]);
        }
        expected.AddRange(["base_model.model.model.embed_tokens.lora_embedding_A", "base_model.model.model.embed_tokens.lora_embedding_B",
            "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta"]);
        CollectionAssert.AreEqual(expected.Order(StringComparer.Ordinal).ToArray(), PeftAdapterIO.Keys(a).ToArray());
        var shapes = a.Parameters.ToDictionary(p => p.Name, p => string.Join("x", p.Shape));
        Assert.AreEqual("4x16", shapes["model.layers.0.self_attn.q_proj.lora_A.weight"]);
        Assert.AreEqual("8x4", shapes["model.layers.0.self_attn.k_proj.lora_B.weight"]);
        Assert.AreEqual("4x24", shapes["model.layers.1.mlp.down_proj.lora_A.weight"]);
        Assert.AreEqual("16x4", shapes["model.layers.1.mlp.down_proj.lora_B.weight"]);
        Assert.AreEqual("4x50", shapes["model.embed_tokens.lora_embedding_A"]);
        Assert.AreEqual("16x4", shapes["model.embed_tokens.lora_embedding_B"]);
        Assert.AreEqual("2x16", shapes["model.embed_tokens.token_adapter.trainable_tokens_delta"]);
        Assert.AreEqual(9f, a.Tokens!.RowFor(9)[0]);
    }

    [TestMethod]
    public void SaveLoadRoundTripAndConfigFields()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tt-lora-" + Guid.NewGuid().ToString("N"));
        try
        {
            var cfg = new LoraConfig { R = 4, Alpha = 8, Dropout = 0.05, TargetModules = ["v_proj", "q_proj", "embed_tokens"], TrainableTokenIds = [3], BaseModelNameOrPath = "HuggingFaceTB/SmolLM3-3B" };
            var a = LoraAdapter.Create(cfg, TinyModel(), seed: 9, embeddingRow: _ => new float[16]);
            foreach (var p in a.Parameters) for (var i = 0; i < p.Count; i++) p.Data[i] += 0.001f * i;
            PeftAdapterIO.Save(dir, a);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, PeftAdapterIO.ConfigFileName)))!.AsObject();
            foreach (var k in new[] { "alpha_pattern", "auto_mapping", "base_model_name_or_path", "bias", "fan_in_fan_out", "inference_mode", "init_lora_weights",
                         "layer_replication", "layers_pattern", "layers_to_transform", "loftq_config", "lora_alpha", "lora_dropout", "megatron_config",
                         "megatron_core", "modules_to_save", "peft_type", "r", "rank_pattern", "revision", "target_modules", "task_type", "use_dora", "use_rslora" })
                Assert.IsTrue(json.ContainsKey(k), k);
            Assert.AreEqual("LORA", (string?)json["peft_type"]);
            Assert.AreEqual("CAUSAL_LM", (string?)json["task_type"]);
            Assert.AreEqual("none", (string?)json["bias"]);
            Assert.AreEqual(8, (int)json["lora_alpha"]!);
            Assert.AreEqual("[\"embed_tokens\",\"q_proj\",\"v_proj\"]", json["target_modules"]!.ToJsonString());
            Assert.AreEqual("{\"embed_tokens\":[3]}", json["trainable_token_indices"]!.ToJsonString());
            using (var st = ToolTune.Tensors.SafetensorsFile.Open(Path.Combine(dir, PeftAdapterIO.WeightsFileName)))
                Assert.AreEqual("pt", st.Metadata["format"]);

            var b = PeftAdapterIO.Load(dir, TinyModel());
            Assert.AreEqual(a.Parameters.Count, b.Parameters.Count);
            foreach (var (p, q) in a.Parameters.Zip(b.Parameters))
            {
                Assert.AreEqual(p.Name, q.Name);
                CollectionAssert.AreEqual(p.F32.ToArray(), q.F32.ToArray(), p.Name);
            }

            var ex = Assert.ThrowsExactly<ToolTuneException>(() => PeftAdapterIO.Load(dir, TinyModel() with { HiddenSize = 32 }));
            Assert.AreEqual(ErrorCodes.AdapterShapeMismatch, ex.Code);
            StringAssert.Contains(ex.Message, "base_model.model.");
            var ex2 = Assert.ThrowsExactly<ToolTuneException>(() => PeftAdapterIO.Load(dir, TinyModel(layers: 1)));
            Assert.AreEqual(ErrorCodes.AdapterTensorUnexpected, ex2.Code);
            var ex3 = Assert.ThrowsExactly<ToolTuneException>(() => PeftAdapterIO.Load(dir, TinyModel(layers: 3)));
            Assert.AreEqual(ErrorCodes.AdapterTensorMissing, ex3.Code);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    /// <summary>A PEFT-written file (as PEFT 0.13 would: string-typed fields, target_modules unordered, full embedding from
    /// save_embedding_layers) loads.</summary>
    [TestMethod]
    public void LoadsPeftWrittenAdapter()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tt-peft-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "adapter_config.json"), """
                {"alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": "x", "bias": "none", "fan_in_fan_out": false,
                 "inference_mode": true, "init_lora_weights": true, "layer_replication": null, "layers_pattern": null, "layers_to_transform": null,
                 "loftq_config": {}, "lora_alpha": 16, "lora_dropout": 0.1, "megatron_config": null, "megatron_core": "megatron.core",
                 "modules_to_save": null, "peft_type": "LORA", "r": 2, "rank_pattern": {}, "revision": null, "target_modules": ["k_proj"],
                 "task_type": "CAUSAL_LM", "use_dora": false, "use_rslora": false, "lora_bias": false, "exclude_modules": null}
                """);
            var t = new List<ToolTune.Tensors.SafetensorsTensor>();
            for (var i = 0; i < 2; i++)
            {
                t.Add(ToolTune.Tensors.SafetensorsTensor.FromSingle($"base_model.model.model.layers.{i}.self_attn.k_proj.lora_A.weight", [2, 16], Enumerable.Repeat(0.5f, 32).ToArray()));
                t.Add(ToolTune.Tensors.SafetensorsTensor.FromSingleAsBF16($"base_model.model.model.layers.{i}.self_attn.k_proj.lora_B.weight", [8, 2], Enumerable.Repeat(0.25f, 16).ToArray()));
            }
            t.Add(ToolTune.Tensors.SafetensorsTensor.FromSingle("base_model.model.model.embed_tokens.base_layer.weight", [50, 16], new float[800]));
            ToolTune.Tensors.SafetensorsWriter.Write(Path.Combine(dir, "adapter_model.safetensors"), t, new Dictionary<string, string> { ["format"] = "pt" });
            var ignored = new List<string>();
            var a = PeftAdapterIO.Load(dir, TinyModel(), ignored);
            Assert.AreEqual(8f, a.Config.Scale);
            Assert.AreEqual(0.25f, a.Linears["model.layers.1.self_attn.k_proj"].B.F32[3]);
            CollectionAssert.AreEqual(new[] { "base_model.model.model.embed_tokens.base_layer.weight" }, ignored);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [TestMethod]
    public void TrainableTokensReplaceRowsAndRouteGradients()
    {
        var tt = new TrainableTokens([2, 4], vocab: 6, dim: 3);
        tt.Initialize(id => [id, id, id]);
        tt.Delta.Data[0] = 9; // row of id 2
        var y = new float[3 * 3];
        tt.ForwardReplace([2, 1, 4], y);
        CollectionAssert.AreEqual(new float[] { 9, 2, 2, 0, 0, 0, 4, 4, 4 }, y);
        tt.Backward([2, 1, 2], [1, 1, 1, 5, 5, 5, 2, 2, 2]);
        CollectionAssert.AreEqual(new float[] { 3, 3, 3, 0, 0, 0 }, tt.Delta.Grad);
    }
}
