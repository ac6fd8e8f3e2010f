namespace ToolTune.Diagnostics;

public static partial class ErrorCodes
{
    // Serving and evaluating through an OpenAI-compatible endpoint (TT85xx).
    /// <summary><c>tooltune serve</c> could not start: bad option, model folder unusable, port taken.</summary>
    public const string ServeStartFailed = "TT8500";
    /// <summary><c>eval.endpoint</c> is invalid (URL, model name, unset API-key variable).</summary>
    public const string EndpointConfigInvalid = "TT8510";
    /// <summary>The endpoint failed a request: unreachable, timed out, an error status, or a response that is not the
    /// documented shape (e.g. no <c>token_ids</c> for the raw path).</summary>
    public const string EndpointRequestFailed = "TT8511";
}
