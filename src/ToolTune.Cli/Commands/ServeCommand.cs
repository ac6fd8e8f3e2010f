using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using ToolTune.Cli.Serving;
using ToolTune.Diagnostics;
using ToolTune.Serving;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune serve --model DIR [--adapter DIR] [--host 127.0.0.1] [--port 8000] [--served-model-name NAME] [--api-key KEY]</c>:
/// an OpenAI-compatible server on the managed engine (<see cref="OpenAiServer"/>), so agent code or a CI's integration tests
/// can talk to the tuned model the way they will talk to vLLM. Ctrl+C drains for up to 2 s, cancels what is left, exits.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Hugging Face snapshot folder with tokenizer and chat template (e.g. artifacts/demo/merged).", Required = true };
        var adapter = new Option<string?>("--adapter") { Description = "ToolTune/PEFT adapter folder merged into --model at load." };
        var host = new Option<string>("--host") { Description = "Address to bind (loopback by default).", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port (0: any free port; the chosen address is printed).", DefaultValueFactory = _ => 8000 };
        var name = new Option<string?>("--served-model-name") { Description = "The model name clients send (default: the model folder's name)." };
        var apiKey = new Option<string?>("--api-key") { Description = "Require 'Authorization: Bearer KEY' on /v1/* (default: $TOOLTUNE_API_KEY when set)." };
        var concurrency = new Option<int>("--concurrency") { Description = "Generations running at once.", DefaultValueFactory = _ => 1 };
        var maxQueue = new Option<int>("--max-queue") { Description = "Requests waiting beyond --concurrency; more get 429.", DefaultValueFactory = _ => 64 };
        var queueTimeout = new Option<double>("--queue-timeout") { Description = "Seconds a request may wait for a slot before 503.", DefaultValueFactory = _ => 60 };
        var maxBody = new Option<long>("--max-body-bytes") { Description = "Larger request bodies get 400.", DefaultValueFactory = _ => 4 << 20 };
        var date = new Option<string?>("--template-date") { Description = "Date the chat template's strftime_now sees (yyyy-MM-dd; default today), e.g. a config's model.template_date." };
        var kwargs = new Option<string?>("--chat-template-kwargs") { Description = "Server-wide template variables as a JSON object, e.g. '{\"enable_thinking\": false}' (a request's chat_template_kwargs wins)." };
        var command = new Command("serve", "Serve a model over an OpenAI-compatible HTTP API (chat completions with tool calls, completions, models, health).")
        {
            model, adapter, host, port, name, apiKey, concurrency, maxQueue, queueTimeout, maxBody, date, kwargs,
        };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                DateTime? templateDate = parse.GetValue(date) is { } d
                    ? DateTime.TryParseExact(d, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var dt) ? dt
                        : throw new ToolTuneException(ErrorCodes.ServeStartFailed, $"--template-date '{d}' is not yyyy-MM-dd.")
                    : null;
                var templateKwargs = new JsonObject();
                if (parse.GetValue(kwargs) is { } k)
                {
                    try { templateKwargs = JsonNode.Parse(k) as JsonObject ?? throw new System.Text.Json.JsonException("not an object"); }
                    catch (System.Text.Json.JsonException e) { throw new ToolTuneException(ErrorCodes.ServeStartFailed, $"--chat-template-kwargs must be a JSON object: {e.Message}"); }
                }
                var conc = parse.GetValue(concurrency);
                using var served = ServedModel.Load(new ServeOptions
                {
                    ModelDir = parse.GetValue(model)!,
                    AdapterDir = parse.GetValue(adapter),
                    ServedModelName = parse.GetValue(name),
                    Concurrency = Math.Max(1, conc),
                    TemplateDate = templateDate,
                    TemplateKwargs = templateKwargs,
                    Log = Console.Error.WriteLine,
                }, ct);
                var key = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("TOOLTUNE_API_KEY");
                await using var server = await OpenAiServer.StartAsync(served, new ServerOptions
                {
                    Host = parse.GetValue(host)!,
                    Port = parse.GetValue(port),
                    ApiKey = string.IsNullOrEmpty(key) ? null : key,
                    Concurrency = conc,
                    MaxQueue = parse.GetValue(maxQueue),
                    QueueTimeout = TimeSpan.FromSeconds(parse.GetValue(queueTimeout)),
                    MaxBodyBytes = parse.GetValue(maxBody),
                }, ct);
                Console.WriteLine($"tooltune serve: listening on {server.Address.ToString().TrimEnd('/')} (model '{served.Name}', context {served.ContextLength}, " +
                                  $"stop ids [{string.Join(", ", served.StopIds)}], concurrency {conc}{(key is { Length: > 0 } ? ", API key required" : "")})");
                Console.Out.Flush();
                try { await Task.Delay(Timeout.Infinite, ct); }
                catch (OperationCanceledException) { }
                Console.Error.WriteLine("tooltune serve: stopping (draining in-flight requests)...");
                await server.StopAsync();
                Console.Error.WriteLine($"tooltune serve: stopped after {server.Requests} request(s).");
                return 0;
            }
            catch (ToolTuneException ex)
            {
                Console.Error.WriteLine(ex.ToString());
                return 1;
            }
        });
        return command;
    }
}
