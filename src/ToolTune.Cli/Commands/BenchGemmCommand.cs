using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ToolTune.Tensors;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune bench gemm</c>: median SGEMM GFLOP/s per shape and transpose variant, one JSON line each.</summary>
internal static class BenchGemmCommand
{
    /// <summary>Shapes as (M, K, N): C[M×N] = A[M×K]·B[K×N].</summary>
    public static readonly (int M, int K, int N)[] DefaultShapes =
        [(512, 512, 512), (1024, 1024, 1024), (512, 576, 1536), (512, 1536, 576), (512, 2048, 11008)];

    public static Command Create()
    {
        var reps = new Option<int>("--reps") { Description = "Timed repetitions per shape/variant (interleaved).", DefaultValueFactory = _ => 7 };
        var path = new Option<GemmPath>("--path") { Description = "Kernel path: Auto, Avx512, Avx2, Portable.", DefaultValueFactory = _ => GemmPath.Auto };
        var threads = new Option<int>("--threads") { Description = "Threads (0 = all).", DefaultValueFactory = _ => 0 };
        var shape = new Option<string?>("--shape") { Description = "Only this shape, MxKxN (e.g. 512x576x1536)." };
        var command = new Command("gemm", "Benchmark the managed SGEMM (NN, NT, TN) and print one JSON line per shape/variant.")
        {
            reps, path, threads, shape,
        };
        command.SetAction(parse =>
        {
            var shapes = DefaultShapes;
            var only = parse.GetValue(shape);
            if (!string.IsNullOrEmpty(only))
            {
                var parts = only.Split('x', 'X');
                var dims = new int[3];
                if (parts.Length != 3 || !parts.Select((s, i) => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out dims[i]) && dims[i] > 0).All(ok => ok))
                {
                    Console.Error.WriteLine($"--shape must be MxKxN with positive integers, got '{only}'");
                    return 2;
                }
                shapes = [(dims[0], dims[1], dims[2])];
            }
            Run(shapes, parse.GetValue(reps), parse.GetValue(path), parse.GetValue(threads), Console.Out);
            return 0;
        });
        return command;
    }

    public static void Run((int M, int K, int N)[] shapes, int reps, GemmPath path, int threads, TextWriter output)
    {
        var resolved = path == GemmPath.Auto ? Gemm.DefaultPath : path;
        string[] variants = ["NN", "NT", "TN"];
        foreach (var (m, k, n) in shapes)
        {
            var rng = new Random(1);
            var a = new float[m * k];
            var b = new float[k * n];
            var c = new float[m * n];
            for (var i = 0; i < a.Length; i++) a[i] = (float)rng.NextDouble() - 0.5f;
            for (var i = 0; i < b.Length; i++) b[i] = (float)rng.NextDouble() - 0.5f;
            var times = variants.ToDictionary(v => v, _ => new List<double>());
            void Once(string v)
            {
                // Same buffers reinterpreted: NT reads B as N×K, TN reads A as K×M (same element counts).
                switch (v)
                {
                    case "NN": Gemm.Sgemm(false, false, m, n, k, 1f, a, k, b, n, c, n, false, path, threads); break;
                    case "NT": Gemm.Sgemm(false, true, m, n, k, 1f, a, k, b, k, c, n, false, path, threads); break;
                    default: Gemm.Sgemm(true, false, m, n, k, 1f, a, m, b, n, c, n, false, path, threads); break;
                }
            }
            foreach (var v in variants) Once(v); // warm-up (JIT, buffers)
            var flops = 2.0 * m * n * k;
            var inner = (int)Math.Clamp(2e9 / flops, 1, 1000); // ~10 ms per sample at 200 GFLOP/s
            for (var r = 0; r < reps; r++)
                foreach (var v in variants)
                {
                    var sw = Stopwatch.StartNew();
                    for (var i = 0; i < inner; i++) Once(v);
                    times[v].Add(sw.Elapsed.TotalSeconds / inner);
                }
            foreach (var v in variants)
            {
                var sorted = times[v].Order().ToArray();
                var median = sorted[sorted.Length / 2];
                var gflops = flops / median / 1e9;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{{\"bench\":\"gemm\",\"impl\":\"tooltune-{resolved.ToString().ToLowerInvariant()}\",\"m\":{m},\"k\":{k},\"n\":{n},\"variant\":\"{v}\",\"median_s\":{median:G6},\"gflops\":{gflops:F1},\"reps\":{reps}}}"));
            }
        }
    }
}
