using System.Text.Json.Nodes;
using ToolTune.Evaluation;

namespace ToolTune.Serving;

/// <summary>
/// One <c>/v1/chat/completions</c> request: the prompt (chat template, plus a forced <c>&lt;tool_call&gt;</c> prefix for
/// <c>tool_choice</c> required / named), generation, and the response shaped as vLLM's OpenAI server returns it with
/// <c>--enable-auto-tool-choice --tool-call-parser hermes</c>: calls parsed by the Hermes parser become
/// <c>message.tool_calls</c> (<c>finish_reason: "tool_calls"</c>) and the text before the first call is the content.
/// </summary>
public sealed class ChatCompletionRun
{
    private readonly ServedModel _model;
    private readonly ChatRequest _request;
    private readonly int[] _prompt;
    private readonly int _forcedPrefix;
    private readonly int _maxTokens;
    private readonly string _id = "chatcmpl-" + Guid.NewGuid().ToString("N");
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public ChatCompletionRun(ServedModel model, ChatRequest request)
    {
        _model = model;
        _request = request;
        var prompt = model.RenderChat(request);
        var forced = new List<int>();
        if (ToolsActive && request.ToolChoice is ToolChoiceMode.Required or ToolChoiceMode.Named)
        {
            // No grammar-constrained decoding here (vLLM uses guided JSON for these): the call is forced by continuing the
            // prompt from the start delimiter (and, for a named tool, the call's opening up to its arguments).
            forced.Add(model.Parser.StartId);
            if (request.ToolChoice == ToolChoiceMode.Named)
                forced.AddRange(model.Encode(model.ToolCallOpening(request.NamedTool!)));
        }
        _forcedPrefix = forced.Count;
        _prompt = [.. prompt, .. forced];
        _maxTokens = model.ResolveMaxTokens(_prompt.Length, request.Sampling.MaxTokens, model.ContextLength);
    }

    /// <summary>Tools are parsed unless <c>tool_choice</c> is none or no tools were declared.</summary>
    public bool ToolsActive => _request.ToolChoice != ToolChoiceMode.None && _request.Tools.Count > 0;

    public int PromptTokens => _prompt.Length;

    /// <summary>The non-streaming response.</summary>
    public JsonObject Complete(CancellationToken ct)
    {
        // With tools the Hermes parser needs the delimiters in the text (vLLM's parser sets skip_special_tokens=False).
        var gen = _model.Generate(_prompt, _request.Sampling, _maxTokens, skipSpecialTokens: !ToolsActive, null, ct);
        var message = new JsonObject { ["role"] = "assistant" };
        string finish = gen.FinishReason;
        if (ToolsActive)
        {
            var forced = _prompt[^_forcedPrefix..];
            var parse = _model.Parser.Parse([.. forced, .. gen.BodyIds]);
            if (parse.ToolsCalled)
            {
                message["content"] = parse.Content;
                message["tool_calls"] = new JsonArray(parse.Calls.Select(c => (JsonNode)ToolCallJson(c)).ToArray());
                // vLLM reports auto and required calls as "tool_calls"; a named tool_choice keeps the engine's reason (OpenAI too).
                if (_request.ToolChoice != ToolChoiceMode.Named) finish = "tool_calls";
            }
            else message["content"] = _forcedPrefix == 0 ? gen.Text : _model.Decode(forced, skipSpecialTokens: false) + gen.Text;
        }
        else message["content"] = gen.Text;
        message["reasoning_content"] = null;
        var choice = new JsonObject
        {
            ["index"] = 0,
            ["message"] = message,
            ["logprobs"] = null,
            ["finish_reason"] = finish,
            ["stop_reason"] = gen.StopReason?.DeepClone(),
        };
        var response = Envelope("chat.completion");
        if (_request.Sampling.ReturnTokenIds)
        {
            // vLLM's return_token_ids (vllm/entrypoints/openai/protocol.py, ChatCompletionResponse.prompt_token_ids and
            // ChatCompletionResponseChoice.token_ids): the prompt ids on the response, the generated ids on the choice.
            choice["token_ids"] = Ids(gen.Ids);
            response["prompt_token_ids"] = Ids(_prompt);
        }
        response["choices"] = new JsonArray(choice);
        response["usage"] = Usage(gen.Ids.Count);
        return response;
    }

    /// <summary>
    /// The streaming response as chunks (<c>chat.completion.chunk</c>), in vLLM's order: a first delta with the role, text
    /// outside calls as <c>content</c> deltas, each call as a delta with <c>index</c>, <c>id</c>, <c>type</c> and
    /// <c>function.name</c> followed by <c>function.arguments</c> fragments, then the finish reason, then usage when asked.
    /// Text after the first call is not streamed, as the non-streaming content ends at the first call.
    /// </summary>
    public void Stream(Action<JsonObject> chunk, CancellationToken ct)
    {
        chunk(Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null));
        var holdBack = _request.Sampling.Stop.Count == 0 ? 0 : _request.Sampling.Stop.Max(x => x.Length) - 1;
        var streamer = new ToolCallStreamer(_model, ToolsActive, holdBack, d => chunk(Chunk(d, null)));
        var forced = _prompt[^_forcedPrefix..];
        foreach (var id in forced) streamer.Add(id);
        var seen = 0;
        var gen = _model.Generate(_prompt, _request.Sampling, _maxTokens, skipSpecialTokens: !ToolsActive, ids =>
        {
            for (; seen < ids.Count; seen++)
                if (!_model.StopIds.Contains(ids[seen]) && !_request.Sampling.StopTokenIds.Contains(ids[seen])) streamer.Add(ids[seen]);
        }, ct);
        var called = streamer.Finish(gen.StopReason is JsonValue { } v && v.GetValueKind() == System.Text.Json.JsonValueKind.String ? gen.Text : null);
        var finish = called && _request.ToolChoice != ToolChoiceMode.Named ? "tool_calls" : gen.FinishReason;
        var last = Chunk(new JsonObject(), finish);
        ((JsonObject)((JsonArray)last["choices"]!)[0]!)["stop_reason"] = gen.StopReason?.DeepClone();
        chunk(last);
        if (_request.Sampling.IncludeUsage)
        {
            var usage = Envelope("chat.completion.chunk");
            usage["choices"] = new JsonArray();
            usage["usage"] = Usage(gen.Ids.Count);
            chunk(usage);
        }
    }

    private JsonObject Chunk(JsonObject delta, string? finish)
    {
        var c = Envelope("chat.completion.chunk");
        c["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["logprobs"] = null, ["finish_reason"] = finish });
        return c;
    }

    private JsonObject Envelope(string kind) => ResponseParts.Envelope(_id, kind, _created, _model.Name);

    private JsonObject Usage(int completion) => ResponseParts.Usage(_prompt.Length, completion);

    internal static JsonArray Ids(IEnumerable<int> ids) => new(ids.Select(i => (JsonNode)JsonValue.Create(i)).ToArray());

    /// <summary>vLLM's tool-call ids are <c>chatcmpl-tool-</c> + a random hex string.</summary>
    internal static string NewToolCallId() => "chatcmpl-tool-" + Guid.NewGuid().ToString("N");

    private static JsonObject ToolCallJson(ParsedToolCall c) => new()
    {
        ["id"] = NewToolCallId(),
        ["type"] = "function",
        ["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = c.ArgumentsJson },
    };
}

/// <summary>
/// Turns generated ids into chat deltas as they arrive. Outside a call the decoded text is streamed as content (held
/// back while a multi-byte character is incomplete); from a <c>&lt;tool_call&gt;</c> id on, ids are collected until the
/// <c>&lt;/tool_call&gt;</c> id, and the block, parsed by the same Hermes block parser as the non-streaming path, is sent
/// as a call: a delta with index, id, type and name, then its <c>json.dumps</c> arguments in fragments. A block that
/// does not parse is sent as content (delimiters included), as the non-streaming parser returns unparsable output as text.
/// </summary>
/// <param name="holdBack">Characters held back from content deltas until the end (the longest stop string less one), so
/// text that a stop string will cut is never sent.</param>
internal sealed class ToolCallStreamer(ServedModel model, bool toolsActive, int holdBack, Action<JsonObject> delta)
{
    private const int ArgumentFragmentChars = 16;
    private readonly List<int> _text = [];
    private readonly List<int> _block = [];
    private int _emitted;
    private bool _inBlock;
    private int _calls;

    public void Add(int id)
    {
        if (!toolsActive) { AddText(id); return; }
        if (_inBlock)
        {
            if (id == model.Parser.EndId) { CloseBlock(closed: true); return; }
            _block.Add(id);
            return;
        }
        if (id == model.Parser.StartId)
        {
            FlushText(final: true);
            _inBlock = true;
            _block.Clear();
            return;
        }
        if (_calls == 0) AddText(id);
    }

    /// <summary>Ends the stream: an open block is parsed as the unclosed final block vLLM accepts. Returns whether calls were sent.</summary>
    /// <param name="cutText">When a stop string ended generation: the text as cut (sent instead of the pending tail).</param>
    public bool Finish(string? cutText)
    {
        if (_inBlock) CloseBlock(closed: false);
        else if (cutText is not null && _calls == 0)
        {
            if (cutText.Length > _emitted) delta(new JsonObject { ["content"] = cutText[_emitted..] });
            _emitted = cutText.Length;
        }
        else FlushText(final: true);
        return _calls > 0;
    }

    private void AddText(int id)
    {
        _text.Add(id);
        FlushText(final: false);
    }

    private void FlushText(bool final)
    {
        if (_text.Count == 0) return;
        var full = model.Decode(_text, skipSpecialTokens: !toolsActive);
        if (!final && full.EndsWith('\uFFFD')) return;
        var upTo = final ? full.Length : full.Length - holdBack;
        if (upTo > _emitted) delta(new JsonObject { ["content"] = full[_emitted..upTo] });
        _emitted = Math.Max(_emitted, upTo);
    }

    private void CloseBlock(bool closed)
    {
        _inBlock = false;
        var payload = model.Decode(_block, skipSpecialTokens: false);
        var parsed = HermesToolCallParser.ParseBlock(0, closed ? 1 : -1, payload);
        if (parsed.Call is not { } call)
        {
            var raw = HermesToolCallParser.StartToken + payload + (closed ? HermesToolCallParser.EndToken : "");
            delta(new JsonObject { ["content"] = raw });
            return;
        }
        var index = _calls++;
        delta(new JsonObject
        {
            ["tool_calls"] = new JsonArray(new JsonObject
            {
                ["index"] = index,
                ["id"] = ChatCompletionRun.NewToolCallId(),
                ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = call.Name },
            }),
        });
        var args = call.ArgumentsJson;
        for (var i = 0; i < args.Length; i += ArgumentFragmentChars)
        {
            var n = Math.Min(ArgumentFragmentChars, args.Length - i);
            // Never split a surrogate pair across fragments.
            if (i + n < args.Length && char.IsHighSurrogate(args[i + n - 1])) n++;
            delta(new JsonObject
            {
                ["tool_calls"] = new JsonArray(new JsonObject { ["index"] = index, ["function"] = new JsonObject { ["arguments"] = args.Substring(i, n) } }),
            });
            if (n > ArgumentFragmentChars) i++;
        }
    }
}
