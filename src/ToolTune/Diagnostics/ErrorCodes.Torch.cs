namespace ToolTune.Diagnostics;

public static partial class ErrorCodes
{
    // The PyTorch backend (TT56xx): train.backend / eval.backend = torch
    /// <summary><c>train.torch.python</c> cannot be started (not found, not executable).</summary>
    public const string TorchInterpreterMissing = "TT5600";
    /// <summary>The interpreter has no torch (or numpy), or a torch older than supported; says which and how to install.</summary>
    public const string TorchMissing = "TT5601";
    /// <summary><c>device: cuda</c> but torch sees no GPU (or fewer GPUs than ranks).</summary>
    public const string TorchCudaUnavailable = "TT5602";
    /// <summary>A rank exited with an error or was killed: names the rank, its exit code and the tail of its traceback.</summary>
    public const string TorchRankFailed = "TT5603";
    /// <summary>The rendezvous port (<c>train.torch.master_port</c>) is in use.</summary>
    public const string TorchPortInUse = "TT5604";
    /// <summary>A rank ran out of GPU memory (hint: <c>train.max_tokens_per_batch</c>, checkpointing).</summary>
    public const string TorchOutOfMemory = "TT5605";
    /// <summary>A collective (NCCL/gloo) or the rendezvous timed out.</summary>
    public const string TorchTimeout = "TT5606";
    /// <summary>The torch process broke the protocol (unexpected output, no adapter at the end) or the settings are inconsistent.</summary>
    public const string TorchBackendFailed = "TT5607";
}
