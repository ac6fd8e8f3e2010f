using System.CommandLine;
using ToolTune.Lora.Merge;
using ToolTune.Pipeline;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune merge --base DIR --adapter DIR --out DIR</c>: fold a PEFT LoRA adapter into its base and write a complete
/// Hugging Face snapshot (<see cref="AdapterMerger"/>). <c>tooltune merge --config FILE</c> runs the MergeAdapter stage
/// (the MSBuild target's entry point).
/// </summary>
internal static class MergeCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config", "-c") { Description = "Pipeline config (runs the MergeAdapter stage)." };
        var root = PipelineOptions.Root();
        var set = PipelineOptions.Set();
        var baseDir = new Option<string?>("--base") { Description = "Base model snapshot folder (config.json + safetensors)." };
        var adapter = new Option<string?>("--adapter") { Description = "PEFT adapter folder (adapter_config.json + adapter_model.safetensors)." };
        var output = new Option<string?>("--out", "-o") { Description = "Output folder (replaced atomically)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Folder with tokenizer files (default: --base)." };
        var template = new Option<string?>("--chat-template") { Description = "The chat template the model was trained with (.jinja; default: the tokenizer's)." };
        var thinking = new Option<bool>("--thinking") { Description = "Thinking was used: serving.md adds --reasoning-parser." };
        var untieHead = new Option<bool>("--untie-head") { Description = "Untie a tied head: lm_head = base embedding (PEFT runtime semantics, for adapters trained by PEFT; ToolTune trains the tied head to follow the embedding, the default)." };
        var name = new Option<string>("--adapter-name") { Description = "LoRA module name in serving.md.", DefaultValueFactory = _ => "tooltune" };
        var command = new Command("merge", "Merge a LoRA adapter into its base model and write a Hugging Face snapshot (+ serving.md).")
        {
            config, root, set, baseDir, adapter, output, tokenizer, template, thinking, untieHead, name,
        };
        command.SetAction((parse, ct) => Task.FromResult(PipelineOptions.Guard(() =>
        {
            if (parse.GetValue(config) is { } configFile)
            {
                var rootDir = PipelineOptions.ResolveRoot(configFile, parse.GetValue(root));
                var r = PipelineApi.RunStage(configFile, rootDir, string.Join(';', parse.GetValue(set) ?? []), "MergeAdapter", ConsoleLog.Instance, ct);
                Console.WriteLine($"MergeAdapter: outputs in {r.OutputDir}");
                return 0;
            }
            var b = parse.GetValue(baseDir);
            var a = parse.GetValue(adapter);
            var o = parse.GetValue(output);
            if (b is null || a is null || o is null)
            {
                Console.Error.WriteLine("tooltune merge: give --config FILE, or --base DIR --adapter DIR --out DIR");
                return 2;
            }
            var result = AdapterMerger.Merge(new MergeOptions
            {
                BaseDir = b, AdapterDir = a, OutputDir = o, TokenizerDir = parse.GetValue(tokenizer), ChatTemplateFile = parse.GetValue(template),
                Thinking = parse.GetValue(thinking), TiedHead = parse.GetValue(untieHead) ? TiedHeadMode.Untie : TiedHeadMode.KeepTied,
                AdapterName = parse.GetValue(name)!, Log = Console.Error.WriteLine,
            }, ct);
            Console.WriteLine($"merged {result.MergedTensors} tensor(s), copied {result.CopiedTensors}{(result.Untied ? ", head untied" : "")} -> {result.OutputDir}");
            return 0;
        })));
        return command;
    }
}
