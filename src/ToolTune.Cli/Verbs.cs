using System.CommandLine;
using ToolTune.Cli.Commands;

namespace ToolTune.Cli;

/// <summary>The CLI verbs; each lives in its own file under <c>Commands/</c>.</summary>
internal static class Verbs
{
    public static IEnumerable<Command> All()
    {
        // `bench` parent: subcommands live in their own files (BenchGemmCommand; others merge in here).
        var bench = new Command("bench", "Performance benchmarks; one JSON line per measurement.");
        bench.Subcommands.Add(BenchGemmCommand.Create());
        bench.Subcommands.Add(BenchKernelsCommand.Create());
        bench.Subcommands.Add(BenchTrainCommand.Create());
        yield return bench;
        yield return LogitsCommand.Create();
        yield return GenerateCommand.Create();
    }
}
