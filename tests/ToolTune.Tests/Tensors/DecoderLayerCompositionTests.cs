using ToolTune.Tensors;
using static ToolTune.Tests.Tensors.KernelFixture;

namespace ToolTune.Tests.Tensors;

/// <summary>
/// One SmolLM3/Llama decoder layer (RMSNorm → q/k/v → RoPE or NoPE → GQA attention → o → residual → RMSNorm →
/// SwiGLU MLP → residual) composed from the engine's kernels, forward and manual backward, against PyTorch
/// autograd: output, input gradient and every weight gradient.
/// </summary>
[TestClass]
public sealed class DecoderLayerCompositionTests
{
    [TestMethod]
    [DataRow("decoder_layer_rope")]
    [DataRow("decoder_layer_nope")]
    public void LayerForwardAndBackwardMatchTorch(string name)
    {
        var f = Load(name);
        int t = f.Int("tokens"), dm = f.Int("hidden"), h = f.Int("heads"), kv = f.Int("kv_heads"), hd = f.Int("head_dim"), inter = f.Int("intermediate");
        var eps = (float)f.Double("eps");
        var useRope = f.Int("use_rope") == 1;
        var rope = new Rope(hd, f.Double("theta"));
        var scale = 1f / MathF.Sqrt(hd);
        var x = f.F("x");
        float[] wq = f.F("w_q"), wk = f.F("w_k"), wv = f.F("w_v"), wo = f.F("w_o"), wg = f.F("w_gate"), wu = f.F("w_up"), wd = f.F("w_down");
        float[] wIn = f.F("w_in_norm"), wPost = f.F("w_post_norm");
        int qd = h * hd, kvd = kv * hd;

        // Forward
        var h1 = new float[t * dm];
        var rstd1 = new float[t];
        RmsNorm.Forward(x, wIn, h1, rstd1, t, dm, eps);
        float[] q = new float[t * qd], k = new float[t * kvd], v = new float[t * kvd];
        Gemm.MatMulTransB(h1, wq, q, t, dm, qd);
        Gemm.MatMulTransB(h1, wk, k, t, dm, kvd);
        Gemm.MatMulTransB(h1, wv, v, t, dm, kvd);
        if (useRope)
        {
            rope.Apply(q, t, h, 0);
            rope.Apply(k, t, kv, 0);
        }
        var a = new float[t * qd];
        var lse = new float[h * t];
        Attention.Forward(q, k, v, a, lse, t, t, h, kv, hd, scale);
        var x2 = (float[])x.Clone();
        Gemm.MatMulTransB(a, wo, x2, t, qd, dm, accumulate: true);
        var h2 = new float[t * dm];
        var rstd2 = new float[t];
        RmsNorm.Forward(x2, wPost, h2, rstd2, t, dm, eps);
        float[] g = new float[t * inter], u = new float[t * inter], m = new float[t * inter];
        Gemm.MatMulTransB(h2, wg, g, t, dm, inter);
        Gemm.MatMulTransB(h2, wu, u, t, dm, inter);
        Activations.SiluMul(g, u, m);
        var y = (float[])x2.Clone();
        Gemm.MatMulTransB(m, wd, y, t, inter, dm, accumulate: true);
        AssertClose("y", f.F("y"), y);

        // Backward
        var dy = f.F("dy");
        var gWd = new float[wd.Length];
        Gemm.MatMulTransA(dy, m, gWd, dm, t, inter);             // dWd = dyᵀ·m
        var dmid = new float[t * inter];
        Gemm.MatMul(dy, wd, dmid, t, dm, inter);                  // dm = dy·Wd
        float[] dg = new float[g.Length], du = new float[u.Length];
        Activations.SiluMulBackward(dmid, g, u, dg, du);
        float[] gWg = new float[wg.Length], gWu = new float[wu.Length];
        Gemm.MatMulTransA(dg, h2, gWg, inter, t, dm);
        Gemm.MatMulTransA(du, h2, gWu, inter, t, dm);
        var dh2 = new float[t * dm];
        Gemm.MatMul(dg, wg, dh2, t, inter, dm);
        Gemm.MatMul(du, wu, dh2, t, inter, dm, accumulate: true);
        var dx2 = (float[])dy.Clone();                           // residual
        var gPost = new float[dm];
        RmsNorm.Backward(dh2, x2, wPost, rstd2, dx2, gPost, t, dm, accumulateDx: true);
        var gWo = new float[wo.Length];
        Gemm.MatMulTransA(dx2, a, gWo, dm, t, qd);
        var da = new float[t * qd];
        Gemm.MatMul(dx2, wo, da, t, dm, qd);
        float[] dq = new float[q.Length], dk = new float[k.Length], dv = new float[v.Length];
        Attention.Backward(da, q, k, v, a, lse, dq, dk, dv, t, t, h, kv, hd, scale);
        if (useRope)
        {
            rope.Apply(dq, t, h, 0, inverse: true);
            rope.Apply(dk, t, kv, 0, inverse: true);
        }
        float[] gWq = new float[wq.Length], gWk = new float[wk.Length], gWv = new float[wv.Length];
        Gemm.MatMulTransA(dq, h1, gWq, qd, t, dm);
        Gemm.MatMulTransA(dk, h1, gWk, kvd, t, dm);
        Gemm.MatMulTransA(dv, h1, gWv, kvd, t, dm);
        var dh1 = new float[t * dm];
        Gemm.MatMul(dq, wq, dh1, t, qd, dm);
        Gemm.MatMul(dk, wk, dh1, t, kvd, dm, accumulate: true);
        Gemm.MatMul(dv, wv, dh1, t, kvd, dm, accumulate: true);
        var dx = (float[])dx2.Clone();
        var gIn = new float[dm];
        RmsNorm.Backward(dh1, x, wIn, rstd1, dx, gIn, t, dm, accumulateDx: true);

        AssertClose("dx", f.F("dx"), dx);
        AssertClose("g_q", f.F("g_q"), gWq);
        AssertClose("g_k", f.F("g_k"), gWk);
        AssertClose("g_v", f.F("g_v"), gWv);
        AssertClose("g_o", f.F("g_o"), gWo);
        AssertClose("g_gate", f.F("g_gate"), gWg);
        AssertClose("g_up", f.F("g_up"), gWu);
        AssertClose("g_down", f.F("g_down"), gWd);
        AssertClose("g_in_norm", f.F("g_in_norm"), gIn);
        AssertClose("g_post_norm", f.F("g_post_norm"), gPost);
    }
}
