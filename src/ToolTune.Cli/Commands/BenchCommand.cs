using System.CommandLine;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune bench &lt;subcommand&gt;</c>: micro-benchmarks printing one JSON line each; each subcommand is a
/// <c>Bench*Command</c> of its own, added in <see cref="Verbs"/>.</summary>
internal static class BenchCommand
{
    public static Command Create() => new("bench", "Benchmarks (one JSON line of results per run)");

    internal static double Median(List<double> xs)
    {
        var s = xs.OrderBy(x => x).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
