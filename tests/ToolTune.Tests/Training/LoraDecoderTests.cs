using ToolTune.Data.Shards;
using ToolTune.Lora;
using ToolTune.Model;
using ToolTune.Tensors;
using ToolTune.Training;

namespace ToolTune.Tests.Training;

/// <summary>LoRA attached to the real decoder (tiny random model): identity at init, gradients by finite differences,
/// and the trainer end to end (loss falls; kill/resume bit-identical with dropout on).</summary>
[TestClass]
public sealed class LoraDecoderTests
{
    private static ModelConfig Cfg() => new()
    {
        ModelType = "smollm3", VocabSize = 64, HiddenSize = 32, IntermediateSize = 48, NumLayers = 2, NumHeads = 4, NumKvHeads = 2, HeadDim = 8,
        RopeTheta = 10000, RmsNormEps = 1e-5f, TieWordEmbeddings = true, MaxPositionEmbeddings = 256, UseRope = [true, false],
    };

    private static readonly string[] All = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "embed_tokens"];

    private static LoraTrainableModel Make(double dropout = 0, int[]? tokens = null)
    {
        var lm = new CausalLM(ModelWeights.CreateRandom(Cfg(), seed: 5, std: 0.1f));
        var cfg = new LoraConfig { R = 4, Alpha = 8, Dropout = dropout, TargetModules = All, TrainableTokenIds = tokens ?? [] };
        var adapter = LoraAdapter.Create(cfg, lm.Config, seed: 17, embeddingRow: id => { var r = new float[lm.Config.HiddenSize]; lm.EmbedWeight.CopyRow(id, r); return r; });
        return new LoraTrainableModel(lm, adapter);
    }

    private static ToyData Data(int n, int seed)
    {
        var r = new Random(seed);
        var ids = new int[n][];
        var labels = new int[n][];
        for (var i = 0; i < n; i++)
        {
            var len = r.Next(6, 14);
            // a learnable pattern: next token = (token * 3 + 1) % 64
            ids[i] = new int[len];
            ids[i][0] = r.Next(64);
            for (var t = 1; t < len; t++) ids[i][t] = (ids[i][t - 1] * 3 + 1) % 64;
            labels[i] = ids[i].Select((x, t) => t >= 2 ? x : CrossEntropy.IgnoreIndex).ToArray();
        }
        return new ToyData(ids, labels);
    }

    [TestMethod]
    public void FreshAdapterIsIdentityAndOnlyAdapterTrains()
    {
        var baseLm = new CausalLM(ModelWeights.CreateRandom(Cfg(), seed: 5, std: 0.1f));
        var m = Make();
        int[] ids = [1, 5, 9, 13, 2, 40];
        CollectionAssert.AreEqual(baseLm.Logits(ids), m.Lm.Logits(ids), "B = 0 and embedding A = 0: logits unchanged");
        Assert.IsTrue(m.Lm.Parameters.Where(p => p.Trainable).All(p => m.Adapter.Parameters.Contains(p)));
        Assert.AreEqual(2 * 7 * 2 + 2, m.Parameters.Count);
    }

    [TestMethod]
    public void AdapterGradientsMatchFiniteDifferences()
    {
        var m = Make();
        var rnd = new Random(3);
        foreach (var p in m.Parameters) for (var i = 0; i < p.Count; i++) p.Data[i] += (float)(rnd.NextDouble() - 0.5) * 0.2f;
        var batch = Data(2, 1).Materialize([0, 1]);
        var n = BatchPlanner.TrainedTokens(batch);
        foreach (var p in m.Parameters) p.Grad!.AsSpan().Clear();
        var r = m.ForwardBackward(batch, n, 0);
        Assert.AreEqual(n, r.Tokens);
        foreach (var name in new[] { "model.layers.0.self_attn.q_proj.lora_A.weight", "model.layers.1.mlp.down_proj.lora_B.weight",
                     "model.embed_tokens.lora_embedding_A", "model.embed_tokens.lora_embedding_B", "model.layers.1.self_attn.v_proj.lora_B.weight" })
        {
            var p = m.Parameters.Single(x => x.Name == name);
            var g = p.Grad!;
            var idx = Enumerable.Range(0, p.Count).OrderByDescending(i => Math.Abs(g[i])).Take(3).ToArray();
            foreach (var i in idx)
            {
                const float eps = 1e-2f;
                var keep = p.Data[i];
                p.Data[i] = keep + eps; var lp = m.Evaluate(batch).LossSum / n;
                p.Data[i] = keep - eps; var lm = m.Evaluate(batch).LossSum / n;
                p.Data[i] = keep;
                var fd = (lp - lm) / (2 * eps);
                Assert.AreEqual(fd, g[i], 0.03 * Math.Abs(fd) + 1e-4, $"{name}[{i}]");
            }
        }
    }

    /// <summary>
    /// The tied head follows the adapted embedding. With embedding LoRA + trainable tokens, the logits (full,
    /// and incremental through the KV cache) equal those of the base model whose tied embedding is E' = replace(E) + ΔE.
    /// </summary>
    [TestMethod]
    public void TiedHeadFollowsAdaptedEmbedding()
    {
        var lm = new CausalLM(ModelWeights.CreateRandom(Cfg(), seed: 5, std: 0.1f));
        var cfg = new LoraConfig { R = 4, Alpha = 8, TargetModules = ["embed_tokens"], TrainableTokenIds = [3, 9] };
        var adapter = LoraAdapter.Create(cfg, lm.Config, seed: 17, embeddingRow: id => { var r = new float[lm.Config.HiddenSize]; lm.EmbedWeight.CopyRow(id, r); return r; });
        var m = new LoraTrainableModel(lm, adapter);
        var rnd = new Random(12);
        foreach (var p in m.Parameters) for (var i = 0; i < p.Count; i++) p.Data[i] += (float)(rnd.NextDouble() - 0.5) * 0.3f;
        var merged = new CausalLM(ModelWeights.CreateRandom(Cfg(), seed: 5, std: 0.1f));
        var e = merged.EmbedWeight.Data;
        var h = Cfg().HiddenSize;
        for (var i = 0; i < adapter.Tokens!.TokenIds.Count; i++) adapter.Tokens.Delta.F32.Slice(i * h, h).CopyTo(e.Slice(adapter.Tokens.TokenIds[i] * h, h));
        var delta = adapter.Embedding!.Delta();
        for (var i = 0; i < delta.Length; i++) e[i] += delta[i];
        int[] ids = [3, 1, 9, 22, 3, 63, 0, 9];
        var got = m.Lm.Logits(ids);
        var want = merged.Logits(ids);
        var maxDiff = got.Zip(want, (a, b) => Math.Abs(a - b)).Max();
        var effect = want.Zip(new CausalLM(ModelWeights.CreateRandom(Cfg(), seed: 5, std: 0.1f)).Logits(ids), (a, b) => Math.Abs(a - b)).Max();
        Assert.IsTrue(maxDiff < 1e-5, $"adapted head vs merged tied embedding: max diff {maxDiff}");
        Assert.IsTrue(effect > 0.05, $"the adapter changes the logits ({effect})");
        var cache = new CausalLM.KvCache(m.Lm.Config, 16);
        var stepA = m.Lm.Step(ids.AsSpan(0, 5), cache);
        var stepB = m.Lm.Step(ids.AsSpan(5), cache);
        var mc = new CausalLM.KvCache(merged.Config, 16);
        merged.Step(ids.AsSpan(0, 5), mc);
        var wantB = merged.Step(ids.AsSpan(5), mc);
        Assert.IsTrue(stepB.Zip(wantB, (a, b) => Math.Abs(a - b)).Max() < 1e-5, "Step logits use the same head");
        Assert.IsTrue(stepA.Zip(want.AsSpan(4 * 64, 64).ToArray(), (a, b) => Math.Abs(a - b)).Max() < 1e-5);
    }

    /// <summary>Finite differences through the adapted tied head: embedding LoRA A/B and trainable-token rows.</summary>
    [TestMethod]
    public void TiedHeadGradientsMatchFiniteDifferences()
    {
        var m = Make(tokens: [4, 13]);
        var rnd = new Random(8);
        foreach (var p in m.Parameters) for (var i = 0; i < p.Count; i++) p.Data[i] += (float)(rnd.NextDouble() - 0.5) * 0.2f;
        var batch = Data(3, 2).Materialize([0, 1, 2]);
        var n = BatchPlanner.TrainedTokens(batch);
        foreach (var p in m.Parameters) p.Grad!.AsSpan().Clear();
        m.ForwardBackward(batch, n, 0);
        foreach (var name in new[] { "model.embed_tokens.lora_embedding_A", "model.embed_tokens.lora_embedding_B", TrainableTokens.DeltaName })
        {
            var p = m.Parameters.Single(x => x.Name == name);
            var g = p.Grad!;
            var idx = Enumerable.Range(0, p.Count).OrderByDescending(i => Math.Abs(g[i])).Take(4).ToArray();
            foreach (var i in idx)
            {
                const float eps = 2e-3f;
                var keep = p.Data[i];
                p.Data[i] = keep + eps; var lp = m.Evaluate(batch).LossSum / n;
                p.Data[i] = keep - eps; var lm = m.Evaluate(batch).LossSum / n;
                p.Data[i] = keep;
                var fd = (lp - lm) / (2 * eps);
                Assert.AreEqual(fd, g[i], 0.03 * Math.Abs(fd) + 1e-4, $"{name}[{i}]");
            }
        }
    }

    /// <summary>A saved adapter reloaded onto a fresh base reproduces the logits exactly.</summary>
    [TestMethod]
    public void ReloadedAdapterReproducesLogits()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tt-reload-" + Guid.NewGuid().ToString("N"));
        try
        {
            var m = Make(tokens: [3, 9]);
            var rnd = new Random(11);
            foreach (var p in m.Parameters) for (var i = 0; i < p.Count; i++) p.Data[i] += (float)(rnd.NextDouble() - 0.5) * 0.3f;
            m.SaveAdapter(dir);
            var fresh = new CausalLM(ModelWeights.CreateRandom(Cfg(), seed: 5, std: 0.1f));
            var loaded = new LoraTrainableModel(fresh, PeftAdapterIO.Load(dir, fresh.Config));
            int[] ids = [3, 1, 9, 22, 3, 63, 0];
            var want = m.Lm.Logits(ids);
            CollectionAssert.AreEqual(want, loaded.Lm.Logits(ids));
            var baseLogits = new CausalLM(ModelWeights.CreateRandom(Cfg(), seed: 5, std: 0.1f)).Logits(ids);
            CollectionAssert.AreNotEqual(baseLogits, want, "the adapter changes the logits");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    private static TrainerOptions Opt(string dir) => new()
    {
        OutputDirectory = dir, Epochs = 4, LearningRate = 3e-2, Schedule = "cosine", WarmupRatio = 0.1, BatchSize = 2, GradAccum = 2,
        MaxTokensPerBatch = 40, Seed = 7, SaveEvery = 2, KeepLast = 2, ProgressInterval = TimeSpan.Zero, WeightDecay = 0.01,
    };

    [TestMethod]
    public void TrainsAndResumesBitIdentically()
    {
        string a = Path.Combine(Path.GetTempPath(), "tt-lora-a-" + Guid.NewGuid().ToString("N")), b = a.Replace("-a-", "-b-");
        try
        {
            var data = Data(24, 9);
            var val = Data(6, 10);
            var straight = new Trainer(Make(dropout: 0.1, tokens: [3]), data, val, Opt(a)).Run();
            Assert.IsTrue(straight.Log.TakeLast(3).Average(r => r.Loss) < 0.8 * straight.Log.Take(3).Average(r => r.Loss),
                $"{straight.Log[0].Loss} → {straight.Log[^1].Loss}");
            foreach (var stop in new[] { 3, 7 })
            {
                using var cts = new CancellationTokenSource();
                var r = new Trainer(Make(dropout: 0.1, tokens: [3]), data, val, Opt(b)) { OnProgress = p => { if (p.Step == stop) cts.Cancel(); } }.Run(cts.Token);
                Assert.IsTrue(r.Canceled);
            }
            var resumed = new Trainer(Make(dropout: 0.1, tokens: [3]), data, val, Opt(b)).Run();
            Assert.IsTrue(resumed.Resumed);
            CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(a, PeftAdapterIO.WeightsFileName)), File.ReadAllBytes(Path.Combine(b, PeftAdapterIO.WeightsFileName)),
                "final adapter byte-identical after two interruptions");
            CollectionAssert.AreEqual(straight.Log.Select(x => x.Loss).ToArray(), resumed.Log.Select(x => x.Loss).ToArray());
            var loaded = PeftAdapterIO.Load(a, Cfg());
            Assert.AreEqual(straight.Log.Count > 0 ? 2 * 7 * 2 + 3 : 0, loaded.Parameters.Count);
        }
        finally
        {
            foreach (var d in new[] { a, b }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }
}
