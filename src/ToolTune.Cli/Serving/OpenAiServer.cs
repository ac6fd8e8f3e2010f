using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ToolTune.Diagnostics;
using ToolTune.Serving;

namespace ToolTune.Cli.Serving;

/// <summary>Where and how the server listens.</summary>
public sealed record ServerOptions
{
    /// <summary>Loopback by default: the server is for a developer's machine or a CI job, not the network.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0: any free port (tests, bench).</summary>
    public int Port { get; init; } = 8000;
    /// <summary>When set, every <c>/v1/*</c> request needs <c>Authorization: Bearer &lt;key&gt;</c> (401 otherwise), as vLLM's <c>--api-key</c>.</summary>
    public string? ApiKey { get; init; }
    /// <summary>Larger request bodies are refused with 400 before they are parsed.</summary>
    public long MaxBodyBytes { get; init; } = 4 << 20;
    public int MaxConnections { get; init; } = 256;
    /// <summary>Generations running at once; more wait in the queue (<see cref="MaxQueue"/>), beyond it 429.</summary>
    public int Concurrency { get; init; } = 1;
    public int MaxQueue { get; init; } = 64;
    public TimeSpan QueueTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>How long a stop waits for in-flight requests before cancelling them.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// <c>tooltune serve</c>: an OpenAI-compatible HTTP server (Kestrel) over a <see cref="ServedModel"/>. Endpoints:
/// <c>GET /health</c>, <c>GET /v1/models</c>, <c>POST /v1/chat/completions</c>, <c>POST /v1/completions</c>, streaming as
/// server-sent events ending with <c>data: [DONE]</c>. Every refusal is an OpenAI error object with a 4xx status (over
/// capacity 429/503); input never produces a 500.
/// </summary>
public sealed class OpenAiServer : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Compact = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly WebApplication _app;
    private readonly ServedModel _model;
    private readonly ServerOptions _options;
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _stopping = new();
    private int _admitted;
    private long _requests, _refused;

    private OpenAiServer(WebApplication app, ServedModel model, ServerOptions options)
    {
        _app = app;
        _model = model;
        _options = options;
        _slots = new SemaphoreSlim(options.Concurrency, options.Concurrency);
    }

    /// <summary>The address clients use, e.g. <c>http://127.0.0.1:8000</c>.</summary>
    public Uri Address { get; private set; } = null!;

    public ServedModel Model => _model;
    public long Requests => Interlocked.Read(ref _requests);
    public long Refused => Interlocked.Read(ref _refused);

    public static async Task<OpenAiServer> StartAsync(ServedModel model, ServerOptions options, CancellationToken ct = default)
    {
        if (!IPAddress.TryParse(options.Host == "localhost" ? "127.0.0.1" : options.Host, out var ip))
            throw new ToolTuneException(ErrorCodes.ServeStartFailed, $"--host '{options.Host}' is not an IP address (e.g. 127.0.0.1).");
        if (options.Concurrency < 1 || options.MaxQueue < 0 || options.MaxBodyBytes < 1024)
            throw new ToolTuneException(ErrorCodes.ServeStartFailed, "--concurrency must be ≥ 1, --max-queue ≥ 0, --max-body-bytes ≥ 1024.");
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.DrainTimeout);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(ip, options.Port);
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes + 1;
            k.Limits.MaxConcurrentConnections = options.MaxConnections;
            k.Limits.MaxConcurrentUpgradedConnections = 0;
            k.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
            k.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(30);
            // Slow bodies: a client trickling below 240 B/s after a 5 s grace is dropped (Kestrel's default, kept explicit).
            k.Limits.MinRequestBodyDataRate = new MinDataRate(240, TimeSpan.FromSeconds(5));
        });
        var app = builder.Build();
        var server = new OpenAiServer(app, model, options);
        app.Lifetime.ApplicationStopping.Register(() => server._stopping.CancelAfter(options.DrainTimeout / 2));
        app.Run(server.HandleAsync);
        try
        {
            await app.StartAsync(ct);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            await app.DisposeAsync();
            throw new ToolTuneException(ErrorCodes.ServeStartFailed, $"cannot listen on {options.Host}:{options.Port}: {e.Message}");
        }
        var addresses = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses;
        server.Address = new Uri(addresses.First().Replace("[::]", "127.0.0.1"));
        return server;
    }

    /// <summary>Stops accepting, lets in-flight requests finish for half of <see cref="ServerOptions.DrainTimeout"/>, then
    /// cancels their generations; returns within the drain timeout.</summary>
    public async Task StopAsync()
    {
        _stopping.CancelAfter(_options.DrainTimeout / 2);
        using var cts = new CancellationTokenSource(_options.DrainTimeout);
        try { await _app.StopAsync(cts.Token); } catch (OperationCanceledException) { }
        _stopping.Cancel();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _app.DisposeAsync();
        _stopping.Dispose();
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        Interlocked.Increment(ref _requests);
        try
        {
            var path = ctx.Request.Path.Value ?? "/";
            if (path == "/health") { ctx.Response.StatusCode = 200; return; }
            if (path.StartsWith("/v1", StringComparison.Ordinal) && _options.ApiKey is { } key && !Authorized(ctx.Request, key))
                throw new OpenAiError(401, "Unauthorized: a valid 'Authorization: Bearer <key>' header is required.");
            switch (path, ctx.Request.Method)
            {
                case ("/v1/models", "GET"):
                    await WriteJson(ctx, 200, Models());
                    return;
                case ("/v1/chat/completions", "POST"):
                {
                    var request = OpenAiRequests.ParseChat(OpenAiRequests.ParseBody(await ReadBody(ctx)));
                    CheckModel(request.Model);
                    var run = new ChatCompletionRun(_model, request);
                    await Generate(ctx, request.Sampling.Stream, run.Complete, run.Stream);
                    return;
                }
                case ("/v1/completions", "POST"):
                {
                    var request = OpenAiRequests.ParseCompletion(OpenAiRequests.ParseBody(await ReadBody(ctx)));
                    CheckModel(request.Model);
                    var run = new CompletionRun(_model, request);
                    await Generate(ctx, request.Sampling.Stream, run.Complete, run.Stream);
                    return;
                }
                case ("/v1/models", _) or ("/v1/chat/completions", _) or ("/v1/completions", _):
                    throw new OpenAiError(405, $"Method {ctx.Request.Method} is not allowed on {path}.");
                default:
                    throw new OpenAiError(404, $"No route {ctx.Request.Method} {path}.");
            }
        }
        catch (OpenAiError e)
        {
            if (e.Status is 429 or 503) Interlocked.Increment(ref _refused);
            await TryWriteError(ctx, e.Status, e.ToJson());
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away: nothing to answer.
        }
        catch (OperationCanceledException)
        {
            await TryWriteError(ctx, 503, new OpenAiError(503, "The server is shutting down.").ToJson());
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e)
        {
            await TryWriteError(ctx, 400, OpenAiError.BadRequest($"Bad request: {e.Message}").ToJson());
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The connection broke while reading or writing.
        }
        catch (Exception e)
        {
            await TryWriteError(ctx, 500, OpenAiError.Body(500, $"Internal error: {e.GetType().Name}: {e.Message}", "internal_server_error"));
        }
    }

    private void CheckModel(string? requested)
    {
        // vLLM answers 404 NotFoundError "The model `x` does not exist." for a name it does not serve.
        if (requested is not null && requested != _model.Name)
            throw new OpenAiError(404, $"The model `{requested}` does not exist (this server serves `{_model.Name}`).", "model");
    }

    private async Task Generate(HttpContext ctx, bool stream, Func<CancellationToken, JsonObject> complete, Action<Action<JsonObject>, CancellationToken> streamer)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, _stopping.Token);
        var ct = cts.Token;
        await Admit(ct);
        try
        {
            if (!stream)
            {
                var result = await Task.Factory.StartNew(() => complete(ct), ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                await WriteJson(ctx, 200, result);
                return;
            }
            var channel = Channel.CreateUnbounded<JsonObject>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            var producer = Task.Factory.StartNew(() =>
            {
                try { streamer(c => channel.Writer.TryWrite(c), ct); channel.Writer.TryComplete(); }
                catch (Exception e) { channel.Writer.TryComplete(e); }
            }, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = "text/event-stream; charset=utf-8";
            ctx.Response.Headers.CacheControl = "no-cache";
            try
            {
                await foreach (var chunk in channel.Reader.ReadAllAsync(ct))
                    await WriteEvent(ctx, chunk.ToJsonString(Compact), ct);
                await WriteEvent(ctx, "[DONE]", ct);
            }
            catch (OpenAiError e)
            {
                // Headers are gone: the error travels as an event, as vLLM streams its errors.
                await WriteEvent(ctx, e.ToJson().ToJsonString(Compact), CancellationToken.None);
                await WriteEvent(ctx, "[DONE]", CancellationToken.None);
            }
            finally
            {
                cts.Cancel();
                try { await producer; } catch (Exception) { }
            }
        }
        finally
        {
            Release();
        }
    }

    /// <summary>The bounded queue: at most <c>concurrency + max_queue</c> admitted requests; a full queue is 429 at once, a
    /// wait longer than the queue timeout 503.</summary>
    private async Task Admit(CancellationToken ct)
    {
        if (Interlocked.Increment(ref _admitted) > _options.Concurrency + _options.MaxQueue)
        {
            Interlocked.Decrement(ref _admitted);
            throw new OpenAiError(429, $"The server is at capacity ({_options.Concurrency} generating, {_options.MaxQueue} queued); retry later.");
        }
        bool entered;
        try { entered = await _slots.WaitAsync(_options.QueueTimeout, ct); }
        catch { Interlocked.Decrement(ref _admitted); throw; }
        if (!entered)
        {
            Interlocked.Decrement(ref _admitted);
            throw new OpenAiError(503, $"No generation slot became free within {_options.QueueTimeout.TotalSeconds:0} s; retry later.");
        }
    }

    private void Release()
    {
        _slots.Release();
        Interlocked.Decrement(ref _admitted);
    }

    private JsonObject Models() => new()
    {
        ["object"] = "list",
        ["data"] = new JsonArray(new JsonObject
        {
            ["id"] = _model.Name,
            ["object"] = "model",
            ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            ["owned_by"] = "tooltune",
            ["root"] = _model.Name,
            ["parent"] = null,
            // vLLM's ModelCard field (vllm/entrypoints/openai/protocol.py): the context length.
            ["max_model_len"] = _model.ContextLength,
        }),
    };

    private async Task<byte[]> ReadBody(HttpContext ctx)
    {
        var max = _options.MaxBodyBytes;
        if (ctx.Request.ContentLength is { } declared && declared > max)
        {
            // A body a little over the limit is read and dropped, so an ordinary client sees the 400 instead of a reset
            // connection; a huge one is refused at once and the connection closed.
            if (declared <= 4 * max && ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = declared;
                var sink = new byte[16 * 1024];
                while (await ctx.Request.Body.ReadAsync(sink, ctx.RequestAborted) > 0) { }
            }
            else ctx.Response.Headers.Connection = "close";
            throw OpenAiError.BadRequest($"The request body is {declared} bytes; the limit is {max}.");
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (true)
        {
            int n;
            try { n = await ctx.Request.Body.ReadAsync(chunk, ctx.RequestAborted); }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                throw OpenAiError.BadRequest($"The request body exceeds the limit of {max} bytes.");
            }
            if (n == 0) break;
            if (buffer.Length + n > max) throw OpenAiError.BadRequest($"The request body exceeds the limit of {max} bytes.");
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    private static bool Authorized(HttpRequest request, string key)
    {
        var header = request.Headers.Authorization.ToString();
        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.Ordinal)) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[prefix.Length..].Trim()), Encoding.UTF8.GetBytes(key));
    }

    private static async Task WriteJson(HttpContext ctx, int status, JsonObject body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(body.ToJsonString(Compact), ctx.RequestAborted);
    }

    private static async Task WriteEvent(HttpContext ctx, string data, CancellationToken ct)
    {
        await ctx.Response.WriteAsync("data: " + data + "\n\n", ct);
        await ctx.Response.Body.FlushAsync(ct);
    }

    private static async Task TryWriteError(HttpContext ctx, int status, JsonObject body)
    {
        if (ctx.Response.HasStarted) return;
        try
        {
            if (status == 401) ctx.Response.Headers.WWWAuthenticate = "Bearer";
            await WriteJson(ctx, status, body);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException) { }
    }
}
