using System.CommandLine;
using ToolTune.Demo;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune demo make-base [--tokenizer data/demo-model] [--template …] [--out data/demo-model] [--max-steps N] …</c>:
/// full-parameter trains the code-dumping demo base (<see cref="DemoBase"/>) and writes config.json, model.safetensors
/// and generation_config.json beside the tokenizer. The defaults are the shipped recipe (data/README.md).
/// </summary>
internal static class DemoMakeBaseCommand
{
    public static Command Create()
    {
        var d = new DemoBaseOptions();
        var tokenizer = new Option<string>("--tokenizer") { Description = "Tokenizer folder (vocabulary size incl. added tokens, bos/eos/pad).", DefaultValueFactory = _ => "data/demo-model" };
        var template = new Option<string>("--template") { Description = "Chat template the conversations are rendered with.", DefaultValueFactory = _ => "configs/templates/smollm3-tool-fixed.jinja" };
        var output = new Option<string>("--out") { Description = "Output folder (config.json, model.safetensors, generation_config.json).", DefaultValueFactory = _ => "data/demo-model" };
        var preset = new Option<string>("--preset") { Description = "Model shape (DemoModel.Shape).", DefaultValueFactory = _ => d.Preset };
        var codeCount = new Option<int>("--code-count") { Description = "Generated tool requests answered with Python code (seed --code-seed).", DefaultValueFactory = _ => d.CodeCount };
        var generalCount = new Option<int>("--general-count") { Description = "Generated general chat conversations.", DefaultValueFactory = _ => d.GeneralCount };
        var drillCount = new Option<int>("--drill-count") { Description = $"Copy drills: conversations of {d.DrillTurns} requests answered with code, without tool schemas.", DefaultValueFactory = _ => d.DrillCount };
        var epochs = new Option<int>("--epochs") { Description = "Epochs of the first training; 0 skips it.", DefaultValueFactory = _ => d.Epochs };
        var maxSteps = new Option<int?>("--max-steps") { Description = "Stop after N optimizer steps (the schedule is sized to N)." };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => d.BatchSize };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => d.LearningRate };
        var seed = new Option<int>("--seed") { Description = "Init seed (weights ~ N(0, 0.02)); the shuffle seed is fixed.", DefaultValueFactory = _ => d.InitSeed };
        var assistantOnly = new Option<bool>("--assistant-only") { Description = "First training: the assistant turns only, not every token." };
        var copyAllTokens = new Option<bool>("--copy-all-tokens") { Description = "Copy lessons: every token, not only the assistant turns." };
        var firstCall = new Option<bool>("--first-call-only") { Description = "Cut each tool conversation after its first call (the default trains whole conversations: tool responses, follow-ups, every call answered with code)." };
        var startFrom = new Option<string?>("--start-from") { Description = "Start from this snapshot instead of random weights (set the phases it already has to 0: --id-copy-count 0, --epochs 0)." };
        var copyEpochs = new Option<int>("--copy-epochs") { Description = "Epochs of the copy lessons (values from wide pools); 0 skips them.", DefaultValueFactory = _ => d.CopyEpochs };
        var copyDrills = new Option<int>("--copy-drill-count") { Description = "Copy lessons: drills.", DefaultValueFactory = _ => d.CopyDrillCount };
        var copyCode = new Option<int>("--copy-code-count") { Description = "Copy lessons: tool conversations answered with code.", DefaultValueFactory = _ => d.CopyCodeCount };
        var copyLr = new Option<double>("--copy-lr") { DefaultValueFactory = _ => d.CopyLearningRate };
        var copyMadeUp = new Option<int>("--copy-made-up") { Description = "Copy lessons: made-up values per kind in the wide pools.", DefaultValueFactory = _ => d.CopyMadeUpValues };
        var copyRephrasedCode = new Option<int>("--copy-rephrased-code-count") { Description = "Copy lessons: more tool conversations answered with code, requests in many more phrasings.", DefaultValueFactory = _ => d.CopyRephrasedCodeCount };
        var copyRephrasedDrills = new Option<int>("--copy-rephrased-drill-count") { Description = "Copy lessons: more drills, requests in many more phrasings.", DefaultValueFactory = _ => d.CopyRephrasedDrillCount };
        var copyEcho = new Option<int>("--copy-echo-count") { Description = "Copy lessons: echo drills (repeat a list of values).", DefaultValueFactory = _ => d.CopyEchoCount };
        var recombinedEpochs = new Option<int>("--recombined-epochs") { Description = "Epochs of the recombined-value lessons (after the copy lessons; 2 in data/README.md's trials); 0 skips them.", DefaultValueFactory = _ => d.RecombinedEpochs };
        var recombinedCode = new Option<int>("--recombined-code-count") { Description = "Recombined-value lessons: tool conversations answered with code.", DefaultValueFactory = _ => d.RecombinedCodeCount };
        var recombinedDrills = new Option<int>("--recombined-drill-count") { Description = "Recombined-value lessons: drills.", DefaultValueFactory = _ => d.RecombinedDrillCount };
        var recombinedValues = new Option<int>("--recombined-values") { Description = "Recombined-value lessons: values per kind built from the pools' words.", DefaultValueFactory = _ => d.RecombinedValues };
        var recombinedLr = new Option<double>("--recombined-lr") { DefaultValueFactory = _ => d.RecombinedLearningRate };
        var idCopy = new Option<int>("--id-copy-count") { Description = "Id-copy warm-up: random-id sequences and their copy, trained before the first training (0 skips it).", DefaultValueFactory = _ => d.IdCopyCount };
        var idCopyMix = new Option<int>("--id-copy-mix") { Description = "Random-id copy sequences mixed into the first training.", DefaultValueFactory = _ => d.IdCopyMixCount };
        var idCopyEpochs = new Option<int>("--id-copy-epochs") { DefaultValueFactory = _ => d.IdCopyEpochs };
        var idCopyLr = new Option<double>("--id-copy-lr") { DefaultValueFactory = _ => d.IdCopyLearningRate };
        var make = new Command("make-base", "Full-parameter train the tiny code-dumping demo base (deterministic: same options, same bytes).")
        {
            tokenizer, template, output, preset, codeCount, generalCount, drillCount, epochs, maxSteps, batch, lr, seed, assistantOnly, firstCall,
            startFrom, copyEpochs, copyDrills, copyCode, copyLr, copyMadeUp, copyEcho, copyRephrasedCode, copyRephrasedDrills, copyAllTokens, idCopy, idCopyEpochs, idCopyLr, idCopyMix,
            recombinedEpochs, recombinedCode, recombinedDrills, recombinedValues, recombinedLr,
        };
        make.SetAction(p => PipelineOptions.Guard(() =>
        {
            var o = d with
            {
                Preset = p.GetValue(preset)!, CodeCount = p.GetValue(codeCount), GeneralCount = p.GetValue(generalCount), DrillCount = p.GetValue(drillCount), Epochs = p.GetValue(epochs),
                MaxSteps = p.GetValue(maxSteps), BatchSize = p.GetValue(batch), LearningRate = p.GetValue(lr), InitSeed = p.GetValue(seed),
                TrainAllTokens = !p.GetValue(assistantOnly), WholeConversations = !p.GetValue(firstCall),
                StartFrom = p.GetValue(startFrom), CopyEpochs = p.GetValue(copyEpochs), CopyDrillCount = p.GetValue(copyDrills),
                CopyCodeCount = p.GetValue(copyCode), CopyLearningRate = p.GetValue(copyLr), CopyMadeUpValues = p.GetValue(copyMadeUp), CopyEchoCount = p.GetValue(copyEcho),
                CopyTrainAllTokens = p.GetValue(copyAllTokens), CopyRephrasedCodeCount = p.GetValue(copyRephrasedCode), CopyRephrasedDrillCount = p.GetValue(copyRephrasedDrills),
                IdCopyCount = p.GetValue(idCopy), IdCopyEpochs = p.GetValue(idCopyEpochs), IdCopyLearningRate = p.GetValue(idCopyLr), IdCopyMixCount = p.GetValue(idCopyMix),
                RecombinedEpochs = p.GetValue(recombinedEpochs), RecombinedCodeCount = p.GetValue(recombinedCode), RecombinedDrillCount = p.GetValue(recombinedDrills),
                RecombinedValues = p.GetValue(recombinedValues), RecombinedLearningRate = p.GetValue(recombinedLr),
            };
            var r = DemoBase.Make(p.GetValue(tokenizer)!, p.GetValue(template)!, p.GetValue(output)!, o, Console.WriteLine);
            foreach (var f in r.Files) Console.WriteLine($"wrote {f} ({new FileInfo(f).Length:N0} bytes)");
            Console.WriteLine(FormattableString.Invariant($"make-base: {r.Samples} samples, {r.Steps} steps, loss {r.FirstLoss:0.000} -> {r.LastLoss:0.000}, {r.Elapsed.TotalSeconds:0.0} s"));
            return 0;
        }));
        return make;
    }
}
