using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Data;
using ToolTune.Data.Generation;
using ToolTune.Data.Loaders;
using ToolTune.Demo;
using ToolTune.Tests.Text.Tokenization;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;
using ToolTune.Text.Training;

namespace ToolTune.Tests.Text.Training;

/// <summary>
/// The shipped demo tokenizer (<c>data/demo-model/</c>): reproducible from its recipe (<see cref="DemoTokenizer"/>, command in
/// data/README.md), loads in <see cref="Tokenizer"/>, round-trips every demo conversation, keeps the chat/tool tokens whole,
/// and matches transformers.js on the hard corpus, the fuzz set and rendered demo conversations
/// (Fixtures/tokenizers/demo.jsonl, written by <c>CORPUS=demo node generate.mjs ../../../data/demo-model</c>).
/// </summary>
[TestClass]
public sealed class DemoTokenizerTests
{
    public TestContext TestContext { get; set; } = null!;

    private static string Root(string relative) => Path.Combine(SharedFixtures.RepoRoot, relative);
    private static string DemoDir => Root(DemoTokenizer.OutputPath);
    private static string TemplatePath => Root(DemoTokenizer.TemplatePath);
    private static string TextsPath => Path.Combine(SharedFixtures.RepoRoot, "tests", "oracles", "demo_tokenizer_texts.json");

    private static readonly Lazy<Tokenizer> Demo = new(() => Tokenizer.FromDirectory(DemoDir));

    [TestMethod]
    public void CommittedFiles_AreReproducedByteForByte()
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var result = DemoTokenizer.Train(DemoTokenizer.Sources, TemplatePath);
        var template = File.ReadAllText(TemplatePath);
        TestContext.WriteLine($"demo tokenizer retrained in {sw.Elapsed.TotalSeconds:F1} s: vocab {result.Vocab.Count} + {result.AddedTokens.Count} added");
        Assert.AreEqual(File.ReadAllText(Path.Combine(DemoDir, "tokenizer.json")), result.ToTokenizerJson(),
            "data/demo-model/tokenizer.json is stale: regenerate it (data/README.md)");
        Assert.AreEqual(File.ReadAllText(Path.Combine(DemoDir, "tokenizer_config.json")), result.ToTokenizerConfigJson(template),
            "data/demo-model/tokenizer_config.json is stale: regenerate it (data/README.md)");
        Assert.AreEqual(template, File.ReadAllText(Path.Combine(DemoDir, "chat_template.jinja")));
    }

    [TestMethod]
    public void ChatAndToolTokens_AreSingleIds()
    {
        var tok = Demo.Value;
        var model = tok.Vocabulary.Count;
        var names = BpeTrainer.SmolLM3AddedTokens().Select(t => t.Content).ToList();
        foreach (var t in new[] { "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>", "<code>", "</code>" })
        {
            var ids = tok.EncodeToIds(t);
            Assert.AreEqual(1, ids.Count, t);
            Assert.AreEqual(model + names.IndexOf(t), ids[0], t);
            Assert.AreEqual(t, tok.Decode(ids));
        }
        Assert.AreEqual(tok.TokenToId("<|im_end|>"), tok.EosTokenId);
        Assert.AreEqual(tok.TokenToId("<|im_end|>"), tok.PadTokenId);
        Assert.IsNull(tok.BosToken);
        Assert.IsTrue(tok.IsSpecial(tok.TokenToId("<|im_end|>")!.Value));
        Assert.IsFalse(tok.IsSpecial(tok.TokenToId("<tool_call>")!.Value)); // as in SmolLM3
        Assert.AreEqual(File.ReadAllText(TemplatePath), tok.ChatTemplate);
        // No BOS from the post-processor (SmolLM3's TemplateProcessing is $A only).
        CollectionAssert.AreEqual(tok.EncodeToIds("hi").ToArray(), tok.EncodeToIds("hi", addSpecialTokens: true).ToArray());
        var call = tok.EncodeToIds("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>");
        Assert.AreEqual(tok.TokenToId("<tool_call>"), call[0]);
        Assert.AreEqual(tok.TokenToId("<|im_end|>"), call[^1]);
        Assert.AreEqual(tok.TokenToId("</tool_call>"), call[^2]);
    }

    [TestMethod]
    public void RoundTripsEveryDemoConversation()
    {
        var tok = Demo.Value;
        var corpus = new TrainingCorpus(ChatTemplate.Load(TemplatePath));
        int n = 0;
        long tokens = 0, chars = 0;
        var texts = DemoTokenizer.Sources.SelectMany(corpus.Texts).Concat(DemoTokenizer.ParityTexts(TemplatePath));
        foreach (var text in texts)
        {
            var ids = tok.EncodeToIds(text);
            var back = tok.Decode(ids);
            if (back != text) Assert.Fail($"conversation #{n} does not round-trip:\n{text}\n---\n{back}");
            n++;
            tokens += ids.Count;
            chars += text.Length;
        }
        TestContext.WriteLine($"{n} conversations, {chars:N0} chars → {tokens:N0} tokens ({(double)chars / tokens:F2} chars/token)");
        Assert.IsTrue(n > 2000, n.ToString());
    }

    /// <summary>The demo split (<see cref="SplitPatterns.Words"/>): an argument value the user wrote is the same ids in the request
    /// and in the call's JSON, so the tiny base copies ids instead of learning <c>ĠSeoul</c> → <c>Seoul</c> pairs. Checked on
    /// every word-bounded string or number argument of 300 demo-stream conversations; the same recipe with SmolLM3's split
    /// fails most of them.</summary>
    [TestMethod]
    public void ArgumentValuesHaveTheSameIdsInTheRequestAndTheCall()
    {
        var tok = Demo.Value;
        int checkedValues = 0, llama3Same = 0;
        var llama3 = LlamaSplitTokenizer();
        foreach (var (request, call, value) in RequestedValues(300))
        {
            var ids = tok.EncodeToIds(value).ToArray();
            Assert.IsTrue(Contains(tok.EncodeToIds(request).ToArray(), ids), $"'{value}' in the request: {request}");
            Assert.IsTrue(Contains(tok.EncodeToIds(call).ToArray(), ids), $"'{value}' in the call: {call}");
            var l = llama3.EncodeToIds(value).ToArray();
            if (Contains(llama3.EncodeToIds(request).ToArray(), l) && Contains(llama3.EncodeToIds(call).ToArray(), l)) llama3Same++;
            checkedValues++;
        }
        TestContext.WriteLine($"{checkedValues} argument values, all the same ids in request and call; with SmolLM3's split {llama3Same}");
        Assert.IsTrue(checkedValues > 300, checkedValues.ToString());
        Assert.IsTrue(llama3Same < checkedValues / 2, $"{llama3Same} of {checkedValues}");
    }

    /// <summary>(user request, call JSON, value) for each string/number argument that the request spells out word-bounded.</summary>
    private static IEnumerable<(string Request, string Call, string Value)> RequestedValues(int conversations)
    {
        int line = 0;
        foreach (var rec in HermesGenerator.GenerateExtended(conversations, 1006, new DemoDataOptions().ExtraToolShare))
        {
            var conv = DataLoader.ConvertGenerated(rec, "gen", ++line);
            string? request = null;
            foreach (var m in conv!.Messages)
            {
                if (m.Role == Roles.User) request = m.Content;
                foreach (var call in m.ToolCalls)
                    foreach (var (_, node) in call.Arguments)
                    {
                        if (request is null || node is not JsonValue v || v.GetValueKind() is not (JsonValueKind.String or JsonValueKind.Number)) continue;
                        var value = v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : v.ToJsonString();
                        var at = request.IndexOf(value, StringComparison.Ordinal);
                        if (value.Length == 0 || at < 0 || !char.IsLetterOrDigit(value[0]) || !char.IsLetterOrDigit(value[^1])
                            || at > 0 && char.IsLetterOrDigit(request[at - 1])
                            || at + value.Length < request.Length && char.IsLetterOrDigit(request[at + value.Length])) continue;
                        yield return (request, call.ToString(), value);
                    }
            }
        }
    }

    /// <summary>The demo recipe trained with SmolLM3's split instead: the contrast.</summary>
    private static Tokenizer LlamaSplitTokenizer()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"tt-llama3-split-{Guid.NewGuid():N}");
        try
        {
            DemoTokenizer.Train(DemoTokenizer.Sources, TemplatePath, splitPattern: SplitPatterns.Llama3).Save(dir, File.ReadAllText(TemplatePath));
            return Tokenizer.FromDirectory(dir);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    private static bool Contains(int[] haystack, int[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    /// <summary>tests/oracles/demo_tokenizer_texts.json (the rendered conversations of the parity fixture) equals
    /// <see cref="DemoTokenizer.ParityTexts"/>. With TOOLTUNE_WRITE_FIXTURES=1 it is (re)written instead.</summary>
    [TestMethod]
    public void ParityTextsFile_IsCurrent()
    {
        var texts = DemoTokenizer.ParityTexts(TemplatePath);
        var json = PrettyJson.Write(new JsonArray(texts.Select(t => (JsonNode)JsonValue.Create(t)).ToArray())) + "\n";
        if (Environment.GetEnvironmentVariable("TOOLTUNE_WRITE_FIXTURES") == "1")
            File.WriteAllText(TextsPath, json, new UTF8Encoding(false));
        Assert.AreEqual(json, File.ReadAllText(TextsPath), "tests/oracles/demo_tokenizer_texts.json is stale: rerun this test with TOOLTUNE_WRITE_FIXTURES=1, then the oracle (tests/oracles/README.md)");
    }

    [TestMethod]
    public void MatchesTransformersJs()
    {
        var tok = Demo.Value;
        var records = TokenizerFixtures.Oracle("demo");
        var texts = TokenizerFixtures.Corpus("corpus").Concat(TokenizerFixtures.Corpus("fuzz"))
            .Concat(JsonSerializer.Deserialize<List<string>>(File.ReadAllText(TextsPath))!).ToList();
        Assert.AreEqual(texts.Count, records.Count, "demo.jsonl is stale: regenerate it (tests/oracles/README.md)");
        for (int i = 0; i < texts.Count; i++) Assert.AreEqual(texts[i], records[i].Text, $"demo.jsonl is stale at #{i}");
        int idsOk = 0, specialOk = 0, decOk = 0, skipOk = 0, conversations = 0;
        var failures = new StringBuilder();
        foreach (var r in records)
        {
            if (r.Text.StartsWith("<|im_start|>system", StringComparison.Ordinal)) conversations++;
            var ids = tok.EncodeToIds(r.Text).ToArray();
            if (ids.SequenceEqual(r.Ids)) idsOk++;
            else failures.AppendLine($"#{r.Index} ids [{string.Join(",", r.Ids)}] != [{string.Join(",", ids)}]");
            if (tok.EncodeToIds(r.Text, addSpecialTokens: true).SequenceEqual(r.IdsSpecial)) specialOk++;
            else failures.AppendLine($"#{r.Index} ids+special");
            if (tok.Decode(r.Ids) == r.Decoded) decOk++;
            else failures.AppendLine($"#{r.Index} decode");
            if (tok.Decode(r.Ids, skipSpecialTokens: true) == r.DecodedSkip) skipOk++;
            else failures.AppendLine($"#{r.Index} decode(skip)");
        }
        int n = records.Count;
        var summary = $"demo: ids {idsOk}/{n}, ids+special {specialOk}/{n}, decode {decOk}/{n}, decode(skip) {skipOk}/{n} ({conversations} rendered conversations)";
        TestContext.WriteLine(summary);
        Console.WriteLine(summary);
        Assert.IsTrue(conversations >= 30, summary);
        if (failures.Length > 0) Assert.Fail(failures.ToString());
    }
}
