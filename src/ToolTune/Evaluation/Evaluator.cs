using System.Diagnostics;
using ToolTune.Diagnostics;
using ToolTune.Model;
using ToolTune.Text.Tokenization;

namespace ToolTune.Evaluation;

/// <summary>Generation speed over one model's run.</summary>
public sealed record EvalSpeed(int Prompts, long PromptTokens, long GeneratedTokens, TimeSpan Prefill, TimeSpan Decode, TimeSpan Wall)
{
    public double PromptsPerSecond => Wall.TotalSeconds > 0 ? Prompts / Wall.TotalSeconds : 0;

    /// <summary>Generated tokens per second of decode time (prefill excluded).</summary>
    public double DecodeTokensPerSecond => Decode.TotalSeconds > 0 ? GeneratedTokens / Decode.TotalSeconds : 0;

    /// <summary>Generated tokens per wall-clock second (prefill included).</summary>
    public double GeneratedTokensPerSecond => Wall.TotalSeconds > 0 ? GeneratedTokens / Wall.TotalSeconds : 0;
}

/// <summary>One model's evaluation: the scored samples, metrics overall and per category, speed.</summary>
public sealed record ModelEvaluation(
    string Label,
    string ModelName,
    IReadOnlyList<SampleResult> Samples,
    MetricSet Metrics,
    SortedDictionary<string, MetricSet> Categories,
    EvalSpeed Speed)
{
    /// <summary>Where the verdicts come from (reports name it next to each metric).</summary>
    public string Path { get; init; } = "in-process: generated token ids, vLLM's Hermes parser on ids";
}

/// <summary>
/// Runs a generator over the eval items: renders each prompt (chat template with the tools and the generation
/// prompt → ids), generates, parses on ids, scores, and computes the metrics.
/// </summary>
public sealed class Evaluator
{
    private readonly Func<EvalItem, IReadOnlyList<int>> _render;
    private readonly GenerationOptions _options;

    /// <param name="tokenizer">The model's tokenizer (delimiter ids, decoding).</param>
    /// <param name="renderPrompt">Renders an item's <see cref="EvalItem.RenderContext"/> with <c>add_generation_prompt</c> to ids.</param>
    /// <param name="options">Decoding settings; empty <see cref="GenerationOptions.StopIds"/> → <see cref="ModelSnapshot.TokenizerStopIds"/>.</param>
    public Evaluator(Tokenizer tokenizer, Func<EvalItem, IReadOnlyList<int>> renderPrompt, GenerationOptions options)
    {
        _render = renderPrompt;
        var stops = options.StopIds.Count > 0 ? options.StopIds : ModelSnapshot.TokenizerStopIds(tokenizer);
        _options = options with { StopIds = stops };
        Scorer = new SampleScorer(HermesToolCallParser.FromTokenizer(tokenizer), stops, ids => tokenizer.Decode(ids, skipSpecialTokens: false));
    }

    public Evaluator(SampleScorer scorer, Func<EvalItem, IReadOnlyList<int>> renderPrompt, GenerationOptions options)
    {
        _render = renderPrompt;
        _options = options;
        Scorer = scorer;
    }

    public SampleScorer Scorer { get; }
    public GenerationOptions Options => _options;

    public ModelEvaluation Run(string label, IGenerator generator, IReadOnlyList<EvalItem> items, double? evalLoss, CancellationToken ct)
    {
        var samples = new List<SampleResult>(items.Count);
        long promptTokens = 0, generated = 0;
        var prefill = TimeSpan.Zero;
        var decode = TimeSpan.Zero;
        var wall = Stopwatch.StartNew();
        var prompts = new IReadOnlyList<int>[items.Count];
        var results = new GenerationResult[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                prompts[i] = _render(items[i]);
            }
            catch (ToolTuneException) { throw; }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new ToolTuneException(ErrorCodes.EvalTemplateFailed, $"Rendering eval item '{items[i].Id}' failed: {e.Message}", inner: e);
            }
        }
        void Generate(int i)
        {
            try
            {
                results[i] = generator.Generate(prompts[i], _options, ct);
            }
            catch (ToolTuneException) { throw; }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new ToolTuneException(ErrorCodes.EvalGenerationFailed, $"{label} model '{generator.Name}' failed on eval item '{items[i].Id}': {e.Message}", inner: e);
            }
        }
        // A server takes several requests at once; the managed model generates one prompt at a time.
        if (generator is Endpoint.IConcurrentGenerator { Concurrency: > 1 } concurrent)
        {
            try
            {
                Parallel.For(0, items.Count, new ParallelOptions { MaxDegreeOfParallelism = concurrent.Concurrency, CancellationToken = ct }, Generate);
            }
            catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is ToolTuneException) is { } first)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
            }
        }
        else
            for (var i = 0; i < items.Count; i++)
            {
                ct.ThrowIfCancellationRequested();
                Generate(i);
            }
        for (var i = 0; i < items.Count; i++)
        {
            var gen = results[i];
            promptTokens += prompts[i].Count;
            generated += gen.Ids.Count;
            prefill += gen.PrefillTime;
            decode += gen.DecodeTime;
            samples.Add(Scorer.Score(label, items[i], prompts[i], gen));
        }
        wall.Stop();
        var result = new ModelEvaluation(label, generator.Name, samples, EvalMetrics.Compute(samples, evalLoss), EvalMetrics.ByCategory(samples),
            new EvalSpeed(items.Count, promptTokens, generated, prefill, decode, wall.Elapsed));
        return generator is Endpoint.EndpointRawGenerator ? result with { Path = Endpoint.EndpointRawGenerator.PathDescription } : result;
    }
}
