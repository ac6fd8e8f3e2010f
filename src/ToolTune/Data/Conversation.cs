using System.Text.Json.Nodes;

namespace ToolTune.Data;

/// <summary>Chat roles the data layer knows. Anything else in a source file is an "unknown role" error.</summary>
public static class Roles
{
    public const string System = "system";
    public const string User = "user";
    public const string Assistant = "assistant";
    public const string Tool = "tool";

    public static bool IsKnown(string role) => role is System or User or Assistant or Tool;
}

/// <summary>One structured tool call: a function name and its arguments as a JSON object (never a string).</summary>
public sealed class ToolCall
{
    public ToolCall(string name, JsonObject arguments, string? id = null)
    {
        Name = name;
        Arguments = arguments;
        Id = id;
    }

    public string Name { get; }

    /// <summary>Arguments as a JSON object, key order as in the source.</summary>
    public JsonObject Arguments { get; }

    /// <summary>Call id (OpenAI data has one; Hermes data gets a deterministic <c>call_T_K</c>).</summary>
    public string? Id { get; }

    /// <summary>Canonical Hermes/vLLM payload: <c>{"name": ..., "arguments": {...}}</c>, name first.</summary>
    public JsonObject ToHermesJson() => new() { ["name"] = Name, ["arguments"] = Arguments.DeepClone() };

    /// <summary>The Hermes payload as compact JSON (non-ASCII and quotes unescaped).</summary>
    public override string ToString() => ToHermesJson().ToJsonString(RelaxedJson);

    internal static readonly System.Text.Json.JsonSerializerOptions RelaxedJson =
        new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}

/// <summary>One message of a conversation.</summary>
public sealed class Message
{
    public Message(string role, string? content, IReadOnlyList<ToolCall>? toolCalls = null, string? toolCallId = null, string? name = null)
    {
        Role = role;
        Content = content;
        ToolCalls = toolCalls ?? [];
        ToolCallId = toolCallId;
        Name = name;
    }

    /// <summary><c>system</c>, <c>user</c>, <c>assistant</c> or <c>tool</c>.</summary>
    public string Role { get; }

    /// <summary>Text content; for an assistant turn with calls, the text outside the calls (may be empty).</summary>
    public string? Content { get; }

    /// <summary>Structured calls of an assistant turn (empty otherwise).</summary>
    public IReadOnlyList<ToolCall> ToolCalls { get; }

    /// <summary>For <c>tool</c> messages: the id of the call it answers, when known.</summary>
    public string? ToolCallId { get; }

    /// <summary>For <c>tool</c> messages: the function name, when known.</summary>
    public string? Name { get; }

    public bool HasToolCalls => ToolCalls.Count > 0;

    /// <summary>OpenAI/HF shape: <c>tool_calls: [{"type":"function","function":{"name","arguments":{..}}}]</c>.</summary>
    public JsonObject ToRenderJson()
    {
        var o = new JsonObject { ["role"] = Role, ["content"] = Content ?? "" };
        if (ToolCalls.Count > 0)
        {
            var calls = new JsonArray();
            foreach (var c in ToolCalls)
            {
                var call = new JsonObject();
                if (c.Id is not null) call["id"] = c.Id;
                call["type"] = "function";
                call["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = c.Arguments.DeepClone() };
                calls.Add(call);
            }
            o["tool_calls"] = calls;
        }
        if (ToolCallId is not null) o["tool_call_id"] = ToolCallId;
        if (Name is not null) o["name"] = Name;
        return o;
    }
}

/// <summary>
/// A conversation in the structured form every loader produces: messages with structured tool calls and
/// tool results, plus the tool schemas (OpenAI shape <c>{"type":"function","function":{name,description,parameters}}</c>).
/// </summary>
public sealed class Conversation
{
    public Conversation(string id, IReadOnlyList<Message> messages, IReadOnlyList<JsonObject>? tools = null)
    {
        Id = id;
        Messages = messages;
        Tools = tools ?? [];
    }

    public string Id { get; }

    /// <summary>Logical source name (the config's data source name, e.g. <c>hermes</c>).</summary>
    public string Source { get; init; } = "";

    /// <summary>File the record came from.</summary>
    public string SourceFile { get; init; } = "";

    /// <summary>1-based line where the record starts in <see cref="SourceFile"/>.</summary>
    public int SourceLine { get; init; }

    /// <summary>1-based byte column where the record starts (1 for JSONL; distinguishes records of a one-line JSON array).</summary>
    public int SourceColumn { get; init; } = 1;

    /// <summary>Column for located issues: 0 (unknown/irrelevant) unless the record does not start a line.</summary>
    internal int IssueColumn => SourceColumn > 1 ? SourceColumn : 0;

    /// <summary>The kind of source: tool-calling data or general instruct data (used by the mix).</summary>
    public DataRole DataRole { get; init; } = DataRole.Tool;

    public IReadOnlyList<Message> Messages { get; }

    /// <summary>Tool schemas in OpenAI shape.</summary>
    public IReadOnlyList<JsonObject> Tools { get; }

    public string? Category { get; init; }
    public string? Subcategory { get; init; }
    public string? Task { get; init; }

    /// <summary>Number of tool calls over all assistant turns.</summary>
    public int ToolCallCount
    {
        get
        {
            var n = 0;
            foreach (var m in Messages) n += m.ToolCalls.Count;
            return n;
        }
    }

    public bool HasToolCalls
    {
        get
        {
            foreach (var m in Messages) if (m.ToolCalls.Count > 0) return true;
            return false;
        }
    }

    /// <summary><c>file:line</c> for messages.</summary>
    public string Location => SourceLine > 0 ? (SourceColumn > 1 ? $"{SourceFile}({SourceLine},{SourceColumn})" : $"{SourceFile}({SourceLine})") : SourceFile;

    /// <summary>
    /// The chat-template context HF templates expect: <c>{"messages": [...], "tools": [...]}</c>. Arguments stay
    /// objects (never JSON strings: vLLM json.loads them before rendering, so training must match).
    /// Every call returns fresh nodes; <paramref name="messageCount"/> renders only a prefix.
    /// </summary>
    /// <param name="messageCount">Render only the first N messages (tool-eval prompts).</param>
    /// <param name="kwargs">Extra template variables (e.g. <c>add_generation_prompt</c>), copied in at the top level.</param>
    public JsonObject ToRenderContext(int? messageCount = null, JsonObject? kwargs = null)
    {
        var msgs = new JsonArray();
        var n = messageCount ?? Messages.Count;
        for (var i = 0; i < n; i++) msgs.Add(Messages[i].ToRenderJson());
        var tools = new JsonArray();
        foreach (var t in Tools) tools.Add(t.DeepClone());
        var ctx = new JsonObject { ["messages"] = msgs, ["tools"] = tools };
        if (kwargs is not null)
            foreach (var kv in kwargs)
                if (kv.Key is not ("messages" or "tools")) ctx[kv.Key] = kv.Value?.DeepClone();
        return ctx;
    }

    /// <summary>Tool names declared in <see cref="Tools"/>.</summary>
    public IEnumerable<string> ToolNames()
    {
        foreach (var t in Tools)
            if (t["function"] is JsonObject f && f["name"] is JsonValue v && v.TryGetValue(out string? s)) yield return s;
    }
}

/// <summary>Whether a source contributes tool-calling conversations or general instruct data to the mix.</summary>
public enum DataRole
{
    Tool,
    General,
}
