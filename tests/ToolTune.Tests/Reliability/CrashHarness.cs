using System.Text.Json;
using ToolTune.Pipeline;
using ToolTune.Pipeline.Fingerprints;
using ToolTune.Pipeline.Stages;
using ToolTune.Tests.Pipeline.Integration;
using ToolTune.Training;

namespace ToolTune.Tests.Reliability;

/// <summary>How a trial interrupts the process running a stage.</summary>
internal enum Interruption
{
    /// <summary>SIGKILL to <c>tooltune &lt;verb&gt; --config</c>.</summary>
    CliKill,
    /// <summary>SIGKILL to the <c>dotnet build Pipeline.proj</c> process and every descendant (TaskHost nodes).</summary>
    BuildTreeKill,
    /// <summary>SIGINT to <c>tooltune &lt;verb&gt;</c>.</summary>
    CliInterrupt,
    /// <summary>SIGINT to the build's process group, as a terminal's Ctrl+C does (build, TaskHost, all of them).</summary>
    BuildGroupInterrupt,
    /// <summary>SIGINT to the <c>dotnet build</c> process only (MSBuild must cancel its TaskHost itself).</summary>
    BuildProcessInterrupt,
}

/// <summary>One interrupted run: when it was hit, what the state looked like before the rerun, and whether it survived.</summary>
internal sealed record TrialResult(string Stage, Interruption How, int Trial, int DelayMs, bool MidStage, bool StaleAfter, bool CheckpointAtKill,
    bool Resumed, double StopSeconds, string? Failure)
{
    public bool Survived => Failure is null;
    public bool IsKill => How is Interruption.CliKill or Interruption.BuildTreeKill;
}

/// <summary>
/// Crash and cancellation harness over a <see cref="PipelineSandbox"/> (a real copy of the repository) and any run config.
/// <see cref="Prepare"/> runs an uninterrupted <c>dotnet build Pipeline.proj</c> (the reference outputs), then the stages one
/// by one through the CLI, snapshotting the run folder before each (file timestamps kept, so MSBuild's incremental checks see
/// what they would have seen). <see cref="Run"/> restores a snapshot, starts the stage, waits for its <c>Stage X: running</c>
/// line, interrupts it after a seeded random delay within the stage's measured duration, checks that nothing partial looks
/// valid (every stage <c>status</c> calls up to date has exactly the reference outputs), then reruns the build and compares
/// every output file with the reference (run records such as train-log.csv timings excepted: <see cref="IStage.RunRecordOutputs"/>).
/// </summary>
internal sealed class CrashHarness
{
    /// <summary>SIGINT must stop a stage within this.</summary>
    public static readonly TimeSpan StopLimit = TimeSpan.FromSeconds(5);

    private static readonly Dictionary<string, string> Verbs = new(StringComparer.Ordinal)
    {
        ["PrepareData"] = "prepare", ["VerifyTokens"] = "verify", ["TrainLora"] = "train", ["MergeAdapter"] = "merge", ["Evaluate"] = "evaluate",
    };

    private readonly PipelineSandbox _sandbox;
    private readonly string _config;
    private readonly string _overrides;
    private readonly Action<string> _log;
    private readonly Dictionary<string, double> _stageMs = new(StringComparer.Ordinal);

    public CrashHarness(PipelineSandbox sandbox, string config, string runName, Action<string> log)
    {
        _sandbox = sandbox;
        _config = config;
        _overrides = $"run.name={runName}";
        _log = log;
        RunDir = PipelineApi.RunDir(config, sandbox.Root, _overrides);
    }

    public string RunDir { get; }
    public IReadOnlyList<string> Stages => StageRegistry.PipelineStages;
    public IReadOnlyDictionary<string, string> Reference { get; private set; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, double> StageMilliseconds => _stageMs;

    private string SnapshotDir(string name) => _sandbox.PathOf(Path.Combine(".crash-snapshots", Path.GetFileName(RunDir), name));

    /// <summary>The reference build, the per-stage snapshots, and a check that the CLI chain reproduces the build's outputs.</summary>
    public void Prepare()
    {
        var build = Build();
        if (!build.Succeeded) throw new AssertFailedException($"reference build failed\n{build}");
        Reference = OutputHashes();
        var manifest = PipelineManifest.Load(Path.Combine(RunDir, "pipeline.lock.json"));
        foreach (var stage in Stages)
            _stageMs[stage] = Math.Max(20, manifest.Stages[stage].DurationMs);
        _log($"reference: {Reference.Count} output files; stage ms {JsonSerializer.Serialize(_stageMs)} ({build.Elapsed.TotalSeconds:0.0} s build)");

        DeleteTree(RunDir);
        foreach (var stage in Stages)
        {
            CopyTree(RunDir, SnapshotDir("before-" + stage));
            using var cli = RunningProcess.Start(_sandbox.StartInfo("dotnet", CliArgs(stage)));
            cli.WaitForExit(TimeSpan.FromMinutes(5));
            if (cli.ExitCode != 0) throw new AssertFailedException($"tooltune {Verbs[stage]} failed\n{cli.Output}");
        }
        CopyTree(RunDir, SnapshotDir("complete"));
        var chain = OutputHashes();
        if (Differences(chain) is { Length: > 0 } diff)
            throw new AssertFailedException($"the CLI stage chain does not reproduce the build's outputs: {diff}");
    }

    /// <summary>One trial: interrupt <paramref name="stage"/> as <paramref name="how"/> says, check, rerun, compare.</summary>
    public TrialResult Run(string stage, Interruption how, int trial, Random rng)
    {
        var isKill = how is Interruption.CliKill or Interruption.BuildTreeKill;
        // A kill hits a first run (the hardest case: any output folder left must not pass as complete); an interrupt hits a
        // rerun of a completed pipeline, whose outputs are the last good state that must survive.
        Restore(isKill ? "before-" + stage : "complete");
        if (!isKill)
        {
            File.Delete(Path.Combine(RunDir, ".stamps", stage + ".done"));
            DeleteTree(Path.Combine(RunDir, TrainLoraStage.WorkFolder)); // train again instead of resuming the final checkpoint
        }
        var delay = TimeSpan.FromMilliseconds(rng.NextDouble() * _stageMs[stage] * 1.2);
        // `env --default-signal=INT`: a process started in the background by a non-interactive shell (nohup …&, CI runners)
        // inherits SIGINT as ignored, and .NET keeps an ignored SIGINT ignored; a terminal's Ctrl+C reaches a default handler.
        // setsid: the build gets its own process group, like a shell job, so the group can be signalled.
        string[] command = how switch
        {
            Interruption.CliKill or Interruption.CliInterrupt => ["dotnet", .. CliArgs(stage)],
            Interruption.BuildGroupInterrupt => ["setsid", "dotnet", .. BuildArgs()],
            _ => ["dotnet", .. BuildArgs()],
        };
        var psi = _sandbox.StartInfo("env", ["--default-signal=INT", .. command]);
        var result = new TrialResult(stage, how, trial, (int)delay.TotalMilliseconds, false, false, false, false, 0, null);
        using var process = RunningProcess.Start(psi);
        try
        {
            if (!process.WaitForOutput($"Stage {stage}: running", TimeSpan.FromMinutes(3)))
                return result with { Failure = $"the stage never started\n{process.Output}" };
            Thread.Sleep(delay);
            var midStage = !process.HasExited && !process.Output.Contains($"Stage {stage}: done", StringComparison.Ordinal);
            var checkpoint = Checkpoint.Latest(Path.Combine(RunDir, TrainLoraStage.WorkFolder, "checkpoints")) is not null;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var delivered = how switch
            {
                Interruption.CliKill => process.Signal(RunningProcess.SigKill),
                Interruption.BuildTreeKill => KillTree(process),
                Interruption.BuildGroupInterrupt => process.Signal(RunningProcess.SigInt, processGroup: true),
                _ => process.Signal(RunningProcess.SigInt),
            };
            midStage &= delivered; // a process that exited on its own first was not interrupted
            if (!process.WaitForExit(TimeSpan.FromMinutes(1)))
            {
                process.KillTree();
                return result with { Failure = $"still running a minute after the signal\n{process.Output}" };
            }
            result = result with { MidStage = midStage, CheckpointAtKill = checkpoint, StopSeconds = clock.Elapsed.TotalSeconds };
            return Check(result, process);
        }
        catch (Exception ex) when (ex is AssertFailedException or InvalidOperationException or IOException)
        {
            return result with { Failure = ex.ToString() };
        }
    }

    private static bool KillTree(RunningProcess process)
    {
        if (process.HasExited) return false;
        process.KillTree();
        return true;
    }

    private TrialResult Check(TrialResult result, RunningProcess process)
    {
        var stage = result.Stage;
        // Before any rerun: a stage that status calls up to date must have exactly the reference outputs.
        var (_, statuses) = PipelineApi.Status(_config, _sandbox.Root, _overrides, Stages);
        var current = OutputHashes();
        foreach (var status in statuses.Where(s => !s.Stale))
        {
            var folder = StageRegistry.Get(status.Stage).OutputFolder + "/";
            if (Differences(current, folder) is { Length: > 0 } diff)
                return result with { Failure = $"after the interruption {status.Stage} looks complete but its outputs differ: {diff}" };
        }
        var killed = statuses.Single(s => s.Stage == stage);
        result = result with { StaleAfter = killed.Stale };

        if (!result.IsKill)
        {
            if (result.StopSeconds > StopLimit.TotalSeconds)
                return result with { Failure = $"stopped {result.StopSeconds:0.00} s after SIGINT (limit {StopLimit.TotalSeconds} s)\n{process.Output}" };
            // Either the stage was canceled (TT2099, failing exit code) or it had passed its last cancellation check and
            // completed (within the limit, with the reference outputs: checked below).
            var completed = process.Output.Contains($"Stage {stage}: done", StringComparison.Ordinal);
            result = result with { MidStage = result.MidStage && !completed };
            if (!completed && (process.ExitCode == 0 || !process.Output.Contains("TT2099", StringComparison.Ordinal)))
                return result with { Failure = $"interrupted mid-stage without a TT2099 cancellation and a failing exit code (exit {process.ExitCode})\n{process.Output}" };
            if (StackTrace(process.Output) is { } trace)
                return result with { Failure = $"cancellation printed a stack trace or crash ({trace})\n{process.Output}" };
            if (RunOutputs.Litter(RunDir) is { Count: > 0 } litter)
                return result with { Failure = $"cancellation left {string.Join(", ", litter)}" };
            if (Differences(current) is { Length: > 0 } changed)
                return result with { Failure = $"the last good outputs were not kept: {changed}" };
        }

        var rerun = Build();
        if (!rerun.Succeeded) return result with { Failure = $"the rerun failed\n{rerun}" };
        if (killed.Stale && !rerun.Ran(stage)) return result with { Failure = $"the rerun did not redo the stale {stage}\n{rerun}" };
        result = result with { Resumed = rerun.Output.Contains("resumed from", StringComparison.Ordinal) };
        if (stage == "TrainLora" && result.IsKill && result.CheckpointAtKill && killed.Stale && !result.Resumed)
            return result with { Failure = $"TrainLora had a checkpoint but the rerun did not resume\n{rerun}" };
        if (Differences(OutputHashes()) is { Length: > 0 } final)
            return result with { Failure = $"after the rerun the outputs differ from the uninterrupted build: {final}" };
        if (RunOutputs.Litter(RunDir) is { Count: > 0 } left)
            return result with { Failure = $"the rerun left {string.Join(", ", left)}" };
        var (_, after) = PipelineApi.Status(_config, _sandbox.Root, _overrides, Stages);
        if (after.FirstOrDefault(s => s.Stale) is { } stale)
            return result with { Failure = $"after the rerun {stale.Stage} is still stale: {string.Join("; ", stale.Reasons)}" };
        return result;
    }

    /// <summary>A .NET or MSBuild crash report in the output (an unhandled exception, MSB4018 task crash, MSB4166 dead node).</summary>
    private static string? StackTrace(string output) =>
        output.Split('\n').FirstOrDefault(l => l.Contains("Unhandled exception", StringComparison.Ordinal) || l.TrimStart().StartsWith("at ", StringComparison.Ordinal)
            || l.Contains("MSB4018", StringComparison.Ordinal) || l.Contains("MSB4166", StringComparison.Ordinal))?.Trim();

    private BuildRun Build() => _sandbox.Build(_config, $"-p:Override={_overrides}");

    private string[] BuildArgs() => ["build", "Pipeline.proj", .. _sandbox.Common(_config), $"-p:Override={_overrides}"];

    private string[] CliArgs(string stage) =>
        [_sandbox.PathOf("src/ToolTune.Cli/bin/Release/net10.0/ToolTune.Cli.dll"), Verbs[stage], "--config", _config, "--root", _sandbox.Root, "--set", _overrides];

    /// <summary>SHA-256 of every file in the stages' output folders, timings and run records excepted (<see cref="RunOutputs"/>).</summary>
    public Dictionary<string, string> OutputHashes() => RunOutputs.Hashes(RunDir, Stages);

    /// <summary>Files that differ from the reference (restricted to one output folder when <paramref name="prefix"/> is given).</summary>
    private string Differences(IReadOnlyDictionary<string, string> actual, string prefix = "")
    {
        var keys = Reference.Keys.Concat(actual.Keys).Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).Distinct().Order(StringComparer.Ordinal);
        return string.Join(", ", keys.Where(k => Reference.GetValueOrDefault(k) != actual.GetValueOrDefault(k))
            .Select(k => !actual.ContainsKey(k) ? k + " missing" : !Reference.ContainsKey(k) ? k + " extra" : k + " changed").Take(8));
    }

    private void Restore(string snapshot)
    {
        DeleteTree(RunDir);
        CopyTree(SnapshotDir(snapshot), RunDir);
    }

    /// <summary>Copies a folder keeping file timestamps (MSBuild compares the stamps' and fingerprints' times).</summary>
    private static void CopyTree(string from, string to)
    {
        DeleteTree(to);
        Directory.CreateDirectory(to);
        if (!Directory.Exists(from)) return;
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
            File.SetLastWriteTimeUtc(target, File.GetLastWriteTimeUtc(file));
        }
    }

    private static void DeleteTree(string dir)
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }
}
