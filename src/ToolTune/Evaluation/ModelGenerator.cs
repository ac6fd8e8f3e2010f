using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Model;
using ToolTune.Tensors;
using ToolTune.Text.Tokenization;

namespace ToolTune.Evaluation;

/// <summary>
/// <see cref="IGenerator"/> over the managed model (<see cref="Generator"/>: KV cache, greedy or temperature sampling,
/// stop ids). Owns the memory-mapped weights: dispose it.
/// </summary>
public sealed class ModelGenerator : IEvaluationModel
{
    private readonly ModelWeights _weights;
    private readonly CausalLM _model;

    public ModelGenerator(string modelDir, string? name = null)
    {
        ModelDir = modelDir;
        _weights = ModelWeights.Open(modelDir);
        _model = new CausalLM(_weights);
        Name = name ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(modelDir));
    }

    /// <summary>A generator over weights the caller built (e.g. <see cref="ModelWeights.CreateRandom"/> for benchmarks); takes ownership.</summary>
    public ModelGenerator(ModelWeights weights, string name)
    {
        ModelDir = "";
        _weights = weights;
        _model = new CausalLM(weights);
        Name = name;
    }

    public string Name { get; }
    public string ModelDir { get; }
    public ModelConfig Config => _weights.Config;
    /// <summary>The model itself (validation loss).</summary>
    public CausalLM Model => _model;

    public GenerationResult Generate(IReadOnlyList<int> promptIds, GenerationOptions options, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var vocab = _weights.Config.VocabSize;
        foreach (var id in promptIds)
            if (id < 0 || id >= vocab)
                throw new ToolTuneException(ErrorCodes.EvalGenerationFailed, $"prompt token id {id} is outside the vocabulary [0, {vocab}) of model '{Name}'.");
        var r = Generator.Generate(_model, promptIds.ToArray(), new Model.DecodingOptions
        {
            MaxNewTokens = options.MaxNewTokens,
            Temperature = (float)options.Temperature,
            Seed = unchecked((int)options.Seed),
            StopIds = options.StopIds,
        });
        return new GenerationResult(r.Ids, r.Reason,
            TimeSpan.FromSeconds(r.PrefillSeconds), TimeSpan.FromSeconds(r.DecodeSeconds));
    }

    /// <summary>Mean cross-entropy over labelled tokens (labels aligned with ids, −100 ignored) of a set of samples, one
    /// sample at a time; null when nothing is labelled.</summary>
    public double? MeanLoss(IEnumerable<(int[] Ids, int[] Labels)> samples, CancellationToken ct)
    {
        double sum = 0;
        long count = 0;
        foreach (var (ids, labels) in samples)
        {
            ct.ThrowIfCancellationRequested();
            var n = 0;
            for (var t = 1; t < labels.Length; t++) if (labels[t] != CrossEntropy.IgnoreIndex) n++;
            if (n == 0) continue;
            sum += _model.Loss(ids, labels, 1, ids.Length) * n;
            count += n;
        }
        return count == 0 ? null : sum / count;
    }

    public void Dispose() => _weights.Dispose();
}
