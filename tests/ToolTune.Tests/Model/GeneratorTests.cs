using System.Text.Json;
using ToolTune.Model;

namespace ToolTune.Tests.Model;

[TestClass]
public sealed class GeneratorTests
{
    private static int[] Prompt(string dir)
    {
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        return meta.RootElement.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).Take(7).ToArray();
    }

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        var best = 0;
        for (var i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    [TestMethod]
    [DataRow("smollm3_tied_nope")]
    [DataRow("llama_untied_bf16")]
    public void GreedyWithKvCacheEqualsArgmaxOverFullSequenceLogits(string name)
    {
        var dir = SharedFixtures.Fixture("engine", "models", name);
        using var model = DecoderModel.Load(dir);
        var prompt = Prompt(dir);
        var result = Generator.Generate(model, prompt, new GenerationOptions { MaxNewTokens = 64 });
        Assert.AreEqual(64, result.Ids.Length);
        Assert.AreEqual(64, result.StepSeconds.Length);
        var seq = prompt.ToList();
        var v = model.Config.VocabSize;
        for (var step = 0; step < 64; step++)
        {
            var logits = model.Logits(seq.ToArray());
            var want = ArgMax(logits.AsSpan((seq.Count - 1) * v, v));
            Assert.AreEqual(want, result.Ids[step], $"step {step}");
            seq.Add(want);
        }
    }

    [TestMethod]
    public void CachedLogitsEqualFullSequenceLogits()
    {
        var dir = SharedFixtures.Fixture("engine", "models", "smollm3_tied_nope");
        using var model = DecoderModel.Load(dir);
        var ids = Prompt(dir).Concat(new[] { 3, 4, 5, 6, 7 }).ToArray();
        var full = model.Logits(ids);
        var cache = model.CreateCache(2);
        var part1 = model.Logits(ids.AsSpan(0, 4), cache);
        var part2 = model.Logits(ids.AsSpan(4), cache);
        var cached = part1.Concat(part2).ToArray();
        Assert.AreEqual(ids.Length, cache.Length);
        for (var i = 0; i < full.Length; i++) Assert.AreEqual(full[i], cached[i], 1e-5f * (1 + Math.Abs(full[i])));
    }

    [TestMethod]
    public void SamplingIsSeededAndStops()
    {
        var dir = SharedFixtures.Fixture("engine", "models", "llama_untied");
        using var model = DecoderModel.Load(dir);
        var prompt = Prompt(dir);
        var opts = new GenerationOptions { MaxNewTokens = 20, Temperature = 0.8f, TopP = 0.9f, Seed = 42 };
        var a = Generator.Generate(model, prompt, opts);
        var b = Generator.Generate(model, prompt, opts);
        CollectionAssert.AreEqual(a.Ids, b.Ids);
        var stopAt = a.Ids[5];
        var stopped = Generator.Generate(model, prompt, opts with { StopIds = [stopAt] });
        Assert.IsTrue(stopped.Stopped);
        Assert.AreEqual(stopAt, stopped.Ids[^1]);
        Assert.IsTrue(stopped.Ids.Length <= 6);
    }
}
