using System.Text.Json;

namespace ToolTune.Tests.Pipeline.Integration;

/// <summary>
/// Real <c>dotnet build Pipeline.proj</c> / <c>dotnet msbuild</c> processes on a temporary copy of the
/// repository running the PRODUCT stages (PrepareData → VerifyTokens) on the Hermes sample, with the real SmolLM3-3B
/// tokenizer from ../shared (absolute path in a generated config, so data/demo-model is not needed). One sequence,
/// few builds: first build runs both; a second skips both; touch skips both; an eval-only edit skips both; a
/// one-record edit reruns both; deleted artifacts rerun their stage; <c>-t:VerifyTokens</c> alone works; SmolLM3's
/// original template fails the build with located errors.
/// </summary>
[TestClass]
[TestCategory("Integration")]
[DoNotParallelize]
public sealed class DataPipelineIntegrationTests
{
    public TestContext TestContext { get; set; } = null!;

    private BuildRun Check(BuildRun run, bool prepare, bool verify, bool succeed = true)
    {
        TestContext.WriteLine(run.ToString());
        Assert.AreEqual(succeed, run.Succeeded, run.ToString());
        Assert.AreEqual(prepare, run.Ran("PrepareData"), $"PrepareData expected {(prepare ? "to run" : "skipped")}\n{run}");
        Assert.AreEqual(verify, run.Ran("VerifyTokens"), $"VerifyTokens expected {(verify ? "to run" : "skipped")}\n{run}");
        return run;
    }

    [TestMethod]
    public void PrepareDataAndVerifyTokensRunOnlyWhenStale()
    {
        var tokenizer = SharedFixtures.RequireShared("parity", "tokenizers", "smollm3-3b");
        var original = SharedFixtures.RequireShared("parity", "chat-templates", "HuggingFaceTB_SmolLM3-3B.jinja");
        using var sandbox = PipelineSandbox.Create(testStages: false, "data");
        // The SmolLM3 tokenizer without its 3B base: the data stages only (TrainLora: TrainLoraIntegrationTests).
        sandbox.ExtraTargets = sandbox.Write("data-it/data-stages.targets",
            "<Project><ItemGroup><ToolTuneStage Remove=\"TrainLora;MergeAdapter;Evaluate\" /></ItemGroup></Project>");
        File.Copy(sandbox.PathOf("data/samples/hermes_sample.json"), sandbox.Write("data-it/hermes.json", ""), overwrite: true);
        File.Copy(sandbox.PathOf("data/samples/general_sample.jsonl"), sandbox.Write("data-it/general.jsonl", ""), overwrite: true);
        string Yaml(int maxNewTokens) => $"""
            run:
              name: it
            model:
              tokenizer: {JsonSerializer.Serialize(tokenizer)}
              chat_template: configs/templates/smollm3-tool-fixed.jinja
              template_kwargs:
                enable_thinking: false
            data:
              sources:
                - path: data-it/hermes.json
                - path: data-it/general.jsonl
                  format: instruct
                  kind: general
              tool_eval_count: 0
            tokens:
              expect_ids:
                tool_call: [128015, 128016]
            eval:
              max_new_tokens: {maxNewTokens}
            """;
        const string config = "configs/it.yaml";
        sandbox.Write(config, Yaml(64));

        // 1. First build: restore, compile tasks/library/CLI, run both stages.
        var first = Check(sandbox.Build(config), prepare: true, verify: true);
        Assert.IsTrue(File.Exists(sandbox.PathOf("artifacts/it/prepared/manifest.json")));
        Assert.IsTrue(File.Exists(sandbox.PathOf("artifacts/it/verify/report.json")));
        StringAssert.Contains(first.Output, "warning TT3006"); // the broken call, located
        StringAssert.Contains(first.Output, "data-it/hermes.json(");

        // 2. Second build: both skipped, in a few seconds.
        var second = Check(sandbox.Build(config), prepare: false, verify: false);
        Assert.IsTrue(second.Skipped("PrepareData") && second.Skipped("VerifyTokens"), second.ToString());
        Assert.IsTrue(second.Elapsed < TimeSpan.FromSeconds(30), $"no-op build took {second.Elapsed.TotalSeconds:0.0} s");

        // 3. touch on a data file: nothing reruns.
        File.SetLastWriteTimeUtc(sandbox.PathOf("data-it/hermes.json"), DateTime.UtcNow.AddSeconds(5));
        Check(sandbox.MSBuild(config), prepare: false, verify: false);

        // 4. Editing only eval: neither stage reruns.
        sandbox.Write(config, Yaml(128));
        Check(sandbox.MSBuild(config), prepare: false, verify: false);

        // 5. Editing one record reruns both (the shards change).
        var hermes = sandbox.PathOf("data-it/hermes.json");
        var text = File.ReadAllText(hermes);
        var at = text.IndexOf("Zurich", StringComparison.Ordinal);
        Assert.IsTrue(at >= 0);
        File.WriteAllText(hermes, text[..at] + "Geneva" + text[(at + "Zurich".Length)..]);
        Check(sandbox.MSBuild(config), prepare: true, verify: true);

        // 6. A deleted prepared artifact reruns PrepareData (same bytes: VerifyTokens is cut off); a deleted verify
        //    artifact reruns VerifyTokens.
        File.Delete(sandbox.PathOf("artifacts/it/prepared/stats.csv"));
        Check(sandbox.MSBuild(config), prepare: true, verify: false);
        File.Delete(sandbox.PathOf("artifacts/it/verify/report.md"));
        Check(sandbox.MSBuild(config), prepare: false, verify: true);

        // 7. -t:VerifyTokens alone on a fresh run name: runs PrepareData first, then VerifyTokens.
        Check(sandbox.MSBuild(config, "-t:VerifyTokens", "-p:Override=run.name=solo"), prepare: true, verify: true);
        Assert.IsTrue(File.Exists(sandbox.PathOf("artifacts/solo/verify/report.json")));

        // 8. SmolLM3's original template: the build fails with errors at the lost tool calls and the tool-as-user rendering.
        var orig = Check(sandbox.MSBuild(config, "-t:VerifyTokens", $"-p:Override=\"run.name=orig;model.chat_template={original}\""),
            prepare: true, verify: true, succeed: false);
        StringAssert.Contains(orig.Output, "error TT1310");
        StringAssert.Contains(orig.Output, "error TT1311");
        StringAssert.Contains(orig.Output, "error TT2103");
        StringAssert.Contains(orig.Output, "sample 'sample-parallel'");
        Assert.IsFalse(Directory.Exists(sandbox.PathOf("artifacts/orig/verify")));

        TestContext.WriteLine($"first build {first.Elapsed.TotalSeconds:0.0} s, no-op build {second.Elapsed.TotalSeconds:0.0} s");
    }
}
