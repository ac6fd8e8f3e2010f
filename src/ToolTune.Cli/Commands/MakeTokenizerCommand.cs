using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ToolTune.Diagnostics;
using ToolTune.Text;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune make-tokenizer --corpus &lt;source&gt;… --vocab-size N --template &lt;jinja&gt; --out &lt;dir&gt;</c>: trains a
/// SmolLM3-shaped byte-level BPE tokenizer (see <see cref="BpeTrainer"/>) and writes tokenizer.json,
/// tokenizer_config.json and chat_template.jinja. Conversation sources are rendered with the template first.
/// </summary>
internal static class MakeTokenizerCommand
{
    public static Command Create()
    {
        var corpus = new Option<string[]>("--corpus")
        {
            Description = "Training source (repeatable): a .txt file, a Hermes/OpenAI/instruct .json/.jsonl file (rendered with the template), " +
                          "or gen:hermes:COUNT:SEED / gen:general:COUNT:SEED (generated demo conversations, rendered).",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var vocab = new Option<int>("--vocab-size") { Description = "Total vocabulary size: 256 bytes + merges + added tokens (default 4096).", DefaultValueFactory = _ => 4096 };
        var template = new Option<string>("--template") { Description = "Chat template (.jinja) used to render conversations and stored in tokenizer_config.json.", Required = true };
        var output = new Option<string>("--out") { Description = "Output directory.", Required = true };
        var minFreq = new Option<long>("--min-frequency") { Description = "Minimum pair frequency to merge (default 2).", DefaultValueFactory = _ => 2 };
        var reserved = new Option<int>("--reserved-tokens") { Description = "Reserved special tokens after SmolLM3's named added tokens (default 13).", DefaultValueFactory = _ => 13 };
        var maxLen = new Option<int>("--model-max-length") { Description = "model_max_length in tokenizer_config.json (default 8192).", DefaultValueFactory = _ => 8192 };
        var digits = new Option<bool>("--digit-groups") { Description = "Make every 1-3 digit string a token (as Llama-3 / SmolLM3 have), at the lowest merge priority." };
        var date = new Option<string?>("--date") { Description = "Date strftime_now sees while rendering, YYYY-MM-DD (default 2025-07-01, pinned for reproducibility)." };

        var cmd = new Command("make-tokenizer", "Train a SmolLM3-style byte-level BPE tokenizer (tokenizer.json + tokenizer_config.json) on text or rendered conversations.")
        {
            corpus, vocab, template, output, minFreq, reserved, maxLen, digits, date,
        };
        cmd.SetAction(parse =>
        {
            try
            {
                return Run(parse.GetValue(corpus)!, parse.GetValue(vocab), parse.GetValue(template)!, parse.GetValue(output)!,
                    parse.GetValue(minFreq), parse.GetValue(reserved), parse.GetValue(maxLen), parse.GetValue(digits), parse.GetValue(date), Console.Out);
            }
            catch (Exception ex) when (ex is ToolTuneException or ArgumentException or IOException)
            {
                Console.Error.WriteLine(ex is ToolTuneException ? ex.ToString() : "error: " + ex.Message);
                return 1;
            }
        });
        return cmd;
    }

    internal static int Run(IReadOnlyList<string> sources, int vocabSize, string templatePath, string outDir, long minFrequency,
        int reservedTokens, int modelMaxLength, bool digitGroups, string? date, TextWriter stdout)
    {
        var sw = Stopwatch.StartNew();
        DateTime? now = date is null ? null
            : DateTime.SpecifyKind(DateTime.ParseExact(date, "yyyy-MM-dd", CultureInfo.InvariantCulture), DateTimeKind.Utc);
        var result = DemoTokenizer.Train(sources, templatePath, vocabSize, minFrequency, reservedTokens, now, digitGroups, out var corpus);
        var templateText = File.ReadAllText(templatePath);
        result.Save(outDir, templateText, modelMaxLength: modelMaxLength);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"make-tokenizer: {result.TotalChars:N0} chars, {corpus.Conversations} conversations rendered ({corpus.Skipped} skipped), " +
            $"{result.TotalWords:N0} words ({result.DistinctWords:N0} distinct); vocab {result.Vocab.Count} + {result.AddedTokens.Count} added = {result.TotalVocabSize}, " +
            $"{result.Merges.Count} merges; merge loop {result.TrainTime.TotalSeconds:F2} s, total {sw.Elapsed.TotalSeconds:F2} s → {outDir}"));
        foreach (var t in new[] { "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>" })
            stdout.WriteLine($"  {t} = {result.AddedTokenId(t)}");
        return 0;
    }
}
