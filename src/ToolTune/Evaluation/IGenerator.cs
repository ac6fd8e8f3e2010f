using ToolTune.Model;

namespace ToolTune.Evaluation;

/// <summary>Decoding settings (from the <c>eval:</c> config section).</summary>
/// <param name="MaxNewTokens">Hard cap on generated tokens.</param>
/// <param name="Temperature">0 = greedy.</param>
/// <param name="StopIds">End-of-turn ids (SmolLM3: <c>&lt;|im_end|&gt;</c> 128012, <c>&lt;|end_of_text|&gt;</c> 128001).</param>
/// <param name="Seed">Sampling seed when <paramref name="Temperature"/> &gt; 0.</param>
public sealed record GenerationOptions(int MaxNewTokens, double Temperature, IReadOnlyCollection<int> StopIds, ulong Seed = 0);

/// <summary>What one generation produced.</summary>
/// <param name="Ids">Generated ids only (no prompt).</param>
/// <param name="Reason">Stop or length.</param>
/// <param name="PrefillTime">Time to process the prompt (first token latency).</param>
/// <param name="DecodeTime">Time for the remaining tokens.</param>
public sealed record GenerationResult(IReadOnlyList<int> Ids, FinishReason Reason, TimeSpan PrefillTime, TimeSpan DecodeTime)
{
    public TimeSpan Total => PrefillTime + DecodeTime;
}

/// <summary>
/// A model that continues a prompt: prompt ids → generated ids and timings. The Evaluate stage passes the
/// merged model and the base model (KV-cache greedy decoding); tests pass scripted fakes.
/// </summary>
public interface IGenerator
{
    /// <summary>A label for reports (e.g. the model folder name).</summary>
    string Name { get; }

    GenerationResult Generate(IReadOnlyList<int> promptIds, GenerationOptions options, CancellationToken cancellationToken);
}

/// <summary>
/// A model Evaluate runs: generation plus the validation loss and the shape (stop ids are checked against the vocabulary).
/// <c>eval.backend</c> picks the implementation: <see cref="ModelGenerator"/> (managed) or <c>Torch.TorchGenerator</c>.
/// </summary>
public interface IEvaluationModel : IGenerator, IDisposable
{
    Model.ModelConfig Config { get; }

    /// <summary>Mean cross-entropy over labelled tokens (labels aligned with ids, −100 ignored); null when nothing is labelled.</summary>
    double? MeanLoss(IEnumerable<(int[] Ids, int[] Labels)> samples, CancellationToken ct);
}

public static class EvaluationModels
{
    /// <summary>The model folder as an <see cref="IEvaluationModel"/> on the backend <paramref name="backend"/> names
    /// (<c>eval.backend</c>); the torch one is launched with <paramref name="torch"/>'s interpreter and device, its module
    /// written into <paramref name="workDirectory"/>.</summary>
    public static IEvaluationModel Open(string backend, Torch.TorchOptions torch, string modelDir, string name, string workDirectory, string? configFile) =>
        backend == "torch"
            ? new Torch.TorchGenerator(modelDir, torch, workDirectory, name, configFile)
            : new ModelGenerator(modelDir, name);
}
