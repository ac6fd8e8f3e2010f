using System.CommandLine;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune make-model --preset demo --tokenizer DIR --out DIR [--seed 1]</c>: a random-init
/// SmolLM3-architecture snapshot (config.json + model.safetensors, F32) sized to the tokenizer (added tokens included).</summary>
internal static class MakeModelCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = "Model shape: demo (hidden 64, intermediate 192, 4 layers, 4 heads, 2 KV heads, NoPE every 4th layer, tied), tiny.", DefaultValueFactory = _ => "demo" };
        var tokenizer = new Option<string>("--tokenizer") { Description = "Tokenizer folder: sets the vocabulary size (incl. added tokens) and bos/eos/pad ids.", Required = true };
        var output = new Option<string>("--out") { Description = "Output folder (config.json, model.safetensors, generation_config.json).", Required = true };
        var seed = new Option<int>("--seed") { Description = "Init seed (weights ~ N(0, 0.02), norms 1).", DefaultValueFactory = _ => 1 };
        var cmd = new Command("make-model", "Write a random-init SmolLM3-architecture base model sized to a tokenizer (deterministic from the seed).")
        {
            preset, tokenizer, output, seed,
        };
        cmd.SetAction(p => PipelineOptions.Guard(() =>
        {
            var files = ToolTune.Demo.DemoModel.Write(p.GetValue(preset)!, p.GetValue(tokenizer)!, p.GetValue(output)!, p.GetValue(seed));
            foreach (var f in files) Console.WriteLine($"wrote {f} ({new FileInfo(f).Length:N0} bytes)");
            return 0;
        }));
        return cmd;
    }
}
