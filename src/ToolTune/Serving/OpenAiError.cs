using System.Text.Json.Nodes;

namespace ToolTune.Serving;

/// <summary>
/// A request the server refuses, answered as OpenAI's error object <c>{"error": {"message", "type", "param", "code"}}</c>
/// with an HTTP status (400 bad request, 401, 404 unknown model, 429/503 over capacity). Never a 500 for bad input.
/// </summary>
public sealed class OpenAiError(int status, string message, string? param = null, string? type = null) : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;

    /// <summary>OpenAI's error types by status (the <c>openai</c> clients map statuses to their error classes).</summary>
    public string Type { get; } = type ?? status switch
    {
        401 => "authentication_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        503 => "service_unavailable_error",
        >= 500 => "internal_server_error",
        _ => "invalid_request_error",
    };

    public JsonObject ToJson() => Body(Status, Message, Type, Param);

    /// <summary>The error body; <c>code</c> is the HTTP status, as vLLM's <c>ErrorResponse</c> sets it.</summary>
    public static JsonObject Body(int status, string message, string type, string? param = null) => new()
    {
        ["error"] = new JsonObject
        {
            ["message"] = message,
            ["type"] = type,
            ["param"] = param,
            ["code"] = status,
        },
    };

    public static OpenAiError BadRequest(string message, string? param = null) => new(400, message, param);
}
