using System.Text.Json.Nodes;

namespace ToolTune.Serving;

/// <summary>
/// One <c>/v1/completions</c> request: a text prompt (encoded without special tokens added) or token ids, generated as
/// is. With vLLM's <c>return_token_ids</c> the choice carries <c>prompt_token_ids</c> and <c>token_ids</c> (vLLM
/// <c>CompletionResponseChoice</c>, vllm/entrypoints/openai/protocol.py; in a stream the prompt ids come in the first chunk
/// and each chunk carries its own ids), which is how Evaluate's raw path reads the exact generated ids.
/// </summary>
public sealed class CompletionRun
{
    /// <summary>OpenAI's and vLLM's default <c>max_tokens</c> for completions.</summary>
    public const int DefaultMaxTokens = 16;

    private readonly ServedModel _model;
    private readonly CompletionRequest _request;
    private readonly int[] _prompt;
    private readonly int _maxTokens;
    private readonly string _id = "cmpl-" + Guid.NewGuid().ToString("N");
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public CompletionRun(ServedModel model, CompletionRequest request)
    {
        _model = model;
        _request = request;
        _prompt = request.PromptIds is { } ids ? [.. ids] : model.Encode(request.PromptText!);
        if (_prompt.Length == 0) throw OpenAiError.BadRequest("The prompt encodes to no tokens.", "prompt");
        model.CheckPromptIds(_prompt);
        _maxTokens = model.ResolveMaxTokens(_prompt.Length, request.Sampling.MaxTokens, DefaultMaxTokens);
    }

    public JsonObject Complete(CancellationToken ct)
    {
        var gen = _model.Generate(_prompt, _request.Sampling, _maxTokens, _request.SkipSpecialTokens, null, ct);
        var text = _request.Echo ? _model.Decode(_prompt, _request.SkipSpecialTokens) + gen.Text : gen.Text;
        var choice = new JsonObject
        {
            ["index"] = 0,
            ["text"] = text,
            ["logprobs"] = null,
            ["finish_reason"] = gen.FinishReason,
            ["stop_reason"] = gen.StopReason?.DeepClone(),
        };
        if (_request.Sampling.ReturnTokenIds)
        {
            choice["prompt_token_ids"] = ChatCompletionRun.Ids(_prompt);
            choice["token_ids"] = ChatCompletionRun.Ids(gen.Ids);
        }
        var r = Envelope();
        r["choices"] = new JsonArray(choice);
        r["usage"] = Usage(gen.Ids.Count);
        return r;
    }

    public void Stream(Action<JsonObject> chunk, CancellationToken ct)
    {
        var maxStop = _request.Sampling.Stop.Count == 0 ? 0 : _request.Sampling.Stop.Max(s => s.Length);
        var emittedChars = 0;
        var emittedIds = 0;
        var first = true;
        void Send(string text, IReadOnlyList<int> ids, string? finish, JsonNode? stopReason)
        {
            var choice = new JsonObject { ["index"] = 0, ["text"] = text, ["logprobs"] = null, ["finish_reason"] = finish };
            if (finish is not null) choice["stop_reason"] = stopReason;
            if (_request.Sampling.ReturnTokenIds)
            {
                if (first) choice["prompt_token_ids"] = ChatCompletionRun.Ids(_prompt);
                choice["token_ids"] = ChatCompletionRun.Ids(ids);
            }
            first = false;
            var c = Envelope();
            c["choices"] = new JsonArray(choice);
            chunk(c);
        }
        if (_request.Echo) { Send(_model.Decode(_prompt, _request.SkipSpecialTokens), [], null, null); }
        var gen = _model.Generate(_prompt, _request.Sampling, _maxTokens, _request.SkipSpecialTokens, ids =>
        {
            var text = _model.Decode(ids, _request.SkipSpecialTokens);
            // Hold back what could still become a stop string, and an incomplete multi-byte character.
            var safe = Math.Max(emittedChars, text.Length - Math.Max(0, maxStop - 1));
            if (text.EndsWith('\uFFFD')) return;
            if (safe > emittedChars || ids.Count > emittedIds)
            {
                Send(text[emittedChars..safe], ids.Skip(emittedIds).ToArray(), null, null);
                emittedChars = safe;
                emittedIds = ids.Count;
            }
        }, ct);
        var tail = gen.Text.Length > emittedChars ? gen.Text[emittedChars..] : "";
        Send(tail, gen.Ids.Skip(emittedIds).ToArray(), gen.FinishReason, gen.StopReason?.DeepClone());
        if (_request.Sampling.IncludeUsage)
        {
            var u = Envelope();
            u["choices"] = new JsonArray();
            u["usage"] = Usage(gen.Ids.Count);
            chunk(u);
        }
    }

    private JsonObject Envelope() => ResponseParts.Envelope(_id, "text_completion", _created, _model.Name);

    private JsonObject Usage(int completion) => ResponseParts.Usage(_prompt.Length, completion);
}
