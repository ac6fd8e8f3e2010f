using System.CommandLine;
using ToolTune.Cli;
using ToolTune.Diagnostics;

// A plain Command named "tooltune" rather than RootCommand, whose name would be the assembly's (ToolTune.Cli).
var root = new Command("tooltune", "ToolTune: LoRA fine-tuning of small chat models to emit their native tool-call tokens.")
{
    Options = { new System.CommandLine.Help.HelpOption(), new VersionOption() },
};
foreach (var command in Verbs.All())
    root.Subcommands.Add(command);

try
{
    return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (ToolTuneException ex)
{
    Console.Error.WriteLine(ex.ToString());
    return 1;
}
