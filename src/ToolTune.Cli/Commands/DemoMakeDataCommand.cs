using System.CommandLine;
using ToolTune.Demo;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune demo make-data [--out data/demo] [--tool-count N] [--general-count N] [--seed S]</c>.</summary>
internal static class DemoMakeDataCommand
{
    public static Command Create()
    {
        var d = new DemoDataOptions();
        var output = new Option<string>("--out") { Description = "Output folder.", DefaultValueFactory = _ => "data/demo" };
        var toolCount = new Option<int>("--tool-count") { Description = "Generated Hermes tool conversations.", DefaultValueFactory = _ => d.ToolCount };
        var generalCount = new Option<int>("--general-count") { Description = "Generated general instruct conversations.", DefaultValueFactory = _ => d.GeneralCount };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => d.Seed };
        var make = new Command("make-data", "Generate the demo data set (Hermes tool conversations + general chat; same options, same bytes).")
        {
            output, toolCount, generalCount, seed,
        };
        make.SetAction(p => PipelineOptions.Guard(() =>
        {
            var o = d with { ToolCount = p.GetValue(toolCount), GeneralCount = p.GetValue(generalCount), Seed = p.GetValue(seed) };
            foreach (var f in DemoData.Write(p.GetValue(output)!, o)) Console.WriteLine($"wrote {f} ({new FileInfo(f).Length:N0} bytes)");
            return 0;
        }));
        return make;
    }
}
