using System.CommandLine;
using ToolTune.Pipeline;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Cli.Commands;

/// <summary>
/// The verbs that run one pipeline stage (<c>prepare</c>, <c>verify</c>, <c>train</c>): the same entry point as the MSBuild
/// targets (<see cref="PipelineApi.RunStage"/>: temp folder, move into place, manifest, stamps), with
/// <c>--set key=value</c> overrides like <c>-p:Override</c>. Errors print as <c>file(line,col): error TT####: …</c>, exit 1.
/// </summary>
internal static class StageVerb
{
    public static Command Create(string verb, string stage, string description, bool withResume = false)
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
}
