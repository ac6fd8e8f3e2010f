using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Model;

namespace ToolTune.Evaluation.Endpoint;

/// <summary>A generator that may be called from several threads at once (the evaluator then runs items in parallel).</summary>
public interface IConcurrentGenerator : IGenerator
{
    /// <summary>Generations the evaluator may run at once.</summary>
    int Concurrency { get; }
}

/// <summary>
/// The raw path: the prompt rendered here (the run's template and tokenizer) is sent as token ids to
/// <c>/v1/completions</c>, and the generated ids come back through vLLM's <c>return_token_ids</c> extension
/// (https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html, "Extra parameters" of the Completions API;
/// response field <c>choices[0].token_ids</c>, vllm/entrypoints/openai/protocol.py <c>CompletionResponseChoice</c>).
/// The ids are then parsed and scored exactly as in-process generation is, so the delimiter-as-id checks still hold.
/// </summary>
public sealed class EndpointRawGenerator(OpenAiEndpoint endpoint, string label) : IConcurrentGenerator
{
    public const string PathDescription = "raw: /v1/completions with the rendered prompt ids, generated ids returned (vLLM return_token_ids), vLLM's Hermes parser on ids";

    public string Name { get; } = label;
    public int Concurrency => endpoint.Concurrency;

    public GenerationResult Generate(IReadOnlyList<int> promptIds, GenerationOptions options, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["prompt"] = new JsonArray(promptIds.Select(i => (JsonNode)JsonValue.Create(i)).ToArray()),
            ["max_tokens"] = options.MaxNewTokens,
            ["temperature"] = options.Temperature,
            // vLLM extensions: the generated ids back, the same end-of-turn ids as in-process, special tokens kept in the text.
            ["return_token_ids"] = true,
            ["stop_token_ids"] = new JsonArray(options.StopIds.Select(i => (JsonNode)JsonValue.Create(i)).ToArray()),
            ["skip_special_tokens"] = false,
        };
        if (options.Temperature > 0) body["seed"] = (long)(options.Seed & long.MaxValue);
        var clock = Stopwatch.StartNew();
        var response = endpoint.Post("completions", body, cancellationToken);
        var elapsed = clock.Elapsed;
        if (response["choices"] is not JsonArray { Count: > 0 } choices || choices[0] is not JsonObject choice)
            throw new ToolTuneException(ErrorCodes.EndpointRequestFailed, $"{endpoint}: the completions answer has no choices.");
        if (choice["token_ids"] is not JsonArray ids)
            throw new ToolTuneException(ErrorCodes.EndpointRequestFailed,
                $"{endpoint}: the completions answer has no 'token_ids': the raw path needs a server that returns generated ids (a vLLM release that supports return_token_ids, or tooltune serve); set eval.endpoint.raw: false for servers that cannot.");
        var list = new List<int>(ids.Count);
        foreach (var n in ids)
            list.Add(n is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<int>(out var id) ? id
                : throw new ToolTuneException(ErrorCodes.EndpointRequestFailed, $"{endpoint}: 'token_ids' holds a non-integer."));
        var finish = choice["finish_reason"]?.ToString();
        var reason = finish == "length" ? FinishReason.Length : FinishReason.Stop;
        return new GenerationResult(list, reason, TimeSpan.Zero, elapsed);
    }
}
