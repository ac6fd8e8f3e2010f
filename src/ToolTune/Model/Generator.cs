using System.Diagnostics;
using ToolTune.Diagnostics;

namespace ToolTune.Model;

public sealed record DecodingOptions
{
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>0 = greedy (argmax, first index on ties).</summary>
    public float Temperature { get; init; }
    /// <summary>Nucleus sampling mass (1 = off).</summary>
    public float TopP { get; init; } = 1f;
    public int Seed { get; init; }
    /// <summary>Generation stops after emitting any of these (the stop id is included in the output).</summary>
    public IReadOnlyCollection<int> StopIds { get; init; } = [];
}

/// <summary>Generated ids (prompt excluded), why it stopped, and timings.</summary>
public sealed record DecodingResult(int[] Ids, FinishReason Reason, double PrefillSeconds, double[] StepSeconds)
{
    public double DecodeSeconds => StepSeconds.Sum();
    /// <summary>Decode tokens per second (tokens after the first / their time; prefill excluded).</summary>
    public double TokensPerSecond => StepSeconds.Length == 0 || DecodeSeconds <= 0 ? 0 : StepSeconds.Length / DecodeSeconds;
}

/// <summary>Autoregressive generation with a KV cache: prefill the prompt once, then one token per step.</summary>
public static class Generator
{
    public static DecodingResult Generate(CausalLM model, ReadOnlySpan<int> prompt, DecodingOptions options) =>
        Generate(model, prompt, options, null, CancellationToken.None);

    /// <summary>
    /// Generation that reports each id as it is produced (a server streams them) and can be ended early: when
    /// <paramref name="onToken"/> returns false (a stop string matched) generation ends with <see cref="FinishReason.Stop"/>; a cancelled
    /// token ends it between steps with <see cref="OperationCanceledException"/>.
    /// </summary>
    public static DecodingResult Generate(CausalLM model, ReadOnlySpan<int> prompt, DecodingOptions options, Func<int, bool>? onToken, CancellationToken cancellationToken)
    {
        if (prompt.Length == 0) throw new ToolTuneException(ErrorCodes.ModelInputInvalid, "empty prompt");
        if (options.MaxNewTokens < 0) throw new ToolTuneException(ErrorCodes.ModelInputInvalid, "max new tokens must be ≥ 0");
        var cache = new CausalLM.KvCache(model.Config, prompt.Length + options.MaxNewTokens);
        var rng = new Random(options.Seed);
        var output = new List<int>();
        var steps = new List<double>();
        var sw = Stopwatch.StartNew();
        cancellationToken.ThrowIfCancellationRequested();
        if (options.MaxNewTokens == 0) return new DecodingResult([], FinishReason.Length, 0, []);
        var logits = model.Step(prompt, cache);
        var prefill = sw.Elapsed.TotalSeconds;
        var reason = FinishReason.Length;
        while (true)
        {
            var next = Sample(logits, options.Temperature, options.TopP, rng);
            output.Add(next);
            if (options.StopIds.Contains(next)) { reason = FinishReason.Stop; onToken?.Invoke(next); break; }
            if (onToken is not null && !onToken(next)) { reason = FinishReason.Stop; break; }
            if (output.Count >= options.MaxNewTokens) break;
            cancellationToken.ThrowIfCancellationRequested();
            sw.Restart();
            logits = model.Step([next], cache);
            steps.Add(sw.Elapsed.TotalSeconds);
        }
        return new DecodingResult(output.ToArray(), reason, prefill, steps.ToArray());
    }

    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    /// <summary>Greedy when temperature ≤ 0; else softmax(logits / T), restricted to the smallest top-p nucleus, sampled.</summary>
    public static int Sample(ReadOnlySpan<float> logits, float temperature, float topP, Random rng)
    {
        if (temperature <= 0) return ArgMax(logits);
        var n = logits.Length;
        var max = logits[ArgMax(logits)];
        var p = new double[n];
        double sum = 0;
        for (var i = 0; i < n; i++) sum += p[i] = Math.Exp((logits[i] - max) / temperature);
        var order = Enumerable.Range(0, n).ToArray();
        Array.Sort(order, (a, b) => p[b].CompareTo(p[a]) is var c && c != 0 ? c : a.CompareTo(b));
        var keep = n;
        if (topP < 1f)
        {
            double cum = 0;
            for (var j = 0; j < n; j++)
            {
                cum += p[order[j]] / sum;
                if (cum >= topP) { keep = j + 1; break; }
            }
        }
        double mass = 0;
        for (var j = 0; j < keep; j++) mass += p[order[j]];
        var u = rng.NextDouble() * mass;
        for (var j = 0; j < keep; j++)
        {
            u -= p[order[j]];
            if (u <= 0) return order[j];
        }
        return order[keep - 1];
    }
}
