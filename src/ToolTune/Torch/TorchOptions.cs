namespace ToolTune.Torch;

/// <summary>Where and how ToolTune starts the PyTorch processes: the training ranks and the evaluation server (the run
/// config's <c>train.torch</c>; the keys are these names in snake_case).</summary>
public sealed record TorchOptions
{
    /// <summary>The interpreter that has torch (≥ 1.13) and numpy.</summary>
    public string Python { get; init; } = "python3";
    /// <summary>Ranks on this machine (one per GPU on CUDA).</summary>
    public int NprocPerNode { get; init; } = 1;
    /// <summary><c>auto</c> (CUDA when torch sees a GPU), <c>cpu</c> or <c>cuda</c>.</summary>
    public string Device { get; init; } = "auto";
    public int Nnodes { get; init; } = 1;
    public int NodeRank { get; init; }
    public string MasterAddr { get; init; } = "127.0.0.1";
    /// <summary>Rendezvous port; 0: a free port on this machine (single node only).</summary>
    public int MasterPort { get; init; }
    /// <summary><c>direct</c>: ToolTune starts the local ranks itself (env:// rendezvous); <c>torchrun</c>: one
    /// <c>python -m torch.distributed.run</c> starts them.</summary>
    public string Launcher { get; init; } = "direct";

    public static IReadOnlyList<string> Devices { get; } = ["auto", "cpu", "cuda"];
    public static IReadOnlyList<string> Launchers { get; } = ["direct", "torchrun"];
}
