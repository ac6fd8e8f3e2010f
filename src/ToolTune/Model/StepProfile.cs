namespace ToolTune.Model;

/// <summary>
/// Wall-clock seconds and allocated bytes per section of a training step (<c>tooltune bench train --profile</c>).
/// <see cref="Lap"/> charges everything since the previous lap to the named section, so sections partition the step.
/// Ambient per thread (<see cref="Current"/>): the decoder, the LoRA wrappers and the optimizer lap into it without
/// threading a profiler through every module interface; null (the default) costs one thread-static read per lap.
/// </summary>
public sealed class StepProfile
{
    [ThreadStatic] private static StepProfile? t_current;

    /// <summary>The profile laps go to on this thread; null = profiling off.</summary>
    public static StepProfile? Current { get => t_current; set => t_current = value; }

    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private double _last;
    private long _lastBytes;

    public Dictionary<string, double> Seconds { get; } = new(StringComparer.Ordinal);
    /// <summary>Bytes allocated (all threads, GC heap) while each section ran.</summary>
    public Dictionary<string, long> AllocatedBytes { get; } = new(StringComparer.Ordinal);

    public void Lap(string section)
    {
        var now = _clock.Elapsed.TotalSeconds;
        var bytes = GC.GetTotalAllocatedBytes(precise: false);
        Seconds[section] = Seconds.GetValueOrDefault(section) + (now - _last);
        AllocatedBytes[section] = AllocatedBytes.GetValueOrDefault(section) + (bytes - _lastBytes);
        _last = now;
        _lastBytes = bytes;
    }

    public void Reset()
    {
        Seconds.Clear();
        AllocatedBytes.Clear();
        _last = _clock.Elapsed.TotalSeconds;
        _lastBytes = GC.GetTotalAllocatedBytes(precise: false);
    }
}
