using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using ToolTune.Diagnostics;
using ToolTune.Python;

namespace ToolTune.Fuzzing;

/// <summary>Budget and bounds of one fuzz run.</summary>
public sealed record FuzzOptions
{
    public required string Target { get; init; }
    public double Seconds { get; init; } = 10;
    public int Seed { get; init; } = 1;
    /// <summary>Extra seed files (those ending in the target's extension), added to the built-in seeds.</summary>
    public string? SeedsDir { get; init; }
    /// <summary>Where finding inputs (and their exception text) are saved; null = not saved.</summary>
    public string? FindingsDir { get; init; }
    /// <summary>An input that runs longer than this is a hang finding (and ends the run: its thread cannot be stopped).</summary>
    public TimeSpan PerInputTimeout { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>An input that allocates more than this is an unbounded-memory finding.</summary>
    public long MaxAllocatedBytesPerInput { get; init; } = 1L << 30;
    /// <summary>Stop after this many executions even if time is left (reproducible counts).</summary>
    public long MaxExecutions { get; init; } = long.MaxValue;
}

/// <summary>An input that broke a promise: an exception other than <see cref="ToolTuneException"/>, a hang, or a
/// runaway allocation. <see cref="InputFile"/> is where the input was saved.</summary>
public sealed record FuzzFinding(string Kind, string Message, int InputLength, string? InputFile);

public sealed record FuzzReport(string Target, int Seed, double Seconds, long Executions, int SeedCount, int CorpusSize,
    IReadOnlyDictionary<string, long> Outcomes, IReadOnlyList<FuzzFinding> Findings)
{
    public double ExecutionsPerSecond => Seconds > 0 ? Executions / Seconds : 0;
}

/// <summary>
/// Seeded mutation fuzzing: run the seeds, then mutate corpus entries until the time budget ends. Outcomes are
/// labelled ("loaded", "TT3001", …); an input reaching a label not seen before joins the corpus (coarse feedback in
/// place of coverage). Each input runs on a worker thread with a 64 MiB stack under a time bound.
/// </summary>
public static class Fuzzer
{
    public static FuzzReport Run(FuzzOptions options, CancellationToken cancellation = default) =>
        Run(FuzzTarget.Create(options.Target), options, cancellation);

    public static FuzzReport Run(FuzzTarget target, FuzzOptions options, CancellationToken cancellation = default)
    {
        if (options.Seconds <= 0 || double.IsNaN(options.Seconds))
            throw new ToolTuneException(ErrorCodes.FuzzOptionsInvalid, $"--seconds must be positive (got {options.Seconds}).");
        var seeds = LoadSeeds(target, options.SeedsDir);
        var corpus = new List<byte[]>(seeds);
        var dictionary = target.Dictionary.Select(Encoding.UTF8.GetBytes).ToList();
        var mutator = new Mutator(options.Seed, dictionary);
        var outcomes = new Dictionary<string, long>(StringComparer.Ordinal);
        var findings = new List<FuzzFinding>();
        var findingKeys = new HashSet<string>(StringComparer.Ordinal);
        var scratch = Path.Combine(Path.GetTempPath(), "tt-fuzz-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(scratch);
        var worker = new Worker(target, scratch);
        var clock = Stopwatch.StartNew();
        long executions = 0;
        var hung = false;
        try
        {
            var pending = new Queue<byte[]>(seeds);
            while (!hung && !cancellation.IsCancellationRequested && executions < options.MaxExecutions
                   && (pending.Count > 0 || clock.Elapsed.TotalSeconds < options.Seconds))
            {
                var input = pending.Count > 0 ? pending.Dequeue()
                    : mutator.Mutate(corpus[mutator.Next(corpus.Count)], corpus, target.MaxInputBytes);
                executions++;
                var result = worker.Execute(input, options.PerInputTimeout);
                string label;
                if (result.TimedOut)
                {
                    hung = true;
                    label = "finding:hang";
                    Record(findings, findingKeys, "hang", $"no result after {options.PerInputTimeout.TotalSeconds:0.#} s", "hang", input, target, options);
                }
                else if (result.AllocatedBytes > options.MaxAllocatedBytesPerInput)
                {
                    label = "finding:memory";
                    Record(findings, findingKeys, "memory", $"one input allocated {result.AllocatedBytes >> 20} MiB", "memory", input, target, options);
                }
                else if (result.Error is null) label = result.Outcome!;
                else if (result.Error is ToolTuneException tt) label = tt.Code;
                else
                {
                    label = "finding:" + result.Error.GetType().Name;
                    Record(findings, findingKeys, "exception", result.Error.ToString(), Signature(result.Error), input, target, options);
                }
                if (outcomes.TryGetValue(label, out var n)) outcomes[label] = n + 1;
                else
                {
                    outcomes[label] = 1;
                    if (!label.StartsWith("finding:", StringComparison.Ordinal)) corpus.Add(input);
                }
            }
        }
        finally
        {
            if (!hung)
            {
                worker.Stop();
                try { Directory.Delete(scratch, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
        return new FuzzReport(target.Name, options.Seed, clock.Elapsed.TotalSeconds, executions, seeds.Count, corpus.Count, outcomes, findings);
    }

    private static List<byte[]> LoadSeeds(FuzzTarget target, string? seedsDir)
    {
        var seeds = new List<byte[]>(target.BuiltInSeeds());
        if (seedsDir is null) return seeds;
        if (!Directory.Exists(seedsDir))
            throw new ToolTuneException(ErrorCodes.FuzzOptionsInvalid, "Seeds folder not found.", seedsDir);
        foreach (var file in Directory.EnumerateFiles(seedsDir, "*" + target.SeedExtension, SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var bytes = File.ReadAllBytes(file);
            if (bytes.Length <= target.MaxInputBytes) seeds.Add(bytes);
        }
        return seeds;
    }

    /// <summary>Exception type plus the innermost product frame: one finding per distinct bug, not per input.</summary>
    private static string Signature(Exception e)
    {
        var frame = e.StackTrace?.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Contains("ToolTune.", StringComparison.Ordinal)) ?? "";
        return e.GetType().FullName + "|" + frame;
    }

    private static void Record(List<FuzzFinding> findings, HashSet<string> keys, string kind, string message, string signature,
        byte[] input, FuzzTarget target, FuzzOptions options)
    {
        if (!keys.Add(signature)) return;
        string? saved = null;
        if (options.FindingsDir is not null)
        {
            Directory.CreateDirectory(options.FindingsDir);
            var hash = Convert.ToHexStringLower(SHA256.HashData(input))[..12];
            saved = Path.Combine(options.FindingsDir, $"{target.Name}-{kind}-{hash}{target.SeedExtension}");
            File.WriteAllBytes(saved, input);
            File.WriteAllText(saved + ".txt", message);
        }
        findings.Add(new FuzzFinding(kind, message.Split('\n')[0].Trim(), input.Length, saved));
    }

    /// <summary>Replays one saved input through a target: the outcome label, or the exception it throws.</summary>
    public static string Replay(string targetName, byte[] input)
    {
        var target = FuzzTarget.Create(targetName);
        var scratch = Path.Combine(Path.GetTempPath(), "tt-fuzz-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(scratch);
        try { return target.Execute(input, scratch); }
        finally { Directory.Delete(scratch, recursive: true); }
    }

    private readonly record struct ExecResult(string? Outcome, Exception? Error, long AllocatedBytes, bool TimedOut);

    /// <summary>One long-lived thread (big stack, like a deep template needs) that runs inputs handed to it.</summary>
    private sealed class Worker
    {
        private readonly FuzzTarget _target;
        private readonly string _scratch;
        private readonly SemaphoreSlim _start = new(0);
        private readonly SemaphoreSlim _done = new(0);
        private byte[]? _input;
        private ExecResult _result;
        private volatile bool _stop;

        public Worker(FuzzTarget target, string scratch)
        {
            _target = target;
            _scratch = scratch;
            new Thread(Loop, 64 * 1024 * 1024) { IsBackground = true, Name = "tooltune-fuzz" }.Start();
        }

        public ExecResult Execute(byte[] input, TimeSpan timeout)
        {
            _input = input;
            _start.Release();
            return _done.Wait(timeout) ? _result : new ExecResult(null, null, 0, TimedOut: true);
        }

        public void Stop()
        {
            _stop = true;
            _start.Release();
        }

        private void Loop()
        {
            while (true)
            {
                _start.Wait();
                if (_stop) return;
                var before = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    var outcome = _target.Execute(_input!, _scratch);
                    _result = new ExecResult(outcome, null, GC.GetAllocatedBytesForCurrentThread() - before, false);
                }
#pragma warning disable CA1031 // the harness's job is to classify every exception an input can cause
                catch (Exception e)
#pragma warning restore CA1031
                {
                    _result = new ExecResult(null, e, GC.GetAllocatedBytesForCurrentThread() - before, false);
                }
                _done.Release();
            }
        }
    }
}
