using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Lora;
using ToolTune.Lora.Merge;
using ToolTune.Model;
using ToolTune.Tensors;

namespace ToolTune.Tests.Lora.Merge;

/// <summary>
/// MergeAdapter: merged snapshot == base + adapter (logits, greedy tokens), all-zero adapter bit for bit, shards like the
/// base, text files, and coded errors that leave nothing behind.
/// </summary>
[TestClass]
public sealed class AdapterMergerTests
{
    private static readonly string[] AllModules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "embed_tokens"];
    private static readonly int[] Ids = [1, 5, 9, 13, 2, 40, 7, 3, 100, 64, 17];

    private string _work = "";

    [TestInitialize]
    public void Init()
    {
        _work = Path.Combine(Path.GetTempPath(), "tt-merge-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_work);
    }

    [TestCleanup]
    public void Cleanup()
    {
        try { Directory.Delete(_work, recursive: true); } catch (IOException) { }
    }

    private static string Fixture(string name) => SharedFixtures.Fixture("model", name);

    /// <summary>A non-zero adapter: every tensor random (B too), trainable tokens = random rows.</summary>
    private static LoraAdapter RandomAdapter(ModelConfig model, int seed, string[]? modules = null, int[]? tokens = null, int r = 4, double alpha = 8)
    {
        var cfg = new LoraConfig { R = r, Alpha = alpha, TargetModules = modules ?? AllModules, TrainableTokenIds = tokens ?? [3, 7, 64] };
        var a = LoraAdapter.Create(cfg, model);
        var rng = new Random(seed);
        foreach (var p in a.Parameters)
            for (var i = 0; i < p.Count; i++) p.Data[i] = 0.2f * (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    private string SaveAdapter(LoraAdapter a, string name = "adapter")
    {
        var dir = Path.Combine(_work, name);
        PeftAdapterIO.Save(dir, a);
        return dir;
    }

    private static float[] RuntimeLogits(string baseDir, string adapterDir, int[] ids)
    {
        using var w = ModelWeights.Open(baseDir);
        var lm = new CausalLM(w);
        PeftAdapterIO.Load(adapterDir, w.Config).Attach(lm);
        return lm.Logits(ids);
    }

    private static float[] Logits(string dir, int[] ids)
    {
        using var w = ModelWeights.Open(dir);
        return new CausalLM(w).Logits(ids);
    }

    private static float MaxAbsDiff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max();

    private MergeResult DoMerge(string baseDir, string adapterDir, string outName = "merged", TiedHeadMode mode = TiedHeadMode.KeepTied) =>
        AdapterMerger.Merge(new MergeOptions { BaseDir = baseDir, AdapterDir = adapterDir, OutputDir = Path.Combine(_work, outName), TiedHead = mode });

    // ------------------------------------------------------------------ 1. logits parity

    [TestMethod]
    [DataRow("smol_tied")]
    [DataRow("llama_untied")]
    public void MergedLogitsEqualBasePlusAdapter_F32(string fixture)
    {
        var baseDir = Fixture(fixture);
        var model = ModelConfig.Load(baseDir);
        var adapterDir = SaveAdapter(RandomAdapter(model, 11));
        var result = DoMerge(baseDir, adapterDir);
        var runtime = RuntimeLogits(baseDir, adapterDir, Ids);
        var merged = Logits(result.OutputDir, Ids);
        var baseOnly = Logits(baseDir, Ids);
        var diff = MaxAbsDiff(runtime, merged);
        Console.WriteLine($"{fixture}: max |merged - (base+adapter)| = {diff:E3}; adapter effect max |Δlogit| = {MaxAbsDiff(runtime, baseOnly):E3}");
        Assert.IsTrue(diff <= 1e-4f, $"{fixture}: {diff}");
        Assert.IsTrue(MaxAbsDiff(runtime, baseOnly) > 0.05f, "the adapter must change the logits (non-zero test)");
        Assert.IsFalse(result.Untied, "the tied head follows the merged embedding, as trained");
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(result.OutputDir, "config.json")))!;
        Assert.AreEqual(model.TieWordEmbeddings, (bool)cfg["tie_word_embeddings"]!);
        using (var ck = SafetensorsCheckpoint.Open(result.OutputDir))
            Assert.AreEqual(!model.TieWordEmbeddings, ck.Contains("lm_head.weight"), "no extra head tensor when tied");
        Assert.AreEqual("float32", (string?)cfg["torch_dtype"]);
    }

    [TestMethod]
    public void MergedLogits_BF16_AreTheRoundedMergeAndWithinBf16RoundingOfBasePlusAdapter()
    {
        var baseDir = Fixture("smol_tied_bf16");
        var model = ModelConfig.Load(baseDir);
        var adapter = RandomAdapter(model, 12);
        var adapterDir = SaveAdapter(adapter);
        var result = DoMerge(baseDir, adapterDir);

        // (a) exact: the merged file holds RNE_bf16(W + Δ) with Δ computed independently here (f64 accumulation)
        using (var mergedCk = SafetensorsCheckpoint.Open(result.OutputDir))
        using (var baseCk = SafetensorsCheckpoint.Open(baseDir))
        {
            var reference = new List<(string, long[], float[])>();
            long totalMismatches = 0, totalElements = 0;
            foreach (var name in mergedCk.TensorNames.Order(StringComparer.Ordinal))
            {
                var e = mergedCk.Entry(name);
                Assert.AreEqual("BF16", e.DType, name);
                var w = baseCk.ReadSingle(name == "lm_head.weight" ? "model.embed_tokens.weight" : name);
                if (name != "lm_head.weight") AddDelta(adapter, name, w, (int)e.Shape[^1]);
                var expectedBits = new ushort[w.Length];
                Precision.SingleToBF16(w, expectedBits);
                var got = mergedCk.FileOf(name).BF16(name).ToArray();
                var mismatches = Enumerable.Range(0, w.Length).Count(i => got[i] != expectedBits[i]);
                totalMismatches += mismatches; totalElements += w.Length;
                // f32 SGEMM vs f64 reference: a value within an f32 ulp of a bf16 rounding boundary may round the other way
                Assert.IsTrue(mismatches <= w.Length / 1000 + 1, $"{name}: {mismatches} of {w.Length} elements differ from RNE(W + Δ)");
                if (mismatches > 0)
                    for (var i = 0; i < w.Length; i++)
                        Assert.IsTrue(Math.Abs(Precision.BF16ToSingle(got[i]) - w[i]) <= Math.Abs(w[i]) * (1f / 256) + 1e-30f, $"{name}[{i}]");
                reference.Add((name, e.Shape, w.Select(x => Precision.BF16ToSingle(Precision.SingleToBF16(x))).ToArray()));
            }
            Console.WriteLine($"bf16: {totalMismatches} of {totalElements} merged elements differ from RNE(W + Δ_f64)");
            // same values in an f32 snapshot: the merged bf16 model's logits equal it (only the storage differs)
            var refDir = Path.Combine(_work, "ref");
            var cfg = ModelConfig.Load(result.OutputDir);
            ModelWeights.WriteSnapshot(refDir, cfg, reference.Select(t => (t.Item1, t.Item2, t.Item3)), "F32");
            var refDiff = MaxAbsDiff(Logits(refDir, Ids), Logits(result.OutputDir, Ids));
            Console.WriteLine($"bf16: max |merged - f32 model of RNE(W+Δ)| = {refDiff:E3}");
            Assert.IsTrue(refDiff <= 1e-4f, $"{refDiff}");
        }

        // (b) vs base + adapter at runtime (W + Δ unrounded): each changed weight moves by ≤ 2^-9 relative (half a bf16 ulp,
        // 8 significant bits). Through this 3-layer decoder a first-order bound is Σ over the ~7 perturbed matmuls per layer
        // plus embedding/head of ε·|contribution|; we assert ≤ 8·2^-8·max|logit| and that it is far below the adapter's own effect.
        var runtime = RuntimeLogits(baseDir, adapterDir, Ids);
        var merged = Logits(result.OutputDir, Ids);
        var baseOnly = Logits(baseDir, Ids);
        var diff = MaxAbsDiff(runtime, merged);
        var effect = MaxAbsDiff(runtime, baseOnly);
        var bound = 8f / 256 * runtime.Max(Math.Abs);
        Console.WriteLine($"bf16: max |merged - (base+adapter)| = {diff:E3} (bound {bound:E3}); adapter effect {effect:E3}");
        Assert.IsTrue(diff <= bound, $"{diff} > {bound}");
        Assert.IsTrue(diff < effect / 10, $"rounding error {diff} must be far below the adapter effect {effect}");
    }

    /// <summary>w += Δ for a base tensor, computed in f64 from the adapter (independent of the merger's SGEMM path).</summary>
    private static void AddDelta(LoraAdapter a, string name, float[] w, int cols)
    {
        var path = name[..^".weight".Length];
        if (name == "model.embed_tokens.weight")
        {
            if (a.Tokens is { } tok)
                for (var i = 0; i < tok.TokenIds.Count; i++) tok.Delta.F32.Slice(i * cols, cols).CopyTo(w.AsSpan(tok.TokenIds[i] * cols, cols));
            if (a.Embedding is { } emb)
            {
                var A = emb.A.F32; var B = emb.B.F32;
                for (var v = 0; v < emb.Vocab; v++)
                    for (var h = 0; h < emb.Dim; h++)
                    {
                        double s = 0;
                        for (var k = 0; k < emb.R; k++) s += (double)B[h * emb.R + k] * A[k * emb.Vocab + v];
                        w[v * cols + h] = (float)(w[v * cols + h] + emb.Scale * s);
                    }
            }
            return;
        }
        if (!a.Linears.TryGetValue(path, out var lin)) return;
        var la = lin.A.F32; var lb = lin.B.F32;
        for (var o = 0; o < lin.Out; o++)
            for (var i = 0; i < lin.In; i++)
            {
                double s = 0;
                for (var k = 0; k < lin.R; k++) s += (double)lb[o * lin.R + k] * la[k * lin.In + i];
                w[o * cols + i] = (float)(w[o * cols + i] + lin.Scale * s);
            }
    }

    /// <summary>Opt-in <c>--untie-head</c> (PEFT runtime semantics): lm_head = the base embedding, untied; the default keeps the tie.</summary>
    [TestMethod]
    public void UntieHead_OptIn_WritesBaseEmbeddingAsHead()
    {
        var baseDir = Fixture("smol_tied");
        var model = ModelConfig.Load(baseDir);
        var adapterDir = SaveAdapter(RandomAdapter(model, 13));
        var result = DoMerge(baseDir, adapterDir, mode: TiedHeadMode.Untie);
        Assert.IsTrue(result.Untied);
        using (var ck = SafetensorsCheckpoint.Open(result.OutputDir))
        using (var baseCk = SafetensorsCheckpoint.Open(baseDir))
            CollectionAssert.AreEqual(baseCk.FileOf("model.embed_tokens.weight").Raw("model.embed_tokens.weight").ToArray(),
                ck.FileOf("lm_head.weight").Raw("lm_head.weight").ToArray(), "lm_head = base embedding");
        Assert.IsFalse(ModelConfig.Load(result.OutputDir).TieWordEmbeddings);
        var keep = DoMerge(baseDir, adapterDir, "kept");
        Assert.IsFalse(keep.Untied);
        Assert.IsTrue(ModelConfig.Load(keep.OutputDir).TieWordEmbeddings);
        // linear-only adapters never untie, even when asked
        var linOnly = SaveAdapter(RandomAdapter(model, 14, ["q_proj", "down_proj"], []), "lin");
        Assert.IsFalse(DoMerge(baseDir, linOnly, "m2", TiedHeadMode.Untie).Untied);
    }

    // ------------------------------------------------------------------ 2. zero adapter: bit for bit

    [TestMethod]
    [DataRow("smol_tied")]
    [DataRow("llama_untied")]
    [DataRow("smol_tied_bf16")]
    public void ZeroAdapterReproducesBaseBitForBit(string fixture)
    {
        var baseDir = Fixture(fixture);
        using var baseW = ModelWeights.Open(baseDir);
        var model = baseW.Config;
        // PEFT init (linear B = 0, embedding A = 0, trainable rows = the original rows) and an explicit all-zero one
        var init = LoraAdapter.Create(new LoraConfig { R = 4, Alpha = 8, TargetModules = AllModules, TrainableTokenIds = [3, 7] }, model, seed: 5,
            embeddingRow: id => { var r = new float[model.HiddenSize]; baseW["model.embed_tokens.weight"].CopyRow(id, r); return r; });
        var zeros = LoraAdapter.Create(new LoraConfig { R = 4, Alpha = 8, TargetModules = AllModules }, model);
        foreach (var (adapter, tag) in new[] { (init, "init"), (zeros, "zeros") })
        {
            var dir = SaveAdapter(adapter, "adapter-" + tag);
            var result = DoMerge(baseDir, dir, "merged-" + tag);
            using var a = SafetensorsCheckpoint.Open(baseDir);
            using var b = SafetensorsCheckpoint.Open(result.OutputDir);
            var checkedCount = 0;
            foreach (var name in a.TensorNames)
            {
                CollectionAssert.AreEqual(a.FileOf(name).Raw(name).ToArray(), b.FileOf(name).Raw(name).ToArray(), $"{fixture}/{tag}: {name}");
                Assert.AreEqual(Path.GetFileName(a.FileOf(name).Path), Path.GetFileName(b.FileOf(name).Path), $"{name}: same shard");
                checkedCount++;
            }
            if (b.Contains("lm_head.weight") && !a.Contains("lm_head.weight"))
                CollectionAssert.AreEqual(a.FileOf("model.embed_tokens.weight").Raw("model.embed_tokens.weight").ToArray(), b.FileOf("lm_head.weight").Raw("lm_head.weight").ToArray());
            Assert.AreEqual(model.ExpectedTensors().Count, checkedCount);
            foreach (var f in b.Files) Assert.AreEqual("pt", f.Metadata["format"]);
        }
    }

    [TestMethod]
    public void ShardedBaseKeepsShardNamesAndIndex()
    {
        var baseDir = Fixture("llama_untied");
        var adapterDir = SaveAdapter(RandomAdapter(ModelConfig.Load(baseDir), 21));
        var result = DoMerge(baseDir, adapterDir);
        var baseIndex = JsonNode.Parse(File.ReadAllText(Path.Combine(baseDir, SafetensorsCheckpoint.IndexFileName)))!["weight_map"]!.AsObject();
        var outIndex = JsonNode.Parse(File.ReadAllText(Path.Combine(result.OutputDir, SafetensorsCheckpoint.IndexFileName)))!;
        CollectionAssert.AreEquivalent(baseIndex.Select(kv => $"{kv.Key}={kv.Value}").ToArray(),
            outIndex["weight_map"]!.AsObject().Select(kv => $"{kv.Key}={kv.Value}").ToArray());
        Assert.AreEqual(90752L, (long)outIndex["metadata"]!["total_size"]!);
        Assert.IsFalse(File.Exists(Path.Combine(result.OutputDir, "model.safetensors")));
        Assert.IsFalse(Directory.EnumerateFileSystemEntries(_work, ".merged*").Any(), "no temp folder left");
    }

    // ------------------------------------------------------------------ 3. greedy generation

    [TestMethod]
    [DataRow("smol_tied")]
    [DataRow("llama_untied")]
    [DataRow("smol_tied_bf16")]
    public void MergedFolderGeneratesTheSameGreedyTokens(string fixture)
    {
        var baseDir = Fixture(fixture);
        var model = ModelConfig.Load(baseDir);
        var adapterDir = SaveAdapter(RandomAdapter(model, 31));
        var result = DoMerge(baseDir, adapterDir);
        var opts = new DecodingOptions { MaxNewTokens = 24, StopIds = [] };
        int[] prompt = [1, 17, 42, 5];
        int[] runtimeIds;
        using (var w = ModelWeights.Open(baseDir))
        {
            var lm = new CausalLM(w);
            PeftAdapterIO.Load(adapterDir, w.Config).Attach(lm);
            runtimeIds = Generator.Generate(lm, prompt, opts).Ids;
        }
        using var mw = ModelWeights.Open(result.OutputDir);
        var mergedIds = Generator.Generate(new CausalLM(mw), prompt, opts).Ids;
        Console.WriteLine($"{fixture}: runtime [{string.Join(",", runtimeIds)}] merged [{string.Join(",", mergedIds)}]");
        if (fixture.EndsWith("bf16", StringComparison.Ordinal))
        {
            // bf16 rounding of the merged weights may flip a near-tie argmax late in the sequence; the prefix must agree
            var same = runtimeIds.Zip(mergedIds).TakeWhile(p => p.First == p.Second).Count();
            Assert.IsTrue(same >= 8, $"first {same} tokens agree");
        }
        else CollectionAssert.AreEqual(runtimeIds, mergedIds);
    }

    // ------------------------------------------------------------------ text side

    [TestMethod]
    public void WritesTokenizerTemplateGenerationConfigAndServing()
    {
        var baseDir = Path.Combine(_work, "base");
        Directory.CreateDirectory(baseDir);
        foreach (var f in Directory.EnumerateFiles(Fixture("smol_tied"))) File.Copy(f, Path.Combine(baseDir, Path.GetFileName(f)));
        File.WriteAllText(Path.Combine(baseDir, "tokenizer.json"), """
            {"version":"1.0","added_tokens":[{"id":2,"content":"<|end_of_text|>","special":true},{"id":9,"content":"<|im_end|>","special":true}],
             "model":{"type":"BPE","vocab":{"a":3,"<|end_of_text|>":2,"<|im_end|>":9}}}
            """);
        File.WriteAllText(Path.Combine(baseDir, "tokenizer_config.json"), """{"eos_token":"<|im_end|>","chat_template":"OLD"}""");
        File.WriteAllText(Path.Combine(baseDir, "special_tokens_map.json"), """{"eos_token":"<|im_end|>"}""");
        var tpl = Path.Combine(_work, "trained.jinja");
        File.WriteAllText(tpl, "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}");
        var model = ModelConfig.Load(baseDir);
        var adapter = RandomAdapter(model, 41, ["q_proj", "v_proj"], [], r: 12);
        var adapterDir = SaveAdapter(adapter);
        var outDir = Path.Combine(_work, "out");
        var result = AdapterMerger.Merge(new MergeOptions { BaseDir = baseDir, AdapterDir = adapterDir, OutputDir = outDir, ChatTemplateFile = tpl, Thinking = true, PathBase = _work });

        CollectionAssert.AreEqual(new[] { 9, 2 }, result.StopIds.ToArray());
        var gen = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "generation_config.json")))!;
        CollectionAssert.AreEqual(new[] { 9, 2 }, gen["eos_token_id"]!.AsArray().Select(x => (int)x!).ToArray());
        Assert.AreEqual(File.ReadAllText(tpl), File.ReadAllText(Path.Combine(outDir, "chat_template.jinja")));
        Assert.AreEqual(File.ReadAllText(tpl), (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "tokenizer_config.json")))!["chat_template"]);
        Assert.IsTrue(File.Exists(Path.Combine(outDir, "tokenizer.json")) && File.Exists(Path.Combine(outDir, "special_tokens_map.json")));
        var serving = File.ReadAllText(Path.Combine(outDir, "serving.md"));
        StringAssert.Contains(serving, "vllm serve out");
        StringAssert.Contains(serving, "--chat-template out/chat_template.jinja");
        StringAssert.Contains(serving, "--enable-auto-tool-choice --tool-call-parser hermes");
        StringAssert.Contains(serving, "--chat-template-content-format string");
        StringAssert.Contains(serving, "--reasoning-parser deepseek_r1");
        StringAssert.Contains(serving, $"--enable-lora --lora-modules tooltune={Path.GetRelativePath(_work, adapterDir).Replace('\\', '/')} --max-lora-rank 16");
        StringAssert.Contains(serving, "tooltune serve --model out --port 8000");
        Assert.IsFalse(serving.Contains(_work), "serving.md has no absolute path of this machine");
        Assert.IsFalse(serving.Contains(".merge-"), "serving.md names the final folder, not the temp one");
        // config.json keeps every base field (architecture unchanged), linear-only: still tied
        var baseCfg = JsonNode.Parse(File.ReadAllText(Path.Combine(baseDir, "config.json")))!.AsObject();
        var outCfg = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "config.json")))!.AsObject();
        foreach (var (k, v) in baseCfg) Assert.IsTrue(JsonNode.DeepEquals(v, outCfg[k]), k);
    }

    // ------------------------------------------------------------------ 5. bad input

    private ToolTuneException MergeFails(string baseDir, string adapterDir, string outName = "bad")
    {
        var outDir = Path.Combine(_work, outName);
        var ex = Assert.ThrowsExactly<ToolTuneException>(() =>
            AdapterMerger.Merge(new MergeOptions { BaseDir = baseDir, AdapterDir = adapterDir, OutputDir = outDir }));
        Assert.IsFalse(Directory.Exists(outDir), "no output folder");
        Assert.IsFalse(Directory.EnumerateFileSystemEntries(_work, $".{outName}*").Any(), "no temp folder left");
        Console.WriteLine($"{ex.Code} {ex.File}: {ex.Message}");
        return ex;
    }

    [TestMethod]
    public void ShapeMismatch_NamesAdapterAndBaseTensor()
    {
        var baseDir = Fixture("smol_tied");
        var other = ModelConfig.Load(baseDir) with { IntermediateSize = 96 };
        var dir = SaveAdapter(RandomAdapter(other, 1, ["q_proj", "gate_proj"], []));
        var ex = MergeFails(baseDir, dir);
        Assert.AreEqual(ErrorCodes.MergeShapeMismatch, ex.Code);
        StringAssert.Contains(ex.Message, "base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight");
        StringAssert.Contains(ex.Message, "model.layers.0.mlp.gate_proj.weight");
        StringAssert.EndsWith(ex.File!, "adapter_model.safetensors");
    }

    [TestMethod]
    public void AdapterForAnotherArchitecture_HiddenSizeOrMissingModule()
    {
        var baseDir = Fixture("llama_untied");
        var model = ModelConfig.Load(baseDir);
        var wider = SaveAdapter(RandomAdapter(model with { HiddenSize = 64 }, 1, ["k_proj"], []), "wider");
        var ex = MergeFails(baseDir, wider);
        Assert.AreEqual(ErrorCodes.MergeShapeMismatch, ex.Code);
        StringAssert.Contains(ex.Message, "k_proj");

        var deeper = SaveAdapter(RandomAdapter(model with { NumLayers = 3 }, 1, ["o_proj"], []), "deeper");
        ex = MergeFails(baseDir, deeper);
        Assert.AreEqual(ErrorCodes.MergeTargetAbsent, ex.Code);
        StringAssert.Contains(ex.Message, "model.layers.2.self_attn.o_proj");
    }

    [TestMethod]
    public void MissingAdapterFilesOrFields()
    {
        var baseDir = Fixture("smol_tied");
        var good = SaveAdapter(RandomAdapter(ModelConfig.Load(baseDir), 1, ["q_proj"], []));

        var noWeights = Path.Combine(_work, "noweights");
        Directory.CreateDirectory(noWeights);
        File.Copy(Path.Combine(good, "adapter_config.json"), Path.Combine(noWeights, "adapter_config.json"));
        var ex = MergeFails(baseDir, noWeights);
        Assert.AreEqual(ErrorCodes.MergeAdapterFileMissing, ex.Code);
        StringAssert.EndsWith(ex.File!, "adapter_model.safetensors");

        var noConfig = Path.Combine(_work, "noconfig");
        Directory.CreateDirectory(noConfig);
        File.Copy(Path.Combine(good, "adapter_model.safetensors"), Path.Combine(noConfig, "adapter_model.safetensors"));
        ex = MergeFails(baseDir, noConfig);
        Assert.AreEqual(ErrorCodes.MergeAdapterFileMissing, ex.Code);
        StringAssert.EndsWith(ex.File!, "adapter_config.json");

        foreach (var field in new[] { "r", "target_modules" })
        {
            var dir = Path.Combine(_work, "no-" + field);
            Directory.CreateDirectory(dir);
            File.Copy(Path.Combine(good, "adapter_model.safetensors"), Path.Combine(dir, "adapter_model.safetensors"));
            var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(good, "adapter_config.json")))!.AsObject();
            cfg.Remove(field);
            File.WriteAllText(Path.Combine(dir, "adapter_config.json"), cfg.ToJsonString());
            ex = MergeFails(baseDir, dir);
            Assert.AreEqual(ErrorCodes.MergeAdapterConfigInvalid, ex.Code, field);
            StringAssert.Contains(ex.Message, field == "r" ? "'r'" : "target_modules");
            StringAssert.EndsWith(ex.File!, "adapter_config.json");
        }
    }

    [TestMethod]
    public void OutputNotWritable_NoPartialOutput()
    {
        var baseDir = Fixture("smol_tied");
        var dir = SaveAdapter(RandomAdapter(ModelConfig.Load(baseDir), 1, ["q_proj"], []));
        var blocker = Path.Combine(_work, "afile");
        File.WriteAllText(blocker, "x");
        var outDir = Path.Combine(blocker, "merged");
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => AdapterMerger.Merge(new MergeOptions { BaseDir = baseDir, AdapterDir = dir, OutputDir = outDir }));
        Assert.AreEqual(ErrorCodes.MergeOutputNotWritable, ex.Code);
        Assert.AreEqual(outDir, ex.File);
        Assert.AreEqual("x", File.ReadAllText(blocker));

        // a failure in the middle (bad adapter) leaves an existing output untouched
        var existing = Path.Combine(_work, "keep");
        DoMerge(baseDir, dir, "keep");
        var before = Directory.EnumerateFiles(existing).Select(f => (Path.GetFileName(f), File.ReadAllBytes(f).Length)).ToArray();
        File.Delete(Path.Combine(dir, "adapter_model.safetensors"));
        Assert.ThrowsExactly<ToolTuneException>(() => AdapterMerger.Merge(new MergeOptions { BaseDir = baseDir, AdapterDir = dir, OutputDir = existing }));
        CollectionAssert.AreEquivalent(before, Directory.EnumerateFiles(existing).Select(f => (Path.GetFileName(f), File.ReadAllBytes(f).Length)).ToArray());
        Assert.IsFalse(Directory.EnumerateFileSystemEntries(_work, ".keep*").Any());
    }
}
