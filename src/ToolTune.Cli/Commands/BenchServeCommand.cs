using System.CommandLine;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Cli.Serving;
using ToolTune.Evaluation;
using ToolTune.Serving;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune bench serve --model DIR [--clients 16] [--requests 20] [--hostile 200]</c>: starts <c>tooltune serve</c>'s
/// server in-process on a free loopback port; <c>--clients</c> concurrent clients each send <c>--requests</c> chat
/// completions (the emission prompts with their tools, in turn): failed requests, throughput, p50/p99 latency. Then
/// <c>--hostile</c> hostile requests (<see cref="HostileRequests"/>): their statuses, whether the server still answers,
/// and its resident memory before and after. One JSON line.
/// </summary>
internal static class BenchServeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder to serve (e.g. data/demo-model or artifacts/demo/merged).", Required = true };
        var prompts = new Option<string>("--prompts") { Description = "Prompts with tools (JSONL).", DefaultValueFactory = _ => "data/eval/emission_prompts.jsonl" };
        var clients = new Option<int>("--clients") { DefaultValueFactory = _ => 16 };
        var requests = new Option<int>("--requests") { Description = "Requests per client.", DefaultValueFactory = _ => 20 };
        var hostile = new Option<int>("--hostile") { DefaultValueFactory = _ => 200 };
        var maxTokens = new Option<int>("--max-tokens") { DefaultValueFactory = _ => 32 };
        var concurrency = new Option<int>("--concurrency") { Description = "Server generation slots.", DefaultValueFactory = _ => 2 };
        var command = new Command("serve", "Benchmark tooltune serve: concurrent clients (throughput, p50/p99) and hostile requests (server still up, memory bounded); one JSON line.")
        {
            model, prompts, clients, requests, hostile, maxTokens, concurrency,
        };
        command.SetAction(async (parse, ct) =>
        {
            var result = await RunAsync(parse.GetValue(model)!, parse.GetValue(prompts)!, parse.GetValue(clients), parse.GetValue(requests),
                parse.GetValue(hostile), parse.GetValue(maxTokens), parse.GetValue(concurrency), ct);
            Console.WriteLine(result.ToJsonString());
            return result["failed"]!.GetValue<int>() == 0 && result["hostile"]!["answering_after"]!.GetValue<bool>() && result["hostile"]!["server_errors"]!.GetValue<int>() == 0 ? 0 : 1;
        });
        return command;
    }

    public static async Task<JsonObject> RunAsync(string modelDir, string promptsFile, int clients, int perClient, int hostile, int maxTokens, int concurrency, CancellationToken ct)
    {
        var items = EvalItem.ReadFile(promptsFile, EvalItemKind.Emission);
        using var served = ServedModel.Load(new ServeOptions
        {
            ModelDir = modelDir,
            Concurrency = concurrency,
            TemplateKwargs = new JsonObject { ["enable_thinking"] = false },
        }, ct);
        var maxBody = 1L << 20;
        await using var server = await OpenAiServer.StartAsync(served, new ServerOptions
        {
            Port = 0,
            Concurrency = concurrency,
            MaxQueue = clients * 2,
            MaxBodyBytes = maxBody,
            QueueTimeout = TimeSpan.FromMinutes(5),
        }, ct);
        var baseUrl = server.Address.ToString().TrimEnd('/');
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };

        // Warm-up: one request (JIT, first mapping of the weights).
        (await http.PostAsync($"{baseUrl}/v1/chat/completions", JsonContent.Create(Body(items[0], maxTokens)), ct)).Dispose();

        var latencies = new List<double>();
        var failed = 0;
        long completionTokens = 0;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            for (var r = 0; r < perClient; r++)
            {
                var item = items[(c * perClient + r) % items.Count];
                var sw = Stopwatch.StartNew();
                try
                {
                    using var response = await http.PostAsync($"{baseUrl}/v1/chat/completions", JsonContent.Create(Body(item, maxTokens)), ct);
                    var json = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct));
                    var ok = response.IsSuccessStatusCode && json?["choices"]?[0]?["message"] is JsonObject;
                    lock (latencies)
                    {
                        if (!ok) failed++;
                        latencies.Add(sw.Elapsed.TotalMilliseconds);
                        completionTokens += json?["usage"]?["completion_tokens"]?.GetValue<long>() ?? 0;
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
                {
                    lock (latencies) failed++;
                }
            }
        }, ct)));
        wall.Stop();
        latencies.Sort();
        double Pct(double p) => latencies.Count == 0 ? 0 : latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(p * latencies.Count) - 1)];

        GC.Collect();
        var rssBefore = RssMb();
        var statuses = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var hostileWall = Stopwatch.StartNew();
        var peakRss = rssBefore;
        var outcomes = new List<HostileOutcome>();
        for (var start = 0; start < hostile; start += 8)
        {
            var batch = await Task.WhenAll(Enumerable.Range(start, Math.Min(8, hostile - start))
                .Select(i => HostileRequests.SendAsync(server.Address, i, maxBody, seed: 1, TimeSpan.FromSeconds(15))));
            outcomes.AddRange(batch);
            peakRss = Math.Max(peakRss, RssMb());
        }
        hostileWall.Stop();
        foreach (var o in outcomes)
        {
            var key = o.Status == 0 ? "closed" : o.Status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            statuses[key] = statuses.GetValueOrDefault(key) + 1;
        }
        var health = false;
        var chatAfter = false;
        try
        {
            using (var h = await http.GetAsync($"{baseUrl}/health", ct)) health = h.IsSuccessStatusCode;
            using var c = await http.PostAsync($"{baseUrl}/v1/chat/completions", JsonContent.Create(Body(items[0], maxTokens)), ct);
            chatAfter = c.IsSuccessStatusCode;
        }
        catch (HttpRequestException) { }
        GC.Collect();
        var rssAfter = RssMb();
        var statusJson = new JsonObject();
        foreach (var (k, v) in statuses) statusJson[k] = v;
        return new JsonObject
        {
            ["bench"] = "serve",
            ["model"] = served.Name,
            ["concurrency"] = concurrency,
            ["clients"] = clients,
            ["requests"] = clients * perClient,
            ["failed"] = failed,
            ["max_tokens"] = maxTokens,
            ["wall_s"] = Math.Round(wall.Elapsed.TotalSeconds, 3),
            ["requests_per_s"] = Math.Round(clients * perClient / wall.Elapsed.TotalSeconds, 3),
            ["completion_tokens_per_s"] = Math.Round(completionTokens / wall.Elapsed.TotalSeconds, 1),
            ["p50_ms"] = Math.Round(Pct(0.50), 1),
            ["p99_ms"] = Math.Round(Pct(0.99), 1),
            ["max_ms"] = Math.Round(latencies.Count == 0 ? 0 : latencies[^1], 1),
            ["hostile"] = new JsonObject
            {
                ["sent"] = outcomes.Count,
                ["wall_s"] = Math.Round(hostileWall.Elapsed.TotalSeconds, 3),
                ["statuses"] = statusJson,
                // 503 is capacity and 505 Kestrel's answer to an unsupported HTTP version; any other 5xx would be a failure.
                ["server_errors"] = outcomes.Count(o => o.Status >= 500 && o.Status is not (503 or 505)),
                ["answering_after"] = health && chatAfter,
                ["rss_before_mb"] = rssBefore,
                ["rss_peak_mb"] = peakRss,
                ["rss_after_mb"] = rssAfter,
            },
        };
    }

    private static JsonObject Body(EvalItem item, int maxTokens)
    {
        var tools = new JsonArray();
        if (item.RenderContext["tools"] is JsonArray ts)
            foreach (var t in ts) tools.Add(t is JsonObject o && o["function"] is JsonObject ? o.DeepClone() : new JsonObject { ["type"] = "function", ["function"] = t?.DeepClone() });
        return new JsonObject
        {
            ["messages"] = item.RenderContext["messages"]!.DeepClone(),
            ["tools"] = tools,
            ["temperature"] = 0,
            ["max_tokens"] = maxTokens,
        };
    }

    private static long RssMb()
    {
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64 >> 20;
    }
}
