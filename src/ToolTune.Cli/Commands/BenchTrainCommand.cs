using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using ToolTune.Lora;
using ToolTune.Model;
using ToolTune.Tensors;
using ToolTune.Training;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune bench train --preset smol135m|tiny --seq 512 --steps 4 [--rank 16] [--mode lora|frozen]</c>: time of one
/// training step on a random-init model, batch 1 × seq, labels on the second half. Default <c>lora</c>: the step a PyTorch
/// PEFT LoRA step does (<c>tests/oracles/model/bench_train_torch.py</c>) — LoRA r, alpha 2r on q,k,v,o,gate,up,down and
/// embed_tokens over frozen f32 base weights, forward + backward + AdamW update of the adapters. <c>frozen</c>: the older
/// stand-in (forward + backward, RMSNorm weights + input-embedding gradient, no adapters, no optimizer).
/// </summary>
internal static class BenchTrainCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = "smol135m or tiny.", DefaultValueFactory = _ => "smol135m" };
        var seq = new Option<int>("--seq") { Description = "Sequence length.", DefaultValueFactory = _ => 512 };
        var steps = new Option<int>("--steps") { Description = "Timed steps (after one warm-up step).", DefaultValueFactory = _ => 4 };
        var rank = new Option<int>("--rank") { Description = "LoRA rank of the adapters in lora mode (alpha = 2 × rank); recorded in the JSON.", DefaultValueFactory = _ => 16 };
        var mode = new Option<string>("--mode") { Description = "lora (LoRA step with AdamW, default) or frozen (forward+backward stand-in).", DefaultValueFactory = _ => "lora" };
        mode.AcceptOnlyFromAmong("lora", "frozen");
        var checkpointing = new Option<bool>("--checkpointing") { Description = "Per-layer gradient checkpointing." };
        var profile = new Option<bool>("--profile") { Description = "Add seconds, share of the step and allocated KB per kernel section (mean over timed steps)." };
        var modelDir = new Option<string?>("--model") { Description = "Train on this snapshot (memory-mapped, e.g. BF16; `bench open --make-3b` writes a 3B-shaped one) instead of a random-init preset." };
        var save = new Option<string?>("--save-snapshot") { Description = "Also write the random-init model as a BF16 HF snapshot to this folder." };
        var command = new Command("train", "Benchmark a training step (forward + backward) on a random-init preset; one JSON line.")
        {
            preset, seq, steps, rank, checkpointing, profile, save, mode, modelDir,
        };
        command.SetAction(parse =>
        {
            Run(parse.GetValue(preset)!, parse.GetValue(seq), parse.GetValue(steps), parse.GetValue(rank), parse.GetValue(checkpointing), Console.Out,
                parse.GetValue(profile), parse.GetValue(save), parse.GetValue(mode)!, parse.GetValue(modelDir));
            return 0;
        });
        return command;
    }

    public static void Run(string presetName, int seq, int steps, int rank, bool checkpointing, TextWriter output, bool profile = false, string? saveSnapshot = null, string mode = "lora",
        string? modelDir = null)
    {
        using var weights = modelDir is null ? ModelWeights.CreateRandom(ModelConfig.Preset(presetName), seed: 1) : ModelWeights.Open(modelDir);
        var config = weights.Config;
        var baseKind = weights["model.layers.0.self_attn.q_proj.weight"].IsBF16 ? "bf16 memory-mapped" : "f32";
        if (modelDir is not null) presetName = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelDir)));
        if (saveSnapshot is not null) weights.Save(saveSnapshot, "BF16");
        var lm = new CausalLM(weights) { GradientCheckpointing = checkpointing };
        var lora = mode == "lora";
        AdamW? opt = null;
        IReadOnlyList<Param> trained;
        if (lora)
        {
            var cfg = new LoraConfig { R = rank, Alpha = 2 * rank, TargetModules = [.. LoraConfig.AttentionModules, .. LoraConfig.MlpModules, "embed_tokens"] };
            var adapter = LoraAdapter.Create(cfg, config, seed: 3);
            var model = new LoraTrainableModel(lm, adapter); // attaches the adapter, freezes the base
            trained = model.Parameters;
            opt = new AdamW(trained, weightDecay: 0.0);
        }
        else
        {
            lm.SetTrainable(p => p.Shape.Length == 1); // stand-in trainable set: RMSNorm weights
            trained = lm.Parameters.Where(p => p.Grad is not null).ToArray();
        }
        var rng = new Random(2);
        var ids = new int[seq];
        for (var i = 0; i < seq; i++) ids[i] = rng.Next(config.VocabSize);
        var labels = ids.Select((id, i) => i < seq / 2 ? CrossEntropy.IgnoreIndex : id).ToArray();
        var dEmb = lora ? null : new float[seq * config.HiddenSize];
        var times = new List<double>();
        double loss = 0;
        var prof = profile ? new StepProfile() : null;
        long alloc0 = 0;
        var gc0 = new int[3];
        for (var s = 0; s <= steps; s++)
        {
            if (s == 1)
            {
                alloc0 = GC.GetTotalAllocatedBytes(precise: true);
                for (var g = 0; g < 3; g++) gc0[g] = GC.CollectionCount(g);
                if (prof is not null) { StepProfile.Current = prof; prof.Reset(); }
            }
            var sw = Stopwatch.StartNew();
            foreach (var p in trained) p.Grad?.AsSpan().Clear();
            prof?.Lap("other");
            loss = lm.ForwardBackward(ids, labels, 1, seq, dEmb);
            prof?.Lap("other");
            opt?.Update(1e-4);
            prof?.Lap("optimizer");
            times.Add(sw.Elapsed.TotalSeconds);
        }
        StepProfile.Current = null;
        var allocPerStep = steps > 0 ? (GC.GetTotalAllocatedBytes(precise: true) - alloc0) / (double)steps / 1048576.0 : 0;
        // Collections per timed step by generation (gen1 counts include gen2 ones, as GC.CollectionCount does).
        var gcPerStep = Enumerable.Range(0, 3).Select(g => steps > 0 ? Math.Round((GC.CollectionCount(g) - gc0[g]) / (double)steps, 2) : 0).ToArray();
        var timed = times.Skip(1).ToArray();
        var median = timed.Order().ElementAt(timed.Length / 2);
        var json = new Dictionary<string, object?>
        {
            ["bench"] = "train",
            ["preset"] = presetName,
            ["seq"] = seq,
            ["batch"] = 1,
            ["steps"] = steps,
            ["rank"] = rank,
            ["gradient_checkpointing"] = checkpointing,
            ["mode"] = mode,
            ["measured"] = lora
                ? $"LoRA step: r={rank}, alpha={2 * rank} on q,k,v,o,gate,up,down + embed_tokens, frozen {baseKind} base, forward+backward+AdamW"
                : $"forward+backward, frozen {baseKind} base weights, grads for all inputs + RMSNorm weights (LoRA stand-in; no adapters, no optimizer)",
            ["trainable_params"] = trained.Sum(p => (long)p.Count),
            ["step_s"] = Math.Round(median, 4),
            ["step_s_all"] = timed.Select(t => Math.Round(t, 4)).ToArray(),
            ["warmup_s"] = Math.Round(times[0], 4),
            ["tokens_per_s"] = Math.Round(seq / median, 1),
            ["peak_rss_mb"] = Math.Round(ModelCommandHelpers.PeakRssMb(), 1),
            ["alloc_mb_per_step"] = Math.Round(allocPerStep, 1),
            ["gcs_per_step"] = new Dictionary<string, double> { ["gen0"] = gcPerStep[0], ["gen1"] = gcPerStep[1], ["gen2"] = gcPerStep[2] },
            ["cores"] = Environment.ProcessorCount,
            ["loss"] = Math.Round(loss, 5),
            ["loadavg"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : null,
        };
        if (prof is not null)
        {
            var total = prof.Seconds.Values.Sum();
            var sections = prof.Seconds.OrderByDescending(kv => kv.Value).ToArray();
            json["profile_s"] = sections.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value / Math.Max(1, steps), 4));
            json["profile_share"] = sections.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value / Math.Max(1e-12, total), 4));
            json["profile_alloc_kb_per_step"] = sections.ToDictionary(kv => kv.Key, kv => Math.Round(prof.AllocatedBytes.GetValueOrDefault(kv.Key) / 1024.0 / Math.Max(1, steps), 1));
        }
        output.WriteLine(JsonSerializer.Serialize(json, new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
    }
}
