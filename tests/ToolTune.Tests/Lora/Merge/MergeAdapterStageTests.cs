using System.Text.Json.Nodes;
using ToolTune.Lora;
using ToolTune.Model;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Stages;
using ToolTune.Tests.Pipeline;

namespace ToolTune.Tests.Lora.Merge;

/// <summary>
/// The MergeAdapter stage class on the embedded default config (demo tokenizer + fixed template) with a tiny random bf16 base
/// of the demo vocabulary, without training: the adapter is placed where TrainLora writes it
/// (<c>artifacts/&lt;run&gt;/adapter/</c>) and the stage is run directly (the pipeline runs it through RunStage).
/// </summary>
[TestClass]
public sealed class MergeAdapterStageTests
{
    [TestMethod]
    public void StageMergesTheRunAdapterWithTheRunTemplateAndStopIds()
    {
        var repo = SharedFixtures.RepoRoot;
        if (!File.Exists(Path.Combine(repo, "data", "demo-model", "tokenizer.json")))
            Assert.Inconclusive("data/demo-model is missing.");
        using var dir = new TempDir();
        dir.File("Pipeline.proj", "<Project />");
        foreach (var f in new[] { "configs/sample.yaml", "configs/templates/smollm3-tool-fixed.jinja", "data/samples/hermes_sample.json",
                     "data/samples/general_sample.jsonl", "data/eval/emission_prompts.jsonl", "data/demo-model/tokenizer.json", "data/demo-model/tokenizer_config.json", "data/demo-model/chat_template.jinja" })
            File.Copy(Path.Combine(repo, f), dir.File(f));

        var vocab = JsonNode.Parse(File.ReadAllText(dir.File("data/demo-model/tokenizer.json")))!;
        var imEnd = vocab["added_tokens"]!.AsArray().Single(t => (string?)t!["content"] == "<|im_end|>")!["id"]!.GetValue<int>();
        var maxId = Math.Max(vocab["model"]!["vocab"]!.AsObject().Max(kv => kv.Value!.GetValue<int>()),
            vocab["added_tokens"]!.AsArray().Max(t => t!["id"]!.GetValue<int>()));
        var model = new ModelConfig
        {
            VocabSize = maxId + 1, HiddenSize = 32, IntermediateSize = 48, NumLayers = 2, NumHeads = 4, NumKvHeads = 2, HeadDim = 8,
            RmsNormEps = 1e-6f, TieWordEmbeddings = true, MaxPositionEmbeddings = 256, UseRope = [true, false], EosTokenIds = [imEnd],
        };
        var baseDir = Path.Combine(dir.Path, "base");
        using (var w = ModelWeights.CreateRandom(model, seed: 3, std: 0.1f)) w.Save(baseDir, "BF16");

        var config = ConfigLoader.Load("configs/sample.yaml", dir.Path, ["model.base_model=base"]);
        var layout = RunLayout.For(config);
        var adapter = LoraAdapter.Create(new LoraConfig { R = 4, Alpha = 8, TargetModules = ["q_proj", "v_proj", "embed_tokens"] }, model);
        var rng = new Random(5);
        foreach (var prm in adapter.Parameters) for (var i = 0; i < prm.Count; i++) prm.Data[i] = 0.1f * (float)(rng.NextDouble() * 2 - 1);
        PeftAdapterIO.Save(Path.Combine(layout.RunDir, MergeAdapterStage.AdapterFolder), adapter);

        var stage = new MergeAdapterStage();
        CollectionAssert.Contains(stage.InputFiles(config).Select(Path.GetFileName).ToArray(), "model.safetensors");
        var temp = Path.Combine(layout.RunDir, ".tmp-MergeAdapter-test");
        Directory.CreateDirectory(temp);
        stage.Run(new StageContext(config, layout, temp, NullPipelineLog.Instance, CancellationToken.None));

        Assert.AreEqual(File.ReadAllText(dir.File("configs/templates/smollm3-tool-fixed.jinja")), File.ReadAllText(Path.Combine(temp, "chat_template.jinja")));
        var tc = JsonNode.Parse(File.ReadAllText(Path.Combine(temp, "tokenizer_config.json")))!;
        Assert.AreEqual(File.ReadAllText(dir.File("configs/templates/smollm3-tool-fixed.jinja")), (string?)tc["chat_template"]);
        var gen = JsonNode.Parse(File.ReadAllText(Path.Combine(temp, "generation_config.json")))!;
        CollectionAssert.Contains(gen["eos_token_id"]!.AsArray().Select(x => (int)x!).ToArray(), imEnd);
        var serving = File.ReadAllText(Path.Combine(temp, "serving.md"));
        StringAssert.Contains(serving, $"vllm serve artifacts/{config.Config.Run.Name}/merged");
        StringAssert.Contains(serving, "--chat-template-content-format string");
        Assert.IsFalse(serving.Contains(dir.Path), "serving.md has no absolute path of this machine");
        // The fixed SmolLM3 template has a thinking mode that training did not use: the reasoning parser is only a note.
        Assert.IsFalse(serving.Contains(" \\\n  --reasoning-parser"), "default config: enable_thinking false");
        StringAssert.Contains(serving, "add `--reasoning-parser deepseek_r1`");
        StringAssert.Contains(serving, $"tooltune serve --model artifacts/{config.Config.Run.Name}/merged --port 8000 --chat-template-kwargs '{{\"enable_thinking\": false}}'");

        // merged == base + adapter
        int[] ids = [1, imEnd, 40, 7];
        float[] runtime;
        using (var w = ModelWeights.Open(baseDir))
        {
            var lm = new CausalLM(w);
            PeftAdapterIO.Load(Path.Combine(layout.RunDir, MergeAdapterStage.AdapterFolder), w.Config).Attach(lm);
            runtime = lm.Logits(ids);
        }
        using var mw = ModelWeights.Open(temp);
        var merged = new CausalLM(mw).Logits(ids);
        var diff = runtime.Zip(merged, (a, b) => Math.Abs(a - b)).Max();
        Assert.IsTrue(diff < 0.05f, $"bf16 merge within rounding: {diff}");
    }
}
