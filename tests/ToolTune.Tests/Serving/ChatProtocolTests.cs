using System.Text.Json.Nodes;
using ToolTune.Serving;
using ToolTune.Text.Templates;

namespace ToolTune.Tests.Serving;

[TestClass]
public sealed class ChatProtocolTests
{
    private static string DemoModel => Path.Combine(SharedFixtures.RepoRoot, "data", "demo-model");

    /// <summary>An OpenAI conversation (assistant <c>tool_calls</c> with JSON-string arguments, a <c>tool</c> message, content
    /// parts) renders exactly as the same conversation in the template's own form (arguments as objects, string content).</summary>
    [TestMethod]
    public void OpenAiConversationRendersLikeTheTemplateForm()
    {
        using var model = ServedModel.Load(new ServeOptions { ModelDir = DemoModel, TemplateKwargs = new JsonObject { ["enable_thinking"] = false }, TemplateDate = new DateTime(2025, 7, 10) });
        var request = OpenAiRequests.ParseChat(JsonNode.Parse("""
            {"messages": [
              {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
              {"role": "user", "content": "Weather in Paris?"},
              {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
              {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21}"},
              {"role": "user", "content": "And in Rome?"}],
             "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather now", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]}
            """)!.AsObject());
        var templateForm = new JsonObject
        {
            ["messages"] = JsonNode.Parse("""
                [{"role": "system", "content": "Be brief."},
                 {"role": "user", "content": "Weather in Paris?"},
                 {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}, "id": "call_1"}]},
                 {"role": "tool", "content": "{\"temp\": 21}", "tool_call_id": "call_1"},
                 {"role": "user", "content": "And in Rome?"}]
                """),
            ["tools"] = request.Tools.DeepClone(),
            ["add_generation_prompt"] = true,
            ["enable_thinking"] = false,
            ["eos_token"] = model.Tokenizer.EosToken,
            ["bos_token"] = model.Tokenizer.BosToken,
            ["pad_token"] = model.Tokenizer.PadToken,
        };
        var text = ChatTemplate.Load(DemoModel).Render(templateForm, RenderOptions.Default with { Now = new DateTime(2025, 7, 10) }).Text;
        StringAssert.Contains(text, "<tool_call>");
        StringAssert.Contains(text, "<tool_response>");
        CollectionAssert.AreEqual(model.Encode(text), model.RenderChat(request));
    }

    /// <summary>The stream of a text-then-two-calls output: content before the first call, then each call as a delta with
    /// index, id, type and name followed by argument fragments; reassembled it equals the non-streaming parse.</summary>
    [TestMethod]
    public void ParallelCallsStreamAsVllmDoes()
    {
        using var model = ServedModel.Load(new ServeOptions { ModelDir = DemoModel });
        var ids = new List<int>();
        ids.AddRange(model.Encode("Sure, both:"));
        void Call(string json) { ids.Add(model.Parser.StartId); ids.AddRange(model.Encode("\n" + json + "\n")); ids.Add(model.Parser.EndId); }
        Call("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"note\": \"héllo ✓ – a long value that spans several fragments\"}}");
        ids.AddRange(model.Encode("\n"));
        Call("{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}}");
        var deltas = new List<JsonObject>();
        var streamer = new ToolCallStreamer(model, toolsActive: true, holdBack: 0, deltas.Add);
        foreach (var id in ids) streamer.Add(id);
        Assert.IsTrue(streamer.Finish(null));

        var parse = model.Parser.Parse(ids);
        Assert.IsTrue(parse.ToolsCalled);
        Assert.AreEqual(parse.Content, string.Concat(deltas.Select(d => d["content"]?.GetValue<string>() ?? "")));
        var calls = new SortedDictionary<int, (string Name, string Args)>();
        foreach (var d in deltas.Where(d => d["tool_calls"] is not null))
        {
            var tc = d["tool_calls"]![0]!;
            var index = tc["index"]!.GetValue<int>();
            if (!calls.ContainsKey(index))
            {
                Assert.IsTrue(tc["id"]!.GetValue<string>().StartsWith("chatcmpl-tool-", StringComparison.Ordinal));
                Assert.AreEqual("function", tc["type"]!.GetValue<string>());
                Assert.IsNull(tc["function"]!["arguments"], "the first delta of a call carries the name only");
                calls[index] = (tc["function"]!["name"]!.GetValue<string>(), "");
            }
            else calls[index] = (calls[index].Name, calls[index].Args + tc["function"]!["arguments"]!.GetValue<string>());
        }
        CollectionAssert.AreEqual(new[] { 0, 1 }, calls.Keys.ToArray());
        CollectionAssert.AreEqual(parse.Calls.Select(c => (c.Name, c.ArgumentsJson)).ToArray(), calls.Values.ToArray());
        Assert.IsTrue(deltas.Count(d => d["tool_calls"]?[0]?["index"]?.GetValue<int>() == 0) > 2, "arguments come in fragments");
    }
}
