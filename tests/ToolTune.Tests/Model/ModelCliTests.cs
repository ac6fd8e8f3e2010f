using System.Text.Json;
using ToolTune.Cli.Commands;
using ToolTune.Model;

namespace ToolTune.Tests.Model;

[TestClass]
public sealed class ModelCliTests
{
    [TestMethod]
    public void LogitsVerbPrintsPyTorchLogits()
    {
        using var f = new ModelFixture("llama_untied");
        var ids = f.Ids.Take(f.Seq).ToArray();
        var ms = new MemoryStream();
        LogitsCommand.Run(f.Dir, ids, ms);
        using var doc = JsonDocument.Parse(ms.ToArray());
        var rows = doc.RootElement.GetProperty("logits").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
        Assert.AreEqual(f.Seq, rows.Length);
        var expected = f.Get("logits"); // [2, 12, V]; the first sequence
        var v = rows[0].Length;
        Assert.AreEqual(128, v);
        for (var t = 0; t < f.Seq; t++)
            for (var j = 0; j < v; j++) Assert.AreEqual(expected[t * v + j], rows[t][j], 1e-4);
    }

    [TestMethod]
    public void GenerateVerbPrintsGreedyIdsAndStopsOnEos()
    {
        using var f = new ModelFixture("smol_tied");
        var sw = new StringWriter();
        var r = GenerateCommand.Run(f.Dir, f.GreedyPrompt, new DecodingOptions { MaxNewTokens = 16, StopIds = null! }, sw);
        using var doc = JsonDocument.Parse(sw.ToString());
        var ids = doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var stopAt = Array.IndexOf(f.Greedy, 2); // eos_token_id 2 from config.json
        var expect = stopAt >= 0 && stopAt < 16 ? f.Greedy.Take(stopAt + 1) : f.Greedy.Take(16);
        CollectionAssert.AreEqual(expect.ToArray(), ids);
        Assert.IsTrue(doc.RootElement.GetProperty("tokens_per_s").GetDouble() >= 0);
        Assert.AreEqual(r.Ids.Length, ids.Length);
    }

    [TestMethod]
    public void BenchTrainTinyReportsJson()
    {
        var sw = new StringWriter();
        BenchTrainCommand.Run("tiny", 32, 1, 16, checkpointing: true, sw);
        using var doc = JsonDocument.Parse(sw.ToString());
        Assert.IsTrue(doc.RootElement.GetProperty("step_s").GetDouble() > 0);
        Assert.IsTrue(doc.RootElement.GetProperty("peak_rss_mb").GetDouble() > 0);
        Assert.IsTrue(double.IsFinite(doc.RootElement.GetProperty("loss").GetDouble()));
        // Default = the real LoRA step: r=16 adapters on the 7 projections of 4 layers + embed_tokens (tiny preset).
        Assert.AreEqual("lora", doc.RootElement.GetProperty("mode").GetString());
        long lin = 4 * 16 * ((128 + 128) + (128 + 64) + (128 + 64) + (128 + 128) + 3 * (128 + 384));
        Assert.AreEqual(lin + 16 * (4096 + 128), doc.RootElement.GetProperty("trainable_params").GetInt64());
    }

    [TestMethod]
    public void BenchTrainFrozenStandInStillRuns()
    {
        var sw = new StringWriter();
        BenchTrainCommand.Run("tiny", 16, 1, 16, checkpointing: false, sw, mode: "frozen");
        using var doc = JsonDocument.Parse(sw.ToString());
        Assert.AreEqual("frozen", doc.RootElement.GetProperty("mode").GetString());
        Assert.IsTrue(double.IsFinite(doc.RootElement.GetProperty("loss").GetDouble()));
    }
}

[TestClass]
public sealed class GemvTests
{
    [TestMethod]
    [DataRow(1, 37, 200, false)]
    [DataRow(3, 576, 1536, true)]
    [DataRow(1, 64, 130, true)]
    [DataRow(4, 15, 9, true)]
    public void SmallRowMatMulEqualsGemm(int rows, int k, int n, bool bf16)
    {
        var rng = new Random(rows * 1000 + k);
        var w = new float[n * k];
        for (var i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() * 2 - 1);
        if (bf16) ToolTune.Tensors.Precision.RoundToBF16(w);
        var x = new float[rows * k];
        for (var i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var dir = Path.Combine(Path.GetTempPath(), "tooltune-gemv-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "w.safetensors");
        ToolTune.Tensors.SafetensorsWriter.Write(file, [bf16 ? ToolTune.Tensors.SafetensorsTensor.FromSingleAsBF16("w", [n, k], w) : ToolTune.Tensors.SafetensorsTensor.FromSingle("w", [n, k], w)]);
        using var st = ToolTune.Tensors.SafetensorsFile.Open(file);
        var p = new Param("w", [n, k], st.Entry("w").DType, st.Raw("w"));
        Assert.AreEqual(bf16, p.IsBF16);
        var y = Enumerable.Repeat(0.5f, rows * n).ToArray();
        Linear.MatMulWT(x, p, y, rows, accumulate: true);
        var expect = new float[rows * n];
        ToolTune.Tensors.Gemm.MatMulTransB(x, w, expect, rows, k, n);
        for (var i = 0; i < expect.Length; i++) Assert.AreEqual(expect[i] + 0.5f, y[i], 1e-4f * (1 + Math.Abs(expect[i])), $"[{i}]");
    }
}
