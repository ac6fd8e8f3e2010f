namespace ToolTune.Evaluation.Endpoint;

/// <summary>
/// Where the served models are (the run config's <c>eval.endpoint</c>, <c>tooltune evaluate --endpoint</c>). Tuned = <see cref="Model"/> at <see cref="Url"/>; base (when
/// <c>compare_base</c>) = <see cref="BaseModel"/> at <see cref="BaseUrl"/> (default: the same server, e.g. the base and a
/// LoRA module of one vLLM). The API key is read from the environment variable named by <see cref="ApiKeyEnv"/> at run
/// time: only the variable's name is part of the config and its fingerprint.
/// </summary>
public sealed record EndpointOptions
{
    /// <summary>Base URL of the OpenAI API, e.g. <c>http://127.0.0.1:8000/v1</c>.</summary>
    public string Url { get; init; } = "";
    /// <summary>The tuned model's name on the server (vLLM: the served model name or a <c>--lora-modules</c> name).</summary>
    public string Model { get; init; } = "";
    public string? BaseUrl { get; init; }
    /// <summary>The base model's name; null: the base is not evaluated through the endpoint.</summary>
    public string? BaseModel { get; init; }
    public string? ApiKeyEnv { get; init; }
    /// <summary>Requests in flight at once.</summary>
    public int Concurrency { get; init; } = 4;
    /// <summary>Timeout of one request, in seconds.</summary>
    public double TimeoutS { get; init; } = 300;
    /// <summary>Also run the raw path: token-id prompts to <c>/v1/completions</c> with the generated ids returned (vLLM's
    /// <c>return_token_ids</c>), parsed on ids like the in-process Evaluate. Off for servers that cannot return ids.</summary>
    public bool Raw { get; init; } = true;
}

