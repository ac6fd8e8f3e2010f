using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using ToolTune.Text.Tokenization;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune bench tokenize --tokenizer DIR [--mb 10] [--reps 5] [--seed 1234] [--write-corpus FILE]</c>: encode
/// throughput and load time of a tokenizer on a deterministic mixed corpus (<see cref="BenchCorpus"/>).</summary>
internal static class BenchTokenizeCommand
{
    public static Command Create()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "Model folder or tokenizer.json", Required = true };
        var mb = new Option<double>("--mb") { Description = "Corpus size in MB of UTF-8 text", DefaultValueFactory = _ => 10 };
        var reps = new Option<int>("--reps") { Description = "Timed repetitions", DefaultValueFactory = _ => 5 };
        var seed = new Option<int>("--seed") { Description = "Corpus RNG seed", DefaultValueFactory = _ => 1234 };
        var writeCorpus = new Option<string?>("--write-corpus") { Description = "Also write the corpus as a JSON array of strings (for the transformers.js oracle bench, tests/oracles/tokenizers/bench.mjs)" };
        var cmd = new Command("tokenize", "Encode throughput (MB/s, tokens/s) and load time of a tokenizer on a deterministic mixed corpus");
        cmd.Options.Add(tokenizer);
        cmd.Options.Add(mb);
        cmd.Options.Add(reps);
        cmd.Options.Add(seed);
        cmd.Options.Add(writeCorpus);
        cmd.SetAction(p => RunTokenize(p.GetValue(tokenizer)!, p.GetValue(mb), Math.Max(1, p.GetValue(reps)), p.GetValue(seed), p.GetValue(writeCorpus)));
        return cmd;
    }

    internal static int RunTokenize(string tokenizerPath, double mb, int reps, int seed, string? writeCorpus = null)
    {
        return PipelineOptions.Guard(() =>
        {
            var loads = new List<double>();
            var loadsCpu = new List<double>();
            Tokenizer tok = null!;
            for (int i = 0; i < 3; i++)
            {
                var cpu0 = CpuSeconds();
                var sw = Stopwatch.StartNew();
                tok = Tokenizer.FromFile(tokenizerPath);
                loads.Add(sw.Elapsed.TotalMilliseconds);
                loadsCpu.Add((CpuSeconds() - cpu0) * 1000);
            }
            var docs = BenchCorpus.Build((long)(mb * 1024 * 1024), seed);
            if (writeCorpus is not null)
                File.WriteAllText(writeCorpus, JsonSerializer.Serialize(docs));
            long bytes = docs.Sum(d => (long)Encoding.UTF8.GetByteCount(d));
            long chars = docs.Sum(d => (long)d.Length);

            // Warm-up: JIT, regex compilation, word cache.
            foreach (var d in docs.Take(Math.Max(1, docs.Count / 10))) tok.EncodeToIds(d);

            var idsRates = new List<double>();
            var idsCpuRates = new List<double>();
            var tokensRates = new List<double>();
            var tokPerSec = new List<double>();
            long tokenCount = 0;
            for (int r = 0; r < reps; r++)
            {
                // Interleave the two encode paths so drift affects both alike.
                var cpu0 = CpuSeconds();
                var sw = Stopwatch.StartNew();
                long n = 0;
                foreach (var d in docs) n += tok.EncodeToIds(d).Count;
                double s = sw.Elapsed.TotalSeconds;
                idsCpuRates.Add(bytes / 1e6 / (CpuSeconds() - cpu0));
                idsRates.Add(bytes / 1e6 / s);
                tokPerSec.Add(n / s);
                tokenCount = n;
                sw.Restart();
                foreach (var d in docs) tok.EncodeToTokens(d);
                tokensRates.Add(bytes / 1e6 / sw.Elapsed.TotalSeconds);
            }
            var coldSw = Stopwatch.StartNew();
            var cold = Tokenizer.FromFile(tokenizerPath, wordCacheCapacity: 0);
            foreach (var d in docs) cold.EncodeToIds(d);
            double noCache = bytes / 1e6 / (coldSw.Elapsed.TotalSeconds - cold.LoadTime.TotalSeconds);

            var result = new Dictionary<string, object?>
            {
                ["bench"] = "tokenize",
                ["tokenizer"] = tokenizerPath,
                ["vocab_size"] = tok.VocabularySize,
                ["corpus_mb"] = Math.Round(bytes / 1e6, 2),
                ["corpus_chars"] = chars,
                ["documents"] = docs.Count,
                ["tokens"] = tokenCount,
                ["reps"] = reps,
                ["load_ms_median"] = Math.Round(BenchCommand.Median(loads), 1),
                ["load_ms_first"] = Math.Round(loads[0], 1),
                ["load_cpu_ms_median"] = Math.Round(BenchCommand.Median(loadsCpu), 1),
                ["encode_ids_mb_per_s_median"] = Math.Round(BenchCommand.Median(idsRates), 2),
                ["encode_ids_tokens_per_s_median"] = Math.Round(BenchCommand.Median(tokPerSec)),
                ["encode_ids_mb_per_cpu_s_median"] = Math.Round(BenchCommand.Median(idsCpuRates), 2),
                ["encode_tokens_with_offsets_mb_per_s_median"] = Math.Round(BenchCommand.Median(tokensRates), 2),
                ["encode_ids_no_word_cache_mb_per_s"] = Math.Round(noCache, 2),
                ["threads"] = 1,
                ["cpus"] = Environment.ProcessorCount,
                ["loadavg"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : null,
            };
            Console.WriteLine(JsonSerializer.Serialize(result));
            return 0;
        });
    }

    // Process CPU time: on a shared, overloaded machine wall time says more about the neighbours than about us.
    private static double CpuSeconds() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
}
