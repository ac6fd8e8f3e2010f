using ToolTune.Model;

namespace ToolTune.Tests.Model;

/// <summary>Central finite differences of the loss, per module type.</summary>
[TestClass]
public sealed class ModelFiniteDifferenceTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow("smol_tied")]
    [DataRow("llama_untied")]
    public void EveryModuleGradientMatchesFiniteDifferences(string name)
    {
        using var f = new ModelFixture(name);
        var model = new CausalLM(f.Weights);
        model.SetTrainable(_ => true);
        model.ForwardBackward(f.Ids, f.Labels, f.Batch, f.Seq);
        // one tensor per module type and layer kind (layer 1 of smol is NoPE)
        var names = new[]
        {
            "model.embed_tokens.weight", "model.norm.weight",
            "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
            "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.v_proj.weight",
            "model.layers.0.self_attn.o_proj.weight", "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight",
            "model.layers.0.mlp.down_proj.weight", "model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight",
        }.ToList();
        if (!model.Config.TieWordEmbeddings) names.Add("lm_head.weight");
        const float eps = 1e-2f;
        var worst = 0.0;
        foreach (var n in names)
        {
            var p = f.Weights[n];
            var g = p.Grad!;
            // the 3 entries with the largest gradient and 2 random ones
            var idx = Enumerable.Range(0, g.Length).OrderByDescending(i => Math.Abs(g[i])).Take(3).Concat([g.Length / 3, g.Length - 1]);
            foreach (var i in idx)
            {
                var w0 = p.Data[i];
                p.Data[i] = w0 + eps;
                var lp = model.Loss(f.Ids, f.Labels, f.Batch, f.Seq);
                p.Data[i] = w0 - eps;
                var lm = model.Loss(f.Ids, f.Labels, f.Batch, f.Seq);
                p.Data[i] = w0;
                var fd = (lp - lm) / (2 * eps);
                var err = Math.Abs(fd - g[i]);
                worst = Math.Max(worst, err / (Math.Abs(g[i]) + 1e-3));
                Assert.IsTrue(err <= 2e-2 * Math.Abs(g[i]) + 2e-4, $"{n}[{i}]: analytic {g[i]:G6}, finite difference {fd:G6}");
            }
        }
        TestContext.WriteLine($"{name}: worst FD rel error {worst:G3}");
    }

    [TestMethod]
    public void InputEmbeddingGradientMatchesFiniteDifferences()
    {
        using var f = new ModelFixture("smol_tied");
        var model = new CausalLM(f.Weights);
        var h = model.Config.HiddenSize;
        var emb = new float[f.Ids.Length * h];
        model.Embed.Forward(f.Ids, emb);
        var dEmb = new float[emb.Length];
        model.ForwardBackward(f.Ids, f.Labels, f.Batch, f.Seq, dEmb, emb);
        const float eps = 1e-2f;
        foreach (var i in Enumerable.Range(0, emb.Length).OrderByDescending(i => Math.Abs(dEmb[i])).Take(4).Concat([5 * h + 3, emb.Length - 1]))
        {
            var e0 = emb[i];
            emb[i] = e0 + eps;
            var lp = model.ForwardBackward(f.Ids, f.Labels, f.Batch, f.Seq, new float[emb.Length], emb);
            emb[i] = e0 - eps;
            var lm = model.ForwardBackward(f.Ids, f.Labels, f.Batch, f.Seq, new float[emb.Length], emb);
            emb[i] = e0;
            var fd = (lp - lm) / (2 * eps);
            Assert.IsTrue(Math.Abs(fd - dEmb[i]) <= 2e-2 * Math.Abs(dEmb[i]) + 2e-4, $"inputs_embeds[{i}]: analytic {dEmb[i]:G6}, fd {fd:G6}");
        }
    }

    [TestMethod]
    public void GradientsAccumulateAndOnlyChosenParamsGetThem()
    {
        using var f = new ModelFixture("smol_tied");
        var model = new CausalLM(f.Weights);
        model.SetTrainable(p => p.Name.Contains("q_proj") || p.Name == "model.norm.weight");
        Assert.AreEqual(4, model.Parameters.Count(p => p.Trainable));
        Assert.IsNull(f.Weights["model.layers.0.mlp.up_proj.weight"].Grad);
        model.ForwardBackward(f.Ids, f.Labels, f.Batch, f.Seq);
        var once = f.Weights["model.layers.2.self_attn.q_proj.weight"].Grad!.ToArray();
        model.ForwardBackward(f.Ids, f.Labels, f.Batch, f.Seq);
        var twice = f.Weights["model.layers.2.self_attn.q_proj.weight"].Grad!;
        for (var i = 0; i < once.Length; i++) Assert.AreEqual(2 * once[i], twice[i], 1e-6 + 1e-5 * Math.Abs(once[i]));
        var expected = f.Get("grad.model.layers.2.self_attn.q_proj.weight");
        model.ZeroGrad();
        model.ForwardBackward(f.Ids, f.Labels, f.Batch, f.Seq);
        Assert.IsTrue(ModelFixture.GlobalRel([(f.Weights["model.layers.2.self_attn.q_proj.weight"].Grad!, expected)]) < 1e-4);
    }
}
