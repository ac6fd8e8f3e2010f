using ToolTune.Data.Shards;
using ToolTune.Diagnostics;
using ToolTune.Model;
using ToolTune.Tensors;
using ToolTune.Training;

namespace ToolTune.Tests.Training;

/// <summary>In-memory samples: ids, labels (−100 = untrained).</summary>
internal sealed class ToyData(int[][] ids, int[][] labels) : ITrainingData
{
    public int Count => ids.Length;
    public int Length(int i) => ids[i].Length;
    public Batch Materialize(int[] indices)
    {
        var width = indices.Max(i => ids[i].Length);
        var x = new int[indices.Length * width];
        var y = Enumerable.Repeat(CrossEntropy.IgnoreIndex, indices.Length * width).ToArray();
        for (var r = 0; r < indices.Length; r++)
        {
            ids[indices[r]].CopyTo(x, r * width);
            labels[indices[r]].CopyTo(y, r * width);
        }
        return new Batch { SampleIndices = indices, Width = width, InputIds = x, LabelIds = y, Lengths = indices.Select(i => ids[i].Length).ToArray() };
    }

    public static ToyData Make(int n, int seed, int minLen = 3, int maxLen = 12, bool equalLengths = false)
    {
        var r = new Random(seed);
        var ids = new int[n][];
        var labels = new int[n][];
        for (var i = 0; i < n; i++)
        {
            var len = equalLengths ? maxLen : r.Next(minLen, maxLen + 1);
            ids[i] = Enumerable.Range(0, len).Select(_ => r.Next(0, 10)).ToArray();
            labels[i] = ids[i].Select((t, j) => j > 0 && r.NextDouble() < 0.7 ? t : CrossEntropy.IgnoreIndex).ToArray();
        }
        return new ToyData(ids, labels);
    }
}

/// <summary>
/// Toy quadratic "model": θ [8]; each trained token (label l at t ≥ 1) costs ½‖θ − c_l‖² with fixed targets c_l.
/// </summary>
internal sealed class ToyModel : ITrainableModel
{
    public readonly Param Theta = new("toy.theta", [8], new float[8]);
    public readonly Param Bias = new("toy.bias", [2, 4], new float[8]);
    public int NanAtCall = -1;
    private int _calls;

    public ToyModel()
    {
        Theta.MakeTrainable();
        Bias.MakeTrainable();
    }

    public IReadOnlyList<Param> Parameters => [Bias, Theta];
    private static float C(int label, int j) => 3f + (float)Math.Sin(label * 1.7 + j * 0.3) * 0.5f;

    private MicroResult Run(Batch b, float scale, bool grad)
    {
        double loss = 0;
        long n = 0;
        var th = Theta.F32;
        var bi = Bias.F32;
        for (var r = 0; r < b.Rows; r++)
        {
            var labels = b.LabelRow(r);
            for (var t = 1; t < b.Lengths[r]; t++)
            {
                var l = labels[t];
                if (l == CrossEntropy.IgnoreIndex) continue;
                n++;
                for (var j = 0; j < 8; j++)
                {
                    var d = th[j] + bi[j] - C(l, j);
                    loss += 0.5 * d * d;
                    if (grad) { Theta.Grad![j] += scale * d; Bias.Grad![j] += scale * d; }
                }
            }
        }
        return new MicroResult(loss, n);
    }

    public MicroResult ForwardBackward(Batch batch, long normalizer, ulong dropoutKey)
    {
        if (++_calls == NanAtCall) { Theta.Grad![0] = float.NaN; return new MicroResult(double.NaN, 1); }
        return Run(batch, 1f / normalizer, grad: true);
    }

    public MicroResult Evaluate(Batch batch) => Run(batch, 0, grad: false);

    public void SaveAdapter(string directory) =>
        SafetensorsWriter.Write(Path.Combine(directory, "toy_adapter.safetensors"),
            Parameters.Select(p => SafetensorsTensor.FromSingle(p.Name, p.Shape, p.F32.ToArray())));
}

[TestClass]
public sealed class TrainerTests
{
    private static string Temp() => Path.Combine(Path.GetTempPath(), "tt-train-" + Guid.NewGuid().ToString("N"));

    private static TrainerOptions Options(string dir, int saveEvery = 0) => new()
    {
        OutputDirectory = dir, Epochs = 2, LearningRate = 0.05, WeightDecay = 0.01, Schedule = "cosine", WarmupRatio = 0.1,
        BatchSize = 2, GradAccum = 2, MaxGradNorm = 1.0, Seed = 11, SaveEvery = saveEvery, KeepLast = 2, ProgressInterval = TimeSpan.Zero,
    };

    [TestMethod]
    public void LossFallsAndOutputsAreWritten()
    {
        var dir = Temp();
        try
        {
            var data = ToyData.Make(40, 1);
            var progress = new List<TrainProgress>();
            var res = new Trainer(new ToyModel(), data, ToyData.Make(8, 2), Options(dir) with { LearningRate = 0.3 }) { OnProgress = progress.Add }.Run();
            Assert.AreEqual(20, res.TotalSteps);
            Assert.IsFalse(res.Canceled);
            Assert.IsTrue(res.Log.TakeLast(4).Average(r => r.Loss) < 0.97 * res.Log.Take(4).Average(r => r.Loss), $"{res.Log[0].Loss} → {res.Log[^1].Loss}");
            Assert.AreEqual(20, progress.Count);
            Assert.AreEqual(0.0, res.Log[0].Lr, "first step lr is 0 under warmup (LambdaLR at step 0)");
            Assert.IsTrue(File.Exists(Path.Combine(dir, "toy_adapter.safetensors")));
            var csv = TrainLog.Read(Path.Combine(dir, "train-log.csv"));
            Assert.AreEqual(20, csv.Count);
            Assert.AreEqual(res.Log[5].Loss, csv[5].Loss);
            Assert.AreEqual(2, csv.Count(r => r.ValLoss is not null), "eval per epoch");
            StringAssert.StartsWith(File.ReadAllText(Path.Combine(dir, "loss.svg")), "<svg");
            Assert.AreEqual(2, Checkpoint.List(Path.Combine(dir, "checkpoints")).Count, "keep last 2");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [TestMethod]
    public void ResumeIsBitIdentical()
    {
        string a = Temp(), b = Temp();
        try
        {
            var data = ToyData.Make(40, 3);
            var straight = new Trainer(new ToyModel(), data, null, Options(a, saveEvery: 3)).Run();
            Assert.AreEqual(20, straight.Steps);

            // interrupted at step 5, 12 (Ctrl+C via the token: it saves a checkpoint and stops), then resumed to the end
            foreach (var stopAt in new[] { 5, 12 })
            {
                using var cts = new CancellationTokenSource();
                var r = new Trainer(new ToyModel(), data, null, Options(b, saveEvery: 3))
                    { OnProgress = p => { if (p.Step == stopAt) cts.Cancel(); } }.Run(cts.Token);
                Assert.IsTrue(r.Canceled);
                Assert.AreEqual(stopAt, r.Steps);
                Assert.IsTrue(Directory.Exists(Path.Combine(b, "checkpoints", $"checkpoint-{stopAt}")));
            }
            var resumed = new Trainer(new ToyModel(), data, null, Options(b, saveEvery: 3)).Run();
            Assert.IsTrue(resumed.Resumed);
            CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(a, "toy_adapter.safetensors")), File.ReadAllBytes(Path.Combine(b, "toy_adapter.safetensors")));
            CollectionAssert.AreEqual(straight.Log.Select(r => r.Loss).ToArray(), resumed.Log.Select(r => r.Loss).ToArray());
            CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(a, "checkpoints", "checkpoint-20", Checkpoint.OptimizerFile)),
                File.ReadAllBytes(Path.Combine(b, "checkpoints", "checkpoint-20", Checkpoint.OptimizerFile)));
        }
        finally
        {
            foreach (var d in new[] { a, b }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    [TestMethod]
    public void AccumulationMatchesBigBatchUnderTokenNormalisation()
    {
        string a = Temp(), b = Temp();
        try
        {
            var data = ToyData.Make(16, 5);
            var o = Options(a) with { Epochs = 1, WeightDecay = 0 };
            var big = new Trainer(new ToyModel(), data, null, o with { BatchSize = 4, GradAccum = 1 }).Run();
            var acc = new Trainer(new ToyModel(), data, null, o with { OutputDirectory = b, BatchSize = 1, GradAccum = 4 }).Run();
            Assert.AreEqual(4, big.Steps);
            Assert.AreEqual(4, acc.Steps);
            for (var i = 0; i < 4; i++)
            {
                Assert.AreEqual(big.Log[i].Loss, acc.Log[i].Loss, 1e-9 * big.Log[i].Loss, $"loss {i}");
                Assert.AreEqual(big.Log[i].Tokens, acc.Log[i].Tokens);
            }
            using var fa = SafetensorsFile.Open(Path.Combine(a, "toy_adapter.safetensors"));
            using var fb = SafetensorsFile.Open(Path.Combine(b, "toy_adapter.safetensors"));
            LoraTests.Close(fa.ReadSingle("toy.theta"), fb.ReadSingle("toy.theta"), 1e-6, "theta");
        }
        finally
        {
            foreach (var d in new[] { a, b }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    /// <summary>The step loss is Σ token losses / Σ trained tokens over the accumulated micro-batches (transformers
    /// num_items_in_batch), not the mean of per-micro-batch means.</summary>
    [TestMethod]
    public void StepLossIsTokenWeighted()
    {
        var dir = Temp();
        try
        {
            // two samples: 1 trained token vs 5 trained tokens
            var data = new ToyData([[0, 1], [0, 2, 2, 2, 2, 2]], [[CrossEntropy.IgnoreIndex, 1], [CrossEntropy.IgnoreIndex, 2, 2, 2, 2, 2]]);
            var model = new ToyModel();
            var l1 = model.Evaluate(data.Materialize([0]));
            var l2 = model.Evaluate(data.Materialize([1]));
            var res = new Trainer(model, data, null, Options(dir) with { Epochs = 1, BatchSize = 1, GradAccum = 2 }).Run();
            Assert.AreEqual(1, res.Steps);
            Assert.AreEqual(6, res.Log[0].Tokens);
            Assert.AreEqual((l1.LossSum + l2.LossSum) / 6, res.Log[0].Loss, 1e-12);
            Assert.AreNotEqual((l1.LossSum / 1 + l2.LossSum / 5) / 2, res.Log[0].Loss, 1e-6);
            var f = LoraTests.Fixtures["loss_norm"]!;
            var fixture = new ToyData([[0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], [[CrossEntropy.IgnoreIndex, 2, 5, CrossEntropy.IgnoreIndex], [CrossEntropy.IgnoreIndex, 1, 1, 8, 3, CrossEntropy.IgnoreIndex]]);
            Assert.AreEqual((int)f["tokens"]!, BatchPlanner.TrainedTokens(fixture.Materialize([0])) + BatchPlanner.TrainedTokens(fixture.Materialize([1])),
                "same trained-token count as the torch fixture (labels[1:] != -100 over both micro-batches)");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [TestMethod]
    public void NonFiniteStopsWithStepAndCheckpoint()
    {
        var dir = Temp();
        try
        {
            var model = new ToyModel { NanAtCall = 9 }; // step 5 (2 micro-batches per step)
            var ex = Assert.ThrowsExactly<ToolTuneException>(() => new Trainer(model, ToyData.Make(40, 1), null, Options(dir, saveEvery: 2)).Run());
            Assert.AreEqual(ErrorCodes.TrainNonFinite, ex.Code);
            StringAssert.Contains(ex.Message, "step 5:");
            StringAssert.Contains(ex.Message, "checkpoint-4");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    /// <summary>A kill during a checkpoint write leaves <c>checkpoint-N.tmp</c> (or a folder without trainer_state.json):
    /// resume ignores it and continues from the last complete checkpoint, still ending bit-identical.</summary>
    [TestMethod]
    public void HalfWrittenCheckpointIsIgnoredOnResume()
    {
        string a = Temp(), b = Temp();
        try
        {
            var data = ToyData.Make(40, 3);
            new Trainer(new ToyModel(), data, null, Options(a, saveEvery: 3)).Run();
            using (var cts = new CancellationTokenSource())
                new Trainer(new ToyModel(), data, null, Options(b, saveEvery: 3)) { OnProgress = p => { if (p.Step == 7) cts.Cancel(); } }.Run(cts.Token);
            var ck = Path.Combine(b, "checkpoints");
            Directory.Delete(Path.Combine(ck, "checkpoint-7"), true);             // as if killed before the final save
            Directory.CreateDirectory(Path.Combine(ck, "checkpoint-9.tmp"));      // killed mid-write
            File.WriteAllText(Path.Combine(ck, "checkpoint-9.tmp", Checkpoint.ParamsFile), "garbage");
            Directory.CreateDirectory(Path.Combine(ck, "checkpoint-8"));          // no trainer_state.json: incomplete
            var r = new Trainer(new ToyModel(), data, null, Options(b, saveEvery: 3)).Run();
            Assert.IsTrue(r.Resumed);
            CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(a, "toy_adapter.safetensors")), File.ReadAllBytes(Path.Combine(b, "toy_adapter.safetensors")));
        }
        finally
        {
            foreach (var d in new[] { a, b }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    /// <summary>Ctrl+C between micro-batches of a step drops the partial step; the resumed run is still bit-identical.</summary>
    [TestMethod]
    public void CancelMidStepDropsPartialStep()
    {
        string a = Temp(), b = Temp();
        try
        {
            var data = ToyData.Make(40, 3);
            new Trainer(new ToyModel(), data, null, Options(a, saveEvery: 3)).Run();
            using var cts = new CancellationTokenSource();
            var model = new CancelingModel(cts, cancelAtCall: 13); // first micro-batch of step 7
            var r = new Trainer(model, data, null, Options(b, saveEvery: 3)).Run(cts.Token);
            Assert.IsTrue(r.Canceled);
            Assert.AreEqual(6, r.Steps);
            Assert.IsTrue(Directory.Exists(Path.Combine(b, "checkpoints", "checkpoint-6")));
            new Trainer(new ToyModel(), data, null, Options(b, saveEvery: 3)).Run();
            CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(a, "toy_adapter.safetensors")), File.ReadAllBytes(Path.Combine(b, "toy_adapter.safetensors")));
        }
        finally
        {
            foreach (var d in new[] { a, b }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    private sealed class CancelingModel(CancellationTokenSource cts, int cancelAtCall) : ITrainableModel
    {
        private readonly ToyModel _inner = new();
        private int _calls;
        public IReadOnlyList<Param> Parameters => _inner.Parameters;
        public MicroResult ForwardBackward(Batch batch, long normalizer, ulong dropoutKey)
        {
            if (++_calls == cancelAtCall) cts.Cancel();
            return _inner.ForwardBackward(batch, normalizer, dropoutKey);
        }
        public MicroResult Evaluate(Batch batch) => _inner.Evaluate(batch);
        public void SaveAdapter(string directory) => _inner.SaveAdapter(directory);
    }

    [TestMethod]
    public void CheckpointsOfOtherOptionsAreSetAsideNotResumed()
    {
        var dir = Temp();
        try
        {
            var data = ToyData.Make(40, 1);
            using (var cts = new CancellationTokenSource())
                new Trainer(new ToyModel(), data, null, Options(dir)) { OnProgress = p => { if (p.Step == 4) cts.Cancel(); } }.Run(cts.Token);
            var messages = new List<string>();
            var r = new Trainer(new ToyModel(), data, null, Options(dir) with { LearningRate = 0.01 }) { OnMessage = messages.Add }.Run();
            Assert.IsFalse(r.Resumed);
            Assert.AreEqual(20, r.Log.Count);
            Assert.IsTrue(Directory.Exists(Path.Combine(dir, "checkpoints-stale", "checkpoint-4")));
            Assert.IsTrue(messages.Any(m => m.Contains("starting fresh")));
            Assert.AreEqual(20, TrainLog.Read(Path.Combine(dir, "train-log.csv")).Count, "log rewritten, one row per step");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [TestMethod]
    public void TokenBudgetPlanIsDeterministicAndWithinBudget()
    {
        var data = ToyData.Make(300, 9, minLen: 2, maxLen: 60);
        var p1 = BatchPlanner.Plan(data, 4, 0, 1, maxTokensPerBatch: 128);
        var p2 = BatchPlanner.Plan(data, 4, 0, 1, maxTokensPerBatch: 128);
        var p3 = BatchPlanner.Plan(data, 4, 1, 1, maxTokensPerBatch: 128);
        Assert.AreEqual(string.Join(";", p1.Select(b => string.Join(",", b))), string.Join(";", p2.Select(b => string.Join(",", b))));
        Assert.AreNotEqual(string.Join(";", p1.Select(b => string.Join(",", b))), string.Join(";", p3.Select(b => string.Join(",", b))));
        CollectionAssert.AreEquivalent(Enumerable.Range(0, 300).ToArray(), p1.SelectMany(b => b).ToArray());
        foreach (var b in p1) Assert.IsTrue(b.Length * b.Max(data.Length) <= 128 || b.Length == 1);
        var padded = p1.Sum(b => (long)b.Length * b.Max(data.Length));
        var real = Enumerable.Range(0, 300).Sum(data.Length);
        Assert.IsTrue(padded < 1.2 * real, $"length grouping keeps padding low: {padded} vs {real}");
    }
}
