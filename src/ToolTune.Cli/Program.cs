using System.CommandLine;
using ToolTune.Cli;
using ToolTune.Diagnostics;

var root = new RootCommand("ToolTune: LoRA fine-tuning of small chat models to emit their native tool-call tokens.");
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
