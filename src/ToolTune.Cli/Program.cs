using System.CommandLine;
using System.Runtime.InteropServices;
using ToolTune.Cli;
using ToolTune.Diagnostics;

// A plain Command named "tooltune" rather than RootCommand, whose name would be the assembly's (ToolTune.Cli).
var root = new Command("tooltune", "ToolTune: LoRA fine-tuning of small chat models to emit their native tool-call tokens.")
{
    Options = { new System.CommandLine.Help.HelpOption(), new VersionOption() },
};
foreach (var command in Verbs.All())
    root.Subcommands.Add(command);

// Ctrl+C / SIGTERM cancel the running verb through its token (the stage removes its temporary output and keeps the
// previous one; PipelineOptions.Guard prints TT2099). A second signal terminates at once, like a terminal expects.
// System.CommandLine's own handler is off: it gives up after a timeout and exits without the verb's cleanup.
using var cancel = new CancellationTokenSource();
void OnSignal(PosixSignalContext context)
{
    if (cancel.IsCancellationRequested) return;
    context.Cancel = true;
    Console.Error.WriteLine("tooltune: canceling (press Ctrl+C again to terminate at once)...");
    cancel.Cancel();
}
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

try
{
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }, cancel.Token);
}
catch (ToolTuneException ex)
{
    Console.Error.WriteLine(ex.ToString());
    return 1;
}
