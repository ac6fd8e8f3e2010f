using System.CommandLine;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune verify --config … [--set k=v]</c>: the VerifyTokens stage (<see cref="StageVerb"/>).</summary>
internal static class VerifyCommand
{
    public static Command Create() => StageVerb.Create("verify", "VerifyTokens",
        "Run the VerifyTokens stage: check delimiters, masks and tool-call JSON of every prepared sample and lint the template.");
}
