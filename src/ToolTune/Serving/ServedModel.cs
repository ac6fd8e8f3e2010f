using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Evaluation;
using ToolTune.Lora.Merge;
using ToolTune.Model;
using ToolTune.Python;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;

namespace ToolTune.Serving;

/// <summary>How <c>tooltune serve</c> loads and runs its model.</summary>
public sealed record ServeOptions
{
    /// <summary>A Hugging Face snapshot folder with its tokenizer and chat template (MergeAdapter's <c>merged/</c>).</summary>
    public required string ModelDir { get; init; }
    /// <summary>A ToolTune/PEFT adapter folder merged into the model at load (into a temporary folder, removed on dispose).</summary>
    public string? AdapterDir { get; init; }
    /// <summary>The <c>model</c> name clients use (default: the model folder's name).</summary>
    public string? ServedModelName { get; init; }
    /// <summary>Generations running at once (each has its own KV cache and workspace).</summary>
    public int Concurrency { get; init; } = 1;
    /// <summary>Requests waiting for a generation slot beyond <see cref="Concurrency"/>; more are refused with 429.</summary>
    public int MaxQueue { get; init; } = 64;
    /// <summary>A queued request that has not started after this long is refused with 503.</summary>
    public TimeSpan QueueTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>The date the template's <c>strftime_now</c> sees (null: today), so a served prompt can equal a pinned pipeline render.</summary>
    public DateTime? TemplateDate { get; init; }
    /// <summary>Server-wide chat-template variables (a request's <c>chat_template_kwargs</c> wins).</summary>
    public JsonObject TemplateKwargs { get; init; } = [];
    public Action<string>? Log { get; init; }
}

/// <summary>What one generation produced, with the text as the endpoint returns it.</summary>
/// <param name="PromptIds">The prompt as generated from (a forced tool-call prefix included).</param>
/// <param name="Ids">Generated ids (the stop id included when one ended it).</param>
/// <param name="FinishReason"><c>stop</c> or <c>length</c>.</param>
/// <param name="StopReason">vLLM's <c>stop_reason</c>: the stop string or stop id that ended generation, else null.</param>
/// <param name="Text">Decoded text, cut before a matched stop string; stop ids are not part of it.</param>
/// <param name="BodyIds">Generated ids that lie wholly before the end (no stop id, nothing of a matched stop string).</param>
public sealed record ServedGeneration(IReadOnlyList<int> PromptIds, IReadOnlyList<int> Ids, string FinishReason, JsonNode? StopReason, string Text, IReadOnlyList<int> BodyIds);

/// <summary>
/// The model behind <c>tooltune serve</c>: tokenizer, chat template, stop ids (as vLLM takes them from the folder:
/// <c>generation_config.json</c> <c>eos_token_id</c>, the tokenizer's eos), the vLLM-exact Hermes parser, and a pool of
/// <see cref="ServeOptions.Concurrency"/> decoders over the memory-mapped weights.
/// </summary>
public sealed class ServedModel : IDisposable
{
    private readonly List<ModelWeights> _weights = [];
    private readonly ConcurrentBag<CausalLM> _pool = [];
    private readonly object _textLock = new();
    private readonly string? _mergedTemp;
    private readonly ChatTemplate _template;
    private readonly JsonObject _kwargs;
    private readonly RenderOptions _renderOptions;

    private ServedModel(ServeOptions options, string modelDir, string? mergedTemp)
    {
        _mergedTemp = mergedTemp;
        ModelDir = modelDir;
        Tokenizer = Tokenizer.FromDirectory(modelDir);
        _template = ChatTemplate.Load(modelDir);
        for (var i = 0; i < Math.Max(1, options.Concurrency); i++)
        {
            var w = ModelWeights.Open(modelDir);
            _weights.Add(w);
            _pool.Add(new CausalLM(w));
        }
        Config = _weights[0].Config;
        StopIds = new ModelSnapshot(modelDir).StopIds(Config, Tokenizer);
        Parser = HermesToolCallParser.FromTokenizer(Tokenizer);
        Name = options.ServedModelName ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.ModelDir)));
        _kwargs = ModelSnapshot.TemplateKwargs(options.TemplateKwargs, Tokenizer);
        _renderOptions = RenderOptions.Default with { Now = options.TemplateDate };
    }

    /// <summary>Opens the model (merging <see cref="ServeOptions.AdapterDir"/> first when given). TT8500 when it cannot be served.</summary>
    public static ServedModel Load(ServeOptions options, CancellationToken ct = default)
    {
        var modelDir = Path.GetFullPath(options.ModelDir);
        if (!File.Exists(Path.Combine(modelDir, "config.json")))
            throw new ToolTuneException(ErrorCodes.ServeStartFailed, "--model must be a Hugging Face snapshot folder (config.json, *.safetensors, tokenizer.json).", modelDir);
        string? temp = null;
        try
        {
            if (options.AdapterDir is { } adapter)
            {
                temp = Path.Combine(Path.GetTempPath(), $"tooltune-serve-{Guid.NewGuid():N}");
                options.Log?.Invoke($"serve: merging adapter {adapter} into {Path.GetFileName(modelDir)}");
                AdapterMerger.Merge(new MergeOptions { BaseDir = modelDir, AdapterDir = Path.GetFullPath(adapter), OutputDir = temp }, ct);
                modelDir = temp;
            }
            return new ServedModel(options, modelDir, temp);
        }
        catch
        {
            if (temp is not null) TryDelete(temp);
            throw;
        }
    }

    public string Name { get; }
    public string ModelDir { get; }
    public ModelConfig Config { get; }
    public Tokenizer Tokenizer { get; }
    public IReadOnlyList<int> StopIds { get; }
    public HermesToolCallParser Parser { get; }
    public int ContextLength => Config.MaxPositionEmbeddings;

    /// <summary>Renders the conversation with <c>add_generation_prompt</c> → ids; a template failure is a 400.</summary>
    public int[] RenderChat(ChatRequest request)
    {
        var ctx = (JsonObject)_kwargs.DeepClone();
        foreach (var (k, v) in request.TemplateKwargs) ctx[k] = v?.DeepClone();
        ctx["messages"] = request.Messages.DeepClone();
        if (request.Tools.Count > 0) ctx["tools"] = request.Tools.DeepClone();
        ctx["add_generation_prompt"] = true;
        lock (_textLock)
        {
            string text;
            try
            {
                text = _template.Render(ctx, _renderOptions).Text;
            }
            catch (ToolTuneException e)
            {
                throw OpenAiError.BadRequest($"The chat template could not render these messages: {e.Message}", "messages");
            }
            return Encode(text);
        }
    }

    /// <summary>
    /// The text the template writes between <c>&lt;tool_call&gt;</c> and a call's arguments for tool <paramref name="name"/>
    /// (e.g. <c>\n{"name": "get_weather", "arguments": </c>), found by rendering one assistant call: a forced call then
    /// starts exactly as the model was trained to write one.
    /// </summary>
    public string ToolCallOpening(string name)
    {
        var fallback = "\n{\"name\": " + PythonJson.Dumps(JsonValue.Create(name)) + ", \"arguments\": ";
        var ctx = (JsonObject)_kwargs.DeepClone();
        ctx["messages"] = new JsonArray(
            new JsonObject { ["role"] = "user", ["content"] = "x" },
            new JsonObject
            {
                ["role"] = "assistant",
                ["content"] = "",
                ["tool_calls"] = new JsonArray(new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = name, ["arguments"] = new JsonObject() } }),
            });
        string text;
        try
        {
            lock (_textLock) text = _template.Render(ctx, _renderOptions).Text;
        }
        catch (ToolTuneException)
        {
            return fallback;
        }
        var start = text.LastIndexOf(HermesToolCallParser.StartToken, StringComparison.Ordinal);
        if (start < 0) return fallback;
        start += HermesToolCallParser.StartToken.Length;
        var args = text.IndexOf("\"arguments\":", start, StringComparison.Ordinal);
        if (args < 0) return fallback;
        var end = args + "\"arguments\":".Length;
        while (end < text.Length && text[end] == ' ') end++;
        return text[start..end];
    }

    public int[] Encode(string text)
    {
        lock (_textLock) return Tokenizer.EncodeToIds(text, addSpecialTokens: false).ToArray();
    }

    public string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens) => Tokenizer.Decode(ids, skipSpecialTokens);

    /// <summary>400 unless every id is in the vocabulary (checked before a stream starts, so the refusal is a status).</summary>
    public void CheckPromptIds(IReadOnlyList<int> prompt)
    {
        if (prompt.Count == 0) throw OpenAiError.BadRequest("The prompt is empty.", "prompt");
        foreach (var id in prompt)
            if (id < 0 || id >= Config.VocabSize)
                throw OpenAiError.BadRequest($"Token id {id} is out of vocabulary (vocabulary size {Config.VocabSize}).", "prompt");
    }

    /// <summary>The <c>max_tokens</c> a request gets: its own, or the rest of the context; 400 past the context (vLLM's message).</summary>
    public int ResolveMaxTokens(int promptTokens, int? requested, int defaultMax)
    {
        if (promptTokens >= ContextLength)
            throw OpenAiError.BadRequest($"This model's maximum context length is {ContextLength} tokens. However, your prompt is {promptTokens} tokens; please reduce the length of the messages.", "messages");
        var max = requested ?? Math.Min(defaultMax, ContextLength - promptTokens);
        if (promptTokens + max > ContextLength)
            throw OpenAiError.BadRequest($"This model's maximum context length is {ContextLength} tokens. However, you requested {promptTokens + max} tokens " +
                                         $"({promptTokens} in the prompt, {max} in the completion). Please reduce the length of the prompt or completion.", requested is null ? null : "max_tokens");
        return max;
    }

    /// <summary>
    /// Generates from <paramref name="prompt"/>. <paramref name="onProgress"/> sees the ids so far after each one (a stream
    /// turns them into deltas). Stop strings are matched on the decoded text (<paramref name="skipSpecialTokens"/> as the
    /// response decodes it) and cut the text before them, as vLLM does.
    /// </summary>
    public ServedGeneration Generate(int[] prompt, SamplingRequest sampling, int maxTokens, bool skipSpecialTokens,
        Action<IReadOnlyList<int>>? onProgress, CancellationToken ct)
    {
        CheckPromptIds(prompt);
        var stops = new HashSet<int>(sampling.IgnoreEos ? [] : StopIds);
        foreach (var s in sampling.StopTokenIds) stops.Add(s);
        var generated = new List<int>();
        string? matched = null;
        var matchAt = -1;
        var matchTokenIndex = -1;
        var maxStop = sampling.Stop.Count == 0 ? 0 : sampling.Stop.Max(s => s.Length);
        bool OnToken(int id)
        {
            generated.Add(id);
            if (!stops.Contains(id) && maxStop > 0)
            {
                var text = Decode(generated, skipSpecialTokens);
                var from = Math.Max(0, text.Length - Decode([id], skipSpecialTokens).Length - maxStop);
                foreach (var s in sampling.Stop)
                {
                    var at = text.IndexOf(s, from, StringComparison.Ordinal);
                    if (at >= 0 && (matchAt < 0 || at < matchAt)) { matchAt = at; matched = s; }
                }
                if (matched is not null) { matchTokenIndex = generated.Count - 1; return false; }
            }
            onProgress?.Invoke(generated);
            return true;
        }

        if (!_pool.TryTake(out var lm))
            throw new OpenAiError(503, "No generation slot is free.");
        Model.DecodingResult result;
        try
        {
            var seed = sampling.Seed is { } s ? unchecked((int)s) : Random.Shared.Next();
            result = Generator.Generate(lm, prompt, new Model.DecodingOptions
            {
                MaxNewTokens = maxTokens,
                Temperature = (float)sampling.Temperature,
                TopP = (float)sampling.TopP,
                Seed = seed,
                StopIds = stops,
            }, OnToken, ct);
        }
        finally
        {
            _pool.Add(lm);
        }
        var ids = result.Ids;
        if (matched is not null)
        {
            var text = Decode(ids, skipSpecialTokens)[..matchAt];
            return new ServedGeneration(prompt, ids, FinishReason.Stop.ToWireName(), matched, text, ids.Take(matchTokenIndex).ToArray());
        }
        var endedByStopId = result.Reason == FinishReason.Stop && ids.Length > 0 && stops.Contains(ids[^1]);
        var body = endedByStopId ? ids[..^1] : ids;
        // vLLM's stop_reason is null for the model's own end-of-sequence ids and the id for a requested stop_token_id.
        JsonNode? stopReason = endedByStopId && !StopIds.Contains(ids[^1]) ? JsonValue.Create(ids[^1]) : null;
        return new ServedGeneration(prompt, ids, result.Reason.ToWireName(), stopReason, Decode(body, skipSpecialTokens), body);
    }

    public void Dispose()
    {
        foreach (var w in _weights) w.Dispose();
        _weights.Clear();
        if (_mergedTemp is not null) TryDelete(_mergedTemp);
    }

    private static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
