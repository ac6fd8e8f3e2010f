using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ToolTune.Tensors;

// The threaded driver: how one product is split over the worker pool, and the per-thread packing buffers.
public static unsafe partial class Gemm
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Execute(Job job, int threads)
    {
        int m = job.M, n = job.N, k = job.K;
        {
            job.Geometry(out var mr, out var nr);
            var pool = WorkerPool.Shared;
            var maxThreads = threads > 0 ? Math.Min(threads, pool.MaxParallelism) : pool.MaxParallelism;
            var flops = 2.0 * m * n * k;
            var parts = flops < 4e6 ? 1 : Math.Min(maxThreads, 2 + (int)(flops / 64e6));
            parts = Math.Min(parts, maxThreads);
            // Inside another parallel kernel (attention tiles) the pool would run the parts inline anyway: skip the
            // closures and chunking (≈ 3 MB of allocations per training step). Same M/N blocks, same result bits.
            if (parts <= 1 || pool.IsBusy)
            {
                job.Run(0, m, 0, n);
                return;
            }
            var unitsN = (n + nr - 1) / nr;
            var unitsM = (m + mr - 1) / mr;
            var kcMax = Math.Min(KC, k);
            var kBlocks = (k + kcMax - 1) / kcMax;
            var stripStride = kcMax * nr + StripPad;
            var prepackFloats = (long)kBlocks * unitsN * stripStride;
            if (prepackFloats <= PrepackLimitFloats && unitsM >= 2 * parts)
            {
                // Moderate op(B): pack all of it once, cooperatively, then split M. Every thread reads the shared
                // panels and packs only its own rows of A, so nothing is packed twice.
                var buf = Buffer(ref t_prepack, ref t_prepackCap, prepackFloats);
                var packer = job;
                var items = kBlocks * unitsN;
                var nextItem = -1;
                pool.Run(parts, _ =>
                {
                    int it;
                    while ((it = Interlocked.Increment(ref nextItem)) < items)
                    {
                        var kb = it / unitsN;
                        var strip = it % unitsN;
                        var pc = kb * kcMax;
                        packer.PackB(buf + (long)it * stripStride, stripStride, pc, Math.Min(kcMax, k - pc), strip * nr, Math.Min(nr, n - strip * nr), nr);
                    }
                });
                var shared = job;
                shared.PrePackedB = buf;
                shared.PrePackStride = stripStride;
                shared.PrePackStrips = unitsN;
                var mChunks = Math.Min(unitsM, parts * GemmEnvironment.ChunksPerThread);
                var nextChunk = -1;
                pool.Run(parts, _ =>
                {
                    int c;
                    while ((c = Interlocked.Increment(ref nextChunk)) < mChunks)
                    {
                        var r0 = Math.Min(m, (int)((long)unitsM * c / mChunks) * mr);
                        var r1 = Math.Min(m, (int)((long)unitsM * (c + 1) / mChunks) * mr);
                        if (r1 > r0) shared.Run(r0, r1, 0, n);
                    }
                });
                return;
            }
            // Otherwise split along the dimension that balances best.
            double Imbalance(int units) => units < parts ? double.MaxValue : (double)((units + parts - 1) / parts) * parts / units;
            var imbN = Imbalance(unitsN);
            var imbM = Imbalance(unitsM);
            if (imbN == double.MaxValue && imbM == double.MaxValue)
            {
                job.Run(0, m, 0, n);
                return;
            }
            // Near-equal balance: split the dimension whose split duplicates the smaller packing
            // (splitting N re-packs all of A (m×k) per thread, splitting M re-packs all of B (k×n)).
            var splitN = Math.Abs(imbN - imbM) <= 0.05 ? m <= n : imbN < imbM;
            var units = splitN ? unitsN : unitsM;
            var gran = splitN ? nr : mr;
            var total = splitN ? n : m;
            var copy = job;
            // A few chunks per thread, claimed dynamically: a thread that is descheduled (shared machines)
            // does not hold the others back. Chunks split M or N only, so results do not depend on timing.
            // Each chunk re-packs the other operand (all of A for an N split, all of B for an M split), so chunks
            // stay at least ~1024 wide.
            var chunks = Math.Min(units, Math.Clamp(total / 1024, parts, parts * GemmEnvironment.ChunksPerThread));
            var next = -1;
            pool.Run(parts, _ =>
            {
                int c;
                while ((c = Interlocked.Increment(ref next)) < chunks)
                {
                    var u0 = (int)((long)units * c / chunks);
                    var u1 = (int)((long)units * (c + 1) / chunks);
                    var s = Math.Min(total, u0 * gran);
                    var e = Math.Min(total, u1 * gran);
                    if (e <= s) continue;
                    if (splitN) copy.Run(0, m, s, e);
                    else copy.Run(s, e, 0, n);
                }
            });
        }
    }

    [ThreadStatic] private static float[]? t_narrow;
    [ThreadStatic] private static float* t_prepack;
    [ThreadStatic] private static long t_prepackCap;

    /// <summary>Largest op(B) (in packed floats, 16 MB) packed once and shared by all threads.</summary>
    private const long PrepackLimitFloats = 4L << 20;

    // Per-thread packing buffers (64-byte aligned native memory, grown on demand, kept for the thread's life).
    [ThreadStatic] private static float* t_packA;
    [ThreadStatic] private static long t_packACap;
    [ThreadStatic] private static float* t_packB;
    [ThreadStatic] private static long t_packBCap;

    private static float* Buffer(ref float* buf, ref long cap, long floats)
    {
        if (floats > cap)
        {
            if (buf != null) NativeMemory.AlignedFree(buf);
            buf = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
            cap = floats;
        }
        return buf;
    }
}
