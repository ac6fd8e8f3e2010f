using System.Text.Json;
using ToolTune.Cli.Commands;
using ToolTune.Model;

namespace ToolTune.Tests.Cli;

/// <summary>`bench train --profile` and `bench generate`: the JSON carries what the issue asks for, and profiling
/// does not change the computation.</summary>
[TestClass]
public sealed class BenchProfileTests
{
    private static JsonElement RunTrain(bool profile)
    {
        var output = new StringWriter();
        BenchTrainCommand.Run("tiny", seq: 32, steps: 2, rank: 4, checkpointing: false, output, profile);
        return JsonDocument.Parse(output.ToString()).RootElement.Clone();
    }

    [TestMethod]
    public void TrainProfileSharesPartitionTheStepAndLeaveTheLossAlone()
    {
        var plain = RunTrain(profile: false);
        var profiled = RunTrain(profile: true);
        Assert.AreEqual(plain.GetProperty("loss").GetDouble(), profiled.GetProperty("loss").GetDouble(), "profiling changes no arithmetic");
        var shares = profiled.GetProperty("profile_share").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
        foreach (var section in new[] { "gemm_fwd", "gemm_bwd", "lora_fwd", "lora_bwd", "attention_fwd", "attention_bwd", "norm", "rope", "silu", "lm_head_ce", "optimizer" })
            Assert.IsTrue(shares.ContainsKey(section), $"section {section} missing: {string.Join(", ", shares.Keys)}");
        Assert.AreEqual(1.0, shares.Values.Sum(), 0.01, "laps partition the step");
        Assert.IsTrue(profiled.GetProperty("profile_alloc_kb_per_step").EnumerateObject().Any());
        foreach (var gen in new[] { "gen0", "gen1", "gen2" })
            Assert.IsTrue(profiled.GetProperty("gcs_per_step").GetProperty(gen).GetDouble() >= 0);
    }

    [TestMethod]
    public void GenerateReportsPrefillAndDecodeAndMatchesTheGenerator()
    {
        var output = new StringWriter();
        BenchGenerateCommand.Run("tiny", promptLength: 16, newTokens: 5, repeat: 1, dtype: "f32", output, profile: true);
        var r = JsonDocument.Parse(output.ToString()).RootElement;
        Assert.IsTrue(r.GetProperty("prefill_tokens_per_s").GetDouble() > 0);
        Assert.IsTrue(r.GetProperty("decode_tokens_per_s").GetDouble() > 0);
        Assert.IsTrue(r.GetProperty("prefill_pct_of_gemm").GetDouble() > 0);
        Assert.IsTrue(r.GetProperty("profile_decode_ms_per_token").TryGetProperty("attention_fwd", out _));
        // The same random-init model and prompt through Generator directly gives the same greedy ids.
        var config = ModelConfig.Preset("tiny");
        var lm = new CausalLM(ModelWeights.CreateRandom(config, seed: 1));
        var rng = new Random(2);
        var ids = Enumerable.Range(0, 16).Select(_ => rng.Next(config.VocabSize)).ToArray();
        var want = Generator.Generate(lm, ids, new DecodingOptions { MaxNewTokens = 5 }).Ids;
        CollectionAssert.AreEqual(want, r.GetProperty("first_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }
}
