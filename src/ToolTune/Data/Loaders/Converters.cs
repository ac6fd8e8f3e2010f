using System.Text.Json;
using System.Text;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Python;

namespace ToolTune.Data.Loaders;

/// <summary>Where a record came from, passed to the converters.</summary>
public readonly record struct RecordOrigin(string Source, string File, int Line, DataRole Role, int Column = 1)
{
    /// <summary>The converted conversation, stamped with this origin and the record's optional Hermes metadata.</summary>
    internal Conversation Build(string id, List<Message> messages, List<JsonObject> tools, JsonObject rec) =>
        new(id, messages, tools)
        {
            Source = Source,
            SourceFile = File,
            SourceLine = Line,
            SourceColumn = Column,
            DataRole = Role,
            Category = ToolFormat.Str(rec["category"]),
            Subcategory = ToolFormat.Str(rec["subcategory"]),
            Task = ToolFormat.Str(rec["task"]),
        };
}

/// <summary>Options for conversion.</summary>
public sealed record ConversionOptions
{
    /// <summary>Strip Hermes' tool-calling boilerplate and the <c>&lt;tools&gt;</c> block from system prompts (the chat template re-renders them from <c>tools</c>). Default true.</summary>
    public bool StripHermesSystemBoilerplate { get; init; } = true;
}

/// <summary>Hermes-Function-Calling-V1 ShareGPT records (<c>conversations</c> with <c>from</c>/<c>value</c>).</summary>
public static class HermesConverter
{
    public static Conversation Convert(JsonObject rec, RecordOrigin origin, ConversionOptions options)
    {
        var id = RecordId(rec, origin);
        if (rec["conversations"] is not JsonArray turns)
            throw new RecordException(ErrorCodes.DataMissingField, DropReasons.MissingField,
                rec.ContainsKey("conversations") ? "'conversations' is not a list" : "missing 'conversations'");

        var tools = new List<JsonObject>();
        if (rec["tools"] is { } toolsField) tools.AddRange(ToolFormat.ParseTools(toolsField));

        var messages = new List<Message>(turns.Count + 2);
        for (var t = 0; t < turns.Count; t++)
        {
            if (turns[t] is not JsonObject turn)
                throw new RecordException(ErrorCodes.DataInvalidRecord, DropReasons.InvalidRecord, $"turn {t + 1} is not an object");
            var from = ToolFormat.Str(turn["from"]) ?? ToolFormat.Str(turn["role"]);
            if (from is null)
                throw new RecordException(ErrorCodes.DataInvalidRecord, DropReasons.InvalidRecord, $"turn {t + 1} has no 'from'");
            var valueNode = turn.ContainsKey("value") ? turn["value"] : turn["content"];
            // A number or object where the turn text belongs is a broken export, not text to train on.
            if (valueNode is not null && !(valueNode is JsonValue tv && tv.GetValueKind() == JsonValueKind.String))
                throw new RecordException(ErrorCodes.DataInvalidRecord, DropReasons.InvalidRecord,
                    $"turn {t + 1}: 'value' must be a string, found {valueNode.GetValueKind()}");
            var value = ToolFormat.Str(valueNode) ?? "";
            switch (from)
            {
                case "system":
                    var toolBlocks = ToolFormat.Blocks(value, ToolFormat.ToolsOpen, ToolFormat.ToolsClose, out _);
                    foreach (var b in toolBlocks)
                        foreach (var tool in ToolFormat.ParseToolsText(b))
                            if (!tools.Exists(x => SameName(x, tool))) tools.Add(tool);
                    var sys = toolBlocks.Count > 0 && options.StripHermesSystemBoilerplate ? ToolFormat.StripHermesBoilerplate(value) : value;
                    if (!string.IsNullOrWhiteSpace(sys)) messages.Add(new Message(Roles.System, sys));
                    break;
                case "human" or "user":
                    messages.Add(new Message(Roles.User, value));
                    break;
                case "gpt" or "assistant":
                    try
                    {
                        var calls = ToolFormat.ExtractCalls(value, out var content);
                        messages.Add(new Message(Roles.Assistant, calls.Count > 0 ? content : value, calls));
                    }
                    catch (RecordException ex)
                    {
                        throw new RecordException(ex.Code, ex.Reason, $"turn {t + 1}: {ex.Message}");
                    }
                    break;
                case "tool" or "function_response" or "observation":
                    AddToolResponses(messages, value);
                    break;
                default:
                    throw new RecordException(ErrorCodes.DataUnknownRole, DropReasons.UnknownRole,
                        $"turn {t + 1}: unknown 'from' value '{from}' (expected system, human, gpt or tool)");
            }
        }
        Check(messages);
        return origin.Build(id, messages, tools, rec);
    }

    private static bool SameName(JsonObject a, JsonObject b) =>
        ToolFormat.Str(a["function"]?["name"]) == ToolFormat.Str(b["function"]?["name"]);

    /// <summary>One <c>tool</c> message per <c>&lt;tool_response&gt;</c> block (inner text verbatim: it may hold Python literals).</summary>
    internal static void AddToolResponses(List<Message> messages, string value)
    {
        var blocks = ToolFormat.Blocks(value, ToolFormat.ResponseOpen, ToolFormat.ResponseClose, out _);
        if (blocks.Count == 0) blocks.Add(value);
        foreach (var raw in blocks)
        {
            var body = raw.Trim();
            string? name = null;
            if (body.StartsWith('{') && PyLiteral.TryParse(body, out var n, out _) && n is JsonObject o) name = ToolFormat.Str(o["name"]);
            messages.Add(new Message(Roles.Tool, body, name: name));
        }
    }

    internal static void Check(List<Message> messages)
    {
        var hasAssistant = false;
        foreach (var m in messages) hasAssistant |= m.Role == Roles.Assistant;
        if (messages.Count == 0 || !hasAssistant)
            throw new RecordException(ErrorCodes.DataInvalidRecord, DropReasons.EmptyConversation,
                messages.Count == 0 ? "the conversation has no turns" : "the conversation has no assistant turn");
        // An assistant turn with neither text nor a call would teach the model to answer with nothing.
        var empty = messages.FindIndex(m => m.Role == Roles.Assistant && m.ToolCalls.Count == 0 && string.IsNullOrWhiteSpace(m.Content));
        if (empty >= 0)
            throw new RecordException(ErrorCodes.DataInvalidRecord, DropReasons.EmptyConversation,
                $"message {empty + 1}: the assistant turn is empty (no text, no tool call)");
    }

    internal static string RecordId(JsonObject rec, RecordOrigin origin) =>
        ToolFormat.Str(rec["id"]) ?? $"{Path.GetFileName(origin.File)}:{origin.Line}";
}

/// <summary>OpenAI-format records: <c>messages</c> (with <c>tool_calls</c>, <c>tool</c> role) and <c>tools</c>.</summary>
public static class OpenAiConverter
{
    public static Conversation Convert(JsonObject rec, RecordOrigin origin, ConversionOptions options)
    {
        var id = HermesConverter.RecordId(rec, origin);
        if (rec["messages"] is not JsonArray arr)
            throw new RecordException(ErrorCodes.DataMissingField, DropReasons.MissingField,
                rec.ContainsKey("messages") ? "'messages' is not a list" : "missing 'messages'");
        var tools = rec["tools"] is { } tf ? ToolFormat.ParseTools(tf) : [];
        var messages = new List<Message>(arr.Count);
        for (var i = 0; i < arr.Count; i++)
        {
            if (arr[i] is not JsonObject m)
                throw new RecordException(ErrorCodes.DataInvalidRecord, DropReasons.InvalidRecord, $"message {i + 1} is not an object");
            var role = ToolFormat.Str(m["role"]) ?? throw new RecordException(ErrorCodes.DataInvalidRecord, DropReasons.InvalidRecord, $"message {i + 1} has no 'role'");
            if (role == "developer") role = Roles.System;
            var content = Content(m["content"], i);
            switch (role)
            {
                case Roles.System or Roles.User:
                    messages.Add(new Message(role, content ?? ""));
                    break;
                case Roles.Assistant:
                    try
                    {
                        messages.Add(Assistant(m, content));
                    }
                    catch (RecordException ex)
                    {
                        throw new RecordException(ex.Code, ex.Reason, $"message {i + 1}: {ex.Message}");
                    }
                    break;
                case Roles.Tool:
                    var text = content ?? "";
                    if (text.Contains(ToolFormat.ResponseOpen, StringComparison.Ordinal)) HermesConverter.AddToolResponses(messages, text);
                    else messages.Add(new Message(Roles.Tool, text, toolCallId: ToolFormat.Str(m["tool_call_id"]), name: ToolFormat.Str(m["name"])));
                    break;
                default:
                    throw new RecordException(ErrorCodes.DataUnknownRole, DropReasons.UnknownRole,
                        $"message {i + 1}: unknown role '{role}' (expected system, user, assistant or tool)");
            }
        }
        HermesConverter.Check(messages);
        return origin.Build(id, messages, tools, rec);
    }

    private static Message Assistant(JsonObject m, string? content)
    {
        var calls = new List<ToolCall>();
        if (m["tool_calls"] is JsonArray tc)
        {
            for (var k = 0; k < tc.Count; k++)
            {
                if (tc[k] is not JsonObject call)
                    throw new RecordException(ErrorCodes.DataBadToolCall, DropReasons.BadToolCall, $"tool call {k + 1} is not an object");
                var fn = call["function"] as JsonObject ?? call;
                calls.Add(ToolFormat.CallFromObject(fn, k, ToolFormat.Str(call["id"])));
            }
        }
        else if (m["tool_calls"] is not null)
        {
            throw new RecordException(ErrorCodes.DataBadToolCall, DropReasons.BadToolCall, "'tool_calls' is not a list");
        }
        var text = content ?? "";
        if (calls.Count == 0 && text.Contains(ToolFormat.CallOpen, StringComparison.Ordinal))
        {
            calls = ToolFormat.ExtractCalls(text, out var outside);
            text = outside;
        }
        return new Message(Roles.Assistant, text, calls);
    }

    /// <summary>String content, null, or a list of parts (<c>{"type":"text","text":..}</c>) joined.</summary>
    internal static string? Content(JsonNode? node, int index)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonValue v when v.TryGetValue(out string? s):
                return s;
            case JsonArray parts:
                var sb = new StringBuilder();
                foreach (var p in parts)
                {
                    var t = p is JsonObject po ? ToolFormat.Str(po["text"]) : p is JsonValue pv && pv.GetValueKind() == JsonValueKind.String ? ToolFormat.Str(p) : null;
                    if (t is null)
                        throw new RecordException(ErrorCodes.DataInvalidRecord, DropReasons.InvalidRecord, $"message {index + 1}: a content part has no text");
                    sb.Append(t);
                }
                return sb.ToString();
            default:
                throw new RecordException(ErrorCodes.DataInvalidRecord, DropReasons.InvalidRecord, $"message {index + 1}: 'content' must be a string, a list of parts or null");
        }
    }
}

/// <summary>
/// General instruct records: <c>messages</c> (chat), <c>conversations</c> (ShareGPT), <c>instruction</c>/<c>input</c>/<c>output</c>
/// (Alpaca), or <c>prompt</c>/<c>completion</c>.
/// </summary>
public static class InstructConverter
{
    public static Conversation Convert(JsonObject rec, RecordOrigin origin, ConversionOptions options)
    {
        if (rec.ContainsKey("messages")) return OpenAiConverter.Convert(rec, origin, options);
        if (rec.ContainsKey("conversations")) return HermesConverter.Convert(rec, origin, options);
        var messages = new List<Message>(3);
        if (ToolFormat.Str(rec["system"]) is { Length: > 0 } sys) messages.Add(new Message(Roles.System, sys));
        if (rec.ContainsKey("instruction"))
        {
            var instruction = ToolFormat.Str(rec["instruction"]) ?? throw Missing("'instruction' is not a string");
            var input = ToolFormat.Str(rec["input"]);
            var output = ToolFormat.Str(rec["output"]) ?? ToolFormat.Str(rec["response"]) ?? throw Missing("missing 'output'");
            messages.Add(new Message(Roles.User, string.IsNullOrWhiteSpace(input) ? instruction : instruction + "\n\n" + input));
            messages.Add(new Message(Roles.Assistant, output));
        }
        else if (rec.ContainsKey("prompt"))
        {
            var prompt = ToolFormat.Str(rec["prompt"]) ?? throw Missing("'prompt' is not a string");
            var completion = ToolFormat.Str(rec["completion"]) ?? ToolFormat.Str(rec["response"]) ?? throw Missing("missing 'completion'");
            messages.Add(new Message(Roles.User, prompt));
            messages.Add(new Message(Roles.Assistant, completion));
        }
        else
        {
            throw Missing("expected 'messages', 'conversations', 'instruction'/'output' or 'prompt'/'completion'");
        }
        return new Conversation(HermesConverter.RecordId(rec, origin), messages)
        {
            Source = origin.Source,
            SourceFile = origin.File,
            SourceLine = origin.Line,
            SourceColumn = origin.Column,
            DataRole = origin.Role,
            Category = ToolFormat.Str(rec["category"]),
        };
    }

    private static RecordException Missing(string detail) => new(ErrorCodes.DataMissingField, DropReasons.MissingField, detail);
}
