using System.CommandLine;
using ToolTune.Cli.Commands;

namespace ToolTune.Cli;

/// <summary>
/// The CLI verbs, under <c>Commands/</c>: most in a file of their own; <c>StageCommands</c> holds the stage verbs
/// (prepare, verify, train, make-model, bench prepare) and <c>EvaluateCommand</c> both <c>evaluate</c> and <c>bench eval</c>.
/// </summary>
internal static class Verbs
{
    public static IEnumerable<Command> All()
    {
        // Pipeline stages: the same entry points as the MSBuild targets (PipelineApi.RunStage).
        yield return Commands.StageCommands.Prepare();
        yield return Commands.StageCommands.Verify();
        yield return Commands.StageCommands.Train();
        yield return Commands.EvaluateCommand.Create();
        yield return Commands.StageCommands.MakeModel();
        yield return Commands.DemoCommand.Create();
        yield return Commands.StatusCommand.Create();
        yield return Commands.TokenizeCommand.Create();
        yield return Commands.RenderCommand.Create();
        var bench = Commands.BenchCommand.Create();
        bench.Subcommands.Add(Commands.BenchRenderCommand.Create());
        bench.Subcommands.Add(Commands.StageCommands.BenchPrepare());
        bench.Subcommands.Add(BenchGemmCommand.Create());
        bench.Subcommands.Add(BenchKernelsCommand.Create());
        bench.Subcommands.Add(BenchTrainCommand.Create());
        bench.Subcommands.Add(BenchOpenCommand.Create());
        bench.Subcommands.Add(BenchGenerateCommand.Create());
        bench.Subcommands.Add(Commands.EvaluateCommand.Bench());
        bench.Subcommands.Add(BenchServeCommand.Create());
        yield return bench;
        yield return Commands.InspectCommand.Create();
        yield return Commands.MakeTokenizerCommand.Create();
        yield return LogitsCommand.Create();
        yield return GenerateCommand.Create();
        yield return MergeCommand.Create();
        yield return ServeCommand.Create();
        yield return FuzzCommand.Create();
    }
}
