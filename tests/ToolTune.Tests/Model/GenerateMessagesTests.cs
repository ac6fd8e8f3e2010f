using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Cli.Commands;
using ToolTune.Diagnostics;
using ToolTune.Model;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;

namespace ToolTune.Tests.Model;

/// <summary>
/// <c>tooltune generate --messages</c> end to end on a random model whose vocabulary is the demo tokenizer's:
/// template rendering with add_generation_prompt, tokenization, stop ids from the tokenizer / generation_config.json,
/// decoded text with special tokens kept.
/// </summary>
[TestClass]
public sealed class GenerateMessagesTests
{
    private static string s_dir = null!;
    private static readonly string DemoModel = Path.Combine(RepoRoot(), "data", "demo-model");

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        s_dir = Path.Combine(Path.GetTempPath(), "tt-gen-msg-" + Guid.NewGuid().ToString("N"));
        var tok = Tokenizer.FromDirectory(DemoModel);
        var config = ModelConfig.Preset("tiny") with
        {
            VocabSize = tok.VocabularySize, HiddenSize = 64, IntermediateSize = 128, NumLayers = 2, NumHeads = 4, NumKvHeads = 2,
            HeadDim = 16, UseRope = [true, false], NoRopeLayerInterval = 2, EosTokenIds = [],
        };
        ModelWeights.CreateRandom(config, seed: 5, std: 0.5f).Save(s_dir);
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json", "chat_template.jinja" })
            File.Copy(Path.Combine(DemoModel, f), Path.Combine(s_dir, f));
    }

    [ClassCleanup]
    public static void Cleanup() { try { Directory.Delete(s_dir, true); } catch (IOException) { } }

    private static string RepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "ToolTune.slnx"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("repo root not found");
    }

    private static string WriteConversation(JsonNode node)
    {
        var p = Path.Combine(s_dir, "conv-" + Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(p, node.ToJsonString());
        return p;
    }

    private static JsonArray Messages() => new(
        new JsonObject { ["role"] = "system", ["content"] = "You are a helpful assistant." },
        new JsonObject { ["role"] = "user", ["content"] = "What's the weather in Paris?" });

    private static JsonElement RunJson(GenerateCommand.GenerateRequest request)
    {
        var sw = new StringWriter();
        GenerateCommand.Run(request, sw);
        return JsonDocument.Parse(sw.ToString()).RootElement.Clone();
    }

    [TestMethod]
    public void MessagesRenderWithGenerationPromptTokenizeAndMatchPromptIds()
    {
        var tools = new JsonArray(new JsonObject
        {
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = "get_weather", ["description"] = "Weather", ["parameters"] = new JsonObject { ["type"] = "object" } },
        });
        var conv = WriteConversation(new JsonObject { ["messages"] = Messages(), ["tools"] = tools });
        var date = new DateTime(2026, 11, 21);
        var opts = new DecodingOptions { MaxNewTokens = 12, StopIds = null! };
        var r = RunJson(new GenerateCommand.GenerateRequest { ModelDir = s_dir, MessagesFile = conv, Date = date, Options = opts });

        // The prompt is exactly template(add_generation_prompt) → tokenizer, as apply_chat_template(tokenize=True).
        var tok = Tokenizer.FromDirectory(s_dir);
        var ctx = new JsonObject { ["messages"] = Messages(), ["tools"] = tools.DeepClone(), ["eos_token"] = "<|im_end|>", ["pad_token"] = "<|im_end|>", ["add_generation_prompt"] = true };
        var text = ChatTemplate.Load(s_dir).Render(ctx, RenderOptions.Default with { Now = date }).Text;
        Assert.AreEqual(text, r.GetProperty("prompt_text").GetString());
        ctx["add_generation_prompt"] = false;
        var without = ChatTemplate.Load(s_dir).Render(ctx, RenderOptions.Default with { Now = date }).Text;
        Assert.IsTrue(text.StartsWith(without, StringComparison.Ordinal) && text[without.Length..].Contains("<|im_start|>assistant\n"), text[without.Length..]);
        Assert.Contains("get_weather", text);
        var promptIds = r.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        CollectionAssert.AreEqual(tok.EncodeToIds(text).ToArray(), promptIds);

        // Same generation as the ids path; text = decode with special tokens kept.
        var ids = r.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var viaIds = RunJson(new GenerateCommand.GenerateRequest { ModelDir = s_dir, PromptIds = promptIds, Options = opts });
        CollectionAssert.AreEqual(ids, viaIds.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        Assert.IsTrue(ids.Length > 0);
        Assert.AreEqual(tok.Decode(ids, skipSpecialTokens: false), r.GetProperty("text").GetString());
        Assert.IsTrue(r.GetProperty("tokens_per_s").GetDouble() >= 0);
        Assert.IsTrue(r.GetProperty("prefill_ms").GetDouble() >= 0);

        // Stop ids: <|im_end|> from the tokenizer (config.json has none here).
        var imEnd = tok.TokenToId("<|im_end|>")!.Value;
        CollectionAssert.Contains(r.GetProperty("stop_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(), imEnd);
    }

    [TestMethod]
    public void ParityStyleContextAndArrayFormsAreAccepted()
    {
        var asArray = WriteConversation(Messages());
        var asContext = WriteConversation(new JsonObject { ["template"] = "x", ["context"] = new JsonObject { ["messages"] = Messages() } });
        var opts = new DecodingOptions { MaxNewTokens = 4, StopIds = [] };
        var a = RunJson(new GenerateCommand.GenerateRequest { ModelDir = s_dir, MessagesFile = asArray, Options = opts });
        var b = RunJson(new GenerateCommand.GenerateRequest { ModelDir = s_dir, MessagesFile = asContext, Options = opts });
        Assert.AreEqual(a.GetProperty("prompt_text").GetString(), b.GetProperty("prompt_text").GetString());
        Assert.AreEqual(4, a.GetProperty("new_tokens").GetInt32());
    }

    [TestMethod]
    public void TemplateOptionOverridesTheModelTemplate()
    {
        var conv = WriteConversation(Messages());
        var tpl = Path.Combine(s_dir, "t-" + Guid.NewGuid().ToString("N") + ".jinja");
        File.WriteAllText(tpl, "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}");
        var r = RunJson(new GenerateCommand.GenerateRequest { ModelDir = s_dir, MessagesFile = conv, TemplatePath = tpl, Options = new DecodingOptions { MaxNewTokens = 2 } });
        Assert.AreEqual("system: You are a helpful assistant.\nuser: What's the weather in Paris?\n<|im_start|>assistant\n", r.GetProperty("prompt_text").GetString());
    }

    [TestMethod]
    public void StopsOnFirstGeneratedIdWhenItIsAGenerationConfigEos()
    {
        var conv = WriteConversation(Messages());
        var opts = new DecodingOptions { MaxNewTokens = 6, StopIds = [] };
        var free = RunJson(new GenerateCommand.GenerateRequest { ModelDir = s_dir, MessagesFile = conv, Options = opts });
        var first = free.GetProperty("ids")[0].GetInt32();
        // A private copy of the model folder (the other tests read s_dir concurrently).
        var dir = Path.Combine(s_dir, "with-gen-config");
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(s_dir)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        File.WriteAllText(Path.Combine(dir, "generation_config.json"), $"{{\"eos_token_id\": [{first}, 1]}}");
        var r = RunJson(new GenerateCommand.GenerateRequest { ModelDir = dir, MessagesFile = conv, Options = new DecodingOptions { MaxNewTokens = 6, StopIds = null! } });
        Assert.AreEqual(1, r.GetProperty("new_tokens").GetInt32());
        Assert.AreEqual("stop", r.GetProperty("stop_reason").GetString());
        CollectionAssert.Contains(r.GetProperty("stop_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(), 1);
    }

    [TestMethod]
    public void BadInputsAreClearErrors()
    {
        var conv = WriteConversation(Messages());
        // A tokenizer bigger than the model: ids out of range are named.
        var small = Path.Combine(s_dir, "small");
        ModelWeights.CreateRandom(ModelConfig.Preset("tiny") with { VocabSize = 300, NumLayers = 1, UseRope = [true] }, seed: 1).Save(small);
        var e = Assert.ThrowsExactly<ToolTuneException>(() =>
            GenerateCommand.Run(new GenerateCommand.GenerateRequest { ModelDir = small, TokenizerDir = s_dir, MessagesFile = conv }, TextWriter.Null));
        Assert.Contains("outside the model's vocabulary", e.Message);
        // No tokenizer for --messages.
        e = Assert.ThrowsExactly<ToolTuneException>(() =>
            GenerateCommand.Run(new GenerateCommand.GenerateRequest { ModelDir = small, MessagesFile = conv }, TextWriter.Null));
        Assert.AreEqual(ErrorCodes.TokenizerFileMissing, e.Code);
        // Neither / both inputs.
        Assert.ThrowsExactly<ToolTuneException>(() => GenerateCommand.Run(new GenerateCommand.GenerateRequest { ModelDir = s_dir }, TextWriter.Null));
        Assert.ThrowsExactly<ToolTuneException>(() =>
            GenerateCommand.Run(new GenerateCommand.GenerateRequest { ModelDir = s_dir, MessagesFile = conv, PromptIds = [1] }, TextWriter.Null));
    }
}
