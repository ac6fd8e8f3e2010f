using System.Diagnostics;
using System.Text.Json;
using ToolTune.Data.Shards;
using ToolTune.Lora;
using ToolTune.Model;
using ToolTune.Pipeline;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Stages;
using ToolTune.Tensors;
using ToolTune.Tests.Pipeline;
using ToolTune.Training;
using ToolTune.Text.Tokenization;

namespace ToolTune.Tests.Training;

/// <summary>
/// A temporary project root for the TrainLora stage: the repository's demo base model + tokenizer
/// (<c>data/demo-model</c>, absolute path), the fixed template and the Hermes sample.
/// </summary>
internal sealed class TrainProject : IDisposable
{
    private readonly TempDir _dir = new("tt-train-");

    public TrainProject()
    {
        _dir.File("Pipeline.proj", "<Project />");
        System.IO.File.Copy(Path.Combine(SharedFixtures.RepoRoot, "data", "samples", "hermes_sample.json"), _dir.File("data/hermes.json"));
    }

    public static string DemoModel => Path.Combine(SharedFixtures.RepoRoot, "data", "demo-model");
    public string Root => _dir.Path;
    public string RunDir(string run) => Path.Combine(Root, "artifacts", run);

    /// <summary>A run config; <paramref name="lora"/> and <paramref name="train"/> are the YAML bodies of those sections.</summary>
    public string Config(string name, string lora, string train, double valFraction = 0.2, string? baseModel = null) => _dir.File($"configs/{name}.yaml", $"""
        run:
          name: {name}
          seed: 7
        model:
          base_model: {JsonSerializer.Serialize(baseModel ?? DemoModel)}
          tokenizer: {JsonSerializer.Serialize(DemoModel)}
          chat_template: {JsonSerializer.Serialize(Path.Combine(SharedFixtures.RepoRoot, "configs", "templates", "smollm3-tool-fixed.jinja"))}
          template_kwargs:
            enable_thinking: false
        data:
          sources:
            - path: data/hermes.json
              format: hermes
              kind: tool
          tool_eval_count: 0
          val_fraction: {valFraction.ToString(System.Globalization.CultureInfo.InvariantCulture)}
        lora:
        {Indent(lora)}
        train:
        {Indent(train)}
        """);

    private static string Indent(string body) => string.Join("\n", body.Split('\n').Select(l => "  " + l.TrimEnd()));

    public StageRunResult Run(string config, string stage, IPipelineLog? log = null, StageOptions? options = null, CancellationToken ct = default, string? overrides = null) =>
        PipelineApi.RunStage(config, Root, overrides, stage, log ?? NullPipelineLog.Instance, ct, options);

    /// <summary>PrepareData + VerifyTokens.</summary>
    public void Prepare(string config)
    {
        Run(config, "PrepareData");
        Run(config, "VerifyTokens");
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>Collects messages; can run an action on each (e.g. cancel on the first progress line).</summary>
internal sealed class RecordingLog(Action<string>? onMessage = null) : IPipelineLog
{
    public List<string> Messages { get; } = [];

    public void Message(string text, bool important = false)
    {
        lock (Messages) Messages.Add(text);
        onMessage?.Invoke(text);
    }

    public void Warning(string code, string message, string? file = null, int line = 0, int column = 0) { }
}

[TestClass]
public sealed class TrainLoraStageTests
{
    public TestContext TestContext { get; set; } = null!;

    private const string AllModules = "[q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, embed_tokens]";

    /// <summary>
    /// On the Hermes sample (through PrepareData), training loss falls and the trained model greedily emits the
    /// tool-call start id after the generation prompt, where the base model does not. Deterministic (fixed seeds, fixed-order
    /// f32 arithmetic). The exported PEFT adapter reloaded onto the base reproduces exactly the
    /// logits of the trained parameters (read from the final checkpoint), with PEFT key names and config fields.
    /// </summary>
    [TestMethod]
    public void TrainedModelEmitsToolCallStartWhereBaseDoesNot()
    {
        using var p = new TrainProject();
        // The demo shape with weights ~ N(0, 0.1) instead of HF's 0.02: the frozen tied head then spans logits wide enough
        // for a short run to overfit (with 0.02 the rows have norm ≈ 0.16 and logits stay within ≈ ±1.3).
        // alpha = r (scale 1): the tied head follows the adapted embedding, so the embedding LoRA (B ~ N(0, 1)) also moves every
        // head row; with scale 2 this short run over-drives the head and greedy decoding skips <tool_call>.
        // The tool-call rows are trained directly (trainable_tokens, as configs/demo.yaml does): through the embedding LoRA
        // alone the <tool_call> logit depended on where the random init put its row (it worked for one demo vocabulary and
        // not the next).
        var baseDir = Path.Combine(p.Root, "base");
        var tok = Tokenizer.FromDirectory(TrainProject.DemoModel);
        var imEnd = tok.TokenToId("<|im_end|>")!.Value;
        var shape = ToolTune.Demo.DemoModel.Shape("demo", tok.VocabularySize) with { EosTokenIds = [imEnd], PadTokenId = imEnd };
        using (var w = ModelWeights.CreateRandom(shape, seed: 1, std: 0.1f)) w.Save(baseDir);
        var config = p.Config("emit", $"r: 16\nalpha: 16\ndropout: 0.0\ntarget_modules: {AllModules}\ntrainable_tokens: [\"<tool_call>\", \"</tool_call>\"]",
            "epochs: 40\nlearning_rate: 1e-2\nschedule: cosine\nwarmup_ratio: 0.05\nbatch_size: 2\ngrad_accum: 1\ngradient_checkpointing: false\nmax_grad_norm: 1.0",
            baseModel: baseDir);
        p.Prepare(config);
        var clock = Stopwatch.StartNew();
        var log = new RecordingLog();
        var result = p.Run(config, "TrainLora", log);
        TestContext.WriteLine($"TrainLora {clock.Elapsed.TotalSeconds:0.0} s\n{string.Join("\n", log.Messages)}");

        // Loss falls: the mean of the last quarter of the steps is well below the first step's.
        var rows = TrainLog.Read(Path.Combine(result.OutputDir, "train-log.csv"));
        Assert.IsTrue(rows.Count >= 10, $"{rows.Count} steps");
        var first = rows[0].Loss;
        var last = rows.Skip(rows.Count * 3 / 4).Average(r => r.Loss);
        TestContext.WriteLine($"loss {first:0.000} -> {last:0.000} (mean of the last quarter)");
        Assert.IsTrue(last < first * 0.6, $"loss {first:0.000} -> {last:0.000}");
        Assert.IsTrue(File.Exists(Path.Combine(result.OutputDir, "loss.svg")));

        // A prompt = a sample's ids up to (excluding) the first trained token of the assistant turn that holds its first tool
        // call: i.e. everything through "<|im_start|>assistant\n", the generation prompt. Prefer a validation sample.
        var start = tok.TokenToId("<tool_call>")!.Value;
        var prepared = Path.Combine(p.RunDir("emit"), "prepared");
        var (prompt, expectedWithin, split) = PromptBeforeToolCall(prepared, start);
        TestContext.WriteLine($"prompt from the {split} split: {prompt.Length} ids; <tool_call> is trained token #{expectedWithin + 1} of the turn");

        using var baseWeights = ModelWeights.Open(baseDir);
        var baseLm = new CausalLM(baseWeights);
        var opts = new DecodingOptions { MaxNewTokens = expectedWithin + 4 };
        var baseOut = Generator.Generate(baseLm, prompt, opts).Ids;
        using var w2 = ModelWeights.Open(baseDir);
        var trained = new LoraTrainableModel(new CausalLM(w2), PeftAdapterIO.Load(result.OutputDir, w2.Config));
        var trainedOut = Generator.Generate(trained.Lm, prompt, opts).Ids;
        TestContext.WriteLine($"base: {tok.Decode(baseOut)}\ntrained: {tok.Decode(trainedOut)}");
        Assert.IsFalse(baseOut.Contains(start), "the base model must not emit <tool_call>");
        Assert.IsTrue(trainedOut.Contains(start), "the trained model emits <tool_call> after the generation prompt");
        Assert.AreEqual(expectedWithin, Array.IndexOf(trainedOut, start), "at the position the data puts it");
        // Not by a hair: where the data puts it, <tool_call> leads the runner-up by more than one logit (e ≈ 2.7 times as
        // likely). 25 epochs at a constant 1.5e-2 once left the loss near 1.6 and this held-out prompt's first token a
        // coin toss between <tool_call> and "{" that the summation order of the SIMD path decided; 40 cosine-decayed
        // epochs converge (loss ≈ 0.1).
        var before = prompt.Concat(trainedOut.Take(expectedWithin)).ToArray();
        var logits = trained.Lm.Logits(before);
        var next = logits.AsSpan(logits.Length - w2.Config.VocabSize);
        var runnerUp = float.NegativeInfinity;
        for (var i = 0; i < next.Length; i++) if (i != start) runnerUp = Math.Max(runnerUp, next[i]);
        TestContext.WriteLine($"<tool_call> logit {next[start]:0.00}, runner-up {runnerUp:0.00}");
        Assert.IsTrue(next[start] - runnerUp > 1f, $"<tool_call> leads the runner-up by {next[start] - runnerUp:0.00} logits");

        // The PEFT export = the trained parameters (final checkpoint), logits bit-identical.
        var checkpoint = Checkpoint.Latest(Path.Combine(p.RunDir("emit"), TrainLoraStage.WorkFolder, "checkpoints"))!;
        using var w3 = ModelWeights.Open(baseDir);
        var lora = PeftAdapterIO.LoadConfig(result.OutputDir);
        var fromCheckpoint = new LoraTrainableModel(new CausalLM(w3), LoraAdapter.Create(lora, w3.Config, 1, _ => new float[w3.Config.HiddenSize]));
        Checkpoint.Load(checkpoint, fromCheckpoint.Parameters, new AdamW(fromCheckpoint.Parameters, 0.9, 0.999, 1e-8, 0));
        CollectionAssert.AreEqual(fromCheckpoint.Lm.Logits(prompt), trained.Lm.Logits(prompt));
        var keys = PeftAdapterIO.Keys(trained.Adapter);
        CollectionAssert.Contains(keys.ToList(), "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
        CollectionAssert.Contains(keys.ToList(), "base_model.model.model.embed_tokens.lora_embedding_A");
        var cfg = JsonDocument.Parse(File.ReadAllText(Path.Combine(result.OutputDir, PeftAdapterIO.ConfigFileName))).RootElement;
        Assert.AreEqual("CAUSAL_LM", cfg.GetProperty("task_type").GetString());
        Assert.AreEqual("LORA", cfg.GetProperty("peft_type").GetString());
        Assert.AreEqual(16, cfg.GetProperty("r").GetInt32());
        Assert.AreEqual(16, cfg.GetProperty("lora_alpha").GetDouble());
        Assert.AreEqual(8, cfg.GetProperty("target_modules").GetArrayLength());
        Assert.AreEqual(baseDir, cfg.GetProperty("base_model_name_or_path").GetString());
    }

    private static (int[] Prompt, int ExpectedWithin, string Split) PromptBeforeToolCall(string prepared, int start)
    {
        foreach (var split in new[] { "val", "train" })
        {
            if (!ShardManifest.Read(prepared).Splits.ContainsKey(split)) continue;
            using var set = ShardSet.Open(prepared, split);
            for (var i = 0; i < set.Count; i++)
            {
                var ids = set.InputIds(i).ToArray();
                var labels = set.LabelIds(i).ToArray();
                var call = Enumerable.Range(0, ids.Length).FirstOrDefault(t => ids[t] == start && labels[t] != CrossEntropy.IgnoreIndex, -1);
                if (call < 0) continue;
                var turnStart = call;
                while (turnStart > 0 && labels[turnStart - 1] != CrossEntropy.IgnoreIndex) turnStart--;
                return (ids[..turnStart], call - turnStart, split);
            }
        }
        throw new AssertFailedException("no sample with a trained tool call");
    }

    /// <summary>
    /// Ctrl+C: cancelling the stage during training saves a checkpoint at the last completed step, throws, leaves the previous
    /// adapter/ byte for byte and no temp folder; the next run resumes from that checkpoint and ends with the adapter of an
    /// uninterrupted run.
    /// </summary>
    [TestMethod]
    public void CancelSavesCheckpointKeepsPreviousAdapterAndResumes()
    {
        using var p = new TrainProject();
        const string lora = "r: 4\nalpha: 8\ndropout: 0.1\ntarget_modules: [q_proj, v_proj, embed_tokens]";
        const string train = "epochs: 3\nlearning_rate: 5.0e-3\nbatch_size: 2\ngrad_accum: 2\ngradient_checkpointing: true";
        var config = p.Config("cancel", lora, train);
        p.Prepare(config);
        var first = p.Run(config, "TrainLora");
        var adapterDir = first.OutputDir;
        var before = Directory.GetFiles(adapterDir).Order().Select(f => (Path.GetFileName(f), File.ReadAllBytes(f))).ToList();

        // Another learning rate: a new trajectory (old checkpoints set aside); cancel on the first progress line (step 1).
        const string lr2 = "train.learning_rate=2e-3";
        using var cts = new CancellationTokenSource();
        var log = new RecordingLog(m => { if (m.StartsWith("TrainLora: step ", StringComparison.Ordinal)) cts.Cancel(); });
        Assert.ThrowsExactly<OperationCanceledException>(() => p.Run(config, "TrainLora", log, ct: cts.Token, overrides: lr2));
        TestContext.WriteLine(string.Join("\n", log.Messages));
        var checkpoints = Path.Combine(p.RunDir("cancel"), TrainLoraStage.WorkFolder, "checkpoints");
        var latest = Checkpoint.Latest(checkpoints);
        Assert.IsNotNull(latest);
        Assert.AreEqual(1, Checkpoint.ReadState(latest).Step, "checkpoint saved at the last completed step");
        foreach (var (name, bytes) in before)
            CollectionAssert.AreEqual(bytes, File.ReadAllBytes(Path.Combine(adapterDir, name)), $"{name} kept");
        Assert.AreEqual(0, Directory.GetDirectories(p.RunDir("cancel"), ".tmp-*").Length);

        // Resume; then an uninterrupted run of the same options (fresh) gives the same adapter bytes.
        var resumeLog = new RecordingLog();
        p.Run(config, "TrainLora", resumeLog, overrides: lr2);
        Assert.IsTrue(resumeLog.Messages.Any(m => m.Contains("resumed from", StringComparison.Ordinal)), string.Join("\n", resumeLog.Messages));
        var resumed = File.ReadAllBytes(Path.Combine(adapterDir, PeftAdapterIO.WeightsFileName));
        var freshLog = new RecordingLog();
        p.Run(config, "TrainLora", freshLog, new StageOptions { Resume = false }, overrides: lr2);
        Assert.IsFalse(freshLog.Messages.Any(m => m.Contains("resumed from", StringComparison.Ordinal)));
        CollectionAssert.AreEqual(resumed, File.ReadAllBytes(Path.Combine(adapterDir, PeftAdapterIO.WeightsFileName)));
        CollectionAssert.AreNotEqual(before.First(b => b.Item1 == PeftAdapterIO.WeightsFileName).Item2, resumed);
    }

    /// <summary>
    /// A real <c>tooltune train</c> process (<c>dotnet ToolTune.Cli.dll</c>) SIGKILLed three times at seeded
    /// random steps (each after a checkpoint exists), then run to the end: the final adapter is byte-identical to an
    /// uninterrupted run's.
    /// </summary>
    [TestMethod]
    public void SigkilledTrainResumesToByteIdenticalAdapter()
    {
        using var p = new TrainProject();
        var config = p.Config("kill", $"r: 8\nalpha: 16\ndropout: 0.1\ntarget_modules: {AllModules}",
            "epochs: 5\nlearning_rate: 5.0e-3\nbatch_size: 1\ngrad_accum: 1\nsave_every: 1\nkeep_last: 2\ngradient_checkpointing: true");
        p.Prepare(config);
        var adapterFile = Path.Combine(p.RunDir("kill"), "adapter", PeftAdapterIO.WeightsFileName);
        var clock = Stopwatch.StartNew();
        var straight = p.Run(config, "TrainLora");
        var want = File.ReadAllBytes(adapterFile);
        var wantConfig = File.ReadAllText(Path.Combine(straight.OutputDir, PeftAdapterIO.ConfigFileName));
        var total = TrainLog.Read(Path.Combine(straight.OutputDir, "train-log.csv")).Count;
        TestContext.WriteLine($"uninterrupted: {total} steps in {clock.Elapsed.TotalSeconds:0.0} s");
        Directory.Delete(Path.Combine(p.RunDir("kill"), TrainLoraStage.WorkFolder), recursive: true);
        Directory.Delete(straight.OutputDir, recursive: true);

        var checkpoints = Path.Combine(p.RunDir("kill"), TrainLoraStage.WorkFolder, "checkpoints");
        var rng = new Random(20261121);
        var killedAt = new List<int>();
        var last = 0;
        for (var k = 0; k < 3; k++)
        {
            // a random step after the last kill, leaving room for the remaining kills
            var target = rng.Next(last + 1, Math.Max(last + 2, total - (3 - k) * 4));
            using var proc = StartCli(p, config);
            var deadline = Stopwatch.StartNew();
            while (!proc.HasExited && LatestStep(checkpoints) < target)
            {
                if (deadline.Elapsed > TimeSpan.FromMinutes(2)) break;
                Thread.Sleep(5);
            }
            Assert.IsFalse(proc.HasExited, $"kill {k + 1}: the process finished before step {target}\n{proc.StandardOutput.ReadToEnd()}{proc.StandardError.ReadToEnd()}");
            proc.Kill(); // SIGKILL on Unix
            proc.WaitForExit();
            var at = LatestStep(checkpoints);
            killedAt.Add(at);
            Assert.IsTrue(at > last, $"progress after kill {k + 1}: {at} > {last}");
            last = at;
        }
        TestContext.WriteLine($"killed after checkpoints {string.Join(", ", killedAt)} of {total}");
        Assert.IsFalse(File.Exists(adapterFile), "no run completed yet");

        using (var final = StartCli(p, config))
        {
            var output = final.StandardOutput.ReadToEnd() + final.StandardError.ReadToEnd();
            final.WaitForExit();
            TestContext.WriteLine(output);
            Assert.AreEqual(0, final.ExitCode, output);
            StringAssert.Contains(output, $"resumed from");
        }
        CollectionAssert.AreEqual(want, File.ReadAllBytes(adapterFile), "adapter bytes equal the uninterrupted run's");
        Assert.AreEqual(wantConfig, File.ReadAllText(Path.Combine(straight.OutputDir, PeftAdapterIO.ConfigFileName)));
        Assert.AreEqual(total, TrainLog.Read(Path.Combine(straight.OutputDir, "train-log.csv")).Count, "train-log.csv holds every step once");
    }

    /// <summary>The step of the latest complete checkpoint (0: none); tolerant of the trainer pruning one meanwhile.</summary>
    private static int LatestStep(string checkpoints)
    {
        for (var attempt = 0; ; attempt++)
        {
            try { return Checkpoint.Latest(checkpoints) is { } c ? Checkpoint.ReadState(c).Step : 0; }
            catch (Exception e) when (attempt < 20 && e is IOException or UnauthorizedAccessException or ToolTune.Diagnostics.ToolTuneException) { Thread.Sleep(2); }
        }
    }

    private static Process StartCli(TrainProject p, string config)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = p.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "ToolTune.Cli.dll"), "train", "--config", config, "--root", p.Root }) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        return Process.Start(psi)!;
    }
}
