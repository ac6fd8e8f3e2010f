using System.CommandLine;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune prepare --config … [--set k=v]</c>: the PrepareData stage (<see cref="StageVerb"/>).</summary>
internal static class PrepareCommand
{
    public static Command Create() => StageVerb.Create("prepare", "PrepareData",
        "Run the PrepareData stage: load, filter, mix, split, render, tokenize and mask the data into artifacts/<run>/prepared/.");
}
