using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ToolTune.Tensors;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune bench kernels</c>: median time of the non-GEMM kernels at smol135m-like shapes (one JSON line each).</summary>
internal static class BenchKernelsCommand
{
    public static Command Create()
    {
        var reps = new Option<int>("--reps") { Description = "Timed repetitions (median reported).", DefaultValueFactory = _ => 5 };
        var seq = new Option<int>("--seq") { Description = "Sequence length.", DefaultValueFactory = _ => 512 };
        var command = new Command("kernels", "Benchmark attention, LM-head cross-entropy, RMSNorm, SiLU·mul, RoPE (forward and backward).") { reps, seq };
        command.SetAction(parse =>
        {
            Run(parse.GetValue(seq), parse.GetValue(reps), Console.Out);
            return 0;
        });
        return command;
    }

    private static float[] Rand(int n, int seed)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (var i = 0; i < n; i++) x[i] = (float)(r.NextDouble() * 2 - 1);
        return x;
    }

    public static void Run(int t, int reps, TextWriter output)
    {
        const int hidden = 576, inter = 1536, hq = 9, hkv = 3, d = 64, vocab = 49152;
        var q = Rand(t * hq * d, 1);
        var k = Rand(t * hkv * d, 2);
        var v = Rand(t * hkv * d, 3);
        var o = new float[q.Length];
        var lse = new float[hq * t];
        var dO = Rand(q.Length, 4);
        float[] dq = new float[q.Length], dk = new float[k.Length], dv = new float[v.Length];
        var scale = 1f / MathF.Sqrt(d);
        var h = Rand(t * hidden, 5);
        var w = Rand(vocab * hidden, 6);
        for (var i = 0; i < w.Length; i++) w[i] *= 0.05f;
        var labels = Enumerable.Range(0, t).Select(i => i < t / 2 ? CrossEntropy.IgnoreIndex : (i * 7919) % vocab).ToArray();
        var dh = new float[h.Length];
        var dw = new float[w.Length];
        var nw = Rand(hidden, 7);
        var rstd = new float[t];
        var y = new float[h.Length];
        var g = Rand(t * inter, 8);
        var u = Rand(t * inter, 9);
        var act = new float[g.Length];
        var rope = new Rope(d, 100000);

        void Measure(string name, double flops, Action body)
        {
            // Warm-up: let tiered JIT reach optimised code (≥ 30 calls or 1 s).
            var warm = Stopwatch.StartNew();
            for (var w = 0; w < 40 && warm.Elapsed.TotalSeconds < 1; w++) body();
            var times = new List<double>();
            var cpu = new List<double>();
            var proc = Process.GetCurrentProcess();
            for (var r = 0; r < reps; r++)
            {
                proc.Refresh();
                var c0 = proc.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                body();
                times.Add(sw.Elapsed.TotalSeconds);
                proc.Refresh();
                cpu.Add((proc.TotalProcessorTime - c0).TotalSeconds);
            }
            times.Sort();
            cpu.Sort();
            var med = times[times.Count / 2];
            var cpuMed = cpu[cpu.Count / 2];
            var gf = flops > 0 ? string.Create(CultureInfo.InvariantCulture, $",\"gflops\":{flops / med / 1e9:F1}") : "";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"bench\":\"kernel\",\"kernel\":\"{name}\",\"seq\":{t},\"median_ms\":{med * 1e3:F3},\"cpu_ms\":{cpuMed * 1e3:F3}{gf}}}"));
        }

        var ga = Rand(512 * 576, 10);
        var gb = Rand(576 * 1536, 11);
        var gc = new float[512 * 1536];
        Measure("gemm_512x576x1536_ref", 2.0 * 512 * 576 * 1536, () => Gemm.MatMul(ga, gb, gc, 512, 576, 1536));
        // The LoRA r = 16 products of one gate_proj-sized module (in 576, out 1536) at this seq: the narrow GEMMs
        // (n or k = r) whose efficiency the training profile's lora_fwd/lora_bwd shares depend on.
        const int r = 16;
        var la = Rand(r * hidden, 12);
        var lb = Rand(inter * r, 13);
        var lh = new float[t * r];
        var ldy = Rand(t * inter, 14);
        var lgA = new float[r * hidden];
        var lgB = new float[inter * r];
        var ldx = new float[t * hidden];
        Measure("lora_h=x·Aᵀ", 2.0 * t * hidden * r, () => Gemm.MatMulTransB(h, la, lh, t, hidden, r));
        Measure("lora_y+=h·Bᵀ", 2.0 * t * r * inter, () => Gemm.MatMulTransB(lh, lb, ldy, t, r, inter, accumulate: true));
        Measure("lora_dh=dy·B", 2.0 * t * inter * r, () => Gemm.MatMul(ldy, lb, lh, t, inter, r));
        Measure("lora_dB+=dyᵀ·h", 2.0 * t * inter * r, () => Gemm.MatMulTransA(ldy, lh, lgB, inter, t, r, accumulate: true));
        Measure("lora_dA+=dhᵀ·x", 2.0 * t * hidden * r, () => Gemm.MatMulTransA(lh, h, lgA, r, t, hidden, accumulate: true));
        Measure("lora_dx+=dh·A", 2.0 * t * r * hidden, () => Gemm.MatMul(lh, la, ldx, t, r, hidden, accumulate: true));
        var attnFlops = 2.0 * 2 * hq * d * t * (t + 1) / 2.0; // causal QKᵀ and PV
        Measure("attention_fwd", attnFlops, () => Attention.Forward(q, k, v, o, lse, t, t, hq, hkv, d, scale));
        Measure("attention_bwd", 2.5 * attnFlops, () => Attention.Backward(dO, q, k, v, o, lse, dq, dk, dv, t, t, hq, hkv, d, scale));
        var ceFlops = 2.0 * (t / 2) * hidden * vocab;
        Measure("lm_head_ce_fwd", ceFlops, () => CrossEntropy.LmHeadLoss(h, w, labels, t, hidden, vocab, out _));
        Measure("lm_head_ce_fwd_bwd", 3 * ceFlops, () => CrossEntropy.LmHeadLoss(h, w, labels, t, hidden, vocab, dh, dw, out _));
        Measure("rmsnorm_fwd", 0, () => RmsNorm.Forward(h, nw, y, rstd, t, hidden, 1e-6f));
        Measure("rmsnorm_bwd", 0, () => RmsNorm.Backward(dh, h, nw, rstd, y, [], t, hidden));
        Measure("silu_mul_fwd", 0, () => Activations.SiluMul(g, u, act));
        var dgate = new float[g.Length];
        var dup = new float[g.Length];
        Measure("silu_mul_bwd", 0, () => Activations.SiluMulBackward(act, g, u, dgate, dup));
        Measure("rope_q", 0, () => rope.Apply(q, t, hq, 0));
    }
}
