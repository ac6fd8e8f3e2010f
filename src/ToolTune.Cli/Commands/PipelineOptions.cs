using System.CommandLine;

namespace ToolTune.Cli.Commands;

/// <summary>Options shared by the verbs that read a run config (<c>--config</c>, <c>--root</c>, <c>--set</c>) and the guard that prints their coded errors.</summary>
internal static class PipelineOptions
{
    public static Option<string> Config() => new("--config", "-c")
    {
        Description = "The run config (YAML).",
        Required = true,
    };

    public static Option<string?> Root() => new("--root")
    {
        Description = "Project root for relative paths in the config (default: the folder holding Pipeline.proj above the config, else the current folder).",
    };

    public static Option<string[]> Set() => new("--set")
    {
        Description = "Override a config key, like -p:Override in MSBuild: --set train.learning_rate=1e-4 (repeatable).",
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>Runs a verb body, printing a <see cref="Diagnostics.ToolTuneException"/> as <c>file(line,col): error TT####: …</c> (exit code 1).</summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Diagnostics.ToolTuneException ex)
        {
            Console.Error.WriteLine(ex.ToString());
            return 1;
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C / SIGTERM (Program.cs): the stage runner has already removed its temporary output.
            Console.Error.WriteLine($"error {Diagnostics.ErrorCodes.StageCanceled}: canceled; the previous outputs are kept (a canceled TrainLora resumes from its last checkpoint).");
            return CanceledExitCode;
        }
    }

    /// <summary>128 + SIGINT, what shells report for a command stopped by Ctrl+C.</summary>
    public const int CanceledExitCode = 130;

    public static string ResolveRoot(string configFile, string? root)
    {
        if (!string.IsNullOrEmpty(root)) return Path.GetFullPath(root);
        for (var dir = Path.GetDirectoryName(Path.GetFullPath(configFile)); dir is not null; dir = Path.GetDirectoryName(dir))
            if (File.Exists(Path.Combine(dir, "Pipeline.proj"))) return dir;
        return Directory.GetCurrentDirectory();
    }
}
