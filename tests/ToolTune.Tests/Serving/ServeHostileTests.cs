using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using ToolTune.Cli.Serving;

namespace ToolTune.Tests.Serving;

/// <summary>
/// <c>tooltune serve</c> on the committed demo base (output quality does not matter here) against bad and hostile
/// input: every refusal a 4xx OpenAI error object (never a 500), capacity answered with 429, and after a bounded burst of
/// hostile requests on loopback the server still answers with bounded memory.
/// </summary>
[TestClass]
public sealed class ServeHostileTests
{
    private static string DemoModel => Path.Combine(SharedFixtures.RepoRoot, "data", "demo-model");

    public TestContext TestContext { get; set; } = null!;

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private const string Tools = """[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]""";

    [TestMethod]
    public async Task BadRequestsGetOpenAiErrorObjects()
    {
        await using var host = await ServedTestHost.StartAsync(DemoModel, new ServerOptions { MaxBodyBytes = 64 * 1024 }, name: "demo");
        using var http = new HttpClient();
        var url = host.BaseUrl + "/v1/chat/completions";
        var cases = new (string Body, int Status, string? Param)[]
        {
            ("{\"messages\": [", 400, null),                                                          // malformed JSON
            ("[1, 2]", 400, null),                                                                     // not an object
            ("{}", 400, "messages"),                                                                   // no messages
            ("{\"messages\": []}", 400, "messages"),
            ("{\"messages\": \"hi\"}", 400, "messages"),                                              // wrong type
            ("{\"messages\": [{\"role\": \"pirate\", \"content\": \"hi\"}]}", 400, "messages[0].role"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": \"ten\"}", 400, "max_tokens"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 0}", 400, "max_tokens"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 100000000}", 400, "max_tokens"), // beyond the context
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"temperature\": 7}", 400, "temperature"),
            ($"{{\"messages\": [{{\"role\": \"user\", \"content\": \"hi\"}}], \"tools\": {Tools}, \"tool_choice\": \"sometimes\"}}", 400, "tool_choice"),
            ($"{{\"messages\": [{{\"role\": \"user\", \"content\": \"hi\"}}], \"tools\": {Tools}, \"tool_choice\": {{\"type\": \"function\", \"function\": {{\"name\": \"nope\"}}}}}}", 400, "tool_choice"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"tool_choice\": \"required\"}", 400, "tool_choice"),
            ("{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": \"{broken\"}}]}]}", 400, "messages[0].tool_calls[0].function.arguments"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"n\": 3}", 400, "n"),
            ("{\"model\": \"other\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", 404, "model"),
            ("{\"messages\": [{\"role\": \"user\", \"content\": \"" + new string('x', 70 * 1024) + "\"}]}", 400, null), // oversized body
            ("{\"messages\": " + new string('[', 5000) + new string(']', 5000) + "}", 400, null),                    // deep JSON
        };
        foreach (var (body, status, param) in cases)
        {
            var label = body.Length > 120 ? body[..120] + "…" : body;
            using var r = await http.PostAsync(url, Json(body)).ContinueWith(t => t.IsFaulted ? throw new AssertFailedException(label + ": " + t.Exception!.InnerException!.Message) : t.Result);
            var text = await r.Content.ReadAsStringAsync();
            Assert.AreEqual(status, (int)r.StatusCode, $"{label}: {text}");
            var error = JsonNode.Parse(text)!["error"]!;
            Assert.IsTrue(error["message"]!.GetValue<string>().Length > 0, label);
            Assert.AreEqual(status, error["code"]!.GetValue<int>(), label);
            if (param is not null) Assert.AreEqual(param, error["param"]?.GetValue<string>(), label);
        }
        // Completions: a token id outside the vocabulary, an empty prompt.
        foreach (var body in new[] { "{\"prompt\": [1, 2, 99999999]}", "{\"prompt\": []}", "{\"prompt\": 5}" })
        {
            using var r = await http.PostAsync(host.BaseUrl + "/v1/completions", Json(body));
            Assert.AreEqual(HttpStatusCode.BadRequest, r.StatusCode, body);
        }
        using (var r = await http.GetAsync(url)) Assert.AreEqual(HttpStatusCode.MethodNotAllowed, r.StatusCode);
        using (var r = await http.GetAsync(host.BaseUrl + "/v1/nothing")) Assert.AreEqual(HttpStatusCode.NotFound, r.StatusCode);
    }

    [TestMethod]
    public async Task CompletionsReturnTokenIdsAndOverCapacityIs429()
    {
        await using var host = await ServedTestHost.StartAsync(DemoModel, new ServerOptions { Concurrency = 1, MaxQueue = 0 }, name: "demo");
        using var http = new HttpClient();
        // Token ids in, token ids back (vLLM's return_token_ids), and the ids decode to the returned text.
        using (var r = await http.PostAsync(host.BaseUrl + "/v1/completions", Json("{\"prompt\": [10, 20, 30], \"max_tokens\": 5, \"temperature\": 0, \"return_token_ids\": true, \"skip_special_tokens\": false}")))
        {
            var j = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
            Assert.AreEqual(HttpStatusCode.OK, r.StatusCode, j.ToJsonString());
            var choice = j["choices"]![0]!;
            CollectionAssert.AreEqual(new[] { 10, 20, 30 }, choice["prompt_token_ids"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray());
            var ids = choice["token_ids"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
            Assert.IsTrue(ids.Length is > 0 and <= 5);
            var body = host.Model.StopIds.Contains(ids[^1]) ? ids[..^1] : ids;
            Assert.AreEqual(host.Model.Decode(body, skipSpecialTokens: false), choice["text"]!.GetValue<string>());
            Assert.AreEqual(3 + ids.Length, j["usage"]!["total_tokens"]!.GetValue<int>());
        }

        // One slot, no queue: while a long generation holds the slot (its stream has started), the next request is refused
        // at once with 429.
        var longRequest = new HttpRequestMessage(HttpMethod.Post, host.BaseUrl + "/v1/completions")
        {
            Content = Json("{\"prompt\": \"Once upon a time\", \"max_tokens\": 6000, \"ignore_eos\": true, \"stream\": true}"),
        };
        using var running = await http.SendAsync(longRequest, HttpCompletionOption.ResponseHeadersRead);
        Assert.AreEqual(HttpStatusCode.OK, running.StatusCode);
        using (var refused = await http.PostAsync(host.BaseUrl + "/v1/completions", Json("{\"prompt\": \"hi\", \"max_tokens\": 1}")))
        {
            Assert.AreEqual(HttpStatusCode.TooManyRequests, refused.StatusCode);
            var err = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["error"]!;
            Assert.AreEqual("rate_limit_error", err["type"]!.GetValue<string>());
        }
        // The client goes away: its generation is cancelled and the slot freed.
        running.Dispose();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            using var r = await http.PostAsync(host.BaseUrl + "/v1/completions", Json("{\"prompt\": \"hi\", \"max_tokens\": 1}"));
            if (r.StatusCode == HttpStatusCode.OK) break;
            Assert.AreEqual(HttpStatusCode.TooManyRequests, r.StatusCode);
            Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(5), "the abandoned generation still holds the slot after 5 s");
            await Task.Delay(50);
        }
    }

    [TestMethod]
    public async Task HostileBurstLeavesServerAnsweringWithBoundedMemory()
    {
        const long maxBody = 256 * 1024;
        await using var host = await ServedTestHost.StartAsync(DemoModel, new ServerOptions { MaxBodyBytes = maxBody, Concurrency = 1 }, name: "demo");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        var valid = $"{{\"messages\": [{{\"role\": \"user\", \"content\": \"What is the weather in Paris?\"}}], \"tools\": {Tools}, \"max_tokens\": 8, \"temperature\": 0}}";
        using (var warm = await http.PostAsync(host.BaseUrl + "/v1/chat/completions", Json(valid))) Assert.AreEqual(HttpStatusCode.OK, warm.StatusCode);
        GC.Collect();
        var rssBefore = Process.GetCurrentProcess().WorkingSet64;

        var outcomes = new List<HostileOutcome>();
        for (var start = 0; start < 60; start += 6)
            outcomes.AddRange(await Task.WhenAll(Enumerable.Range(start, 6).Select(i => HostileRequests.SendAsync(host.Server.Address, i, maxBody, seed: 3, TimeSpan.FromSeconds(10)))));
        var byKind = outcomes.GroupBy(o => o.Kind).ToDictionary(g => g.Key, g => string.Join(",", g.Select(o => o.Status)));
        TestContext.WriteLine(string.Join("\n", byKind.Select(kv => $"{kv.Key}: {kv.Value}")));
        Assert.IsFalse(outcomes.Any(o => o.Status >= 500 && o.Status != 505), "no 5xx answer (505 is Kestrel's answer to HTTP/9.9)");
        foreach (var kind in new[] { "huge-declared-body", "deep-json", "not-json", "wrong-types", "invalid-utf8" })
            Assert.IsTrue(outcomes.Where(o => o.Kind == kind).All(o => o.Status == 400), $"{kind}: {byKind[kind]}");

        using (var health = await http.GetAsync(host.BaseUrl + "/health")) Assert.AreEqual(HttpStatusCode.OK, health.StatusCode);
        using (var after = await http.PostAsync(host.BaseUrl + "/v1/chat/completions", Json(valid)))
            Assert.AreEqual(HttpStatusCode.OK, after.StatusCode, "still generating after the burst");
        GC.Collect();
        var grownMb = (Process.GetCurrentProcess().WorkingSet64 - rssBefore) / (1024.0 * 1024);
        TestContext.WriteLine($"RSS growth over the burst: {grownMb:0.0} MB");
        Assert.IsTrue(grownMb < 256, $"RSS grew {grownMb:0} MB over 60 hostile requests");
    }

    /// <summary>A body trickled at 2 bytes/s (far under Kestrel's 240 B/s minimum after a 5 s grace) is dropped by the
    /// server within seconds, and other clients are served meanwhile.</summary>
    [TestMethod]
    public async Task TrickledBodyIsDropped()
    {
        await using var host = await ServedTestHost.StartAsync(DemoModel, name: "demo");
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(host.Server.Address.Host, host.Server.Address.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"));
        var clock = Stopwatch.StartNew();
        var dropped = false;
        using var http = new HttpClient();
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            try
            {
                await stream.WriteAsync(" "u8.ToArray());
                if (tcp.Available > 0 || (tcp.Client.Poll(0, System.Net.Sockets.SelectMode.SelectRead) && tcp.Available == 0)) { dropped = true; break; }
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException) { dropped = true; break; }
            using (var health = await http.GetAsync(host.BaseUrl + "/health")) Assert.AreEqual(HttpStatusCode.OK, health.StatusCode);
            await Task.Delay(500);
        }
        TestContext.WriteLine($"dropped after {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.IsTrue(dropped, "the trickled body is still being accepted after 15 s");
        Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(12));
    }
}
