namespace ToolTune.Diagnostics;

// TT29xx: reliability tooling (bad-input corpus, fuzzing), in their own file beside the other ranges.
public static partial class ErrorCodes
{
    /// <summary><c>tooltune fuzz --target</c> names no known target (the message lists them).</summary>
    public const string FuzzTargetUnknown = "TT2900";
    /// <summary>Invalid fuzz options (budget, seeds folder).</summary>
    public const string FuzzOptionsInvalid = "TT2901";
}
