using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using ToolTune.Data.Generation;
using ToolTune.Pipeline;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune prepare --config …</c> and <c>tooltune verify --config …</c>: the same entry point as the MSBuild
/// targets (<see cref="PipelineApi.RunStage"/>: temp folder, move into place, manifest, stamps), with
/// <c>--set key=value</c> overrides like <c>-p:Override</c>. Errors print as <c>file(line,col): error TT####: …</c>, exit 1.
/// </summary>
internal static class StageCommands
{
    public static Command Prepare() => Create("prepare", "PrepareData",
        "Run the PrepareData stage: load, filter, mix, split, render, tokenize and mask the data into artifacts/<run>/prepared/.");

    public static Command Verify() => Create("verify", "VerifyTokens",
        "Run the VerifyTokens stage: check delimiters, masks and tool-call JSON of every prepared sample and lint the template.");

    /// <summary><c>tooltune train --config … [--set k=v] [--no-resume]</c>: the TrainLora stage (resumes from
    /// <c>artifacts/&lt;run&gt;/training/checkpoints/</c> when compatible checkpoints exist).</summary>
    public static Command Train() => Create("train", "TrainLora",
        "Run the TrainLora stage: LoRA fine-tuning of model.base_model on the prepared shards into artifacts/<run>/adapter/ (PEFT format); " +
        "resumes automatically from compatible checkpoints.", withResume: true);

    private static Command Create(string verb, string stage, string description, bool withResume = false)
    {
        var config = PipelineOptions.Config();
        var root = PipelineOptions.Root();
        var set = PipelineOptions.Set();
        var noResume = new Option<bool>("--no-resume") { Description = "Ignore existing checkpoints and train from scratch (they are moved to checkpoints-stale/)." };
        var command = new Command(verb, description) { config, root, set };
        if (withResume) command.Options.Add(noResume);
        command.SetAction((parse, ct) => Task.FromResult(PipelineOptions.Guard(() =>
        {
            var configFile = parse.GetValue(config)!;
            var rootDir = PipelineOptions.ResolveRoot(configFile, parse.GetValue(root));
            var options = new StageOptions { Resume = !(withResume && parse.GetValue(noResume)) };
            var result = PipelineApi.RunStage(configFile, rootDir, string.Join(';', parse.GetValue(set) ?? []), stage, ConsoleLog.Instance, ct, options);
            Console.WriteLine($"{stage}: outputs in {result.OutputDir}");
            return 0;
        })));
        return command;
    }

    /// <summary><c>tooltune bench prepare</c>: PrepareData throughput (conversations/s) on generated Hermes-style data.</summary>
    public static Command BenchPrepare()
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

    /// <summary><c>tooltune make-model --preset demo --tokenizer DIR --out DIR [--seed 1]</c>: a random-init
    /// SmolLM3-architecture snapshot (config.json + model.safetensors, F32) sized to the tokenizer (added tokens included).</summary>
    public static Command MakeModel()
    {
        var preset = new Option<string>("--preset") { Description = "Model shape: demo (hidden 64, intermediate 192, 4 layers, 4 heads, 2 KV heads, NoPE every 4th layer, tied), tiny.", DefaultValueFactory = _ => "demo" };
        var tokenizer = new Option<string>("--tokenizer") { Description = "Tokenizer folder: sets the vocabulary size (incl. added tokens) and bos/eos/pad ids.", Required = true };
        var output = new Option<string>("--out") { Description = "Output folder (config.json, model.safetensors, generation_config.json).", Required = true };
        var seed = new Option<int>("--seed") { Description = "Init seed (weights ~ N(0, 0.02), norms 1).", DefaultValueFactory = _ => 1 };
        var cmd = new Command("make-model", "Write a random-init SmolLM3-architecture base model sized to a tokenizer (deterministic from the seed).")
        {
            preset, tokenizer, output, seed,
        };
        cmd.SetAction(p => PipelineOptions.Guard(() =>
        {
            var files = ToolTune.Demo.DemoModel.Write(p.GetValue(preset)!, p.GetValue(tokenizer)!, p.GetValue(output)!, p.GetValue(seed));
            foreach (var f in files) Console.WriteLine($"wrote {f} ({new FileInfo(f).Length:N0} bytes)");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Stage messages to stdout, warnings as <c>file(line,col): warning TT####: …</c> to stderr.</summary>
    internal sealed class ConsoleLog : IPipelineLog
    {
        public static readonly ConsoleLog Instance = new();

        public void Message(string text, bool important = false) => Console.WriteLine(text);

        public void Warning(string code, string message, string? file = null, int line = 0, int column = 0)
        {
            var location = file is null ? "" : line > 0 ? (column > 0 ? $"{file}({line},{column}): " : $"{file}({line}): ") : $"{file}: ";
            Console.Error.WriteLine($"{location}warning {code}: {message}");
        }
    }
}
