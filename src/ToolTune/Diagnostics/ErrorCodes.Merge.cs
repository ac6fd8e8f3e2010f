namespace ToolTune.Diagnostics;

public static partial class ErrorCodes
{
    // Merge (TT60xx): every message names the file and, where there is one, the tensor or field.
    /// <summary>adapter_config.json or adapter_model.safetensors is missing.</summary>
    public const string MergeAdapterFileMissing = "TT6000";
    /// <summary>adapter_config.json is unreadable, unsupported, or lacks a required field (names the field).</summary>
    public const string MergeAdapterConfigInvalid = "TT6001";
    /// <summary>An adapter tensor's shape does not fit the base tensor it modifies (names both tensors and files).</summary>
    public const string MergeShapeMismatch = "TT6002";
    /// <summary>An adapter tensor targets a module the base checkpoint does not have (adapter for another architecture).</summary>
    public const string MergeTargetAbsent = "TT6003";
    /// <summary>The output folder (or its parent) cannot be written.</summary>
    public const string MergeOutputNotWritable = "TT6004";
    /// <summary>A base tensor the adapter modifies has a dtype merge cannot write back (F32, BF16, F16 only).</summary>
    public const string MergeDtypeUnsupported = "TT6005";
    /// <summary>The adapter is otherwise unusable with this base (unexpected or missing LoRA tensors, bad key names).</summary>
    public const string MergeAdapterInvalid = "TT6006";
    /// <summary>The base model folder is unusable for a merge (config/weights missing or inconsistent).</summary>
    public const string MergeBaseInvalid = "TT6007";
    /// <summary>Warning: something optional is missing from the merged folder (tokenizer, chat template, stop ids).</summary>
    public const string MergeWarning = "TT6100";
}
