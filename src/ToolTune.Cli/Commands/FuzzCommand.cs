using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Fuzzing;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune fuzz --target json|jsonl|hermes|safetensors|template|tokenizer --seconds N --seed S [--seeds DIR]
/// [--findings DIR]</c>: seeded mutation fuzzing of one parser for a time budget; prints one JSON object (executions,
/// exec/s, outcomes, findings). Exit code 2 when there are findings. <c>--replay FILE</c> runs one saved input.
/// </summary>
internal static class FuzzCommand
{
    public static Command Create()
    {
        var target = new Option<string>("--target") { Description = "Parser to fuzz: " + string.Join("|", FuzzTarget.Names), Required = true };
        var seconds = new Option<double>("--seconds") { Description = "Time budget.", DefaultValueFactory = _ => 10 };
        var seed = new Option<int>("--seed") { Description = "Random seed (same seed, same inputs).", DefaultValueFactory = _ => 1 };
        var seeds = new Option<string?>("--seeds") { Description = "Folder of extra seed files with the target's extension." };
        var findings = new Option<string?>("--findings") { Description = "Folder where finding inputs are saved.", DefaultValueFactory = _ => "fuzz-findings" };
        var replay = new Option<string?>("--replay") { Description = "Run one saved input and print its outcome (or exception)." };
        var command = new Command("fuzz", "Fuzz a parser with seeded mutations for a time budget; one JSON object.") { target, seconds, seed, seeds, findings, replay };
        command.SetAction(parse => PipelineOptions.Guard(() =>
        {
            var replayFile = parse.GetValue(replay);
            if (replayFile is not null)
            {
                Console.Out.WriteLine(Fuzzer.Replay(parse.GetValue(target)!, File.ReadAllBytes(replayFile)));
                return 0;
            }
            var report = Fuzzer.Run(new FuzzOptions
            {
                Target = parse.GetValue(target)!,
                Seconds = parse.GetValue(seconds),
                Seed = parse.GetValue(seed),
                SeedsDir = parse.GetValue(seeds),
                FindingsDir = parse.GetValue(findings),
            });
            Console.Out.WriteLine(ToJson(report).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return report.Findings.Count == 0 ? 0 : 2;
        }));
        return command;
    }

    internal static JsonObject ToJson(FuzzReport r)
    {
        var outcomes = new JsonObject();
        foreach (var (label, count) in r.Outcomes.OrderByDescending(kv => kv.Value)) outcomes[label] = count;
        var findings = new JsonArray();
        foreach (var f in r.Findings)
            findings.Add(new JsonObject { ["kind"] = f.Kind, ["message"] = f.Message, ["input_bytes"] = f.InputLength, ["input"] = f.InputFile });
        return new JsonObject
        {
            ["target"] = r.Target,
            ["seed"] = r.Seed,
            ["seconds"] = Math.Round(r.Seconds, 2),
            ["executions"] = r.Executions,
            ["exec_per_s"] = Math.Round(r.ExecutionsPerSecond, 1),
            ["seeds"] = r.SeedCount,
            ["corpus"] = r.CorpusSize,
            ["distinct_outcomes"] = r.Outcomes.Count,
            ["outcomes"] = outcomes,
            ["findings"] = findings,
        };
    }
}
