using System.Text.Json.Nodes;

namespace ToolTune.Serving;

/// <summary>The fields every OpenAI completion response and chunk shares: the envelope and the usage block.</summary>
internal static class ResponseParts
{
    public static JsonObject Envelope(string id, string kind, long created, string model) => new()
    {
        ["id"] = id,
        ["object"] = kind,
        ["created"] = created,
        ["model"] = model,
    };

    public static JsonObject Usage(int promptTokens, int completionTokens) => new()
    {
        ["prompt_tokens"] = promptTokens,
        ["completion_tokens"] = completionTokens,
        ["total_tokens"] = promptTokens + completionTokens,
    };
}
