namespace ToolTune.Tests.Pipeline.Integration;

/// <summary>
/// The Evaluate stage and its gates through real <c>dotnet build Pipeline.proj</c> / <c>dotnet msbuild</c> processes on a temporary
/// copy of the repository (demo base + tokenizer, demo data, the emission prompts). One sequence, three builds: the full
/// chain runs all five stages and writes <c>eval/</c>; changing a (warn-only) gate threshold reruns only Evaluate; a missed
/// non-warn gate fails the build with <c>error TT7000</c> naming the metric, threshold and actual value, at the config file.
/// </summary>
[TestClass]
[TestCategory("Integration")]
[DoNotParallelize]
public sealed class EvaluateIntegrationTests
{
    public TestContext TestContext { get; set; } = null!;

    private static readonly string[] Upstream = ["PrepareData", "VerifyTokens", "TrainLora", "MergeAdapter"];

    [TestMethod]
    public void GateEditRerunsOnlyEvaluateAndAMissedGateFailsTheBuild()
    {
        using var sandbox = PipelineSandbox.Create(testStages: false, "data");
        static string Yaml(string gate) => $"""
            run:
              name: ite
              seed: 3
            model:
              base_model: data/demo-model
              chat_template: configs/templates/smollm3-tool-fixed.jinja
              template_kwargs:
                enable_thinking: false
            data:
              sources:
                - path: data/samples/hermes_sample.json
                  format: hermes
                  kind: tool
              tool_eval_count: 1
            lora:
              r: 4
              alpha: 8
              target_modules: [q_proj, v_proj]
            train:
              epochs: 1
              batch_size: 2
              grad_accum: 1
            eval:
              prompts: data/eval/emission_prompts.jsonl
              max_new_tokens: 8
              gates:
                - {gate}
                - "hallucination_rate <= 1.0"
            """;
        const string config = "configs/it-eval.yaml";

        // 1. Full build: all five stages; eval/ written.
        sandbox.Write(config, Yaml("{ gate: \"emission_rate >= 0.9\", warn: true }"));
        var first = sandbox.Build(config);
        TestContext.WriteLine(first.ToString());
        Assert.IsTrue(first.Succeeded, first.ToString());
        foreach (var s in Upstream.Append("Evaluate")) Assert.IsTrue(first.Ran(s), $"{s} should run\n{first}");
        StringAssert.Contains(first.Output, "warning TT7000");
        foreach (var f in new[] { "metrics.json", "metrics.csv", "samples.jsonl", "report.md", "metrics.svg" })
            Assert.IsTrue(File.Exists(sandbox.PathOf("artifacts/ite/eval/" + f)), f);

        // 2. A gate threshold edited: only Evaluate reruns.
        sandbox.Write(config, Yaml("{ gate: \"emission_rate >= 0.8\", warn: true }"));
        var second = sandbox.MSBuild(config);
        TestContext.WriteLine(second.ToString());
        Assert.IsTrue(second.Succeeded, second.ToString());
        Assert.IsTrue(second.Ran("Evaluate"), second.ToString());
        foreach (var s in Upstream) Assert.IsFalse(second.Ran(s), $"{s} should be skipped\n{second}");
        StringAssert.Contains(second.Output, "emission_rate >= 0.8");

        // 3. The same gate as a hard gate: it misses (random-init model), the build fails with TT7000 naming the metric, at
        // the gate's line.
        var hard = Yaml("\"emission_rate >= 0.8\"");
        var gateLine = hard.Split('\n').ToList().FindIndex(l => l.Contains("emission_rate >= 0.8", StringComparison.Ordinal)) + 1;
        sandbox.Write(config, hard);
        var third = sandbox.MSBuild(config);
        TestContext.WriteLine(third.ToString());
        Assert.IsFalse(third.Succeeded, third.ToString());
        foreach (var s in Upstream) Assert.IsFalse(third.Ran(s), $"{s} should be skipped\n{third}");
        StringAssert.Matches(third.Output, new System.Text.RegularExpressions.Regex($@"it-eval\.yaml\({gateLine},\d+\): error TT7000: .*emission_rate >= 0\.8.*emission_rate = 0"));
        Assert.IsTrue(File.Exists(sandbox.PathOf("artifacts/ite/eval-failed/report.md")));
        Assert.IsTrue(File.Exists(sandbox.PathOf("artifacts/ite/eval/report.md")), "the previous eval/ stays");
        TestContext.WriteLine($"builds: {first.Elapsed.TotalSeconds:0.0} s, {second.Elapsed.TotalSeconds:0.0} s, {third.Elapsed.TotalSeconds:0.0} s");
    }
}
