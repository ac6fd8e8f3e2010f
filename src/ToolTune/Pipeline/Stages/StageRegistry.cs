using System.Collections.Concurrent;
using ToolTune.Diagnostics;

namespace ToolTune.Pipeline.Stages;

/// <summary>
/// Stage implementations by name. The MSBuild targets and CLI verbs run stages by name; the pipeline's stages
/// register here, in <see cref="PipelineOrder"/>; others (the tests' small stages) through <see cref="Register"/>.
/// </summary>
public static class StageRegistry
{
    /// <summary>The product's stages, in pipeline order: one list, with their implementations.</summary>
    private static readonly IStage[] PipelineOrder =
    [
        new PrepareDataStage(),
        new VerifyTokensStage(),
        new TrainLoraStage(),
        new MergeAdapterStage(),
        new EvaluateStage(),
    ];

    /// <summary>
    /// The product's stage names, in pipeline order: <c>Pipeline.proj</c>'s default build runs these (the
    /// <c>ToolTuneStage</c> items of build/ToolTune.Stages.targets, which a test keeps equal to this list) and the
    /// CLI's <c>status</c> reports them.
    /// </summary>
    public static IReadOnlyList<string> PipelineStages { get; } = Array.AsReadOnly(PipelineOrder.Select(s => s.Name).ToArray());

    private static readonly ConcurrentDictionary<string, IStage> Stages = new(StringComparer.Ordinal);

    static StageRegistry()
    {
        foreach (var stage in PipelineOrder)
            Stages[stage.Name] = stage;
    }

    /// <summary>Adds or replaces a stage (tests, extensions).</summary>
    public static void Register(IStage stage) => Stages[stage.Name] = stage;

    public static bool TryGet(string name, out IStage stage) => Stages.TryGetValue(name, out stage!);

    public static IStage Get(string name)
    {
        if (Stages.TryGetValue(name, out var stage)) return stage;
        if (PipelineStages.Contains(name))
            throw new ToolTuneException(ErrorCodes.StageNotImplemented, $"Stage '{name}' is part of the pipeline but has no implementation in this build yet.");
        throw new ToolTuneException(ErrorCodes.StageUnknown,
            $"Unknown stage '{name}'. Known stages: {string.Join(", ", Stages.Keys.Order(StringComparer.Ordinal))}.");
    }
}
