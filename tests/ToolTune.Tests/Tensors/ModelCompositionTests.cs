using System.Text.Json;
using ToolTune.Model;
using ToolTune.Tensors;
using static ToolTune.Tests.Tensors.KernelFixture;

namespace ToolTune.Tests.Tensors;

/// <summary>
/// Whole-model parity at the kernel level: the random HF snapshots written by
/// tests/oracles/engine/make_model_fixtures.py (SmolLM3 tied with a NoPE layer, Llama untied; F32 and BF16
/// weights) are read with <see cref="ModelConfig"/> and <see cref="SafetensorsCheckpoint"/>, and the decoder is
/// composed from the engine's kernels (forward, fused LM-head loss, manual backward). Logits, loss, every
/// weight gradient and the input-embedding gradient are compared with PyTorch autograd.
/// </summary>
[TestClass]
public sealed class ModelCompositionTests
{
    private sealed class Layer
    {
        public required float[] InNorm, Q, K, V, O, PostNorm, Gate, Up, Down;
        // Saved activations
        public float[] X = [], H1 = [], Rstd1 = [], Qa = [], Ka = [], Va = [], A = [], Lse = [], X2 = [], H2 = [], Rstd2 = [], G = [], U = [], M = [];
    }

    [TestMethod]
    [DataRow("smollm3_tied_nope")]
    [DataRow("smollm3_tied_nope_bf16")]
    [DataRow("llama_untied")]
    [DataRow("llama_untied_bf16")]
    public void LogitsLossAndEveryGradientMatchTorch(string name)
    {
        var dir = SharedFixtures.Fixture("engine", "models", name);
        var cfg = ModelConfig.Load(dir);
        using var ck = SafetensorsCheckpoint.Open(dir);
        cfg.Validate(ck);
        using var expected = SafetensorsFile.Open(Path.Combine(dir, "expected.safetensors"));
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        var ids = meta.RootElement.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var labels = meta.RootElement.GetProperty("labels").EnumerateArray().Select(e => e.GetInt32()).ToArray();

        int t = ids.Length, dm = cfg.HiddenSize, h = cfg.NumHeads, kv = cfg.NumKvHeads, hd = cfg.HeadDim, inter = cfg.IntermediateSize, vocab = cfg.VocabSize;
        int qd = h * hd, kvd = kv * hd;
        var eps = (float)cfg.RmsNormEps;
        var scale = 1f / MathF.Sqrt(hd);
        var rope = new Rope(hd, cfg.RopeTheta);
        var embed = ck.ReadSingle("model.embed_tokens.weight");
        var head = cfg.TieWordEmbeddings ? embed : ck.ReadSingle("lm_head.weight");
        var normW = ck.ReadSingle("model.norm.weight");
        var layers = Enumerable.Range(0, cfg.NumLayers).Select(i =>
        {
            var p = $"model.layers.{i}.";
            return new Layer
            {
                InNorm = ck.ReadSingle(p + "input_layernorm.weight"), PostNorm = ck.ReadSingle(p + "post_attention_layernorm.weight"),
                Q = ck.ReadSingle(p + "self_attn.q_proj.weight"), K = ck.ReadSingle(p + "self_attn.k_proj.weight"),
                V = ck.ReadSingle(p + "self_attn.v_proj.weight"), O = ck.ReadSingle(p + "self_attn.o_proj.weight"),
                Gate = ck.ReadSingle(p + "mlp.gate_proj.weight"), Up = ck.ReadSingle(p + "mlp.up_proj.weight"),
                Down = ck.ReadSingle(p + "mlp.down_proj.weight"),
            };
        }).ToArray();

        // ---- forward ----
        var hcur = new float[t * dm];
        Embedding.Gather(embed, vocab, dm, ids, hcur);
        for (var li = 0; li < layers.Length; li++)
        {
            var L = layers[li];
            L.X = hcur;
            L.H1 = new float[t * dm]; L.Rstd1 = new float[t];
            RmsNorm.Forward(L.X, L.InNorm, L.H1, L.Rstd1, t, dm, eps);
            L.Qa = new float[t * qd]; L.Ka = new float[t * kvd]; L.Va = new float[t * kvd];
            Gemm.MatMulTransB(L.H1, L.Q, L.Qa, t, dm, qd);
            Gemm.MatMulTransB(L.H1, L.K, L.Ka, t, dm, kvd);
            Gemm.MatMulTransB(L.H1, L.V, L.Va, t, dm, kvd);
            if (cfg.UseRope[li]) { rope.Apply(L.Qa, t, h, 0); rope.Apply(L.Ka, t, kv, 0); }
            L.A = new float[t * qd]; L.Lse = new float[h * t];
            Attention.Forward(L.Qa, L.Ka, L.Va, L.A, L.Lse, t, t, h, kv, hd, scale);
            L.X2 = (float[])L.X.Clone();
            Gemm.MatMulTransB(L.A, L.O, L.X2, t, qd, dm, accumulate: true);
            L.H2 = new float[t * dm]; L.Rstd2 = new float[t];
            RmsNorm.Forward(L.X2, L.PostNorm, L.H2, L.Rstd2, t, dm, eps);
            L.G = new float[t * inter]; L.U = new float[t * inter]; L.M = new float[t * inter];
            Gemm.MatMulTransB(L.H2, L.Gate, L.G, t, dm, inter);
            Gemm.MatMulTransB(L.H2, L.Up, L.U, t, dm, inter);
            Activations.SiluMul(L.G, L.U, L.M);
            hcur = (float[])L.X2.Clone();
            Gemm.MatMulTransB(L.M, L.Down, hcur, t, inter, dm, accumulate: true);
        }
        var hf = new float[t * dm];
        var rstdF = new float[t];
        RmsNorm.Forward(hcur, normW, hf, rstdF, t, dm, eps);
        var logits = new float[t * vocab];
        Gemm.MatMulTransB(hf, head, logits, t, dm, vocab);
        AssertClose("logits", expected.ReadSingle("logits"), logits);
        var maxAbs = logits.Zip(expected.ReadSingle("logits"), (a, b) => Math.Abs(a - b)).Max();
        Assert.IsTrue(maxAbs <= 1e-4, $"logits max abs error {maxAbs}");

        // ForCausalLMLoss: position t predicts labels[t + 1]; the last position has no target.
        var shifted = new int[t];
        for (var i = 0; i < t; i++) shifted[i] = i + 1 < t ? labels[i + 1] : CrossEntropy.IgnoreIndex;
        var dHf = new float[t * dm];
        var dHead = new float[vocab * dm];
        var loss = CrossEntropy.LmHeadLoss(hf, head, shifted, t, dm, vocab, dHf, dHead, out _, chunk: 5);
        var expectedLoss = expected.ReadSingle("loss")[0];
        Assert.AreEqual(expectedLoss, loss, 1e-5 * Math.Abs(expectedLoss), "loss");

        // ---- backward ----
        var dNorm = new float[dm];
        var dh = new float[t * dm];
        RmsNorm.Backward(dHf, hcur, normW, rstdF, dh, dNorm, t, dm);
        var grads = new Dictionary<string, float[]> { ["model.norm.weight"] = dNorm };
        for (var li = layers.Length - 1; li >= 0; li--)
        {
            var L = layers[li];
            var p = $"model.layers.{li}.";
            var dy = dh;
            var gDown = new float[L.Down.Length];
            Gemm.MatMulTransA(dy, L.M, gDown, dm, t, inter);
            var dmid = new float[t * inter];
            Gemm.MatMul(dy, L.Down, dmid, t, dm, inter);
            float[] dg = new float[t * inter], du = new float[t * inter];
            Activations.SiluMulBackward(dmid, L.G, L.U, dg, du);
            float[] gGate = new float[L.Gate.Length], gUp = new float[L.Up.Length];
            Gemm.MatMulTransA(dg, L.H2, gGate, inter, t, dm);
            Gemm.MatMulTransA(du, L.H2, gUp, inter, t, dm);
            var dh2 = new float[t * dm];
            Gemm.MatMul(dg, L.Gate, dh2, t, inter, dm);
            Gemm.MatMul(du, L.Up, dh2, t, inter, dm, accumulate: true);
            var dx2 = (float[])dy.Clone();
            var gPost = new float[dm];
            RmsNorm.Backward(dh2, L.X2, L.PostNorm, L.Rstd2, dx2, gPost, t, dm, accumulateDx: true);
            var gO = new float[L.O.Length];
            Gemm.MatMulTransA(dx2, L.A, gO, dm, t, qd);
            var da = new float[t * qd];
            Gemm.MatMul(dx2, L.O, da, t, dm, qd);
            float[] dq = new float[t * qd], dk = new float[t * kvd], dv = new float[t * kvd];
            Attention.Backward(da, L.Qa, L.Ka, L.Va, L.A, L.Lse, dq, dk, dv, t, t, h, kv, hd, scale);
            if (cfg.UseRope[li]) { rope.Apply(dq, t, h, 0, inverse: true); rope.Apply(dk, t, kv, 0, inverse: true); }
            float[] gQ = new float[L.Q.Length], gK = new float[L.K.Length], gV = new float[L.V.Length];
            Gemm.MatMulTransA(dq, L.H1, gQ, qd, t, dm);
            Gemm.MatMulTransA(dk, L.H1, gK, kvd, t, dm);
            Gemm.MatMulTransA(dv, L.H1, gV, kvd, t, dm);
            var dh1 = new float[t * dm];
            Gemm.MatMul(dq, L.Q, dh1, t, qd, dm);
            Gemm.MatMul(dk, L.K, dh1, t, kvd, dm, accumulate: true);
            Gemm.MatMul(dv, L.V, dh1, t, kvd, dm, accumulate: true);
            var dx = (float[])dx2.Clone();
            var gIn = new float[dm];
            RmsNorm.Backward(dh1, L.X, L.InNorm, L.Rstd1, dx, gIn, t, dm, accumulateDx: true);
            grads[p + "mlp.down_proj.weight"] = gDown;
            grads[p + "mlp.gate_proj.weight"] = gGate;
            grads[p + "mlp.up_proj.weight"] = gUp;
            grads[p + "post_attention_layernorm.weight"] = gPost;
            grads[p + "self_attn.o_proj.weight"] = gO;
            grads[p + "self_attn.q_proj.weight"] = gQ;
            grads[p + "self_attn.k_proj.weight"] = gK;
            grads[p + "self_attn.v_proj.weight"] = gV;
            grads[p + "input_layernorm.weight"] = gIn;
            dh = dx;
        }
        AssertClose("grad.inputs_embeds", expected.ReadSingle("grad.inputs_embeds"), dh, rel: 1e-5);
        var gEmbed = cfg.TieWordEmbeddings ? dHead : new float[embed.Length];
        if (!cfg.TieWordEmbeddings) grads["lm_head.weight"] = dHead;
        Embedding.ScatterAdd(dh, ids, gEmbed, vocab, dm);
        grads["model.embed_tokens.weight"] = gEmbed;

        Assert.AreEqual(cfg.ExpectedTensors().Count, grads.Count, "a gradient for every weight");
        foreach (var (weight, g) in grads)
            AssertClose("grad." + weight, expected.ReadSingle("grad." + weight), g, rel: 1e-5);
    }
}
