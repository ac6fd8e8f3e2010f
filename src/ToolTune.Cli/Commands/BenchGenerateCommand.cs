using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using ToolTune.Model;
using ToolTune.Tensors;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune bench generate --preset smol135m --prompt 512 --new 128 [--repeat 3] [--dtype f32|bf16]</c>: KV-cache greedy
/// decoding on a random-init preset, the work of <c>tests/oracles/model/bench_generate_torch.py</c>. Prefill = one
/// <see cref="CausalLM.Step"/> over the prompt (tokens/s and GFLOP/s, also as a share of this process's measured SGEMM
/// rate); decode = one token per step (tokens/s). Medians over the repeats after a warm-up run; one JSON line.
/// </summary>
internal static class BenchGenerateCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = "smol135m or tiny.", DefaultValueFactory = _ => "smol135m" };
        var prompt = new Option<int>("--prompt") { Description = "Prompt length (random ids).", DefaultValueFactory = _ => 512 };
        var newTokens = new Option<int>("--new") { Description = "Generated tokens (greedy, no stop ids).", DefaultValueFactory = _ => 128 };
        var repeat = new Option<int>("--repeat") { Description = "Timed runs after one warm-up run.", DefaultValueFactory = _ => 3 };
        var profile = new Option<bool>("--profile") { Description = "Add seconds per kernel section of the timed runs (prefill + decode)." };
        var dtype = new Option<string>("--dtype") { Description = "f32 (owned weights) or bf16 (a BF16 snapshot, memory-mapped).", DefaultValueFactory = _ => "f32" };
        dtype.AcceptOnlyFromAmong("f32", "bf16");
        var cmd = new Command("generate", "KV-cache greedy generation speed: prefill tokens/s and GFLOP/s (% of the SGEMM rate), decode tokens/s; one JSON line.")
        {
            preset, prompt, newTokens, repeat, dtype, profile,
        };
        cmd.SetAction(p => PipelineOptions.Guard(() =>
        {
            Run(p.GetValue(preset)!, p.GetValue(prompt), p.GetValue(newTokens), Math.Max(1, p.GetValue(repeat)), p.GetValue(dtype)!, Console.Out, p.GetValue(profile));
            return 0;
        }));
        return cmd;
    }

    public static void Run(string presetName, int promptLength, int newTokens, int repeat, string dtype, TextWriter output, bool profile = false)
    {
        var config = ModelConfig.Preset(presetName);
        string? tempDir = null;
        var weights = ModelWeights.CreateRandom(config, seed: 1);
        if (dtype == "bf16")
        {
            // The mmap path generation really runs on: a BF16 snapshot, opened without widening.
            tempDir = Directory.CreateTempSubdirectory("tooltune-bench-generate-").FullName;
            weights.Save(tempDir, "BF16");
            weights = ModelWeights.Open(tempDir);
        }
        try
        {
            var lm = new CausalLM(weights);
            var rng = new Random(2);
            var ids = Enumerable.Range(0, promptLength).Select(_ => rng.Next(config.VocabSize)).ToArray();
            var options = new DecodingOptions { MaxNewTokens = newTokens };
            var prefill = new List<double>();
            var decode = new List<double>();
            int[] first = [];
            for (var r = 0; r <= repeat; r++) // run 0 warms up (JIT, page cache, pools)
            {
                var result = Generator.Generate(lm, ids, options);
                if (r == 0) continue;
                prefill.Add(result.PrefillSeconds);
                decode.Add(result.TokensPerSecond);
                first = result.Ids.Take(8).ToArray();
            }
            var prefillS = BenchCommand.Median(prefill);
            var prefillGflops = PrefillFlops(config, promptLength) / prefillS / 1e9;
            var gemmLimit = GemmGflops();
            var json = new Dictionary<string, object?>
            {
                ["bench"] = "generate",
                ["preset"] = presetName,
                ["dtype"] = dtype,
                ["prompt_tokens"] = promptLength,
                ["new_tokens"] = newTokens,
                ["repeat"] = repeat,
                ["prefill_s"] = Math.Round(prefillS, 4),
                ["prefill_tokens_per_s"] = Math.Round(promptLength / prefillS, 1),
                ["prefill_gflops"] = Math.Round(prefillGflops, 1),
                ["gemm_gflops_1024"] = Math.Round(gemmLimit, 1),
                ["prefill_pct_of_gemm"] = Math.Round(100 * prefillGflops / gemmLimit, 1),
                ["decode_tokens_per_s"] = Math.Round(BenchCommand.Median(decode), 1),
                ["decode_tokens_per_s_all"] = decode.Select(d => Math.Round(d, 1)).ToArray(),
                ["first_ids"] = first,
                ["peak_rss_mb"] = Math.Round(ModelCommandHelpers.PeakRssMb(), 1),
                ["cores"] = Environment.ProcessorCount,
                ["loadavg"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : null,
            };
            if (profile) ProfileRun(lm, ids, newTokens, json);
            output.WriteLine(JsonSerializer.Serialize(json));
        }
        finally
        {
            weights.Dispose();
            if (tempDir is not null) Directory.Delete(tempDir, recursive: true);
        }
    }

    /// <summary>One more greedy run, profiled: prefill sections in seconds, decode sections in ms per token.</summary>
    private static void ProfileRun(CausalLM lm, int[] ids, int newTokens, Dictionary<string, object?> json)
    {
        var prof = new StepProfile();
        var cache = new CausalLM.KvCache(lm.Config, ids.Length + newTokens);
        StepProfile.Current = prof;
        try
        {
            prof.Reset();
            var next = Generator.ArgMax(lm.Step(ids, cache));
            json["profile_prefill_s"] = prof.Seconds.OrderByDescending(kv => kv.Value).ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 4));
            prof.Reset();
            var steps = Math.Max(1, newTokens - 1);
            for (var t = 0; t < steps; t++) next = Generator.ArgMax(lm.Step([next], cache));
            prof.Lap("other");
            json["profile_decode_ms_per_token"] = prof.Seconds.OrderByDescending(kv => kv.Value).ToDictionary(kv => kv.Key, kv => Math.Round(1000 * kv.Value / steps, 3));
        }
        finally { StepProfile.Current = null; }
    }

    /// <summary>Multiply-adds ×2 of a prefill: every layer's projections per token, causal attention (QKᵀ and PV over
    /// the visible keys), and the LM head for the last position only (what <see cref="CausalLM.Step"/> computes).</summary>
    public static double PrefillFlops(ModelConfig c, int t)
    {
        double h = c.HiddenSize, qd = c.NumHeads * c.HeadDim, kvd = c.NumKvHeads * c.HeadDim, inter = c.IntermediateSize;
        var perTokenLayer = 2 * (h * qd + 2 * h * kvd + qd * h + 3 * h * inter);
        var attentionLayer = 2.0 * 2 * c.NumHeads * c.HeadDim * (t * (t + 1) / 2.0);
        return c.NumLayers * (t * perTokenLayer + attentionLayer) + 2.0 * h * c.VocabSize;
    }

    /// <summary>This process's SGEMM rate on 1024³ (median of 5), the "GEMM limit" prefill is compared with.</summary>
    private static double GemmGflops()
    {
        const int n = 1024;
        var a = new float[n * n];
        var b = new float[n * n];
        var c = new float[n * n];
        for (var i = 0; i < a.Length; i++) { a[i] = (i % 7) * 0.1f; b[i] = (i % 5) * 0.1f; }
        Gemm.MatMul(a, b, c, n, n, n);
        var times = new List<double>();
        for (var r = 0; r < 5; r++)
        {
            var sw = Stopwatch.StartNew();
            Gemm.MatMul(a, b, c, n, n, n);
            times.Add(sw.Elapsed.TotalSeconds);
        }
        return 2.0 * n * n * n / BenchCommand.Median(times) / 1e9;
    }
}
