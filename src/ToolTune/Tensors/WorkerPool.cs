namespace ToolTune.Tensors;

/// <summary>
/// A tiny fork/join pool for the compute kernels: a fixed set of background workers that spin briefly
/// (<see cref="ManualResetEventSlim"/> with a spin count) and then block. One job at a time; a caller that
/// finds the pool busy (another thread is inside a parallel kernel) runs its work inline instead.
/// </summary>
internal sealed class WorkerPool
{
    private const int SpinCount = 2000;

    public static WorkerPool Shared { get; } = new(DefaultThreads() - 1);

    private readonly ManualResetEventSlim[] _start;
    private readonly ManualResetEventSlim _done = new(false, SpinCount);
    private int _busy;      // 0 free, 1 running a job (not reentrant: nested calls run inline)
    private Action<int>? _body;
    private int _active;   // number of workers taking part in the current job
    private int _pending;  // workers not yet finished
    private Exception? _error;

    private WorkerPool(int workers)
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
    /// Runs <paramref name="body"/>(0..parts-1): part 0 on the caller, the others on workers. Falls back
    /// to running every part inline when the pool is busy or too small.
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
            _active = parts - 1;
            Volatile.Write(ref _pending, parts - 1);
            _done.Reset();
            for (var i = 0; i < parts - 1; i++) _start[i].Set();
            Exception? own = null;
            try { body(0); }
            catch (Exception ex) { own = ex; }
            _done.Wait();
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
            var body = _body;
            try
            {
                if (body is not null && index < _active) body(index + 1);
            }
            catch (Exception ex)
            {
                _error = ex;
            }
            if (Interlocked.Decrement(ref _pending) == 0) _done.Set();
        }
    }
}
