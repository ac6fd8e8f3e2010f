using System.CommandLine;
using ToolTune.Pipeline;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune status --config configs/x.yaml</c>: the same report as <c>dotnet msbuild Pipeline.proj -t:Status</c>.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var config = PipelineOptions.Config();
        var root = PipelineOptions.Root();
        var set = PipelineOptions.Set();
        var stages = new Option<string[]>("--stage")
        {
            Description = $"Stages to report (repeatable; default: {string.Join(", ", StageRegistry.PipelineStages)}).",
            AllowMultipleArgumentsPerToken = true,
        };
        var command = new Command("status", "Show which pipeline stages are stale and why, without running anything.")
        {
            config, root, set, stages,
        };
        command.SetAction(parse => PipelineOptions.Guard(() =>
        {
            var configFile = parse.GetValue(config)!;
            var rootDir = PipelineOptions.ResolveRoot(configFile, parse.GetValue(root));
            var names = parse.GetValue(stages) is { Length: > 0 } s ? s : StageRegistry.PipelineStages.ToArray();
            var (loaded, statuses) = PipelineApi.Status(configFile, rootDir, string.Join(';', parse.GetValue(set) ?? []), names);
            Console.Write(PipelineStatus.Format(loaded, statuses));
            return 0;
        }));
        return command;
    }
}
