using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using ToolTune.Data.Generation;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune bench prepare</c>: PrepareData throughput (conversations/s) on generated Hermes-style data.</summary>
internal static class BenchPrepareCommand
{
    public static Command Create()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "Model folder with tokenizer.json", Required = true };
        var template = new Option<string?>("--template") { Description = "Chat template (default: configs/templates/smollm3-tool-fixed.jinja)" };
        var count = new Option<int>("--count") { Description = "Generated Hermes conversations", DefaultValueFactory = _ => 20_000 };
        var threads = new Option<int>("--threads") { Description = "Encoder threads (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var cmd = new Command("prepare", "PrepareData throughput (conversations/s) on generated Hermes-style conversations (+30% general data)")
        {
            tokenizer, template, count, threads,
        };
        cmd.SetAction(p => PipelineOptions.Guard(() =>
        {
            var work = Path.Combine(Path.GetTempPath(), "tooltune-bench-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(work);
            try
            {
                var n = Math.Max(10, p.GetValue(count));
                HermesGenerator.WriteJsonl(Path.Combine(work, "hermes.jsonl"), HermesGenerator.Generate(n, 7));
                HermesGenerator.WriteJsonl(Path.Combine(work, "general.jsonl"), HermesGenerator.GenerateGeneral(n * 3 / 7, 7));
                var tpl = Path.GetFullPath(p.GetValue(template) ?? Path.Combine("configs", "templates", "smollm3-tool-fixed.jinja"));
                var yaml = $"""
                    run:
                      name: bench
                    model:
                      tokenizer: {JsonSerializer.Serialize(Path.GetFullPath(p.GetValue(tokenizer)!))}
                      chat_template: {JsonSerializer.Serialize(tpl)}
                    data:
                      sources:
                        - path: hermes.jsonl
                        - path: general.jsonl
                          format: instruct
                          kind: general
                      max_seq_len: 8192
                    """;
                File.WriteAllText(Path.Combine(work, "bench.yaml"), yaml);
                var loaded = ConfigLoader.Load("bench.yaml", work);
                PrepareDataStage.Parallelism = Math.Max(1, p.GetValue(threads));
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                var result = PrepareDataStage.Prepare(loaded, Path.Combine(work, "out"), NullPipelineLog.Instance);
                var wall = clock.Elapsed.TotalSeconds;
                var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
                var records = result.Report.Sources.Sum(s => s.RecordsRead);
                var samples = result.Manifest.Splits.Values.Sum(s => s.Samples);
                var tokens = result.Manifest.Splits.Values.Sum(s => s.Tokens);
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    bench = "prepare",
                    hermes_conversations = n,
                    records_read = records,
                    samples_written = samples,
                    tokens,
                    threads = PrepareDataStage.Parallelism,
                    seconds = Math.Round(wall, 2),
                    conversations_per_s = Math.Round(records / wall, 1),
                    tokens_per_s = Math.Round(tokens / wall, 0),
                    cpu_seconds = Math.Round(cpu, 2),
                    conversations_per_cpu_s = Math.Round(records / cpu, 1),
                    load_average = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : null,
                }));
                return 0;
            }
            finally
            {
                try { Directory.Delete(work, recursive: true); } catch (IOException) { }
            }
        }));
        return cmd;
    }
}
