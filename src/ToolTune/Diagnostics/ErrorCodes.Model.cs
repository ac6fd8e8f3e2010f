namespace ToolTune.Diagnostics;

// TT41xx: model (issue 4, Model/). TT4100–TT4104 (config missing/invalid/unsupported, weight missing/shape) live in
// ErrorCodes.Tensors.cs (engine branch); the model's own additions are here so the branches merge cleanly.
public static partial class ErrorCodes
{
    public const string ModelInputInvalid = "TT4106";
}
