namespace ToolTune.Tests.Pipeline.Integration;

/// <summary>
/// TrainLora's incrementality through real <c>dotnet build Pipeline.proj</c> / <c>dotnet msbuild</c> processes on
/// a temporary copy of the repository with the demo base model and tokenizer (data/demo-model). One sequence, few builds:
/// the first build runs PrepareData → VerifyTokens → TrainLora (progress lines in the build output); editing <c>eval:</c>
/// retrains nothing; editing a data record that PrepareData filters out anyway (plus trailing whitespace) reruns
/// PrepareData only (same shards: early cutoff); editing <c>lora.r</c> retrains only; <c>-t:Train</c> on a fresh run name
/// runs the chain.
/// </summary>
[TestClass]
[TestCategory("Integration")]
[DoNotParallelize]
public sealed class TrainLoraIntegrationTests
{
    public TestContext TestContext { get; set; } = null!;

    private BuildRun Check(BuildRun run, bool prepare, bool verify, bool train)
    {
        TestContext.WriteLine(run.ToString());
        Assert.IsTrue(run.Succeeded, run.ToString());
        Assert.AreEqual(prepare, run.Ran("PrepareData"), $"PrepareData expected {(prepare ? "to run" : "skipped")}\n{run}");
        Assert.AreEqual(verify, run.Ran("VerifyTokens"), $"VerifyTokens expected {(verify ? "to run" : "skipped")}\n{run}");
        Assert.AreEqual(train, run.Ran("TrainLora"), $"TrainLora expected {(train ? "to run" : "skipped")}\n{run}");
        return run;
    }

    [TestMethod]
    public void TrainLoraRetrainsOnlyWhenItsInputsChange()
    {
        using var sandbox = PipelineSandbox.Create(testStages: false, "data");
        string Yaml(int r, int maxNewTokens) => $"""
            run:
              name: it
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
              tool_eval_count: 0
            lora:
              r: {r}
              alpha: 16
              target_modules: [q_proj, v_proj, embed_tokens]
            train:
              epochs: 1
              batch_size: 2
              grad_accum: 1
            eval:
              max_new_tokens: {maxNewTokens}
            """;
        const string config = "configs/it-train.yaml";
        sandbox.Write(config, Yaml(8, 64));
        var adapter = sandbox.PathOf("artifacts/it/adapter/adapter_model.safetensors");

        // 1. First build: the whole chain; progress lines reach the build output.
        var first = Check(sandbox.Build(config), prepare: true, verify: true, train: true);
        Assert.IsTrue(File.Exists(adapter));
        StringAssert.Contains(first.Output, "TrainLora: step 1/");
        var trained = File.ReadAllBytes(adapter);

        // 2. eval: edited → nothing reruns.
        sandbox.Write(config, Yaml(8, 128));
        var second = Check(sandbox.MSBuild(config), prepare: false, verify: false, train: false);
        Assert.IsTrue(second.Skipped("TrainLora"), second.ToString());

        // 3. Data edited where it does not reach the shards (a record PrepareData drops: no tool call; trailing
        //    whitespace on its id line) → PrepareData reruns, same outputs, VerifyTokens and TrainLora skipped.
        var data = sandbox.PathOf("data/samples/hermes_sample.json");
        var text = File.ReadAllText(data);
        var edited = text.Replace("Can you tell me a fun fact?", "Can you tell me a funny fact?", StringComparison.Ordinal)
                         .Replace("\"id\": \"sample-no-call\",\n", "\"id\": \"sample-no-call\",   \n", StringComparison.Ordinal);
        Assert.AreNotEqual(text, edited);
        File.WriteAllText(data, edited);
        Check(sandbox.MSBuild(config), prepare: true, verify: false, train: false);
        CollectionAssert.AreEqual(trained, File.ReadAllBytes(adapter));

        // 4. lora.r edited → TrainLora only, a different adapter.
        sandbox.Write(config, Yaml(4, 128));
        Check(sandbox.MSBuild(config), prepare: false, verify: false, train: true);
        CollectionAssert.AreNotEqual(trained, File.ReadAllBytes(adapter));

        // 5. -t:Train on a fresh run name: the chain.
        Check(sandbox.MSBuild(config, "-t:Train", "-p:Override=run.name=solo"), prepare: true, verify: true, train: true);
        Assert.IsTrue(File.Exists(sandbox.PathOf("artifacts/solo/adapter/adapter_config.json")));
        TestContext.WriteLine($"first build {first.Elapsed.TotalSeconds:0.0} s");
    }
}
