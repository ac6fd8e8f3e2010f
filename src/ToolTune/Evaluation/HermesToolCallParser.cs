using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Python;
using ToolTune.Text.Tokenization;

namespace ToolTune.Evaluation;

/// <summary>One call the parser accepted: the name and the arguments as vLLM returns them.</summary>
/// <param name="Name">The <c>name</c> field (a string, or the parse fails).</param>
/// <param name="Arguments">The <c>arguments</c> value as parsed (any JSON value: vLLM does not require an object).</param>
/// <param name="ArgumentsJson">vLLM's <c>json.dumps(arguments, ensure_ascii=False)</c>.</param>
public sealed record ParsedToolCall(string Name, JsonNode? Arguments, string ArgumentsJson)
{
    /// <summary>True when the arguments are a JSON object (a string or list is served by vLLM but breaks clients).</summary>
    public bool ArgumentsIsObject => Arguments is JsonObject;

    public JsonObject ToJson() => new() { ["name"] = Name, ["arguments"] = Arguments?.DeepClone() };
}

/// <summary>
/// One regex match of <c>&lt;tool_call&gt;(.*?)&lt;/tool_call&gt;|&lt;tool_call&gt;(.*)</c>, located on token ids.
/// </summary>
/// <param name="StartIndex">Index of the start-delimiter id in the parsed ids.</param>
/// <param name="EndIndex">Index of the end-delimiter id, or -1 for an unclosed final block (the <c>(.*)</c> branch).</param>
/// <param name="Text">The decoded text between the delimiters (special tokens kept).</param>
/// <param name="Call">The call, when this block alone is a valid call.</param>
/// <param name="Error">Why this block is not a valid call (json.loads error, missing field, wrong type).</param>
/// <param name="JsonError">True when <c>json.loads</c> itself failed (as opposed to a missing or mistyped field).</param>
public sealed record ToolCallBlock(int StartIndex, int EndIndex, string Text, ParsedToolCall? Call, string? Error, bool JsonError)
{
    public bool Closed => EndIndex >= 0;
}

/// <summary>What <see cref="HermesToolCallParser.Parse"/> returns: vLLM's <c>ExtractedToolCallInformation</c> plus diagnostics.</summary>
/// <param name="ToolsCalled">vLLM's <c>tools_called</c>.</param>
/// <param name="Calls">The calls (empty unless <see cref="ToolsCalled"/>).</param>
/// <param name="Content">vLLM's <c>content</c>: text before the first start delimiter (null when empty) if calls were
/// found, else the whole text.</param>
/// <param name="Text">The whole decoded output, special tokens kept (<c>skip_special_tokens=False</c>, as vLLM sets with tools).</param>
/// <param name="Blocks">Every block the regex finds, each parsed on its own (for metrics; vLLM keeps none if one fails).</param>
/// <param name="Error">The first failing block's error, when tools were not called despite a start delimiter.</param>
public sealed record HermesParseResult(
    bool ToolsCalled,
    IReadOnlyList<ParsedToolCall> Calls,
    string? Content,
    string Text,
    IReadOnlyList<ToolCallBlock> Blocks,
    string? Error)
{
    public bool HasStartDelimiter => Blocks.Count > 0;
    public bool AllBlocksClosed => Blocks.All(b => b.Closed);
}

/// <summary>
/// vLLM's Hermes tool parser (<c>Hermes2ProToolParser.extract_tool_calls</c>, non-streaming) on token ids:
/// <list type="bullet">
/// <item>blocks are found as the regex <c>&lt;tool_call&gt;(.*?)&lt;/tool_call&gt;|&lt;tool_call&gt;(.*)</c> (DOTALL) finds them, but the
/// delimiters are matched as token ids, so <c>&lt;tool_call&gt;</c> written as ordinary sub-word tokens is plain text;
/// a start id without a later end id takes everything to the end of the output (further start ids included);</item>
/// <item>each block is decoded (special tokens kept) and <c>json.loads</c>-ed (<see cref="PythonJson"/>); the result
/// must be a dict with a string <c>name</c> and an <c>arguments</c> key (any value: vLLM re-dumps it with
/// <c>json.dumps</c>, so a string stays a JSON string);</item>
/// <item>any failure makes the whole output plain text (no calls, content = everything);</item>
/// <item>otherwise content is the text before the first start delimiter only (null when empty).</item>
/// </list>
/// Give it the generated ids without the final stop id (vLLM strips stop tokens from the text).
/// </summary>
public sealed class HermesToolCallParser
{
    public const string StartToken = "<tool_call>";
    public const string EndToken = "</tool_call>";

    private readonly Func<IReadOnlyList<int>, string> _decode;

    public HermesToolCallParser(int startId, int endId, Func<IReadOnlyList<int>, string> decodeWithSpecialTokens)
    {
        StartId = startId;
        EndId = endId;
        _decode = decodeWithSpecialTokens;
    }

    /// <summary>A parser on a tokenizer's <c>&lt;tool_call&gt;</c>/<c>&lt;/tool_call&gt;</c> ids (TT7001 when either is not one token).</summary>
    public static HermesToolCallParser FromTokenizer(Tokenizer tokenizer, string startToken = StartToken, string endToken = EndToken)
    {
        var start = tokenizer.TokenToId(startToken);
        var end = tokenizer.TokenToId(endToken);
        if (start is null || end is null)
            throw new ToolTuneException(ErrorCodes.EvalDelimiterNotAToken,
                $"The tokenizer has no single token for '{(start is null ? startToken : endToken)}': the Hermes parser checks the tool-call delimiters as token ids (vLLM expects them as tokens, vllm#11903).",
                tokenizer.TokenizerPath);
        return new HermesToolCallParser(start.Value, end.Value, ids => tokenizer.Decode(ids, skipSpecialTokens: false));
    }

    public int StartId { get; }
    public int EndId { get; }

    public HermesParseResult Parse(IReadOnlyList<int> ids)
    {
        var text = _decode(ids);
        var blocks = new List<ToolCallBlock>();
        var i = 0;
        while (i < ids.Count)
        {
            if (ids[i] != StartId) { i++; continue; }
            var end = -1;
            for (var j = i + 1; j < ids.Count; j++)
                if (ids[j] == EndId) { end = j; break; }
            var inner = Slice(ids, i + 1, end >= 0 ? end : ids.Count);
            blocks.Add(ParseBlock(i, end, _decode(inner)));
            if (end < 0) break; // (.*) consumed the rest
            i = end + 1;
        }
        if (blocks.Count == 0) return new HermesParseResult(false, [], text, text, blocks, null);
        var bad = blocks.FirstOrDefault(b => b.Call is null);
        if (bad is not null) return new HermesParseResult(false, [], text, text, blocks, bad.Error);
        var first = blocks[0].StartIndex;
        var content = _decode(Slice(ids, 0, first));
        return new HermesParseResult(true, blocks.Select(b => b.Call!).ToList(), content.Length == 0 ? null : content, text, blocks, null);
    }

    /// <summary>One block's payload: <c>json.loads</c>, then <c>function_call["name"]</c> and <c>function_call["arguments"]</c>.</summary>
    public static ToolCallBlock ParseBlock(int startIndex, int endIndex, string payload)
    {
        JsonNode? node;
        try
        {
            node = PythonJson.Loads(payload);
        }
        catch (PythonJsonException e)
        {
            return new ToolCallBlock(startIndex, endIndex, payload, null, "json.loads: " + e.Message, true);
        }
        // function_call["name"]: TypeError on a list/str/number/None, KeyError on a dict without it.
        if (node is not JsonObject o)
            return new ToolCallBlock(startIndex, endIndex, payload, null, $"payload is a JSON {Kind(node)}, not an object", false);
        if (!o.TryGetPropertyValue("name", out var nameNode))
            return new ToolCallBlock(startIndex, endIndex, payload, null, "missing 'name'", false);
        // FunctionCall(name=...) is a pydantic str field: only a JSON string validates.
        if (nameNode is not JsonValue nv || nv.GetValueKind() != JsonValueKind.String)
            return new ToolCallBlock(startIndex, endIndex, payload, null, $"'name' is a JSON {Kind(nameNode)}, not a string", false);
        if (!o.TryGetPropertyValue("arguments", out var args))
            return new ToolCallBlock(startIndex, endIndex, payload, null, "missing 'arguments'", false);
        var call = new ParsedToolCall(nv.GetValue<string>(), args?.DeepClone(), PythonJson.Dumps(args));
        return new ToolCallBlock(startIndex, endIndex, payload, call, null, false);
    }

    internal static string Kind(JsonNode? n) => n switch
    {
        null => "null",
        JsonObject => "object",
        JsonArray => "array",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "string",
            JsonValueKind.True or JsonValueKind.False => "boolean",
            _ => "number",
        },
        _ => "value",
    };

    private static int[] Slice(IReadOnlyList<int> ids, int from, int to)
    {
        var r = new int[Math.Max(0, to - from)];
        for (var k = 0; k < r.Length; k++) r[k] = ids[from + k];
        return r;
    }
}
