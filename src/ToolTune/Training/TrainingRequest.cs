using ToolTune.Data.Shards;
using ToolTune.Lora;

namespace ToolTune.Training;

/// <summary>What decides a training run's arithmetic, whichever backend runs it (the pipeline maps its <c>lora:</c>,
/// <c>train:</c>, <c>data.max_seq_len</c> and <c>run.seed</c> to this in <c>Pipeline/Config/LibraryOptions.cs</c>).</summary>
public sealed record TrainingSettings
{
    /// <summary>The LoRA shape, its trainable tokens not yet resolved: the backend resolves and validates them
    /// (<see cref="LoraConfig.WithTrainableTokens"/>) after its own checks, so those are reported first.</summary>
    public required LoraConfig Lora { get; init; }
    /// <summary>Tokens whose embedding rows are trained (single tokens of the tokenizer).</summary>
    public IReadOnlyList<string> TrainableTokens { get; init; } = [];
    /// <summary>Optimizer, schedule, batching and checkpointing; its <see cref="TrainerOptions.OutputDirectory"/> is where the
    /// backend writes. The seed also initialises the adapter.</summary>
    public required TrainerOptions Trainer { get; init; }
    public required int MaxSeqLen { get; init; }
    /// <summary>Recompute activations in the backward instead of storing them (the torch backend only does on CUDA).</summary>
    public bool GradientCheckpointing { get; init; } = true;
}

/// <summary>What a training backend gets: the settings, the base snapshot, PrepareData's shards and where to write.</summary>
public sealed record TrainingRequest
{
    public required TrainingSettings Settings { get; init; }
    /// <summary>The config file, for located errors.</summary>
    public string? ConfigFile { get; init; }
    public required string SnapshotDirectory { get; init; }
    /// <summary>PrepareData's output folder (manifest.json + shards).</summary>
    public required string PreparedDirectory { get; init; }
    public required ShardSet Train { get; init; }
    public ShardSet? Validation { get; init; }
    public required Func<string, int?> TokenToId { get; init; }
    public int PadId { get; init; }
    /// <summary>Adapter files, train-log.csv, loss.svg and <c>checkpoints/</c> go here (<see cref="TrainingSettings.Trainer"/>'s folder).</summary>
    public string OutputDirectory => Settings.Trainer.OutputDirectory;
    public bool Resume { get; init; } = true;
    /// <summary>Hashes of the data and base weights (a checkpoint from other data is not resumed).</summary>
    public string? DataIdentity { get; init; }
}
