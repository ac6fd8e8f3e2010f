using System.Text.Json.Nodes;
using ToolTune.Data;
using ToolTune.Data.Generation;
using ToolTune.Data.Loaders;
using ToolTune.Demo;
using ToolTune.Model;
using ToolTune.Tensors;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;
using ToolTune.Text.Training;

namespace ToolTune.Tests.Model;

/// <summary>
/// The trained code-dumping demo base (<see cref="DemoBase"/>, <c>tooltune demo make-base</c>): the recipe is
/// deterministic (a reduced run twice gives the same bytes) and the shipped <c>data/demo-model</c> answers held-out tool
/// requests with Python code, never with the tool-call token.
/// </summary>
[TestClass]
public sealed class DemoBaseTests
{
    private static string RepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "ToolTune.slnx"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("repo root not found");
    }

    private static string DemoDir => Path.Combine(RepoRoot(), "data", "demo-model");
    private static string TemplatePath => Path.Combine(RepoRoot(), "configs", "templates", "smollm3-tool-fixed.jinja");

    [TestMethod]
    public void ReducedRecipeIsByteIdenticalTwiceAndLearns()
    {
        // The id-copy warm-up, the first training (with id copies mixed in), the copy lessons (wide value pools, some requests
        // rephrased) and the recombined-value lessons, 4 steps each.
        var o = new DemoBaseOptions
        {
            IdCopyCount = 400, IdCopyMixCount = 8,
            CodeCount = 24, GeneralCount = 8, DrillCount = 8, MaxSteps = 4, BatchSize = 4, MaxTokensPerBatch = 2048,
            CopyEpochs = 1, CopyCodeCount = 6, CopyDrillCount = 6, CopyGeneralCount = 2, CopyRephrasedCodeCount = 2, CopyRephrasedDrillCount = 4,
            RecombinedEpochs = 1, RecombinedCodeCount = 4, RecombinedDrillCount = 6, RecombinedGeneralCount = 2, RecombinedValues = 20,
        };
        var a = Path.Combine(Path.GetTempPath(), "tt-demobase-a-" + Guid.NewGuid().ToString("N"));
        var b = Path.Combine(Path.GetTempPath(), "tt-demobase-b-" + Guid.NewGuid().ToString("N"));
        try
        {
            var ra = DemoBase.Make(DemoDir, TemplatePath, a, o);
            var rb = DemoBase.Make(DemoDir, TemplatePath, b, o);
            Assert.AreEqual(16, ra.Steps);
            Assert.IsTrue(ra.LastLoss < ra.FirstLoss, $"loss {ra.FirstLoss} -> {ra.LastLoss}");
            foreach (var f in new[] { "config.json", "model.safetensors", "generation_config.json" })
                CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(a, f)), File.ReadAllBytes(Path.Combine(b, f)), f);
            // Phase by phase from snapshots: the same bytes as one run.
            var warm = b + "-warm";
            var rest = b + "-rest";
            try
            {
                DemoBase.Make(DemoDir, TemplatePath, warm, o with { Epochs = 0, CopyEpochs = 0, RecombinedEpochs = 0 });
                DemoBase.Make(DemoDir, TemplatePath, rest, o with { StartFrom = warm, IdCopyCount = 0 });
                CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(a, "model.safetensors")), File.ReadAllBytes(Path.Combine(rest, "model.safetensors")),
                    "warm-up, then the rest from its snapshot");
            }
            finally
            {
                foreach (var d in new[] { warm, rest }) try { Directory.Delete(d, true); } catch (IOException) { }
            }
            // Full-parameter: the weights moved away from the random init of the same seed.
            var init = Path.Combine(Path.GetTempPath(), "tt-demobase-i-" + Guid.NewGuid().ToString("N"));
            try
            {
                DemoModel.Write(o.Preset, DemoDir, init, o.InitSeed);
                CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(init, "config.json")), File.ReadAllBytes(Path.Combine(a, "config.json")));
                CollectionAssert.AreNotEqual(File.ReadAllBytes(Path.Combine(init, "model.safetensors")), File.ReadAllBytes(Path.Combine(a, "model.safetensors")));
            }
            finally { try { Directory.Delete(init, true); } catch (IOException) { } }
        }
        finally
        {
            foreach (var d in new[] { a, b }) try { Directory.Delete(d, true); } catch (IOException) { }
        }
    }

    [TestMethod]
    public void BaseNeverTrainsOnARequestTheLoraDataAnswersWithACall()
    {
        var o = new DemoBaseOptions();
        var lora = DemoBase.LoraRequests(o.LoraData);
        Assert.IsTrue(lora.Count > 1000, $"{lora.Count} requests answered with a call");
        static List<string> Requests(IEnumerable<Conversation> conversations) =>
            conversations.SelectMany(c => c.Messages).Where(m => m.Role == Roles.User).Select(m => m.Content!).ToList();
        // Phase 4 is off in the shipped recipe; its data keeps the rule too.
        var trained = Requests(DemoBase.TrainingConversations(o with { RecombinedEpochs = 1 }));
        Assert.IsTrue(trained.Count > 50000, $"{trained.Count} requests");
        CollectionAssert.AreEqual(Array.Empty<string>(), trained.Where(lora.Contains).Distinct().ToArray(), "LoRA requests in the base's data");
        // The rule is what keeps them out: the same generators without it repeat some of the LoRA data's requests.
        var unfiltered = Requests(DemoBase.Conversations(o with { LoraData = o.LoraData with { ToolCount = 0 } }));
        Assert.IsTrue(unfiltered.Count(lora.Contains) > 10, $"{unfiltered.Count(lora.Contains)} LoRA requests without the rule");
    }

    [TestMethod]
    public void EchoDrillsRepeatTheRequestedValuesAndAreDeterministic()
    {
        var pools = ValuePools.Wide(21);
        var a = DemoBase.EchoDrills(30, 5, pools, turns: 3).ToList();
        var b = DemoBase.EchoDrills(30, 5, pools, turns: 3).ToList();
        Assert.AreEqual(30, a.Count);
        CollectionAssert.AreEqual(a.SelectMany(c => c.Messages).Select(m => m.Content).ToList(), b.SelectMany(c => c.Messages).Select(m => m.Content).ToList());
        var numbers = 0;
        foreach (var c in a)
            for (var i = 0; i < c.Messages.Count; i += 2)
            {
                var ask = c.Messages[i].Content!;
                var answer = c.Messages[i + 1].Content!;
                Assert.AreEqual(Roles.User, c.Messages[i].Role);
                Assert.IsTrue(ask.EndsWith(": " + answer, StringComparison.Ordinal), $"{ask} -> {answer}");
                numbers += answer.Split(' ').Count(w => w.All(char.IsAsciiDigit));
            }
        Assert.IsTrue(numbers > 20, $"{numbers} numbers echoed");
    }

    [TestMethod]
    public void IdCopySequencesLabelOnlyTheCopyAndAreDeterministic()
    {
        var a = DemoBase.IdCopy(200, 9, vocab: 2925, separator: 2936);
        var b = DemoBase.IdCopy(200, 9, vocab: 2925, separator: 2936);
        Assert.AreEqual(200, a.Count);
        var lengths = new HashSet<int>();
        for (var i = 0; i < a.Count; i++)
        {
            var (ids, labels) = a[i];
            CollectionAssert.AreEqual(ids, b[i].Ids);
            CollectionAssert.AreEqual(labels, b[i].Labels);
            var k = ids.Length / 2;
            Assert.AreEqual(2 * k + 1, ids.Length);
            Assert.IsTrue(k is >= 4 and <= 24, $"{k} ids");
            Assert.AreEqual(2936, ids[k], "the separator sits between the two copies");
            CollectionAssert.AreEqual(ids[..k], ids[(k + 1)..], "the second half copies the first");
            Assert.IsTrue(ids[..k].All(id => id is >= 0 and < 2925), "ids from the model vocabulary only");
            Assert.IsTrue(labels[..(k + 1)].All(l => l == CrossEntropy.IgnoreIndex), "the ids to copy and the separator are not labels");
            CollectionAssert.AreEqual(ids[(k + 1)..], labels[(k + 1)..], "every copied id is a label");
            lengths.Add(k);
        }
        Assert.IsTrue(lengths.Count > 15, $"{lengths.Count} distinct lengths");
        Assert.AreNotEqual(string.Join(',', a[0].Ids), string.Join(',', DemoBase.IdCopy(1, 10, 2925, 2936)[0].Ids), "the seed matters");
        Assert.AreEqual(0, DemoBase.IdCopy(0, 9, 2925, 2936).Count);
    }

    [TestMethod]
    public void CopyDrillsAreRequestsAnsweredWithCodeWithoutSchemas()
    {
        var o = new DemoBaseOptions { DrillCount = 40 };
        var drills = DemoBase.Drills(o).ToList();
        Assert.AreEqual(40, drills.Count);
        Assert.AreEqual(40, drills.Select(d => d.Id).Distinct().Count());
        var roles = Enumerable.Range(0, o.DrillTurns).SelectMany(_ => new[] { Roles.User, Roles.Assistant }).ToList();
        var requests = new HashSet<string>(StringComparer.Ordinal);
        foreach (var d in drills)
        {
            Assert.AreEqual(0, d.Tools.Count, d.Id);
            CollectionAssert.AreEqual(roles, d.Messages.Select(m => m.Role).ToList(), d.Id);
            foreach (var m in d.Messages.Where(m => m.Role == Roles.Assistant))
            {
                StringAssert.Contains(m.Content, "```python\nfrom tools import ", d.Id);
                Assert.IsFalse(m.HasToolCalls, d.Id);
            }
            foreach (var m in d.Messages.Where(m => m.Role == Roles.User)) requests.Add(m.Content!);
        }
        Assert.IsTrue(requests.Count > 110, $"{requests.Count} distinct requests in 120 turns");
    }

    [TestMethod]
    public void ShippedBaseAnswersHeldOutToolRequestsWithCode()
    {
        var tok = Tokenizer.FromDirectory(DemoDir);
        var template = ChatTemplate.Load(TemplatePath);
        using var weights = ModelWeights.Open(DemoDir);
        var lm = new CausalLM(weights);
        var toolCall = tok.TokenToId("<tool_call>")!.Value;
        var eos = tok.TokenToId("<|im_end|>")!.Value;
        var tools = new JsonArray(HermesGenerator.SampleFile()[0]!["conversations"]![0]!["value"]!.GetValue<string>() is var sys
            ? JsonNode.Parse(sys[(sys.IndexOf("<tools>\n", StringComparison.Ordinal) + 8)..sys.IndexOf("\n</tools>", StringComparison.Ordinal)])!.AsArray().Select(t => t!.DeepClone()).ToArray()
            : []);
        // Not in the training set: phrasings and values the generator does not produce.
        string[] prompts = ["What's the weather in Oslo today? Use fahrenheit.", "Find me the latest news about solar power, at most 3 articles."];
        var codeDumps = 0;
        foreach (var prompt in prompts)
        {
            var ctx = new JsonObject
            {
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }),
                ["tools"] = tools.DeepClone(), ["enable_thinking"] = false, ["add_generation_prompt"] = true,
            };
            var text = template.RenderText(ctx, new RenderOptions { Now = DemoBase.TemplateDate });
            var ids = tok.EncodeToIds(text).ToArray();
            var r = Generator.Generate(lm, ids, new DecodingOptions { MaxNewTokens = 40, StopIds = [eos] });
            var output = tok.Decode(r.Ids);
            CollectionAssert.DoesNotContain(r.Ids, toolCall, output);
            if (output.Contains("```python", StringComparison.Ordinal) || output.Contains("from tools import", StringComparison.Ordinal)) codeDumps++;
        }
        Assert.AreEqual(prompts.Length, codeDumps);
    }

    [TestMethod]
    public void CodeDumpsAnswerEveryCallWithPythonAndKeepTheRestOfTheConversation()
    {
        var record = HermesGenerator.SampleFile().Select(n => n!.AsObject()).First(r => (string)r["task"]! == "MultiTurn");
        var conv = DataLoader.ConvertGenerated(record, "sample", 1);
        var callTurns = conv.Messages.Count(m => m.HasToolCalls);
        Assert.AreEqual(2, callTurns);

        var first = TrainingCorpus.AsCodeDump(conv, 1)!;
        Assert.AreEqual(conv.Messages.ToList().FindIndex(m => m.HasToolCalls) + 1, first.Messages.Count, "cut after the first call");
        StringAssert.StartsWith(first.Messages[^1].Content, "```python\nfrom tools import ");

        var whole = TrainingCorpus.AsCodeDump(conv, 1, jsonArguments: true, wholeConversation: true)!;
        Assert.AreEqual(conv.Messages.Count, whole.Messages.Count, "every turn kept");
        Assert.IsFalse(whole.Messages.Any(m => m.HasToolCalls), "no call left");
        Assert.AreEqual(callTurns, whole.Messages.Count(m => m.Content?.Contains("result = ", StringComparison.Ordinal) == true && m.Content.Contains("(**{", StringComparison.Ordinal)));
        CollectionAssert.AreEqual(conv.Messages.Select(m => m.Role).ToList(), whole.Messages.Select(m => m.Role).ToList());
        for (var i = 0; i < conv.Messages.Count; i++)
            if (!conv.Messages[i].HasToolCalls) Assert.AreSame(conv.Messages[i], whole.Messages[i], $"turn {i} unchanged");
    }
}
