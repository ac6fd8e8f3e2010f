using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ToolTune.Demo;
using ToolTune.Diagnostics;
using ToolTune.Text.Tokenization;
using ToolTune.Text.Training;

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
                          "or gen:KIND:COUNT:SEED with KIND hermes, code, demo, demo-code or general (generated demo conversations, rendered).",
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
        var split = new Option<string>("--split")
        {
            Description = "Pre-tokenizer split: llama3 (SmolLM3's regex, a word takes the space before it) or words (a word is the same ids wherever it stands; the demo tokenizer's). Default llama3.",
            DefaultValueFactory = _ => "llama3",
        };
        split.AcceptOnlyFromAmong([.. SplitPatterns.Names]);
        var date = new Option<string?>("--date") { Description = "Date strftime_now sees while rendering, YYYY-MM-DD (default 2025-07-01, pinned for reproducibility)." };

        var cmd = new Command("make-tokenizer", "Train a SmolLM3-style byte-level BPE tokenizer (tokenizer.json + tokenizer_config.json) on text or rendered conversations.")
        {
            corpus, vocab, template, output, minFreq, reserved, maxLen, digits, split, date,
        };
        cmd.SetAction(parse =>
        {
            try
            {
                return Run(parse.GetValue(corpus)!, parse.GetValue(vocab), parse.GetValue(template)!, parse.GetValue(output)!,
                    parse.GetValue(minFreq), parse.GetValue(reserved), parse.GetValue(maxLen), parse.GetValue(digits),
                    SplitPatterns.Named(parse.GetValue(split)!), parse.GetValue(date), Console.Out);
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
        int reservedTokens, int modelMaxLength, bool digitGroups, string splitPattern, string? date, TextWriter stdout)
    {
        var sw = Stopwatch.StartNew();
        DateTime? now = date is null ? null
            : DateTime.SpecifyKind(DateTime.ParseExact(date, "yyyy-MM-dd", CultureInfo.InvariantCulture), DateTimeKind.Utc);
        var result = DemoTokenizer.Train(sources, templatePath, vocabSize, minFrequency, reservedTokens, now, digitGroups, splitPattern, out var corpus);
        var templateText = File.ReadAllText(templatePath);
        result.Save(outDir, templateText, modelMaxLength: modelMaxLength);

        // Self-check: the written files load in ToolTune's tokenizer, every added token is one id, and text round-trips.
        var tok = Tokenizer.FromDirectory(outDir);
        foreach (var t in result.AddedTokens)
        {
            var ids = tok.EncodeToIds(t.Content);
            if (ids.Count != 1 || ids[0] != result.AddedTokenId(t.Content))
                throw new ToolTuneException(ErrorCodes.TokenizerInvalidModel, $"self-check failed: added token {t.Content} does not encode to id {result.AddedTokenId(t.Content)}", outDir);
        }
        const string probe = "<|im_start|>user\nWeather in Zürich? 😀 12345<|im_end|>\n<tool_call>\n{\"name\": \"x\", \"arguments\": {}}\n</tool_call>";
        if (tok.Decode(tok.EncodeToIds(probe)) != probe)
            throw new ToolTuneException(ErrorCodes.TokenizerInvalidModel, "self-check failed: decode(encode(x)) != x", outDir);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"make-tokenizer: {result.TotalChars:N0} chars, {corpus.Conversations} conversations rendered ({corpus.Skipped} skipped), " +
            $"{result.TotalWords:N0} words ({result.DistinctWords:N0} distinct); vocab {result.Vocab.Count} + {result.AddedTokens.Count} added = {result.TotalVocabSize}, " +
            $"{result.Merges.Count} merges; merge loop {result.TrainTime.TotalSeconds:F2} s, total {sw.Elapsed.TotalSeconds:F2} s → {outDir}"));
        foreach (var t in new[] { "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>" })
            stdout.WriteLine($"  {t} = {result.AddedTokenId(t)}");
        return 0;
    }
}
