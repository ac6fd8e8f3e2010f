using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace ToolTune.Tests.Serving;

/// <summary>
/// Streams reassemble to the non-streaming answer on both endpoints, with and without stop strings (text a stop string
/// cuts is never streamed), and the completions stream carries the same token ids (vLLM's <c>return_token_ids</c>:
/// prompt ids in the first chunk, each chunk its own ids).
/// </summary>
[TestClass]
public sealed class StreamingConsistencyTests
{
    private static string DemoModel => Path.Combine(SharedFixtures.RepoRoot, "data", "demo-model");

    private static async Task<List<JsonNode>> ReadSse(HttpResponseMessage r)
    {
        Assert.AreEqual(HttpStatusCode.OK, r.StatusCode);
        StringAssert.StartsWith(r.Content.Headers.ContentType!.MediaType, "text/event-stream");
        var events = new List<JsonNode>();
        var done = false;
        foreach (var line in (await r.Content.ReadAsStringAsync()).Split('\n'))
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            var data = line["data: ".Length..];
            if (data == "[DONE]") { done = true; continue; }
            Assert.IsFalse(done, "nothing after [DONE]");
            events.Add(JsonNode.Parse(data)!);
        }
        Assert.IsTrue(done, "the stream ends with data: [DONE]");
        return events;
    }

    [TestMethod]
    public async Task StreamsEqualNonStreamingAnswers()
    {
        await using var host = await ServedTestHost.StartAsync(DemoModel, name: "demo");
        using var http = new HttpClient();
        // The demo base answers a tool request with Python code: plenty of text, and stop strings that occur in it.
        var messages = "[{\"role\": \"user\", \"content\": \"Please write the text 'hello world' to the file hello.txt.\"}]";
        foreach (var stop in new[] { "", ", \"stop\": [\"(\"]", ", \"stop\": [\"write\", \"zzz-never\"]", ", \"stop\": \"\\n\"" })
        {
            var body = $"{{\"model\": \"demo\", \"messages\": {messages}, \"max_tokens\": 40, \"temperature\": 0{stop}";
            using var plain = await http.PostAsync(host.BaseUrl + "/v1/chat/completions", new StringContent(body + "}", Encoding.UTF8, "application/json"));
            var answer = JsonNode.Parse(await plain.Content.ReadAsStringAsync())!["choices"]![0]!;
            using var streamed = await http.PostAsync(host.BaseUrl + "/v1/chat/completions",
                new StringContent(body + ", \"stream\": true, \"stream_options\": {\"include_usage\": true}}", Encoding.UTF8, "application/json"));
            var events = await ReadSse(streamed);
            Assert.AreEqual("assistant", events[0]["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
            var text = string.Concat(events.Where(e => e["choices"]!.AsArray().Count > 0).Select(e => e["choices"]![0]!["delta"]!["content"]?.GetValue<string>() ?? ""));
            var finish = events.Select(e => e["choices"]!.AsArray().FirstOrDefault()?["finish_reason"]?.GetValue<string>()).Last(f => f is not null);
            Assert.AreEqual(answer["message"]!["content"]!.GetValue<string>(), text, $"stop {stop}");
            Assert.AreEqual(answer["finish_reason"]!.GetValue<string>(), finish, $"stop {stop}");
            Assert.IsNotNull(events[^1]["usage"], "include_usage: a last chunk with usage");
            if (stop.Contains("\"(\"")) Assert.IsFalse(text.Contains('('), "cut before the stop string");
        }

        // Completions: the text and the ids of the stream equal the non-streaming ones.
        const string prompt = "{\"model\": \"demo\", \"prompt\": \"def write_file(path, content):\", \"max_tokens\": 24, \"temperature\": 0, \"return_token_ids\": true";
        using var whole = await http.PostAsync(host.BaseUrl + "/v1/completions", new StringContent(prompt + "}", Encoding.UTF8, "application/json"));
        var choice = JsonNode.Parse(await whole.Content.ReadAsStringAsync())!["choices"]![0]!;
        using var parts = await http.PostAsync(host.BaseUrl + "/v1/completions", new StringContent(prompt + ", \"stream\": true}", Encoding.UTF8, "application/json"));
        var chunks = await ReadSse(parts);
        Assert.AreEqual(choice["text"]!.GetValue<string>(), string.Concat(chunks.Select(c => c["choices"]![0]!["text"]!.GetValue<string>())));
        CollectionAssert.AreEqual(choice["token_ids"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray(),
            chunks.SelectMany(c => c["choices"]![0]!["token_ids"]!.AsArray().Select(x => x!.GetValue<int>())).ToArray());
        CollectionAssert.AreEqual(choice["prompt_token_ids"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray(),
            chunks[0]["choices"]![0]!["prompt_token_ids"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray());
    }
}
