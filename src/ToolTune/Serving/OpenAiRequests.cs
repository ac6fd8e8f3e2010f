using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Evaluation;
using ToolTune.Python;

namespace ToolTune.Serving;

/// <summary>What the model is asked to do with the declared tools (OpenAI <c>tool_choice</c>).</summary>
public enum ToolChoiceMode
{
    /// <summary>Tools are shown to the model but never parsed: the output is content only.</summary>
    None,
    /// <summary>The model decides; a parsed Hermes call becomes <c>tool_calls</c> (vLLM <c>--enable-auto-tool-choice</c>).</summary>
    Auto,
    /// <summary>A call is forced: the prompt is continued from <c>&lt;tool_call&gt;</c>.</summary>
    Required,
    /// <summary>A call of <see cref="ChatRequest.NamedTool"/> is forced: the prompt is continued from
    /// <c>&lt;tool_call&gt;{"name": "…", "arguments": </c>.</summary>
    Named,
}

/// <summary>Sampling settings shared by both endpoints.</summary>
public sealed record SamplingRequest
{
    /// <summary>null: as many as the context allows (chat) or 16 (completions, OpenAI's default).</summary>
    public int? MaxTokens { get; init; }
    public double Temperature { get; init; }
    public double TopP { get; init; } = 1;
    public long? Seed { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>vLLM's <c>stop_token_ids</c>: extra ids that end generation besides the model's end-of-turn ids.</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    /// <summary>vLLM's <c>return_token_ids</c>: the prompt and generated ids come back with the text.</summary>
    public bool ReturnTokenIds { get; init; }
    /// <summary>vLLM's <c>ignore_eos</c>: the model's end-of-sequence ids do not stop generation (benchmarks).</summary>
    public bool IgnoreEos { get; init; }
}

/// <summary>A validated <c>POST /v1/chat/completions</c> body.</summary>
public sealed record ChatRequest
{
    public string? Model { get; init; }
    /// <summary>Messages as the chat template expects them: string content, assistant <c>tool_calls</c> with object arguments.</summary>
    public required JsonArray Messages { get; init; }
    public JsonArray Tools { get; init; } = [];
    public ToolChoiceMode ToolChoice { get; init; }
    public string? NamedTool { get; init; }
    public required SamplingRequest Sampling { get; init; }
    /// <summary>vLLM's <c>chat_template_kwargs</c> (e.g. <c>{"enable_thinking": false}</c>).</summary>
    public JsonObject TemplateKwargs { get; init; } = [];
}

/// <summary>A validated <c>POST /v1/completions</c> body: a text prompt or token ids.</summary>
public sealed record CompletionRequest
{
    public string? Model { get; init; }
    public string? PromptText { get; init; }
    public IReadOnlyList<int>? PromptIds { get; init; }
    public required SamplingRequest Sampling { get; init; }
    /// <summary>vLLM's <c>skip_special_tokens</c> (default true): special tokens are left out of the text.</summary>
    public bool SkipSpecialTokens { get; init; } = true;
    public bool Echo { get; init; }
}

/// <summary>
/// Parses and validates request bodies. Every problem is a 400 <see cref="OpenAiError"/> naming the field; fields this
/// server does not use (<c>user</c>, <c>frequency_penalty</c>, …) are accepted and ignored, as vLLM does.
/// </summary>
public static class OpenAiRequests
{
    /// <summary>Nesting deeper than this is refused while parsing (a hostile body cannot exhaust the stack).</summary>
    public const int MaxJsonDepth = 64;

    public static JsonObject ParseBody(ReadOnlySpan<byte> body)
    {
        if (body.Length == 0) throw OpenAiError.BadRequest("The request body is empty; expected a JSON object.");
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { MaxDepth = MaxJsonDepth });
        }
        catch (JsonException e)
        {
            throw OpenAiError.BadRequest($"The request body is not valid JSON: {e.Message}");
        }
        catch (ArgumentException e)
        {
            throw OpenAiError.BadRequest($"The request body is not valid JSON: {e.Message}");
        }
        return node as JsonObject ?? throw OpenAiError.BadRequest($"The request body must be a JSON object, not a JSON {HermesToolCallParser.Kind(node)}.");
    }

    public static ChatRequest ParseChat(JsonObject o)
    {
        var messages = o["messages"] switch
        {
            null => throw OpenAiError.BadRequest("'messages' is required.", "messages"),
            JsonArray a when a.Count == 0 => throw OpenAiError.BadRequest("'messages' must contain at least one message.", "messages"),
            JsonArray a => a,
            var n => throw WrongType("messages", "an array", n),
        };
        var normalized = new JsonArray();
        for (var i = 0; i < messages.Count; i++) normalized.Add(NormalizeMessage(messages[i], $"messages[{i}]"));

        var tools = new JsonArray();
        var names = new List<string>();
        switch (o["tools"])
        {
            case null: break;
            case JsonArray ta:
                for (var i = 0; i < ta.Count; i++)
                {
                    var (tool, name) = NormalizeTool(ta[i], $"tools[{i}]");
                    tools.Add(tool);
                    names.Add(name);
                }
                break;
            default: throw WrongType("tools", "an array", o["tools"]);
        }

        var (mode, named) = ParseToolChoice(o["tool_choice"], names);
        var kwargs = o["chat_template_kwargs"] switch
        {
            null => new JsonObject(),
            JsonObject k => (JsonObject)k.DeepClone(),
            var n => throw WrongType("chat_template_kwargs", "an object", n),
        };
        var maxTokens = OptionalInt(o, "max_completion_tokens", 1) ?? OptionalInt(o, "max_tokens", 1);
        return new ChatRequest
        {
            Model = OptionalString(o, "model"),
            Messages = normalized,
            Tools = tools,
            ToolChoice = mode,
            NamedTool = named,
            Sampling = ParseSampling(o, maxTokens),
            TemplateKwargs = kwargs,
        };
    }

    public static CompletionRequest ParseCompletion(JsonObject o)
    {
        string? text = null;
        List<int>? ids = null;
        switch (o["prompt"])
        {
            case null: throw OpenAiError.BadRequest("'prompt' is required.", "prompt");
            case JsonValue v when v.GetValueKind() == JsonValueKind.String: text = v.GetValue<string>(); break;
            case JsonArray a when a.Count == 0: throw OpenAiError.BadRequest("'prompt' must not be empty.", "prompt");
            case JsonArray a when a.All(x => x is JsonValue xv && xv.GetValueKind() == JsonValueKind.Number):
                ids = a.Select((x, i) => TokenId(x!, $"prompt[{i}]")).ToList();
                break;
            case JsonArray a when a.Count == 1 && a[0] is JsonValue sv && sv.GetValueKind() == JsonValueKind.String: text = sv.GetValue<string>(); break;
            case JsonArray a when a.Count == 1 && a[0] is JsonArray inner && inner.Count > 0:
                ids = inner.Select((x, i) => x is JsonValue xv && xv.GetValueKind() == JsonValueKind.Number ? TokenId(x, $"prompt[0][{i}]")
                    : throw WrongType($"prompt[0][{i}]", "an integer token id", x)).ToList();
                break;
            case JsonArray: throw OpenAiError.BadRequest("'prompt' must be a string, an array of token ids, or one of either in an array (one prompt per request).", "prompt");
            case var n: throw WrongType("prompt", "a string or an array of token ids", n);
        }
        if (text is { Length: 0 }) throw OpenAiError.BadRequest("'prompt' must not be empty.", "prompt");
        return new CompletionRequest
        {
            Model = OptionalString(o, "model"),
            PromptText = text,
            PromptIds = ids,
            Sampling = ParseSampling(o, OptionalInt(o, "max_tokens", 1)),
            SkipSpecialTokens = OptionalBool(o, "skip_special_tokens") ?? true,
            Echo = OptionalBool(o, "echo") ?? false,
        };
    }

    private static SamplingRequest ParseSampling(JsonObject o, int? maxTokens)
    {
        if (OptionalInt(o, "n", 1) is > 1) throw OpenAiError.BadRequest("Only n = 1 is supported.", "n");
        var stop = o["stop"] switch
        {
            null => [],
            JsonValue v when v.GetValueKind() == JsonValueKind.String => [v.GetValue<string>()],
            JsonArray a => a.Select((x, i) => x is JsonValue xv && xv.GetValueKind() == JsonValueKind.String ? xv.GetValue<string>() : throw WrongType($"stop[{i}]", "a string", x)).ToList(),
            var n => throw WrongType("stop", "a string or an array of strings", n),
        };
        if (stop.Any(s => s.Length == 0)) throw OpenAiError.BadRequest("Stop strings must not be empty.", "stop");
        var stopIds = o["stop_token_ids"] switch
        {
            null => [],
            JsonArray a => a.Select((x, i) => x is JsonValue xv && xv.GetValueKind() == JsonValueKind.Number ? TokenId(x, $"stop_token_ids[{i}]") : throw WrongType($"stop_token_ids[{i}]", "an integer", x)).ToList(),
            var n => throw WrongType("stop_token_ids", "an array of integers", n),
        };
        var stream = OptionalBool(o, "stream") ?? false;
        var includeUsage = false;
        switch (o["stream_options"])
        {
            case null: break;
            case JsonObject so:
                if (!stream) throw OpenAiError.BadRequest("'stream_options' is only allowed when 'stream' is true.", "stream_options");
                includeUsage = OptionalBool(so, "include_usage", "stream_options.include_usage") ?? false;
                break;
            case var n: throw WrongType("stream_options", "an object", n);
        }
        var temperature = OptionalDouble(o, "temperature") ?? 1.0;
        if (temperature < 0 || temperature > 2) throw OpenAiError.BadRequest($"'temperature' must be in [0, 2], got {temperature}.", "temperature");
        var topP = OptionalDouble(o, "top_p") ?? 1.0;
        if (topP <= 0 || topP > 1) throw OpenAiError.BadRequest($"'top_p' must be in (0, 1], got {topP}.", "top_p");
        return new SamplingRequest
        {
            MaxTokens = maxTokens,
            Temperature = temperature,
            TopP = topP,
            Seed = OptionalLong(o, "seed"),
            Stop = stop,
            StopTokenIds = stopIds,
            Stream = stream,
            IncludeUsage = includeUsage,
            ReturnTokenIds = OptionalBool(o, "return_token_ids") ?? false,
            IgnoreEos = OptionalBool(o, "ignore_eos") ?? false,
        };
    }

    private static (ToolChoiceMode, string?) ParseToolChoice(JsonNode? node, IReadOnlyList<string> names)
    {
        switch (node)
        {
            case null: return (names.Count > 0 ? ToolChoiceMode.Auto : ToolChoiceMode.None, null);
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                var s = v.GetValue<string>();
                var mode = s switch
                {
                    "none" => ToolChoiceMode.None,
                    "auto" => ToolChoiceMode.Auto,
                    "required" => ToolChoiceMode.Required,
                    _ => throw OpenAiError.BadRequest($"Unknown 'tool_choice' \"{s}\": expected \"none\", \"auto\", \"required\" or {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}.", "tool_choice"),
                };
                if (mode != ToolChoiceMode.None && names.Count == 0)
                    throw OpenAiError.BadRequest($"'tool_choice' \"{s}\" needs 'tools'.", "tool_choice");
                return (mode, null);
            case JsonObject o:
                if (o["type"] is not JsonValue tv || tv.GetValueKind() != JsonValueKind.String || tv.GetValue<string>() != "function")
                    throw OpenAiError.BadRequest("A named 'tool_choice' must have \"type\": \"function\".", "tool_choice");
                if (o["function"]?["name"] is not JsonValue nv || nv.GetValueKind() != JsonValueKind.String)
                    throw OpenAiError.BadRequest("A named 'tool_choice' needs 'function.name' (a string).", "tool_choice");
                var name = nv.GetValue<string>();
                if (!names.Contains(name))
                    throw OpenAiError.BadRequest($"'tool_choice' names '{name}', which is not among the declared tools ({string.Join(", ", names)}).", "tool_choice");
                return (ToolChoiceMode.Named, name);
            default: throw WrongType("tool_choice", "a string or an object", node);
        }
    }

    private static readonly string[] Roles = ["system", "developer", "user", "assistant", "tool"];

    /// <summary>
    /// One message as the chat template wants it. Content parts are joined into a string (vLLM's
    /// <c>--chat-template-content-format string</c>); assistant <c>tool_calls[].function.arguments</c> (a JSON string in the
    /// API) are parsed into objects, as vLLM does before rendering with a Hugging Face template.
    /// </summary>
    private static JsonObject NormalizeMessage(JsonNode? node, string at)
    {
        if (node is not JsonObject m) throw WrongType(at, "an object", node);
        var role = m["role"] is JsonValue rv && rv.GetValueKind() == JsonValueKind.String ? rv.GetValue<string>()
            : throw OpenAiError.BadRequest($"'{at}.role' is required (a string).", at + ".role");
        if (!Roles.Contains(role))
            throw OpenAiError.BadRequest($"'{at}.role' \"{role}\" is not one of {string.Join(", ", Roles)}.", at + ".role");
        var outMsg = new JsonObject { ["role"] = role == "developer" ? "system" : role };
        var content = m["content"] switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            JsonArray parts => JoinParts(parts, at + ".content"),
            var n => throw WrongType(at + ".content", "a string or an array of text parts", n),
        };
        if (content is null && !(role == "assistant" && m["tool_calls"] is JsonArray { Count: > 0 }))
            throw OpenAiError.BadRequest($"'{at}.content' is required for a {role} message.", at + ".content");
        outMsg["content"] = content;
        if (m["name"] is JsonValue nameV && nameV.GetValueKind() == JsonValueKind.String) outMsg["name"] = nameV.GetValue<string>();
        if (role == "tool")
        {
            if (m["tool_call_id"] is JsonValue idv && idv.GetValueKind() == JsonValueKind.String) outMsg["tool_call_id"] = idv.GetValue<string>();
            else if (m["tool_call_id"] is not null) throw WrongType(at + ".tool_call_id", "a string", m["tool_call_id"]);
        }
        if (m["tool_calls"] is { } tcNode)
        {
            if (role != "assistant") throw OpenAiError.BadRequest($"'{at}.tool_calls' is only allowed on assistant messages.", at + ".tool_calls");
            if (tcNode is not JsonArray tcs) throw WrongType(at + ".tool_calls", "an array", tcNode);
            var calls = new JsonArray();
            for (var i = 0; i < tcs.Count; i++)
            {
                var cat = $"{at}.tool_calls[{i}]";
                if (tcs[i] is not JsonObject tc) throw WrongType(cat, "an object", tcs[i]);
                if (tc["function"] is not JsonObject f) throw OpenAiError.BadRequest($"'{cat}.function' is required (an object).", cat + ".function");
                if (f["name"] is not JsonValue fn || fn.GetValueKind() != JsonValueKind.String)
                    throw OpenAiError.BadRequest($"'{cat}.function.name' is required (a string).", cat + ".function.name");
                JsonNode? args = f["arguments"] switch
                {
                    null => new JsonObject(),
                    JsonValue av when av.GetValueKind() == JsonValueKind.String => ParseArguments(av.GetValue<string>(), cat + ".function.arguments"),
                    JsonObject ao => ao.DeepClone(),
                    var n => throw WrongType(cat + ".function.arguments", "a JSON string", n),
                };
                var call = new JsonObject
                {
                    ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = fn.GetValue<string>(), ["arguments"] = args },
                };
                if (tc["id"] is JsonValue idv && idv.GetValueKind() == JsonValueKind.String) call["id"] = idv.GetValue<string>();
                calls.Add(call);
            }
            outMsg["tool_calls"] = calls;
        }
        return outMsg;
    }

    private static JsonNode? ParseArguments(string text, string at)
    {
        try
        {
            return PythonJson.Loads(text);
        }
        catch (PythonJsonException e)
        {
            throw OpenAiError.BadRequest($"'{at}' is not valid JSON: {e.Message}", at);
        }
    }

    private static string JoinParts(JsonArray parts, string at)
    {
        var texts = new List<string>();
        for (var i = 0; i < parts.Count; i++)
        {
            if (parts[i] is not JsonObject p || p["type"] is not JsonValue t || t.GetValueKind() != JsonValueKind.String)
                throw OpenAiError.BadRequest($"'{at}[{i}]' must be a content part object with a 'type'.", $"{at}[{i}]");
            if (t.GetValue<string>() != "text")
                throw OpenAiError.BadRequest($"'{at}[{i}]' has type \"{t.GetValue<string>()}\"; this model takes text parts only.", $"{at}[{i}]");
            texts.Add(p["text"] is JsonValue tv && tv.GetValueKind() == JsonValueKind.String ? tv.GetValue<string>()
                : throw OpenAiError.BadRequest($"'{at}[{i}].text' is required (a string).", $"{at}[{i}].text"));
        }
        return string.Join("\n", texts);
    }

    private static (JsonObject Tool, string Name) NormalizeTool(JsonNode? node, string at)
    {
        if (node is not JsonObject t) throw WrongType(at, "an object", node);
        if (t["type"] is not JsonValue tv || tv.GetValueKind() != JsonValueKind.String || tv.GetValue<string>() != "function")
            throw OpenAiError.BadRequest($"'{at}.type' must be \"function\".", at + ".type");
        if (t["function"] is not JsonObject f) throw OpenAiError.BadRequest($"'{at}.function' is required (an object).", at + ".function");
        if (f["name"] is not JsonValue nv || nv.GetValueKind() != JsonValueKind.String || nv.GetValue<string>().Length == 0)
            throw OpenAiError.BadRequest($"'{at}.function.name' is required (a non-empty string).", at + ".function.name");
        if (f["parameters"] is { } p and not JsonObject) throw WrongType(at + ".function.parameters", "a JSON Schema object", p);
        if (f["description"] is { } d && (d is not JsonValue dv || dv.GetValueKind() != JsonValueKind.String)) throw WrongType(at + ".function.description", "a string", d);
        return ((JsonObject)t.DeepClone(), nv.GetValue<string>());
    }

    private static int TokenId(JsonNode node, string at)
    {
        var v = (JsonValue)node;
        if (!v.TryGetValue<long>(out var l) || l < 0 || l > int.MaxValue)
            throw OpenAiError.BadRequest($"'{at}' must be a non-negative integer token id.", at);
        return (int)l;
    }

    private static OpenAiError WrongType(string field, string expected, JsonNode? actual) =>
        OpenAiError.BadRequest($"'{field}' must be {expected}, not a JSON {HermesToolCallParser.Kind(actual)}.", field);

    private static string? OptionalString(JsonObject o, string key) => o[key] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        var n => throw WrongType(key, "a string", n),
    };

    private static bool? OptionalBool(JsonObject o, string key, string? name = null) => o[key] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        var n => throw WrongType(name ?? key, "a boolean", n),
    };

    private static double? OptionalDouble(JsonObject o, string key) => o[key] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) && double.IsFinite(d) => d,
        var n => throw WrongType(key, "a number", n),
    };

    private static long? OptionalLong(JsonObject o, string key) => o[key] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<long>(out var l) => l,
        var n => throw WrongType(key, "an integer", n),
    };

    private static int? OptionalInt(JsonObject o, string key, int min)
    {
        var l = OptionalLong(o, key);
        if (l is null) return null;
        if (l < min || l > int.MaxValue) throw OpenAiError.BadRequest($"'{key}' must be an integer ≥ {min}, got {l}.", key);
        return (int)l;
    }

}
