using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using ToolTune.Model;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune bench open --model &lt;dir&gt; [--make-3b]</c>: time of <see cref="ModelWeights.Open"/> (config + headers +
/// validation + memory mapping) and of a first-layer access, with RSS before/after — the "a 3B checkpoint opens in well
/// under a second and is not copied to f32" check. <c>--make-3b</c> first writes a SmolLM3-3B-shaped snapshot into the
/// folder: config.json + 2 BF16 shards + index with real headers and sparse all-zero data (≈ 6.2 GB apparent, a few KB on disk).
/// </summary>
internal static class BenchOpenCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Snapshot folder (written first with --make-3b).", Required = true };
        var make = new Option<bool>("--make-3b") { Description = "Write a sparse SmolLM3-3B-shaped BF16 snapshot (2 shards + index) into --model first." };
        var reps = new Option<int>("--reps") { Description = "Timed opens (after the first).", DefaultValueFactory = _ => 5 };
        var command = new Command("open", "Benchmark opening (memory-mapping) a checkpoint; one JSON line.") { model, make, reps };
        command.SetAction(parse =>
        {
            Run(parse.GetValue(model)!, parse.GetValue(make), parse.GetValue(reps), Console.Out);
            return 0;
        });
        return command;
    }

    public static void Run(string dir, bool make3b, int reps, TextWriter output)
    {
        double makeMs = 0;
        if (make3b)
        {
            var sw0 = Stopwatch.StartNew();
            ModelWeights.WriteSparseSnapshot(dir, ModelConfig.Preset("smol3b"), shards: 2, dtype: "BF16");
            makeMs = sw0.Elapsed.TotalMilliseconds;
        }
        var rss0 = RssMb();
        var sw = Stopwatch.StartNew();
        var first = ModelWeights.Open(dir);
        var firstOpenMs = sw.Elapsed.TotalMilliseconds;
        var rssOpen = RssMb();
        sw.Restart();
        var checksum = FirstLayerSum(first);
        var layerMs = sw.Elapsed.TotalMilliseconds;
        var rssLayer = RssMb();
        var c = first.Config;
        var mapped = first.Tensors.Values.Count(p => !p.IsOwned);
        var ownedBytes = first.Tensors.Values.Where(p => p.IsOwned).Sum(p => 4L * p.Count);
        var params_ = first.Tensors.Values.Sum(p => (long)p.Count);
        var files = Directory.GetFiles(dir, "*.safetensors");
        first.Dispose();
        var opens = new List<double>();
        for (var i = 0; i < reps; i++)
        {
            sw.Restart();
            using var w = ModelWeights.Open(dir);
            opens.Add(sw.Elapsed.TotalMilliseconds);
        }
        var json = new Dictionary<string, object?>
        {
            ["bench"] = "open",
            ["model"] = dir,
            ["made_3b_ms"] = make3b ? Math.Round(makeMs, 1) : null,
            ["files"] = files.Length,
            ["apparent_gb"] = Math.Round(files.Sum(f => new FileInfo(f).Length) / 1e9, 3),
            ["params"] = params_,
            ["layers"] = c.NumLayers,
            ["hidden"] = c.HiddenSize,
            ["vocab"] = c.VocabSize,
            ["tensors"] = first.Tensors.Count,
            ["mapped_tensors"] = mapped,
            ["owned_f32_mb"] = Math.Round(ownedBytes / 1048576.0, 3),
            ["first_open_ms"] = Math.Round(firstOpenMs, 2),
            ["open_ms_median"] = opens.Count > 0 ? Math.Round(opens.Order().ElementAt(opens.Count / 2), 2) : null,
            ["open_ms_all"] = opens.Select(x => Math.Round(x, 2)).ToArray(),
            ["first_layer_access_ms"] = Math.Round(layerMs, 2),
            ["first_layer_checksum"] = checksum,
            ["rss_before_mb"] = Math.Round(rss0, 1),
            ["rss_after_open_mb"] = Math.Round(rssOpen, 1),
            ["rss_after_first_layer_mb"] = Math.Round(rssLayer, 1),
            ["loadavg"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : null,
        };
        output.WriteLine(JsonSerializer.Serialize(json));
    }

    /// <summary>Reads every weight of layer 0 (widened to f32 in 64K-element chunks, summed) — the pages a first layer touches.</summary>
    public static double FirstLayerSum(ModelWeights w)
    {
        double s = 0;
        var buf = new float[65536];
        foreach (var (name, p) in w.Tensors)
        {
            if (!name.StartsWith("model.layers.0.", StringComparison.Ordinal)) continue;
            for (var i = 0; i < p.Count; i += buf.Length)
            {
                var n = Math.Min(buf.Length, p.Count - i);
                if (p.IsBF16) ToolTune.Tensors.Precision.BF16ToSingle(p.BF16.Slice(i, n), buf.AsSpan(0, n));
                else p.F32.Slice(i, n).CopyTo(buf);
                s += System.Numerics.Tensors.TensorPrimitives.Sum<float>(buf.AsSpan(0, n));
            }
        }
        return s;
    }

    /// <summary>Current resident set size in MB (Linux VmRSS; elsewhere the working set).</summary>
    public static double RssMb()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return double.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException) { }
        return Environment.WorkingSet / 1048576.0;
    }
}
