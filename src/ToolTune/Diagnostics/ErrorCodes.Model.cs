namespace ToolTune.Diagnostics;

// TT41xx: model (issue 4, Model/). Own file so the engine and model branches merge cleanly.
public static partial class ErrorCodes
{
    public const string ModelConfigMissing = "TT4100";
    public const string ModelConfigInvalid = "TT4101";
    public const string ModelArchitectureUnsupported = "TT4102";
    public const string ModelWeightShapeMismatch = "TT4103";
    public const string ModelWeightMissing = "TT4104";
    public const string ModelWeightDTypeUnsupported = "TT4105";
    public const string ModelInputInvalid = "TT4106";
}
