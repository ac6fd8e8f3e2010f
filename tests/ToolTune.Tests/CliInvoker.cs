using System.CommandLine;

namespace ToolTune.Tests;

/// <summary>Runs a <c>tooltune</c> command line in-process with Console redirected. Callers must be
/// <c>[DoNotParallelize]</c>: Console is process-wide.</summary>
internal static class CliInvoker
{
    public static (int Exit, string Out, string Err) Invoke(params string[] args)
    {
        var root = new RootCommand();
        foreach (var c in ToolTune.Cli.Verbs.All()) root.Subcommands.Add(c);
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        Console.SetOut(stdout);
        Console.SetError(stderr);
        try
        {
            var exit = root.Parse(args).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
            return (exit, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }
}
