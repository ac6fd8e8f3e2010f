using System.CommandLine;
using ToolTune.Cli.Commands;

namespace ToolTune.Cli;

/// <summary>
/// The CLI verbs, one per file under <c>Commands/</c> (<c>XCommand.Create()</c>; the subcommands of <c>bench</c> and
/// <c>demo</c> are <c>BenchXCommand</c> and <c>DemoXCommand</c>). Shared parts: <see cref="StageVerb"/> (the verbs that
/// run a stage), <see cref="PipelineOptions"/>, <see cref="ConsoleLog"/>.
/// </summary>
internal static class Verbs
{
    public static IEnumerable<Command> All()
    {
        // Pipeline stages: the same entry points as the MSBuild targets (PipelineApi.RunStage).
        yield return PrepareCommand.Create();
        yield return VerifyCommand.Create();
        yield return TrainCommand.Create();
        yield return EvaluateCommand.Create();
        yield return MakeModelCommand.Create();
        yield return DemoCommand.Create();
        yield return StatusCommand.Create();
        yield return TokenizeCommand.Create();
        yield return RenderCommand.Create();
        var bench = BenchCommand.Create();
        bench.Subcommands.Add(BenchTokenizeCommand.Create());
        bench.Subcommands.Add(BenchRenderCommand.Create());
        bench.Subcommands.Add(BenchPrepareCommand.Create());
        bench.Subcommands.Add(BenchGemmCommand.Create());
        bench.Subcommands.Add(BenchKernelsCommand.Create());
        bench.Subcommands.Add(BenchTrainCommand.Create());
        bench.Subcommands.Add(BenchOpenCommand.Create());
        bench.Subcommands.Add(BenchGenerateCommand.Create());
        bench.Subcommands.Add(BenchEvalCommand.Create());
        bench.Subcommands.Add(BenchServeCommand.Create());
        yield return bench;
        yield return InspectCommand.Create();
        yield return MakeTokenizerCommand.Create();
        yield return LogitsCommand.Create();
        yield return GenerateCommand.Create();
        yield return MergeCommand.Create();
        yield return ServeCommand.Create();
        yield return FuzzCommand.Create();
    }
}
