using System.CommandLine;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune demo make-base|make-data</c>: the embedded default's demo assets (<see cref="DemoMakeBaseCommand"/>,
/// <see cref="DemoMakeDataCommand"/>).</summary>
internal static class DemoCommand
{
    public static Command Create() => new("demo", "The embedded default's demo assets.") { DemoMakeBaseCommand.Create(), DemoMakeDataCommand.Create() };
}
