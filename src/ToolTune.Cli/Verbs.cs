using System.CommandLine;

namespace ToolTune.Cli;

/// <summary>The CLI verbs; each lives in its own file under <c>Commands/</c>.</summary>
internal static class Verbs
{
    public static IEnumerable<Command> All()
    {
        // Pipeline stages. `prepare` and `verify` (PipelineApi.RunStage("PrepareData"/"VerifyTokens", …) with the
        // PipelineOptions of Commands/StatusCommand.cs) are added here by the PrepareData/VerifyTokens integration.
        yield return Commands.StatusCommand.Create();
        yield return Commands.TokenizeCommand.Create();
        yield return Commands.RenderCommand.Create();
        var bench = Commands.BenchCommand.Create();
        bench.Subcommands.Add(Commands.BenchRenderCommand.Create());
        yield return bench;
        yield return Commands.InspectCommand.Create();
    }
}
