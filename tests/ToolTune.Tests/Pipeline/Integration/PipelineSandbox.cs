using System.Diagnostics;

namespace ToolTune.Tests.Pipeline.Integration;

/// <summary>The output of one real <c>dotnet build</c>/<c>dotnet msbuild</c> process.</summary>
internal sealed record BuildRun(string CommandLine, int ExitCode, string Output, TimeSpan Elapsed)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>The stage's task ran (StageRunner logs this line at high importance).</summary>
    public bool Ran(string stage) => Output.Contains($"Stage {stage}: running", StringComparison.Ordinal);

    /// <summary>The stage target was skipped as up to date (the summary line printed after Build/Train).</summary>
    public bool Skipped(string stage) => Output.Contains($"ToolTune: stage {stage} is up to date (skipped).", StringComparison.Ordinal);

    public override string ToString() => $"$ {CommandLine}\n(exit {ExitCode}, {Elapsed.TotalSeconds:0.0} s)\n{Output}";
}

/// <summary>
/// A temporary copy of the pipeline's part of the repository (Pipeline.proj, Directory.*, global.json, build/,
/// tasks/, src/, the integration targets) where tests run real <c>dotnet build Pipeline.proj</c> processes,
/// exactly as a user does (restore phase, task assembly build, TaskHostFactory). Build the copy once per test
/// class and give each test its own run name (artifacts/&lt;run&gt;/) and data folder.
/// </summary>
internal sealed class PipelineSandbox : IDisposable
{
    public const string TestTargets = "tests/ToolTune.Tests/Pipeline/Integration/TestPipeline.targets";

    /// <summary>The test stages' sources (<c>TestStages/</c>), compiled into the sandbox's library (under this folder)
    /// so that its task hosts and CLI processes, which load only that library, can run them.</summary>
    private const string TestStageSources = "tests/ToolTune.Tests/Pipeline/TestStages";
    private const string TestStagesInLibrary = "src/ToolTune/TestStages";

    private static readonly string[] RootFiles = ["Pipeline.proj", "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props", "global.json", "NuGet.config", "nuget.config"];
    private static readonly string[] Folders = ["build", "tasks", "src", "configs"];

    private PipelineSandbox(string root, bool testStages)
    {
        Root = root;
        TestStages = testStages;
    }

    public string Root { get; }

    /// <summary>Whether builds replace the stage list with the test stages (TestPipeline.targets).</summary>
    public bool TestStages { get; }

    /// <summary>Copies the repository's pipeline files (without bin/, obj/, artifacts/) to a new temp folder.</summary>
    /// <param name="testStages">Run the Snapshot test stages instead of the product stages (PrepareData, VerifyTokens, …).</param>
    /// <param name="extraFolders">More repository folders to copy (e.g. <c>data</c> for the product stages).</param>
    public static PipelineSandbox Create(bool testStages = true, params string[] extraFolders)
    {
        var repo = SharedFixtures.RepoRoot;
        var root = Path.Combine(Path.GetTempPath(), "tooltune-it-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        foreach (var f in RootFiles.Where(f => File.Exists(Path.Combine(repo, f))))
            File.Copy(Path.Combine(repo, f), Path.Combine(root, f));
        foreach (var d in Folders.Concat(extraFolders).Distinct().Where(d => Directory.Exists(Path.Combine(repo, d))))
            CopyTree(Path.Combine(repo, d), Path.Combine(root, d));
        var targets = Path.Combine(root, TestTargets);
        Directory.CreateDirectory(Path.GetDirectoryName(targets)!);
        File.Copy(Path.Combine(repo, TestTargets), targets);
        if (testStages) CopyTree(Path.Combine(repo, TestStageSources), Path.Combine(root, TestStagesInLibrary));
        return new PipelineSandbox(root, testStages);
    }

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var dir in Directory.EnumerateDirectories(from))
        {
            var name = Path.GetFileName(dir);
            if (name is "bin" or "obj" or "artifacts" or "TestResults" || name.StartsWith('.')) continue;
            CopyTree(dir, Path.Combine(to, name));
        }
    }

    public string PathOf(string relative) => Path.Combine(Root, relative);

    public string Write(string relative, string content)
    {
        var full = PathOf(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, content);
        return full;
    }

    /// <summary><c>dotnet build Pipeline.proj</c> with the test stage list and the given config.</summary>
    public BuildRun Build(string config, params string[] args) => Dotnet(["build", "Pipeline.proj", .. Common(config), .. args]);

    /// <summary><c>dotnet build Pipeline.proj</c> exactly as the README's main job: no <c>-p:Config</c> (the embedded default).</summary>
    public BuildRun BuildDefault(params string[] args) => Dotnet(["build", "Pipeline.proj", .. Common(null), .. args]);

    /// <summary>Runs the <c>tooltune</c> CLI that the pipeline build produced (<c>dotnet ToolTune.Cli.dll …</c>).</summary>
    public BuildRun Cli(params string[] args) => Dotnet([PathOf("src/ToolTune.Cli/bin/Release/net10.0/ToolTune.Cli.dll"), .. args]);

    /// <summary><c>dotnet msbuild Pipeline.proj</c> (no restore phase) with the test stage list and the given config.</summary>
    public BuildRun MSBuild(string? config, params string[] args) => Dotnet(["msbuild", "Pipeline.proj", .. Common(config), .. args]);

    /// <summary>Extra targets file (sandbox-relative) imported by every build when the test stages are off, e.g. one that
    /// removes a product stage from the list.</summary>
    public string? ExtraTargets { get; set; }

    /// <summary>How long one build may run before the test kills it and fails.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The arguments every pipeline build gets (<c>-nodeReuse:false -m:1 -v:m -p:Config=…</c>, the test stage list);
    /// a null <paramref name="config"/> passes no <c>-p:Config</c> (Pipeline.proj's default).</summary>
    public string[] Common(string? config) =>
        ["-nologo", "-nodeReuse:false", "-m:1", "-v:m", .. (config is null ? Array.Empty<string>() : [$"-p:Config={config}"]),
         .. (TestStages ? new[] { $"-p:ToolTuneExtraTargets={TestTargets}" } : ExtraTargets is { } x ? [$"-p:ToolTuneExtraTargets={x}"] : [])];

    private BuildRun Dotnet(string[] args)
    {
        using var process = RunningProcess.Start(StartInfo("dotnet", args));
        if (!process.WaitForExit(Timeout))
        {
            process.KillTree();
            Assert.Fail($"dotnet {string.Join(' ', args)} did not finish in {Timeout.TotalMinutes} minutes.\n{process.Output}");
        }
        return new BuildRun("dotnet " + string.Join(' ', args), process.ExitCode, process.Output, process.Elapsed);
    }

    /// <summary>A process in the sandbox with redirected output and a clean MSBuild environment (<paramref name="file"/>:
    /// <c>dotnet</c>, or a wrapper such as <c>setsid</c> followed by <c>dotnet</c> in <paramref name="args"/>).</summary>
    public ProcessStartInfo StartInfo(string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file)
        {
            WorkingDirectory = Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // The test host inherits MSBuild variables from `dotnet test`; the child build must choose its own.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(key);
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        psi.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        return psi;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
