using System.Text.Json;
using ToolTune.Tests.Pipeline.Integration;

namespace ToolTune.Tests.Reliability;

/// <summary>
/// Crash safety and cancellation on a real copy of the repository (<see cref="CrashHarness"/>): every stage SIGKILLed at seeded random
/// points (as <c>tooltune &lt;verb&gt;</c> and as a <c>dotnet build</c> process tree) is redone or resumed by the next build and
/// ends with the uninterrupted build's outputs; SIGINT (process group and process) stops a stage within 5 s with a TT2099
/// message and the last good state. CI runs a few seeded trials; by hand, <c>tests/crash/run-crash.sh</c> sets the counts:
/// <c>TOOLTUNE_CRASH_RUNS</c> (CLI kills per stage, default 1), <c>TOOLTUNE_CRASH_BUILD_RUNS</c> (build kills per stage; 0: one
/// on a seeded stage), <c>TOOLTUNE_CRASH_INTERRUPT_RUNS</c> (SIGINTs per stage and kind; 0: the CLI once per stage, the build's
/// group and process once each on seeded stages), <c>TOOLTUNE_CRASH_CONFIG</c> (default configs/sample.yaml),
/// <c>TOOLTUNE_CRASH_SEED</c>, <c>TOOLTUNE_CRASH_REPORT</c> (a JSON file for the results).
/// </summary>
[TestClass]
[TestCategory("Integration")]
[DoNotParallelize]
public sealed class CrashSafetyTests
{
    private static readonly Lock Gate = new();
    private static PipelineSandbox? _sandbox;
    private static CrashHarness? _harness;

    public TestContext TestContext { get; set; } = null!;

    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var v) && v >= 0 ? v : fallback;

    private static int Seed => Setting("TOOLTUNE_CRASH_SEED", 20261121);

    /// <summary>One sandbox and reference build for the class (the sandbox's first build compiles the tasks and the CLI).</summary>
    private CrashHarness Harness()
    {
        lock (Gate)
        {
            if (_harness is not null) return _harness;
            var config = Environment.GetEnvironmentVariable("TOOLTUNE_CRASH_CONFIG") is { Length: > 0 } c ? c : "configs/sample.yaml";
            _sandbox = PipelineSandbox.Create(testStages: false, "data");
            var harness = new CrashHarness(_sandbox, config, "crash", TestContext.WriteLine);
            harness.Prepare();
            return _harness = harness;
        }
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        _sandbox?.Dispose();
        _sandbox = null;
        _harness = null;
    }

    [TestMethod]
    public void KilledStagesAreRedoneOrResumedToTheUninterruptedOutputs()
    {
        var harness = Harness();
        var rng = new Random(Seed);
        var cliRuns = Setting("TOOLTUNE_CRASH_RUNS", 1);
        var buildRuns = Setting("TOOLTUNE_CRASH_BUILD_RUNS", 0);
        var plan = new List<(string Stage, Interruption How)>();
        foreach (var stage in harness.Stages)
        {
            plan.AddRange(Enumerable.Repeat((stage, Interruption.CliKill), cliRuns));
            plan.AddRange(Enumerable.Repeat((stage, Interruption.BuildTreeKill), buildRuns));
        }
        if (buildRuns == 0) plan.Add((harness.Stages[rng.Next(harness.Stages.Count)], Interruption.BuildTreeKill));
        Report(harness, Execute(harness, plan, rng), "kill");
    }

    [TestMethod]
    public void InterruptedStagesStopWithinFiveSecondsKeepingTheLastGoodState()
    {
        var harness = Harness();
        var rng = new Random(Seed + 1);
        var runs = Setting("TOOLTUNE_CRASH_INTERRUPT_RUNS", 0);
        var plan = new List<(string Stage, Interruption How)>();
        foreach (var stage in harness.Stages)
        {
            plan.AddRange(Enumerable.Repeat((stage, Interruption.CliInterrupt), Math.Max(1, runs)));
            plan.AddRange(Enumerable.Repeat((stage, Interruption.BuildGroupInterrupt), runs));
            plan.AddRange(Enumerable.Repeat((stage, Interruption.BuildProcessInterrupt), runs));
        }
        if (runs == 0)
        {
            plan.Add((harness.Stages[rng.Next(harness.Stages.Count)], Interruption.BuildGroupInterrupt));
            plan.Add((harness.Stages[rng.Next(harness.Stages.Count)], Interruption.BuildProcessInterrupt));
        }
        Report(harness, Execute(harness, plan, rng), "interrupt");
    }

    private List<TrialResult> Execute(CrashHarness harness, List<(string Stage, Interruption How)> plan, Random rng)
    {
        var results = new List<TrialResult>();
        foreach (var (group, index) in plan.GroupBy(p => p).SelectMany(g => g.Select((p, i) => (p, i))))
        {
            var result = harness.Run(group.Stage, group.How, index + 1, rng);
            var line = ($"{result.Stage,-13} {result.How,-21} #{result.Trial,-2} after {result.DelayMs,5} ms: " +
                $"{(result.MidStage ? "mid-stage" : "after commit")}, {(result.StaleAfter ? "stale" : "up to date")} before rerun" +
                $"{(result.IsKill ? "" : $", stopped in {result.StopSeconds:0.000} s")}{(result.Resumed ? ", resumed" : "")}" +
                $" -> {(result.Survived ? "ok" : "FAILED: " + result.Failure)}");
            TestContext.WriteLine(line);
            if (Environment.GetEnvironmentVariable("TOOLTUNE_CRASH_REPORT") is { Length: > 0 } report) // progress of a long by-hand run
                File.AppendAllText(Path.ChangeExtension(report, ".trials.log"), $"{DateTime.UtcNow:HH:mm:ss} {line}\n");
            results.Add(result);
        }
        return results;
    }

    private void Report(CrashHarness harness, List<TrialResult> results, string kind)
    {
        var summary = results.GroupBy(r => (r.Stage, r.How)).Select(g => new
        {
            stage = g.Key.Stage,
            how = g.Key.How.ToString(),
            runs = g.Count(),
            mid_stage = g.Count(r => r.MidStage),
            survived = g.Count(r => r.Survived),
            resumed = g.Count(r => r.Resumed),
            max_stop_s = g.Any(r => !r.IsKill) ? Math.Round(g.Max(r => r.StopSeconds), 3) : (double?)null,
            median_stop_s = g.Any(r => !r.IsKill) ? Math.Round(g.Select(r => r.StopSeconds).Order().ElementAt(g.Count() / 2), 3) : (double?)null,
        }).ToList();
        var json = JsonSerializer.Serialize(new
        {
            kind,
            seed = Seed,
            stage_ms = harness.StageMilliseconds,
            reference_files = harness.Reference.Count,
            executions = results.Count,
            survived = results.Count(r => r.Survived),
            mid_stage = results.Count(r => r.MidStage),
            load_average = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : null,
            summary,
        }, new JsonSerializerOptions { WriteIndented = true });
        TestContext.WriteLine(json);
        if (Environment.GetEnvironmentVariable("TOOLTUNE_CRASH_REPORT") is { Length: > 0 } report)
            File.WriteAllText(report.Replace("{kind}", kind, StringComparison.Ordinal), json);
        var failed = results.Where(r => !r.Survived).ToList();
        Assert.IsEmpty(failed, string.Join("\n\n", failed.Select(r => $"{r.Stage} {r.How} #{r.Trial} (delay {r.DelayMs} ms): {r.Failure}")));
    }
}
