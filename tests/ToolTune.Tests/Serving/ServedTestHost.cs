using System.Text.Json.Nodes;
using ToolTune.Cli.Serving;
using ToolTune.Serving;

namespace ToolTune.Tests.Serving;

/// <summary>An in-process <c>tooltune serve</c> on a free loopback port.</summary>
internal sealed class ServedTestHost : IAsyncDisposable
{
    private ServedTestHost(ServedModel model, OpenAiServer server)
    {
        Model = model;
        Server = server;
    }

    public ServedModel Model { get; }
    public OpenAiServer Server { get; }
    public string BaseUrl => Server.Address.ToString().TrimEnd('/');

    /// <summary>Serves <paramref name="modelDir"/> with the demo config's template settings (thinking off, pinned date).</summary>
    public static async Task<ServedTestHost> StartAsync(string modelDir, ServerOptions? options = null, string? name = null)
    {
        options ??= new ServerOptions();
        var model = ServedModel.Load(new ServeOptions
        {
            ModelDir = modelDir,
            ServedModelName = name,
            Concurrency = options.Concurrency,
            TemplateDate = DateTime.ParseExact(QuickDemoModel.TemplateDate, "yyyy-MM-dd", null),
            TemplateKwargs = new JsonObject { ["enable_thinking"] = false },
        });
        try
        {
            return new ServedTestHost(model, await OpenAiServer.StartAsync(model, options with { Host = "127.0.0.1", Port = 0 }));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Model.Dispose();
    }
}
