using ToolTune.Tensors;

namespace ToolTune.Tests.Tensors;

/// <summary>
/// The kernels' fork/join pool: helpers are optional (a job is closed once the caller runs out of items), so what must
/// hold is that every item runs exactly once, whoever runs it, job after job, and that failures reach the caller.
/// Own pools: the shared one may be busy with other tests (it would then run everything inline).
/// </summary>
[TestClass]
public sealed class WorkerPoolTests
{
    [TestMethod]
    [DataRow(1)]
    [DataRow(3)]
    public void EveryItemRunsExactlyOnceAcrossManyJobs(int helpers)
    {
        var pool = new WorkerPool(helpers);
        var rng = new Random(5);
        for (var job = 0; job < 3000; job++)
        {
            var count = rng.Next(0, 40);
            var hits = new int[count];
            pool.For(count, i =>
            {
                Interlocked.Increment(ref hits[i]);
                if (i % 7 == 0) Thread.SpinWait(200); // uneven items, so helpers and caller interleave
            });
            for (var i = 0; i < count; i++)
                Assert.AreEqual(1, hits[i], $"job {job}: item {i} of {count} ran {hits[i]} times");
        }
    }

    [TestMethod]
    public void AFailingItemReachesTheCallerAndThePoolStaysUsable()
    {
        var pool = new WorkerPool(1);
        for (var job = 0; job < 200; job++)
        {
            var failAt = job % 10;
            var thrown = false;
            try
            {
                pool.For(10, i => { if (i == failAt) throw new InvalidOperationException($"item {i}"); });
            }
            catch (Exception ex) when (ex is InvalidOperationException || ex is AggregateException { InnerException: InvalidOperationException })
            {
                thrown = true;
            }
            Assert.IsTrue(thrown, $"job {job}: the failure of item {failAt} was lost");
            var sum = 0;
            pool.For(100, i => Interlocked.Add(ref sum, i));
            Assert.AreEqual(4950, sum, $"job {job}: the next job after a failure");
        }
    }
}
