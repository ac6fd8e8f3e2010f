using ToolTune.Diagnostics;

namespace ToolTune.Tests.Cli;

/// <summary><c>tooltune evaluate --model</c>: the eval set is <c>--eval-set</c>; <c>--set</c> is only ever a config
/// override, so giving it with <c>--model</c> is an error that names the new flag.</summary>
[TestClass]
[DoNotParallelize] // redirects Console
public sealed class EvaluateCommandTests
{
    [TestMethod]
    public void EvalSetFlagNamesTheEvalSetAndSetIsNoLongerOne()
    {
        var demo = Path.Combine(SharedFixtures.RepoRoot, "data", "demo-model");
        if (!File.Exists(Path.Combine(demo, "model.safetensors"))) Assert.Inconclusive("data/demo-model is missing.");
        using var dir = new ToolTune.Tests.Pipeline.TempDir();
        var set = dir.File("set.jsonl", "{\"id\": \"no-call-1\", \"prompt\": \"Say hello.\", \"expect_call\": false}\n");
        var output = Path.Combine(dir.Path, "out");

        var ok = CliInvoker.Invoke("evaluate", "--model", demo, "--eval-set", set, "--max-new-tokens", "2", "--template-date", "2025-07-10", "--out", output);
        Assert.AreEqual(0, ok.Exit, ok.Err);
        StringAssert.Contains(File.ReadAllText(Path.Combine(output, "samples.jsonl")), "no-call-1");

        var old = CliInvoker.Invoke("evaluate", "--model", demo, "--set", set);
        Assert.AreEqual(1, old.Exit);
        StringAssert.Contains(old.Err, $"error {ErrorCodes.EvalSetMissing}");
        StringAssert.Contains(old.Err, "--eval-set FILE");
        Assert.IsFalse(Directory.Exists(Path.Combine(Directory.GetCurrentDirectory(), "eval-demo-model")), "nothing was evaluated");

        var none = CliInvoker.Invoke("evaluate", "--model", demo);
        Assert.AreEqual(1, none.Exit);
        StringAssert.Contains(none.Err, "give --eval-set FILE");
    }
}
