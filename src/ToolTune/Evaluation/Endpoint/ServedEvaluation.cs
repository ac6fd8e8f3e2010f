using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Model;
using ToolTune.Python;

namespace ToolTune.Evaluation.Endpoint;

/// <summary>
/// The served path: each item's <c>messages</c> and <c>tools</c> go to <c>/v1/chat/completions</c> (temperature and
/// <c>max_tokens</c> from <c>eval:</c>, the run's template variables as vLLM's <c>chat_template_kwargs</c>), and the verdict
/// comes from what the server parsed: <c>message.tool_calls</c>, <c>content</c>, <c>finish_reason</c>. This is the path a
/// deployed agent sees (vLLM <c>--enable-auto-tool-choice --tool-call-parser hermes</c>), judged by the same rules as the
/// id-level paths. What the API does not show is reported as not measured: whether every block was closed by
/// <c>&lt;/tool_call&gt;</c> (<c>end_token_rate</c>) and what followed the last call (<c>stop_rate</c>).
/// </summary>
public static class ServedEvaluation
{
    /// <summary>Metrics the served API cannot show; null on the served path.</summary>
    public static readonly string[] RawOnlyMetrics = ["end_token_rate", "stop_rate", "eval_loss", "perplexity"];

    public const string PathDescription = "served: /v1/chat/completions, the server's message.tool_calls / content / finish_reason";

    public static ModelEvaluation Run(string label, OpenAiEndpoint endpoint, IReadOnlyList<EvalItem> items, GenerationOptions options, JsonObject templateKwargs, CancellationToken ct)
    {
        var answers = new (JsonObject Response, TimeSpan Elapsed)[items.Count];
        var wall = Stopwatch.StartNew();
        void Ask(int i)
        {
            var item = items[i];
            var body = new JsonObject
            {
                ["messages"] = item.RenderContext["messages"]?.DeepClone(),
                ["max_tokens"] = options.MaxNewTokens,
                ["temperature"] = options.Temperature,
            };
            if (item.RenderContext["tools"] is JsonArray { Count: > 0 } tools) body["tools"] = ToOpenAiTools(tools);
            if (templateKwargs.Count > 0) body["chat_template_kwargs"] = templateKwargs.DeepClone();
            if (options.Temperature > 0) body["seed"] = (long)(options.Seed & long.MaxValue);
            var clock = Stopwatch.StartNew();
            JsonObject response;
            try
            {
                response = endpoint.Post("chat/completions", body, ct);
            }
            catch (ToolTuneException e)
            {
                throw new ToolTuneException(e.Code, $"{label} model, eval item '{item.Id}': {e.Message}", inner: e);
            }
            answers[i] = (response, clock.Elapsed);
        }
        try
        {
            Parallel.For(0, items.Count, new ParallelOptions { MaxDegreeOfParallelism = endpoint.Concurrency, CancellationToken = ct }, Ask);
        }
        catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is ToolTuneException) is { } first)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
        wall.Stop();
        var samples = new List<SampleResult>(items.Count);
        long generated = 0, promptTokens = 0;
        for (var i = 0; i < items.Count; i++)
        {
            var (response, elapsed) = answers[i];
            var sample = Score(label, items[i], response, elapsed, endpoint);
            generated += response["usage"]?["completion_tokens"] is JsonValue ct2 && ct2.TryGetValue<long>(out var c) ? c : 0;
            promptTokens += response["usage"]?["prompt_tokens"] is JsonValue pt && pt.TryGetValue<long>(out var p) ? p : 0;
            samples.Add(sample);
        }
        var metrics = EvalMetrics.Compute(samples);
        foreach (var m in RawOnlyMetrics) metrics[m] = null;
        var categories = EvalMetrics.ByCategory(samples);
        foreach (var set in categories.Values)
            foreach (var m in RawOnlyMetrics) set[m] = null;
        var decode = TimeSpan.FromTicks(answers.Sum(a => a.Elapsed.Ticks));
        return new ModelEvaluation(label, endpoint.ToString(), samples, metrics, categories,
            new EvalSpeed(items.Count, promptTokens, generated, TimeSpan.Zero, decode, wall.Elapsed)) { Path = PathDescription };
    }

    /// <summary>Eval items keep the tools as the template saw them; the API wants <c>{"type": "function", "function": {...}}</c>.</summary>
    private static JsonArray ToOpenAiTools(JsonArray tools) =>
        new(tools.Select(t => t is JsonObject o && o["function"] is JsonObject ? o.DeepClone()
            : new JsonObject { ["type"] = "function", ["function"] = t?.DeepClone() }).ToArray());

    /// <summary>Judges one chat completion: the parse is rebuilt from the server's answer.</summary>
    public static SampleResult Score(string label, EvalItem item, JsonObject response, TimeSpan elapsed, object endpointForMessages)
    {
        if (response["choices"] is not JsonArray { Count: > 0 } choices || choices[0]?["message"] is not JsonObject message)
            throw new ToolTuneException(ErrorCodes.EndpointRequestFailed, $"{endpointForMessages}: eval item '{item.Id}': the chat completion has no choices[0].message.");
        var content = message["content"] is JsonValue cv && cv.GetValueKind() == JsonValueKind.String ? cv.GetValue<string>() : null;
        var finish = choices[0]?["finish_reason"]?.ToString();
        var calls = new List<ParsedToolCall>();
        if (message["tool_calls"] is JsonArray tcs)
            foreach (var tc in tcs)
            {
                var name = tc?["function"]?["name"]?.ToString()
                           ?? throw new ToolTuneException(ErrorCodes.EndpointRequestFailed, $"{endpointForMessages}: eval item '{item.Id}': a tool call has no function.name.");
                var argsText = tc?["function"]?["arguments"]?.ToString() ?? "";
                JsonNode? args;
                try { args = PythonJson.Loads(argsText); }
                catch (PythonJsonException) { args = JsonValue.Create(argsText); }
                calls.Add(new ParsedToolCall(name, args, argsText));
            }
        var parse = calls.Count > 0 ? CallsParse(calls, content) : TextParse(content ?? "");
        var endedTurn = finish != "length";
        return SampleScorer.Judge(label, item, [], [], endedTurn ? FinishReason.Stop : FinishReason.Length, parse.Text, parse, endedTurn,
            stoppedAfterCall: false, elapsed);
    }

    /// <summary>The server returned calls: one closed block per call (the API does not show an unclosed one).</summary>
    private static HermesParseResult CallsParse(List<ParsedToolCall> calls, string? content)
    {
        var text = (content ?? "") + string.Concat(calls.Select(c =>
            $"{HermesToolCallParser.StartToken}\n{PythonJson.Dumps(c.ToJson())}\n{HermesToolCallParser.EndToken}"));
        var blocks = calls.Select((c, i) => new ToolCallBlock(i, i, c.ArgumentsJson, c, null, false)).ToList();
        return new HermesParseResult(true, calls, content, text, blocks, null);
    }

    /// <summary>
    /// No calls: the content is what the model wrote (with tools, vLLM keeps special tokens in it). Delimiters found in the
    /// text are blocks the server could not parse (the same regex as the Hermes parser, on text), so start-token,
    /// JSON-validity and hallucination metrics still see them.
    /// </summary>
    private static HermesParseResult TextParse(string text)
    {
        var blocks = new List<ToolCallBlock>();
        var at = 0;
        var index = 0;
        while ((at = text.IndexOf(HermesToolCallParser.StartToken, at, StringComparison.Ordinal)) >= 0)
        {
            var from = at + HermesToolCallParser.StartToken.Length;
            var end = text.IndexOf(HermesToolCallParser.EndToken, from, StringComparison.Ordinal);
            var payload = end >= 0 ? text[from..end] : text[from..];
            blocks.Add(HermesToolCallParser.ParseBlock(index, end >= 0 ? index + 1 : -1, payload));
            index += 2;
            if (end < 0) break;
            at = end + HermesToolCallParser.EndToken.Length;
        }
        var bad = blocks.FirstOrDefault(b => b.Call is null);
        return new HermesParseResult(false, [], text, text, blocks, bad?.Error ?? (blocks.Count > 0 ? "the server returned the calls as text" : null));
    }
}
