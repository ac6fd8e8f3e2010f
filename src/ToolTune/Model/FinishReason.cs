namespace ToolTune.Model;

/// <summary>Why generation ended.</summary>
public enum FinishReason
{
    /// <summary>
    /// A stop id was produced (included as the last generated id or not: both are accepted), or the caller ended it
    /// (a stop string matched).
    /// </summary>
    Stop,

    /// <summary><c>max_new_tokens</c> reached.</summary>
    Length,
}

/// <summary>The OpenAI / vLLM spelling of a <see cref="FinishReason"/>.</summary>
public static class FinishReasonNames
{
    /// <summary><c>"stop"</c> or <c>"length"</c>, as <c>finish_reason</c> and the generate CLI's <c>stop_reason</c> write it.</summary>
    public static string ToWireName(this FinishReason reason) => reason == FinishReason.Stop ? "stop" : "length";
}
