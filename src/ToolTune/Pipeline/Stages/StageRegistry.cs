using System.Collections.Concurrent;
using ToolTune.Diagnostics;

namespace ToolTune.Pipeline.Stages;

/// <summary>
/// Stage implementations by name. The MSBuild targets and CLI verbs run stages by name; built-in stages
/// register here. The integration of PrepareData and VerifyTokens adds one line each to <see cref="BuiltIn"/>.
/// </summary>
public static class StageRegistry
{
    /// <summary>The product's stages, in pipeline order (those without an implementation yet report TT2071).</summary>
    public static IReadOnlyList<string> PipelineStages { get; } = ["PrepareData", "VerifyTokens", "TrainLora", "MergeAdapter", "Evaluate"];

    /// <summary>The stages wired into <c>Pipeline.proj</c>'s default build (keep in step with the
    /// <c>ToolTuneStage</c> items in build/ToolTune.Stages.targets); the CLI's <c>status</c> reports these.</summary>
    public static IReadOnlyList<string> Wired { get; } = ["PrepareData", "VerifyTokens", "TrainLora", "MergeAdapter", "Evaluate"];

    private static readonly ConcurrentDictionary<string, IStage> Stages = new(StringComparer.Ordinal);

    static StageRegistry()
    {
        foreach (var stage in BuiltIn())
            Stages[stage.Name] = stage;
    }

    private static IEnumerable<IStage> BuiltIn()
    {
        yield return new PrepareDataStage();
        yield return new VerifyTokensStage();
        yield return new TrainLoraStage();
        yield return new MergeAdapterStage();
        yield return new EvaluateStage();
        yield return new SnapshotStage();          // test/demo stages (integration tests)
        yield return new SnapshotSummaryStage();
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
