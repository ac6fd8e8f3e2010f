using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ToolTune.Model;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune bench train --preset smol135m|tiny --seq 512 --steps 4 [--rank 16]</c>: one JSON line with the median
/// step time. Today a step is the frozen-base forward + backward (loss on the second half, gradients through
/// every layer to the input embeddings, per-layer checkpointing): the work of a LoRA step minus the rank-r adapter
/// GEMMs and the optimizer, which arrive with the LoRA/training layer.
/// </summary>
internal static class BenchTrainCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = "smol135m or tiny.", DefaultValueFactory = _ => "smol135m" };
        var seq = new Option<int>("--seq") { Description = "Tokens per step (batch 1).", DefaultValueFactory = _ => 512 };
        var steps = new Option<int>("--steps") { Description = "Timed steps (after one warm-up).", DefaultValueFactory = _ => 4 };
        var rank = new Option<int>("--rank") { Description = "LoRA rank (reported; adapters not wired yet).", DefaultValueFactory = _ => 16 };
        var command = new Command("train", "Benchmark a training step on a random-init preset model.") { preset, seq, steps, rank };
        command.SetAction(parse =>
        {
            Run(parse.GetValue(preset)!, parse.GetValue(seq), parse.GetValue(steps), parse.GetValue(rank), Console.Out);
            return 0;
        });
        return command;
    }

    public static void Run(string presetName, int seq, int steps, int rank, TextWriter output)
    {
        var config = Presets.Get(presetName);
        using var model = DecoderModel.Random(config, seed: 1);
        var rng = new Random(2);
        var ids = Enumerable.Range(0, seq).Select(_ => rng.Next(config.VocabSize)).ToArray();
        var labels = ids.Select((id, i) => i >= seq / 2 ? id : -100).ToArray();
        var none = new HashSet<string>();
        var grads = new Dictionary<string, float[]>();
        double loss = model.LossAndGradients(ids, labels, none, grads, out _); // warm-up
        var times = new List<double>();
        for (var s = 0; s < Math.Max(1, steps); s++)
        {
            var sw = Stopwatch.StartNew();
            loss = model.LossAndGradients(ids, labels, none, grads, out _);
            times.Add(sw.Elapsed.TotalSeconds);
        }
        times.Sort();
        var median = times[times.Count / 2];
        var peak = Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{{\"bench\":\"train\",\"preset\":\"{presetName}\",\"seq\":{seq},\"steps\":{times.Count},\"rank\":{rank},\"mode\":\"frozen-base-fwd-bwd\",\"step_s\":{median:F3},\"tokens_per_s\":{seq / median:F1},\"peak_rss_mb\":{peak:F0},\"loss\":{loss:F4}}}"));
    }
}
