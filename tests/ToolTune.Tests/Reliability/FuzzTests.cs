using ToolTune.Diagnostics;
using ToolTune.Fuzzing;
using ToolTune.Tests.Pipeline;

namespace ToolTune.Tests.Reliability;

/// <summary>
/// The CI slice of the fuzzer: every target for a few seconds from a fixed seed (built-in seeds plus the repository's
/// own files), zero findings allowed. Longer runs are by hand: <c>tooltune fuzz --target T --seconds 120</c>.
/// </summary>
[TestClass]
[DoNotParallelize] // each target keeps one core busy for its budget
public sealed class FuzzTests
{
    private const double SecondsPerTarget = 4;

    public static IEnumerable<object[]> Targets() => FuzzTarget.Names.Select(n => new object[] { n });

    private static string? RepoSeeds(string target) => target switch
    {
        "template" => Path.Combine(SharedFixtures.RepoRoot, "configs", "templates"),
        "tokenizer" => Path.Combine(SharedFixtures.RepoRoot, "data", "demo-model"),
        "json" => Path.Combine(SharedFixtures.RepoRoot, "data", "samples"),
        "jsonl" => Path.Combine(SharedFixtures.RepoRoot, "data", "samples"),
        _ => null,
    };

    [TestMethod]
    [DynamicData(nameof(Targets))]
    public void TargetSurvivesAFixedSeedBudgetWithoutFindings(string target)
    {
        using var findings = new TempDir("tt-fuzz-findings-");
        var report = Fuzzer.Run(new FuzzOptions
        {
            Target = target, Seconds = SecondsPerTarget, Seed = 20261121, SeedsDir = RepoSeeds(target), FindingsDir = findings.Path,
        });
        Console.WriteLine($"{target}: {report.Executions} executions, {report.Outcomes.Count} outcomes, corpus {report.CorpusSize}");
        Assert.IsGreaterThan(report.SeedCount, report.Executions, "the budget ran no mutated input");
        Assert.AreEqual(0, report.Findings.Count, string.Join("\n", report.Findings.Select(f => $"{f.Kind}: {f.Message} ({f.InputFile})")));
    }

    /// <summary>The harness must notice what it exists to find: a crash, a hang and a runaway allocation.</summary>
    [TestMethod]
    public void HarnessReportsCrashesHangsAndRunawayMemoryAndSavesTheInputs()
    {
        using var findings = new TempDir("tt-fuzz-findings-");
        var report = Fuzzer.Run(new ProbeTarget(), new FuzzOptions
        {
            Target = "probe", Seconds = 30, Seed = 3, FindingsDir = findings.Path, PerInputTimeout = TimeSpan.FromSeconds(1),
            MaxAllocatedBytesPerInput = 64 << 20,
        });
        var kinds = report.Findings.Select(f => f.Kind).ToHashSet();
        CollectionAssert.IsSubsetOf(new[] { "exception", "memory", "hang" }, kinds.ToArray(), string.Join("; ", report.Findings));
        Assert.IsTrue(report.Outcomes.ContainsKey("TT9999"), "an expected ToolTuneException is an outcome, not a finding");
        foreach (var f in report.Findings)
        {
            Assert.IsTrue(File.Exists(f.InputFile), $"finding input not saved: {f.InputFile}");
            Assert.IsTrue(File.Exists(f.InputFile + ".txt"));
        }
        Assert.AreEqual(1, report.Findings.Count(f => f.Kind == "exception"), "one finding per distinct exception site");
    }

    [TestMethod]
    public void UnknownTargetAndBadBudgetAreCodedErrors()
    {
        Assert.AreEqual(ErrorCodes.FuzzTargetUnknown, Assert.ThrowsExactly<ToolTuneException>(() => FuzzTarget.Create("xml")).Code);
        Assert.AreEqual(ErrorCodes.FuzzOptionsInvalid,
            Assert.ThrowsExactly<ToolTuneException>(() => Fuzzer.Run(new FuzzOptions { Target = "json", Seconds = 0 })).Code);
    }

    /// <summary>First byte picks the behaviour: 'c' crashes, 'm' allocates 128 MB, 'h' hangs, 't' is an expected error.</summary>
    private sealed class ProbeTarget : FuzzTarget
    {
        public override string Name => "probe";
        public override string SeedExtension => ".bin";
        public override IReadOnlyList<string> Dictionary => ["c", "m", "t", "x"];
        public override IReadOnlyList<byte[]> BuiltInSeeds() => [[(byte)'x'], [(byte)'t'], [(byte)'c'], [(byte)'c', 1], [(byte)'m'], [(byte)'h']];

        public override string Execute(byte[] input, string scratch) => input.Length == 0 ? "empty" : input[0] switch
        {
            (byte)'c' => throw new NullReferenceException("probe crash"),
            (byte)'m' => new byte[128 << 20].Length.ToString(System.Globalization.CultureInfo.InvariantCulture),
            (byte)'h' => Hang(),
            (byte)'t' => throw new ToolTuneException("TT9999", "expected"),
            _ => "ok",
        };

        private static string Hang()
        {
            Thread.Sleep(Timeout.Infinite);
            return "never";
        }
    }
}
