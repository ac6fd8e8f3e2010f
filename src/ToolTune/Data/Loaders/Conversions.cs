using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ToolTune.Diagnostics;
using ToolTune.Python;

namespace ToolTune.Data.Loaders;

/// <summary>A record that cannot be converted; the loader turns it into a located <see cref="DataIssue"/>.</summary>
public sealed class RecordException(string code, string reason, string detail) : Exception(detail)
{
    public string Code { get; } = code;
    public string Reason { get; } = reason;
}

/// <summary>Tool schemas and tool calls: parsing and normalisation shared by every loader.</summary>
public static partial class ToolFormat
{
    public const string CallOpen = "<tool_call>";
    public const string CallClose = "</tool_call>";
    public const string ResponseOpen = "<tool_response>";
    public const string ResponseClose = "</tool_response>";
    public const string ToolsOpen = "<tools>";
    public const string ToolsClose = "</tools>";

    /// <summary>
    /// Splits an assistant text into Hermes <c>&lt;tool_call&gt;</c> blocks (JSON or Python-dict payloads, normalised)
    /// and the text outside them (kept as content, trimmed pieces joined by a blank line).
    /// </summary>
    public static List<ToolCall> ExtractCalls(string text, out string content)
    {
        var calls = new List<ToolCall>();
        if (!text.Contains(CallOpen, StringComparison.Ordinal) && !text.Contains(CallClose, StringComparison.Ordinal))
        {
            content = text;
            return calls;
        }
        var outside = new StringBuilder();
        var pos = 0;
        var k = 0;
        while (pos < text.Length)
        {
            var open = text.IndexOf(CallOpen, pos, StringComparison.Ordinal);
            var strayClose = text.IndexOf(CallClose, pos, StringComparison.Ordinal);
            if (strayClose >= 0 && (open < 0 || strayClose < open))
                throw new RecordException(ErrorCodes.DataBadToolCall, DropReasons.BadToolCall, $"'{CallClose}' without a matching '{CallOpen}'");
            if (open < 0)
            {
                AppendPiece(outside, text.AsSpan(pos));
                break;
            }
            AppendPiece(outside, text.AsSpan(pos, open - pos));
            var bodyStart = open + CallOpen.Length;
            var close = text.IndexOf(CallClose, bodyStart, StringComparison.Ordinal);
            if (close < 0)
                throw new RecordException(ErrorCodes.DataBadToolCall, DropReasons.BadToolCall, $"tool call {k + 1}: '{CallOpen}' is never closed");
            var body = text[bodyStart..close];
            calls.Add(ParseCall(body, k));
            k++;
            pos = close + CallClose.Length;
        }
        content = outside.ToString();
        return calls;
    }

    private static void AppendPiece(StringBuilder sb, ReadOnlySpan<char> piece)
    {
        var t = piece.Trim();
        if (t.Length == 0) return;
        if (sb.Length > 0) sb.Append("\n\n");
        sb.Append(t);
    }

    /// <summary>Parses one call payload (<c>{"name":..,"arguments":{..}}</c>, JSON or Python-dict).</summary>
    public static ToolCall ParseCall(string body, int index)
    {
        if (!PyLiteral.TryParse(body, out var node, out var err))
            throw new RecordException(ErrorCodes.DataBadToolCall, DropReasons.BadToolCall,
                $"tool call {index + 1} is neither JSON nor a Python dict ({err}): {Snip(body)}");
        if (node is not JsonObject o)
            throw new RecordException(ErrorCodes.DataBadToolCall, DropReasons.BadToolCall, $"tool call {index + 1} is not an object: {Snip(body)}");
        return CallFromObject(o, index, id: null);
    }

    /// <summary>A call from <c>{name, arguments}</c> (arguments an object, a JSON/Python string of one, or absent → {}).</summary>
    public static ToolCall CallFromObject(JsonObject o, int index, string? id)
    {
        if (o["name"] is not JsonValue nv || !nv.TryGetValue(out string? name) || string.IsNullOrWhiteSpace(name))
            throw new RecordException(ErrorCodes.DataBadToolCall, DropReasons.BadToolCall, $"tool call {index + 1} has no string 'name'");
        var argsNode = o.ContainsKey("arguments") ? o["arguments"] : o["parameters"];
        return new ToolCall(name, ArgumentsObject(argsNode, index, name), id);
    }

    public static JsonObject ArgumentsObject(JsonNode? argsNode, int index, string name)
    {
        switch (argsNode)
        {
            case null:
                return [];
            case JsonObject a:
                return a.DeepClone().AsObject();
            case JsonValue v when v.TryGetValue(out string? s):
                if (string.IsNullOrWhiteSpace(s)) return [];
                if (PyLiteral.TryParse(s, out var parsed, out var e) && parsed is JsonObject po) return po;
                throw new RecordException(ErrorCodes.DataBadToolCall, DropReasons.BadToolCall,
                    $"tool call {index + 1} ('{name}'): arguments string is not a JSON object ({(e.Length > 0 ? e : "not an object")}): {Snip(s)}");
            default:
                throw new RecordException(ErrorCodes.DataBadToolCall, DropReasons.BadToolCall,
                    $"tool call {index + 1} ('{name}'): arguments must be an object, found {argsNode.GetValueKind()}");
        }
    }

    /// <summary>
    /// Normalises a tool list (JSON array, one object, a JSON/Python string of either, or several objects one
    /// after another) to OpenAI shape <c>{"type":"function","function":{name,description,parameters}}</c>.
    /// </summary>
    public static List<JsonObject> ParseTools(JsonNode? node)
    {
        var list = new List<JsonObject>();
        switch (node)
        {
            case null:
                return list;
            case JsonArray a:
                foreach (var t in a) list.Add(NormalizeTool(t));
                return list;
            case JsonObject o:
                list.Add(NormalizeTool(o));
                return list;
            case JsonValue v when v.TryGetValue(out string? s):
                return ParseToolsText(s);
            default:
                throw new RecordException(ErrorCodes.DataBadTools, DropReasons.BadTools, $"'tools' must be a list, found {node.GetValueKind()}");
        }
    }

    public static List<JsonObject> ParseToolsText(string s)
    {
        if (string.IsNullOrWhiteSpace(s)) return [];
        if (PyLiteral.TryParse(s, out var n, out _)) return n is JsonValue ? throw Bad("tools text is a scalar") : ParseTools(n);
        if (PyLiteral.TryParseSequence(s, out var seq, out var err))
        {
            var list = new List<JsonObject>();
            foreach (var item in seq)
                if (item is JsonArray arr) list.AddRange(ParseTools(arr));
                else list.Add(NormalizeTool(item));
            return list;
        }
        throw Bad($"tools are neither JSON nor Python literals ({err}): {Snip(s)}");
    }

    private static RecordException Bad(string detail) => new(ErrorCodes.DataBadTools, DropReasons.BadTools, detail);

    /// <summary>The parts of a tool's JSON Schema the chat template and the evaluator read: an object, whose
    /// <c>properties</c> is a mapping of schemas and whose <c>required</c> is a list of names.</summary>
    private static void CheckParametersSchema(string tool, JsonNode schema)
    {
        if (schema is not JsonObject s)
            throw Bad($"tool '{tool}': 'parameters' must be a JSON Schema object, found {schema.GetValueKind()}");
        if (s["properties"] is { } props && (props is not JsonObject po || po.Any(kv => kv.Value is not JsonObject)))
            throw Bad($"tool '{tool}': 'parameters.properties' must map each parameter name to a schema object");
        if (s["required"] is { } req && (req is not JsonArray ra || ra.Any(x => x is not JsonValue xv || xv.GetValueKind() != JsonValueKind.String)))
            throw Bad($"tool '{tool}': 'parameters.required' must be a list of parameter names");
    }

    public static JsonObject NormalizeTool(JsonNode? t)
    {
        if (t is not JsonObject o) throw Bad($"a tool must be an object, found {(t is null ? "null" : t.GetValueKind().ToString())}");
        JsonObject fn;
        if (o["function"] is JsonObject f) fn = f;
        else if (o.ContainsKey("name")) fn = o;
        else throw Bad("a tool has neither 'function' nor 'name'");
        if (fn["name"] is not JsonValue nv || !nv.TryGetValue(out string? name) || string.IsNullOrWhiteSpace(name))
            throw Bad("a tool has no string 'name'");
        if (fn["parameters"] is { } schema) CheckParametersSchema(name, schema);
        var outFn = new JsonObject { ["name"] = name };
        if (fn["description"] is { } d) outFn["description"] = d.DeepClone();
        outFn["parameters"] = fn["parameters"] is { } p ? p.DeepClone() : new JsonObject { ["type"] = "object", ["properties"] = new JsonObject() };
        foreach (var kv in fn)
            if (kv.Key is not ("name" or "description" or "parameters" or "type")) outFn[kv.Key] = kv.Value?.DeepClone();
        return new JsonObject { ["type"] = "function", ["function"] = outFn };
    }

    /// <summary>The inner texts of every <c>&lt;open&gt;…&lt;/close&gt;</c> block, and the text with the blocks removed.</summary>
    public static List<string> Blocks(string text, string open, string close, out string rest)
    {
        var blocks = new List<string>();
        var sb = new StringBuilder();
        var pos = 0;
        while (true)
        {
            var i = text.IndexOf(open, pos, StringComparison.Ordinal);
            if (i < 0) { sb.Append(text, pos, text.Length - pos); break; }
            var j = text.IndexOf(close, i + open.Length, StringComparison.Ordinal);
            if (j < 0) { sb.Append(text, pos, text.Length - pos); break; }
            sb.Append(text, pos, i - pos);
            blocks.Add(text[(i + open.Length)..j]);
            pos = j + close.Length;
        }
        rest = sb.ToString();
        return blocks;
    }

    /// <summary>
    /// Removes Hermes' tool-calling boilerplate and the <c>&lt;tools&gt;</c> blocks from a system prompt (the template
    /// renders the tools and its own instructions from the <c>tools</c> list). What is left is the user's own text.
    /// </summary>
    public static string StripHermesBoilerplate(string systemPrompt)
    {
        var s = systemPrompt;
        s = SchemaInstruction().Replace(s, "");
        s = PydanticPrefix().Replace(s, m => "\u0001");
        // Remove the balanced {...} after the pydantic marker.
        var mark = s.IndexOf('\u0001');
        if (mark >= 0)
        {
            var k = mark + 1;
            while (k < s.Length && char.IsWhiteSpace(s[k])) k++;
            var end = k < s.Length && s[k] == '{' ? MatchBrace(s, k) : k - 1;
            s = s[..mark] + s[(end + 1)..];
        }
        foreach (var phrase in BoilerplatePhrases) s = s.Replace(phrase, "", StringComparison.Ordinal);
        Blocks(s, ToolsOpen, ToolsClose, out s);
        return MultiBlank().Replace(s, "\n\n").Trim();
    }

    private static int MatchBrace(string s, int open)
    {
        var depth = 0;
        char quote = '\0';
        for (var i = open; i < s.Length; i++)
        {
            var c = s[i];
            if (quote != '\0')
            {
                if (c == '\\') i++;
                else if (c == quote) quote = '\0';
                continue;
            }
            if (c is '"' or '\'') quote = c;
            else if (c == '{') depth++;
            else if (c == '}' && --depth == 0) return i;
        }
        return s.Length - 1;
    }

    private static readonly string[] BoilerplatePhrases =
    [
        "You are a function calling AI model.",
        "You are provided with function signatures within <tools> </tools> XML tags.",
        "You are provided with function signatures within <tools></tools> XML tags.",
        "You may call one or more functions to assist with the user query.",
        "Don't make assumptions about what values to plug into functions.",
        "Here are the available tools:",
    ];

    [GeneratedRegex(@"For each function call,? return a json object with function name and arguments within <tool_call>\s*</tool_call> (XML )?tags( as follows| with the following schema)?:?\s*(<tool_call>.*?</tool_call>)?", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex SchemaInstruction();

    [GeneratedRegex(@"Use the following pydantic model json schema for each tool call you will make:", RegexOptions.IgnoreCase)]
    private static partial Regex PydanticPrefix();

    [GeneratedRegex(@"\n\s*\n(\s*\n)*")]
    private static partial Regex MultiBlank();

    public static string Snip(string s, int max = 120)
    {
        var t = s.Trim().ReplaceLineEndings(" ");
        return t.Length <= max ? t : t[..max] + "…";
    }

    internal static string? Str(JsonNode? n)
    {
        if (n is JsonValue v)
        {
            if (v.TryGetValue(out string? s)) return s;
            if (v.GetValueKind() is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False) return v.ToJsonString();
        }
        return null;
    }
}
