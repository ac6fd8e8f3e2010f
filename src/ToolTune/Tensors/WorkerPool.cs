namespace ToolTune.Tensors;

/// <summary>
/// A tiny fork/join pool for the compute kernels: a fixed set of background workers that spin briefly
/// (<see cref="ManualResetEventSlim"/> with a spin count) and then block. One job at a time; a caller that
/// finds the pool busy (another thread is inside a parallel kernel) runs its work inline instead.
/// Every job body claims its work items dynamically, so helpers are optional: once the caller has run out of items,
/// helpers that have not started yet are turned away instead of waited for (on a loaded machine waking a descheduled
/// worker costs more than the small GEMMs of a training step).
/// </summary>
internal sealed class WorkerPool
{
    private const int SpinCount = 2000;

    public static WorkerPool Shared { get; } = new(DefaultThreads() - 1);

    private readonly ManualResetEventSlim[] _start;
    private int _busy;      // 0 free, 1 running a job (not reentrant: nested calls run inline)
    private Action<int>? _body;
    private int _seats;     // helpers that may still join the current job (0 once the caller has closed it)
    private int _finished;  // helpers of the current job that have joined and finished
    private Exception? _error;

    internal WorkerPool(int workers)
    {
        workers = Math.Max(0, workers);
        _start = new ManualResetEventSlim[workers];
        for (var i = 0; i < workers; i++)
        {
            _start[i] = new ManualResetEventSlim(false, SpinCount);
            var index = i;
            var thread = new Thread(() => Loop(index)) { IsBackground = true, Name = $"ToolTune.Worker{i + 1}" };
            thread.Start();
        }
    }

    /// <summary>Total threads a job can use (workers plus the caller).</summary>
    public int MaxParallelism => _start.Length + 1;

    /// <summary>Whether a parallel job is running now (a <see cref="Run"/> issued now would run inline).</summary>
    public bool IsBusy => Volatile.Read(ref _busy) != 0;

    /// <summary>Thread count: <c>TOOLTUNE_THREADS</c> if set, else the processor count.</summary>
    public static int DefaultThreads()
    {
        var env = Environment.GetEnvironmentVariable("TOOLTUNE_THREADS");
        if (int.TryParse(env, out var n) && n > 0) return Math.Min(n, 256);
        return Math.Max(1, Environment.ProcessorCount);
    }

    /// <summary>
    /// Runs <paramref name="body"/>(0) on the caller and <paramref name="body"/>(1..parts-1) on the workers that start
    /// before the caller's part returns; <paramref name="body"/> must therefore claim its work items itself (any part
    /// may end up doing all of them). Runs inline when the pool is busy or too small.
    /// </summary>
    public void Run(int parts, Action<int> body)
    {
        if (parts <= 1 || _start.Length == 0 || parts - 1 > _start.Length
            || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            for (var p = 0; p < parts; p++) body(p);
            return;
        }
        try
        {
            _body = body;
            _error = null;
            Volatile.Write(ref _finished, 0);
            Volatile.Write(ref _seats, parts - 1); // after _body: a helper that takes a seat sees this job's body
            for (var i = 0; i < parts - 1; i++) _start[i].Set();
            Exception? own = null;
            try { body(0); }
            catch (Exception ex) { own = ex; }
            var joined = parts - 1 - Interlocked.Exchange(ref _seats, 0);
            var spin = new SpinWait();
            while (Volatile.Read(ref _finished) < joined) spin.SpinOnce(sleep1Threshold: -1);
            _body = null;
            if (own is not null) throw own;
            if (_error is not null) throw new AggregateException(_error);
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>Runs body(i) for every i in [0, count) on the pool's threads (dynamic claiming).</summary>
    public void For(int count, Action<int> body, int maxParts = 0)
    {
        var parts = Math.Min(count, maxParts > 0 ? Math.Min(maxParts, MaxParallelism) : MaxParallelism);
        if (parts <= 1)
        {
            for (var i = 0; i < count; i++) body(i);
            return;
        }
        // Indices are claimed one at a time, so uneven items (or a descheduled thread) balance out.
        var next = -1;
        Run(parts, _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count) body(i);
        });
    }

    private void Loop(int index)
    {
        var start = _start[index];
        while (true)
        {
            start.Wait();
            start.Reset();
            // Seats are read after the reset: a job opened meanwhile (its Set lost to the reset) is still joined here.
            int seat;
            do seat = Volatile.Read(ref _seats);
            while (seat > 0 && Interlocked.CompareExchange(ref _seats, seat - 1, seat) != seat);
            if (seat <= 0) continue; // the caller finished every item before this worker started
            try
            {
                _body!(seat);
            }
            catch (Exception ex)
            {
                _error = ex;
            }
            Interlocked.Increment(ref _finished);
        }
    }
}
