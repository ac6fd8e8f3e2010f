using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;

namespace ToolTune.Evaluation.Endpoint;

/// <summary>
/// One model on an OpenAI-compatible server (vLLM, <c>tooltune serve</c>): base URL (<c>…/v1</c>), model name, API key
/// (read from the environment by the caller), per-request timeout, how many requests may be in flight.
/// Failures are TT8511 naming the URL, model and what the server said.
/// </summary>
public sealed class OpenAiEndpoint : IDisposable
{
    private readonly HttpClient _http;

    public OpenAiEndpoint(string baseUrl, string model, string? apiKey, TimeSpan timeout, int concurrency)
    {
        BaseUrl = baseUrl.TrimEnd('/');
        Model = model;
        Concurrency = Math.Max(1, concurrency);
        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency, PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = timeout };
        if (!string.IsNullOrEmpty(apiKey)) _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
    }

    public string BaseUrl { get; }
    public string Model { get; }
    public int Concurrency { get; }

    /// <summary>From <c>eval.endpoint</c>: the API key comes from the variable <paramref name="apiKeyEnv"/> names (TT8510 when it is unset).</summary>
    public static OpenAiEndpoint Create(string url, string model, string? apiKeyEnv, double timeoutSeconds, int concurrency, string? configFile = null)
    {
        string? key = null;
        if (!string.IsNullOrEmpty(apiKeyEnv))
        {
            key = Environment.GetEnvironmentVariable(apiKeyEnv);
            if (string.IsNullOrEmpty(key))
                throw new ToolTuneException(ErrorCodes.EndpointConfigInvalid, $"eval.endpoint.api_key_env names '{apiKeyEnv}', but that environment variable is not set.", configFile);
        }
        return new OpenAiEndpoint(url, model, key, TimeSpan.FromSeconds(timeoutSeconds), concurrency);
    }

    /// <summary>POSTs <paramref name="body"/> to <c>{BaseUrl}/{path}</c> with <c>"model"</c> set; returns the JSON object answer.</summary>
    public JsonObject Post(string path, JsonObject body, CancellationToken ct)
    {
        body["model"] = Model;
        var url = $"{BaseUrl}/{path}";
        using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        HttpResponseMessage response;
        try
        {
            response = _http.PostAsync(url, content, ct).GetAwaiter().GetResult();
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new ToolTuneException(ErrorCodes.EndpointRequestFailed, $"{url} (model '{Model}') did not answer within {_http.Timeout.TotalSeconds:0} s (eval.endpoint.timeout_s).", inner: e);
        }
        catch (HttpRequestException e)
        {
            throw new ToolTuneException(ErrorCodes.EndpointRequestFailed, $"{url} (model '{Model}') is unreachable: {e.Message}", inner: e);
        }
        using (response)
        {
            var text = response.Content.ReadAsStringAsync(ct).GetAwaiter().GetResult();
            if (!response.IsSuccessStatusCode)
            {
                var message = TryParse(text)?["error"]?["message"]?.ToString() ?? (text.Length > 300 ? text[..300] + "…" : text);
                throw new ToolTuneException(ErrorCodes.EndpointRequestFailed, $"{url} (model '{Model}') answered {(int)response.StatusCode}: {message}");
            }
            return TryParse(text) ?? throw new ToolTuneException(ErrorCodes.EndpointRequestFailed, $"{url} (model '{Model}') answered something that is not a JSON object.");
        }
    }

    private static JsonObject? TryParse(string text)
    {
        try { return JsonNode.Parse(text) as JsonObject; }
        catch (JsonException) { return null; }
    }

    public void Dispose() => _http.Dispose();

    public override string ToString() => $"{Model} @ {BaseUrl}";
}
