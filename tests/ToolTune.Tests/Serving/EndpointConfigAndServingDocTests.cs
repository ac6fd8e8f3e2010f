using ToolTune.Diagnostics;
using ToolTune.Lora;
using ToolTune.Lora.Merge;
using ToolTune.Model;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Fingerprints;
using ToolTune.Tests.Pipeline;

namespace ToolTune.Tests.Serving;

[TestClass]
public sealed class EndpointConfigAndServingDocTests
{
    private static LoadedConfig Parse(string eval, params string[] overrides) =>
        ConfigLoader.Parse("run:\n  name: x\neval:\n" + eval, "run.yaml", Path.GetTempPath(), overrides, checkPaths: false);

    /// <summary>eval.endpoint binds, is part of the Evaluate fingerprint (url, model, the key's variable name), and the key
    /// itself never is; an unset endpoint leaves the fingerprint as before.</summary>
    [TestMethod]
    public void EndpointIsFingerprintedWithoutTheKey()
    {
        Environment.SetEnvironmentVariable("TT_TEST_ENDPOINT_KEY", "sk-very-secret");
        var c = Parse("  endpoint:\n    url: http://127.0.0.1:8000/v1\n    model: tuned\n    base_model: base\n    api_key_env: TT_TEST_ENDPOINT_KEY\n    concurrency: 8\n");
        var e = c.Config.Eval.Endpoint!;
        Assert.AreEqual(("http://127.0.0.1:8000/v1", "tuned", "base", "TT_TEST_ENDPOINT_KEY", 8, 300.0, true),
            (e.Url, e.Model, e.BaseModel, e.ApiKeyEnv, e.Concurrency, e.TimeoutS, e.Raw));
        var canonical = ConfigCanonical.Canonical(c.Config, "eval");
        StringAssert.Contains(canonical, "\"url\":\"http://127.0.0.1:8000/v1\"");
        StringAssert.Contains(canonical, "TT_TEST_ENDPOINT_KEY");
        Assert.IsFalse(canonical.Contains("sk-very-secret"));
        var other = Parse("  endpoint:\n    url: http://127.0.0.1:8001/v1\n    model: tuned\n    base_model: base\n    api_key_env: TT_TEST_ENDPOINT_KEY\n    concurrency: 8\n");
        Assert.AreNotEqual(canonical, ConfigCanonical.Canonical(other.Config, "eval"));
        Assert.IsFalse(ConfigCanonical.Canonical(Parse("  max_new_tokens: 8\n").Config, "eval").Contains("endpoint"));
        // Overrides work like any key.
        var o = Parse("  max_new_tokens: 8\n", "eval.endpoint={url: \"http://127.0.0.1:9/v1\", model: m}");
        Assert.AreEqual("m", o.Config.Eval.Endpoint!.Model);

        foreach (var bad in new[] { "  endpoint:\n    url: ftp://x\n    model: m\n", "  endpoint:\n    url: http://x/v1\n", "  endpoint:\n    url: http://x/v1\n    model: m\n    colour: red\n",
                     "  endpoint:\n    url: http://x/v1\n    model: m\n    concurrency: 0\n" })
        {
            var ex = Assert.ThrowsExactly<ToolTuneException>(() => Parse(bad));
            Assert.IsTrue(ex.Line > 0, $"{bad}: {ex}");
        }
    }

    /// <summary>serving.md is an output: merging the same base and adapter in two checkout folders writes the same bytes,
    /// with no absolute path of the machine, every vLLM flag of the deployment recipe, and the tooltune serve command.</summary>
    [TestMethod]
    public void ServingDocIsTheSameInAnyCheckoutFolder()
    {
        var docs = new List<string>();
        foreach (var name in new[] { "checkout-a", "somewhere/else/checkout-b" })
        {
            using var dir = new TempDir("tt-serving-");
            var root = Path.Combine(dir.Path, name);
            var baseDir = Path.Combine(root, "data", "base");
            Directory.CreateDirectory(baseDir);
            foreach (var f in Directory.EnumerateFiles(Path.Combine(SharedFixtures.RepoRoot, "data", "demo-model")))
                File.Copy(f, Path.Combine(baseDir, Path.GetFileName(f)));
            var config = ModelConfig.Load(baseDir);
            var adapter = LoraAdapter.Create(new LoraConfig { R = 4, Alpha = 8, TargetModules = ["q_proj", "v_proj"] }, config);
            var adapterDir = Path.Combine(root, "artifacts", "run", "adapter");
            PeftAdapterIO.Save(adapterDir, adapter);
            AdapterMerger.Merge(new MergeOptions
            {
                BaseDir = baseDir,
                AdapterDir = adapterDir,
                OutputDir = Path.Combine(root, "artifacts", "run", "merged"),
                ChatTemplateFile = Path.Combine(SharedFixtures.RepoRoot, "configs", "templates", "smollm3-tool-fixed.jinja"),
                PathBase = root,
            });
            var doc = File.ReadAllText(Path.Combine(root, "artifacts", "run", "merged", "serving.md"));
            Assert.IsFalse(doc.Contains(dir.Path) || doc.Contains(Path.GetTempPath()), "no absolute path: " + doc);
            docs.Add(doc);
        }
        Assert.AreEqual(docs[0], docs[1]);
        var d = docs[0];
        foreach (var flag in new[] { "vllm serve artifacts/run/merged", "--chat-template artifacts/run/merged/chat_template.jinja", "--enable-auto-tool-choice",
                     "--tool-call-parser hermes", "--chat-template-content-format string", "--enable-lora --lora-modules tooltune=artifacts/run/adapter",
                     "--max-lora-rank 8", "--reasoning-parser deepseek_r1", "tooltune serve --model artifacts/run/merged" })
            StringAssert.Contains(d, flag);
    }
}
