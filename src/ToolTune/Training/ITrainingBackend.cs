namespace ToolTune.Training;

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
        LoraTraining.Run(r, onProgress, onMessage, cancel);
}

public static class TrainingBackends
{
    /// <summary>The backend <paramref name="name"/> names (<c>train.backend</c>); <paramref name="torch"/>: how the torch one launches.</summary>
    public static ITrainingBackend For(string name, ToolTune.Torch.TorchOptions torch) => name switch
    {
        "torch" => new ToolTune.Torch.TorchTrainingBackend(torch),
        _ => new ManagedTrainingBackend(),
    };
}
