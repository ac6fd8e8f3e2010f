using ToolTune.Text.Templates;
using ToolTune.Text.Training;

namespace ToolTune.Demo;

/// <summary>
/// The recipe of the embedded default's tokenizer (<c>data/demo-model/</c>) and the training entry point shared by
/// <c>tooltune make-tokenizer</c> and the tests. Regenerate with the command in <c>data/README.md</c>.
/// </summary>
public static class DemoTokenizer
{
    /// <summary>Training sources of the shipped demo tokenizer.</summary>
    public static readonly string[] Sources = ["gen:demo:1000:5", "gen:demo-code:1000:6", "gen:general:400:7"];

    /// <summary>Split regex of the shipped demo tokenizer: words keep the same ids wherever they stand (see
    /// <see cref="SplitPatterns.Words"/>), so the tiny demo base can copy argument values.</summary>
    public const string SplitPattern = SplitPatterns.Words;

    /// <summary>Total vocabulary size of the shipped demo tokenizer (bytes + merges + added tokens).</summary>
    public const int VocabSize = 4096;

    /// <summary>The template, relative to the repository root.</summary>
    public const string TemplatePath = "configs/templates/smollm3-tool-fixed.jinja";

    /// <summary>The output folder, relative to the repository root.</summary>
    public const string OutputPath = "data/demo-model";

    /// <summary>Feeds every source (rendered with the template at <paramref name="templatePath"/>) and trains.</summary>
    public static BpeTrainingResult Train(IReadOnlyList<string> sources, string templatePath, int vocabSize = VocabSize, long minFrequency = 2,
        int reservedTokens = 13, DateTime? now = null, bool digitGroups = true, string splitPattern = SplitPattern) =>
        Train(sources, templatePath, vocabSize, minFrequency, reservedTokens, now, digitGroups, splitPattern, out _);

    public static BpeTrainingResult Train(IReadOnlyList<string> sources, string templatePath, int vocabSize, long minFrequency,
        int reservedTokens, DateTime? now, bool digitGroups, string splitPattern, out TrainingCorpus corpus)
    {
        var template = ChatTemplate.Load(templatePath);
        corpus = new TrainingCorpus(template, now);
        var trainer = new BpeTrainer(new BpeTrainerOptions
        {
            VocabSize = vocabSize,
            MinFrequency = minFrequency,
            AddedTokens = BpeTrainer.SmolLM3AddedTokens(reservedTokens),
            DigitGroups = digitGroups,
            SplitPattern = splitPattern,
        });
        foreach (var source in sources)
            foreach (var text in corpus.Texts(source))
                trainer.Feed(text);
        return trainer.Train();
    }

    /// <summary>Rendered conversations the parity fixture checks against transformers.js
    /// (<c>tests/oracles/demo_tokenizer_texts.json</c>): the demo sample file, some training conversations, and
    /// held-out ones (other seeds) of every kind.</summary>
    public static List<string> ParityTexts(string templatePath)
    {
        var corpus = new TrainingCorpus(ChatTemplate.Load(templatePath));
        var texts = new List<string>();
        foreach (var rec in Data.Generation.HermesGenerator.SampleFile())
        {
            var raw = new Data.Loaders.RawRecord(rec!.AsObject(), "sample", texts.Count + 1, null);
            var conv = Data.Loaders.DataLoader.Convert(raw, new Data.Loaders.DataSourceSpec("sample", "sample"), new Data.Loaders.LoadOptions(), out var issue);
            if (conv is not null && issue is null) texts.Add(corpus.Render(conv));
        }
        foreach (var source in new[] { "gen:hermes:6:7", "gen:hermes:12:1001", "gen:code:6:1002", "gen:general:5:1003", "gen:demo:8:1004", "gen:demo-code:6:1005" })
            texts.AddRange(corpus.Texts(source));
        return texts;
    }
}
