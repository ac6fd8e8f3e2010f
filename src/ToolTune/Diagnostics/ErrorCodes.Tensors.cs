namespace ToolTune.Diagnostics;

// TT4xxx: tensors and model, in their own file beside the other ranges.
public static partial class ErrorCodes
{
    // Safetensors
    public const string SafetensorsFileMissing = "TT4000";
    public const string SafetensorsTruncated = "TT4001";
    public const string SafetensorsHeaderInvalid = "TT4002";
    public const string SafetensorsOffsetMismatch = "TT4003";
    public const string SafetensorsUnknownDType = "TT4004";
    public const string SafetensorsTensorMissing = "TT4005";
    public const string SafetensorsShardMissing = "TT4006";
    public const string SafetensorsIndexInvalid = "TT4007";
    public const string SafetensorsDTypeUnsupported = "TT4008";
    public const string SafetensorsWriteInvalid = "TT4009";

    // Model config and weights
    public const string ModelConfigMissing = "TT4100";
    public const string ModelConfigInvalid = "TT4101";
    public const string ModelConfigUnsupported = "TT4102";
    public const string ModelWeightMissing = "TT4103";
    public const string ModelWeightShapeMismatch = "TT4104";
    public const string ModelInputInvalid = "TT4105";
}
