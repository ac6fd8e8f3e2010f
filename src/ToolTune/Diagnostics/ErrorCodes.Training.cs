namespace ToolTune.Diagnostics;

public static partial class ErrorCodes
{
    // LoRA configuration and adapters (TT50xx)
    /// <summary>A <c>lora.target_modules</c> entry is not a module LoRA can wrap; the message lists the real ones.</summary>
    public const string LoraUnknownModule = "TT5000";
    /// <summary>A <c>lora.trainable_tokens</c> entry is not a single token of the tokenizer.</summary>
    public const string LoraTrainableTokenUnknown = "TT5001";
    /// <summary>Invalid LoRA hyper-parameters (r, alpha, dropout).</summary>
    public const string LoraConfigInvalid = "TT5002";
    /// <summary>adapter_config.json / adapter_model.safetensors missing.</summary>
    public const string AdapterFileMissing = "TT5010";
    /// <summary>adapter_config.json unreadable or unsupported (peft_type, use_dora, …).</summary>
    public const string AdapterConfigInvalid = "TT5011";
    /// <summary>An adapter tensor's shape does not match the model config; names the tensor.</summary>
    public const string AdapterShapeMismatch = "TT5012";
    /// <summary>An adapter tensor name is not a PEFT LoRA key ToolTune understands.</summary>
    public const string AdapterTensorUnexpected = "TT5013";
    /// <summary>A tensor the adapter config implies is missing.</summary>
    public const string AdapterTensorMissing = "TT5014";

    // Training (TT51xx)
    /// <summary>NaN/Inf in the loss or the gradients: names the step and the last good checkpoint.</summary>
    public const string TrainNonFinite = "TT5100";
    /// <summary>A checkpoint is unreadable or does not match the run (parameters, config).</summary>
    public const string CheckpointInvalid = "TT5101";
    /// <summary>Invalid training options (no data, zero steps, bad schedule).</summary>
    public const string TrainOptionsInvalid = "TT5102";
}
