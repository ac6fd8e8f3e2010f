using ToolTune.Data.Shards;
using ToolTune.Pipeline.Config;

namespace ToolTune.Training;

/// <summary>What a training backend gets: the run config, the base snapshot, PrepareData's shards and where to write.</summary>
public sealed record TrainingRequest
{
    public required PipelineConfig Config { get; init; }
    /// <summary>The config file, for located errors.</summary>
    public string? ConfigFile { get; init; }
    public required string SnapshotDirectory { get; init; }
    /// <summary>PrepareData's output folder (manifest.json + shards).</summary>
    public required string PreparedDirectory { get; init; }
    public required ShardSet Train { get; init; }
    public ShardSet? Validation { get; init; }
    public required Func<string, int?> TokenToId { get; init; }
    public int PadId { get; init; }
    /// <summary>Adapter files, train-log.csv, loss.svg and <c>checkpoints/</c> go here.</summary>
    public required string OutputDirectory { get; init; }
    public bool Resume { get; init; } = true;
    /// <summary>Hashes of the data and base weights (a checkpoint from other data is not resumed).</summary>
    public string? DataIdentity { get; init; }
}

/// <summary>
/// A training engine: request in; PEFT adapter (<c>adapter_config.json</c>, <c>adapter_model.safetensors</c>),
/// <c>train-log.csv</c>, <c>loss.svg</c> and resumable checkpoints out, with progress and cancellation. Canceled runs
/// return <see cref="TrainResult.Canceled"/> with the last checkpoint kept; no adapter is written unless training completed.
/// </summary>
public interface ITrainingBackend
{
    string Name { get; }
    TrainResult Train(TrainingRequest request, Action<TrainProgress>? onProgress, Action<string>? onMessage, CancellationToken cancel);
}

/// <summary>ToolTune's own engine (<see cref="LoraTraining"/>): managed f32, the CPU default.</summary>
public sealed class ManagedTrainingBackend : ITrainingBackend
{
    public string Name => "managed";

    public TrainResult Train(TrainingRequest r, Action<TrainProgress>? onProgress, Action<string>? onMessage, CancellationToken cancel) =>
        LoraTraining.Run(r.Config, r.SnapshotDirectory, r.Train, r.Validation, r.TokenToId, r.PadId, r.OutputDirectory, onProgress, onMessage,
            r.Resume, cancel, r.DataIdentity);
}

public static class TrainingBackends
{
    /// <summary>The backend <c>train.backend</c> names.</summary>
    public static ITrainingBackend For(TrainSection train) => train.Backend switch
    {
        "torch" => new ToolTune.Torch.TorchTrainingBackend(train.Torch),
        _ => new ManagedTrainingBackend(),
    };
}
