using System.CommandLine;

namespace ToolTune.Cli;

/// <summary>The CLI verbs; each lives in its own file under <c>Commands/</c>.</summary>
internal static class Verbs
{
    public static IEnumerable<Command> All()
    {
        yield return Commands.TokenizeCommand.Create();
        yield return Commands.RenderCommand.Create();
        var bench = Commands.BenchCommand.Create();
        bench.Subcommands.Add(Commands.BenchRenderCommand.Create());
        yield return bench;
        yield return Commands.InspectCommand.Create();
    }
}
