using System.Diagnostics;
using ToolTune.Tensors;

namespace ToolTune.Model;

/// <summary>Sampling settings: temperature 0 is greedy (argmax, lowest id on ties).</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 128;
    public float Temperature { get; init; }
    public float TopP { get; init; } = 1f;
    public int Seed { get; init; }
    public IReadOnlyCollection<int> StopIds { get; init; } = [];
}

/// <summary>Generated ids (the stop id included when one ended generation) and per-step wall times.</summary>
public sealed record GenerationResult(int[] Ids, double PrefillSeconds, double[] StepSeconds, bool Stopped)
{
    public double TokensPerSecond => StepSeconds.Length == 0 ? 0 : StepSeconds.Length / Math.Max(1e-9, StepSeconds.Sum());
}

/// <summary>Autoregressive generation with a KV cache.</summary>
public static class Generator
{
    public static GenerationResult Generate(DecoderModel model, ReadOnlySpan<int> prompt, GenerationOptions options)
    {
        if (prompt.IsEmpty) throw new ArgumentException("the prompt must hold at least one token");
        var vocab = model.Config.VocabSize;
        var cache = model.CreateCache(prompt.Length + options.MaxNewTokens);
        var rng = new Random(options.Seed);
        var ids = new List<int>();
        var steps = new List<double>();
        var sw = Stopwatch.StartNew();
        var logits = model.Logits(prompt, cache);
        var prefill = sw.Elapsed.TotalSeconds;
        var last = logits.AsSpan((prompt.Length - 1) * vocab, vocab).ToArray();
        var stopped = false;
        for (var step = 0; step < options.MaxNewTokens; step++)
        {
            sw.Restart();
            var next = Pick(last, options, rng);
            ids.Add(next);
            if (options.StopIds.Contains(next))
            {
                steps.Add(sw.Elapsed.TotalSeconds);
                stopped = true;
                break;
            }
            if (step + 1 < options.MaxNewTokens) last = model.Logits([next], cache);
            steps.Add(sw.Elapsed.TotalSeconds);
        }
        return new GenerationResult(ids.ToArray(), prefill, steps.ToArray(), stopped);
    }

    /// <summary>Greedy (temperature ≤ 0) or temperature + top-p (nucleus) sampling.</summary>
    public static int Pick(ReadOnlySpan<float> logits, GenerationOptions options, Random rng)
    {
        if (options.Temperature <= 0f)
        {
            var best = 0;
            for (var i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
            return best;
        }
        var p = new float[logits.Length];
        for (var i = 0; i < p.Length; i++) p[i] = logits[i] / options.Temperature;
        var sum = FastMath.ExpShiftSum(p, FastMath.Max(p), p);
        var order = Enumerable.Range(0, p.Length).OrderByDescending(i => p[i]).ThenBy(i => i).ToArray();
        var keep = order.Length;
        if (options.TopP < 1f)
        {
            double cum = 0;
            for (var r = 0; r < order.Length; r++)
            {
                cum += p[order[r]] / sum;
                if (cum >= options.TopP) { keep = r + 1; break; }
            }
        }
        double total = 0;
        for (var r = 0; r < keep; r++) total += p[order[r]];
        var u = rng.NextDouble() * total;
        for (var r = 0; r < keep; r++)
        {
            u -= p[order[r]];
            if (u <= 0) return order[r];
        }
        return order[keep - 1];
    }
}
