using ToolTune.Model;

namespace ToolTune.Tests.Model;

/// <summary>Parity with the float64 PyTorch reference (logits, loss, every gradient), bf16 against f32, and KV-cache decoding against the full sequence.</summary>
[TestClass]
public sealed class ModelOracleTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow("smol_tied", 1e-4, 1e-5, 1e-4)]
    [DataRow("llama_untied", 1e-4, 1e-5, 1e-4)]
    [DataRow("smol_tied_bf16", 1e-4, 1e-5, 1e-4)] // bf16 weights, f32 compute, oracle = float64 on the same bf16 values
    public void LogitsLossAndEveryGradientMatchPyTorch(string name, double logitsAbs, double lossRel, double gradRel)
    {
        using var f = new ModelFixture(name);
        // 1) frozen weights (bf16 fixture: straight from the mapping through the bf16 GEMM path)
        var model = new CausalLM(f.Weights);
        model.SetTrainable(_ => false);
        var logits = model.Logits(f.Ids, f.Batch, f.Seq);
        var maxAbs = ModelFixture.MaxAbs(logits, f.Get("logits"));
        var dEmb = new float[f.Ids.Length * model.Config.HiddenSize];
        var loss = model.ForwardBackward(f.Ids, f.Labels, f.Batch, f.Seq, dEmb);
        var lossErr = Math.Abs(loss - f.Loss) / Math.Abs(f.Loss);
        var embRelFrozen = ModelFixture.GlobalRel([(dEmb, f.Get("grad.inputs_embeds"))]);

        // 2) everything trainable (full fine-tuning path)
        model.SetTrainable(_ => true);
        model.ZeroGrad();
        var dEmb2 = new float[dEmb.Length];
        var loss2 = model.ForwardBackward(f.Ids, f.Labels, f.Batch, f.Seq, dEmb2);
        var pairs = model.Parameters.Select(p => (p.Grad!, f.Get("grad." + p.Name))).ToList();
        var gradGlobal = ModelFixture.GlobalRel(pairs);
        var worst = model.Parameters.Select(p => (p.Name, Rel: ModelFixture.GlobalRel([(p.Grad!, f.Get("grad." + p.Name))]))).MaxBy(x => x.Rel);
        var embRel = ModelFixture.GlobalRel([(dEmb2, f.Get("grad.inputs_embeds"))]);
        TestContext.WriteLine($"{name}: logits max abs {maxAbs:G3}; loss {loss:R} vs {f.Loss:R} rel {lossErr:G3}; grad global rel {gradGlobal:G3} " +
                              $"(worst tensor {worst.Name} {worst.Rel:G3}); inputs_embeds rel {embRel:G3} (frozen path {embRelFrozen:G3})");
        Assert.IsTrue(maxAbs <= logitsAbs, $"logits max abs error {maxAbs}");
        Assert.IsTrue(lossErr <= lossRel, $"loss rel error {lossErr}");
        Assert.AreEqual(loss, loss2, Math.Abs(loss) * 1e-6);
        Assert.IsTrue(gradGlobal <= gradRel, $"gradient global rel error {gradGlobal}");
        Assert.IsTrue(worst.Rel <= 10 * gradRel, $"gradient of {worst.Name}: rel error {worst.Rel}");
        Assert.IsTrue(embRel <= gradRel && embRelFrozen <= gradRel, $"inputs_embeds gradient rel error {embRel} / {embRelFrozen}");
    }

    [TestMethod]
    public void Bf16CheckpointIsWithinBf16ToleranceOfF32()
    {
        using var f32 = new ModelFixture("smol_tied");
        using var b16 = new ModelFixture("smol_tied_bf16");
        Assert.IsTrue(b16.Weights["model.layers.0.self_attn.q_proj.weight"].IsBF16, "bf16 weights stay bf16 (memory-mapped)");
        var a = new CausalLM(f32.Weights).Logits(f32.Ids, f32.Batch, f32.Seq);
        var b = new CausalLM(b16.Weights).Logits(b16.Ids, b16.Batch, b16.Seq);
        var rel = ModelFixture.GlobalRel([(b, a)]);
        TestContext.WriteLine($"bf16 vs f32 logits global rel {rel:G3}");
        Assert.IsTrue(rel < 3e-2, $"bf16 logits rel {rel}");
    }

    [TestMethod]
    [DataRow("smol_tied")]
    [DataRow("llama_untied")]
    public void GradientCheckpointingGivesIdenticalGradients(string name)
    {
        using var f = new ModelFixture(name);
        var model = new CausalLM(f.Weights);
        model.SetTrainable(_ => true);
        var e1 = new float[f.Ids.Length * model.Config.HiddenSize];
        var l1 = model.ForwardBackward(f.Ids, f.Labels, f.Batch, f.Seq, e1);
        var g1 = model.Parameters.Select(p => p.Grad!.ToArray()).ToList();
        model.ZeroGrad();
        model.GradientCheckpointing = true;
        var e2 = new float[e1.Length];
        var l2 = model.ForwardBackward(f.Ids, f.Labels, f.Batch, f.Seq, e2);
        var g2 = model.Parameters.Select(p => p.Grad!.ToArray()).ToList();
        Assert.AreEqual(l1, l2);
        CollectionAssert.AreEqual(e1, e2);
        for (var i = 0; i < g1.Count; i++) CollectionAssert.AreEqual(g1[i], g2[i], $"parameter {i}");
    }

    [TestMethod]
    [DataRow("smol_tied", false)]
    [DataRow("llama_untied", true)]
    public void BuffersLeftFromALargerBatchChangeNoBit(string name, bool checkpointing)
    {
        // The workspace keeps the largest batch's buffers; a smaller batch after it must not read their stale rows.
        using var f = new ModelFixture(name);
        var fresh = new CausalLM(f.Weights) { GradientCheckpointing = checkpointing };
        fresh.SetTrainable(_ => true);
        var e1 = new float[f.Ids.Length * fresh.Config.HiddenSize];
        var l1 = fresh.ForwardBackward(f.Ids, f.Labels, f.Batch, f.Seq, e1);
        var g1 = fresh.Parameters.Select(p => p.Grad!.ToArray()).ToList();

        var reused = new CausalLM(f.Weights) { GradientCheckpointing = checkpointing };
        reused.SetTrainable(_ => true);
        int[] twice = [.. f.Ids, .. f.Ids.Reverse()], labelsTwice = [.. f.Labels, .. f.Labels];
        reused.ForwardBackward(twice, labelsTwice, 2 * f.Batch, f.Seq);
        reused.ZeroGrad();
        var e2 = new float[e1.Length];
        var l2 = reused.ForwardBackward(f.Ids, f.Labels, f.Batch, f.Seq, e2);
        Assert.AreEqual(l1, l2);
        CollectionAssert.AreEqual(e1, e2);
        var g2 = reused.Parameters.Select(p => p.Grad!.ToArray()).ToList();
        for (var i = 0; i < g1.Count; i++) CollectionAssert.AreEqual(g1[i], g2[i], $"parameter {i}");
        CollectionAssert.AreEqual(fresh.Logits(f.Ids, f.Batch, f.Seq), reused.Logits(f.Ids, f.Batch, f.Seq));
    }

    [TestMethod]
    [DataRow("smol_tied")]
    [DataRow("llama_untied")]
    [DataRow("smol_tied_bf16")]
    public void GreedyKvCacheEqualsArgmaxOfFullSequenceFor64Steps(string name)
    {
        using var f = new ModelFixture(name);
        var model = new CausalLM(f.Weights);
        var r = Generator.Generate(model, f.GreedyPrompt, new DecodingOptions { MaxNewTokens = 64 });
        Assert.AreEqual(64, r.Ids.Length);
        Assert.AreEqual(63, r.StepSeconds.Length);
        // argmax over full-sequence logits, recomputed from scratch at every step
        var seq = f.GreedyPrompt.ToList();
        for (var s = 0; s < 64; s++)
        {
            var logits = model.Logits(seq.ToArray());
            var v = model.Config.VocabSize;
            seq.Add(Generator.ArgMax(logits.AsSpan((seq.Count - 1) * v, v)));
        }
        CollectionAssert.AreEqual(seq.Skip(f.GreedyPrompt.Length).ToArray(), r.Ids, "KV cache vs full recompute");
        CollectionAssert.AreEqual(f.Greedy, r.Ids, "vs PyTorch greedy");
    }

    [TestMethod]
    public void KvCacheStepLogitsMatchFullSequence()
    {
        using var f = new ModelFixture("smol_tied");
        var model = new CausalLM(f.Weights);
        var ids = f.Ids.Take(f.Seq).ToArray();
        var full = model.Logits(ids);
        var cache = new CausalLM.KvCache(model.Config, ids.Length);
        var v = model.Config.VocabSize;
        var first = model.Step(ids.AsSpan(0, 5), cache); // prefill 5, then one at a time
        Assert.IsTrue(ModelFixture.MaxAbs(first, full.AsSpan(4 * v, v).ToArray()) < 1e-5);
        for (var t = 5; t < ids.Length; t++)
        {
            var step = model.Step(ids.AsSpan(t, 1), cache);
            Assert.IsTrue(ModelFixture.MaxAbs(step, full.AsSpan(t * v, v).ToArray()) < 1e-5, $"position {t}");
        }
    }

    [TestMethod]
    public void SamplingIsSeededAndRespectsStopIdsAndTopP()
    {
        using var f = new ModelFixture("smol_tied");
        var model = new CausalLM(f.Weights);
        var o = new DecodingOptions { MaxNewTokens = 20, Temperature = 0.8f, TopP = 0.9f, Seed = 7 };
        var a = Generator.Generate(model, f.GreedyPrompt, o);
        var b = Generator.Generate(model, f.GreedyPrompt, o);
        CollectionAssert.AreEqual(a.Ids, b.Ids);
        var stop = a.Ids[3];
        var c = Generator.Generate(model, f.GreedyPrompt, o with { StopIds = [stop] });
        Assert.AreEqual(FinishReason.Stop, c.Reason);
        Assert.AreEqual(stop, c.Ids[^1]);
        Assert.IsTrue(c.Ids.Length <= 4);
        // top-p tiny → always the argmax
        float[] logits = [0.1f, 3f, 0.2f, 2.9f];
        var rng = new Random(1);
        for (var i = 0; i < 50; i++) Assert.AreEqual(1, Generator.Sample(logits, 1f, 0.01f, rng));
        var counts = new int[4];
        for (var i = 0; i < 4000; i++) counts[Generator.Sample(logits, 1f, 1f, rng)]++;
        Assert.IsTrue(counts[3] > 1000 && counts[1] > 1000 && counts[0] > 50, string.Join(",", counts));
    }
}
