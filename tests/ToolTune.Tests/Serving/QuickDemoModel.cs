
namespace ToolTune.Tests.Serving;

/// <summary>
/// The embedded default's merged model, made quickly once per test run: the demo config (demo base, demo data, fixed
/// template, seed 000's LoRA recipe) in a temporary project root, with TrainLora cut to 300 steps at a higher learning
/// rate (≈ 2 min on 2 cores). It emits native tool calls on most emission prompts (15/20 measured on the base before
/// the shipped one; the earlier base gave 20/20), which is what the serving tests need; the full recipe's quality
/// is Evaluate's business. It trains on tool-calling conversations only (<c>data.keep_no_call=false</c>): with the no-call
/// ones mixed in it answers some emission prompts in text, and these tests need a model that calls.
/// </summary>
internal static class QuickDemoModel
{
    public const string TemplateDate = "2025-07-10";
    public static readonly string[] Overrides = ["train.max_steps=300", "train.learning_rate=4e-3", "train.save_every=0", "eval.gates=[]", "data.keep_no_call=false"];

    private static readonly Lazy<Built> Instance = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    public sealed record Built(string Root, string Config, string MergedDir, string PreparedDir);

    public static Built Get() => Instance.Value;

    private static Built Build()
    {
        var root = Path.Combine(Path.GetTempPath(), $"tt-served-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var repo = SharedFixtures.RepoRoot;
        foreach (var rel in new[] { "configs/demo.yaml", "configs/templates/smollm3-tool-fixed.jinja", "data/eval/emission_prompts.jsonl" })
            Copy(Path.Combine(repo, rel), Path.Combine(root, rel));
        foreach (var dir in new[] { "data/demo", "data/demo-model" })
            foreach (var f in Directory.EnumerateFiles(Path.Combine(repo, dir), "*", SearchOption.AllDirectories))
                Copy(f, Path.Combine(root, Path.GetRelativePath(repo, f)));
        File.WriteAllText(Path.Combine(root, "Pipeline.proj"), "<Project />");
        var config = Path.Combine(root, "configs", "demo.yaml");
        // The stages run in the tooltune CLI process: it JITs everything fully up front (TieredCompilation off), which
        // makes TrainLora about twice as fast as in the test host.
        foreach (var verb in new[] { "prepare", "verify", "train", "merge" })
            RunCli([verb, "--config", config, "--root", root, .. Overrides.SelectMany(o => new[] { "--set", o })]);
        return new Built(root, config, Path.Combine(root, "artifacts", "demo", "merged"), Path.Combine(root, "artifacts", "demo", "prepared"));
    }

    /// <summary>Removes the temporary project (assembly cleanup).</summary>
    public static void Cleanup()
    {
        if (!Instance.IsValueCreated) return;
        try { Directory.Delete(Instance.Value.Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Runs <c>dotnet ToolTune.Cli.dll ARGS</c> from the test output folder; fails with its output.</summary>
    public static void RunCli(string[] args, int timeoutSeconds = 900)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ToolTune.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            throw new AssertFailedException($"tooltune {string.Join(' ', args)} did not finish within {timeoutSeconds} s");
        }
        if (p.ExitCode != 0)
            throw new AssertFailedException($"tooltune {string.Join(' ', args)} exited {p.ExitCode}:\n{stdout.Result}\n{stderr.Result}");
    }

    private static void Copy(string from, string to)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(to)!);
        File.Copy(from, to, overwrite: true);
    }
}

[TestClass]
public static class ServingTestCleanup
{
    [AssemblyCleanup]
    public static void RemoveQuickDemoModel() => QuickDemoModel.Cleanup();
}
