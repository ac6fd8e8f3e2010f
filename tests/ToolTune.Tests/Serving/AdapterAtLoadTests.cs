using System.Text.Json.Nodes;
using ToolTune.Serving;

namespace ToolTune.Tests.Serving;

[TestClass]
public sealed class AdapterAtLoadTests
{
    /// <summary><c>tooltune serve --model BASE --adapter DIR</c> serves the same model as the merged snapshot: the same
    /// generated ids for the same prompt ids; the temporary merge is removed when the server stops.</summary>
    [TestMethod]
    public void ServingBasePlusAdapterEqualsServingTheMergedModel()
    {
        var model = QuickDemoModel.Get();
        var kwargs = new JsonObject { ["enable_thinking"] = false };
        using var merged = ServedModel.Load(new ServeOptions { ModelDir = model.MergedDir, TemplateKwargs = kwargs });
        string mergedAtLoad;
        using (var withAdapter = ServedModel.Load(new ServeOptions
        {
            ModelDir = Path.Combine(model.Root, "data", "demo-model"),
            AdapterDir = Path.Combine(model.Root, "artifacts", "demo", "adapter"),
            TemplateKwargs = kwargs,
        }))
        {
            mergedAtLoad = withAdapter.ModelDir;
            Assert.AreNotEqual(Path.GetFullPath(Path.Combine(model.Root, "data", "demo-model")), mergedAtLoad);
            var request = OpenAiRequests.ParseChat(JsonNode.Parse("""
                {"messages": [{"role": "user", "content": "Write the text 'hello world' to the file hello.txt."}],
                 "tools": [{"type": "function", "function": {"name": "write_file", "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}}}}]}
                """)!.AsObject());
            var prompt = merged.RenderChat(request);
            CollectionAssert.AreEqual(prompt, withAdapter.RenderChat(request), "same template and tokenizer");
            var sampling = new SamplingRequest { Temperature = 0 };
            var a = merged.Generate(prompt, sampling, 48, skipSpecialTokens: false, null, CancellationToken.None);
            var b = withAdapter.Generate(prompt, sampling, 48, skipSpecialTokens: false, null, CancellationToken.None);
            CollectionAssert.AreEqual(a.Ids.ToArray(), b.Ids.ToArray());
            Assert.IsTrue(a.Ids.Contains(merged.Parser.StartId), "the tuned model calls the tool: " + a.Text);
        }
        Assert.IsFalse(Directory.Exists(mergedAtLoad), "the merge made at load is removed");
    }
}
