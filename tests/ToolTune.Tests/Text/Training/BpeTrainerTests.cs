using System.Text.Json;
using ToolTune.Text.Tokenization;
using ToolTune.Text.Training;

namespace ToolTune.Tests.Text.Training;

/// <summary>The trainer on tiny corpora whose merges were worked out by hand (HF BpeTrainer rules).</summary>
[TestClass]
public sealed class BpeTrainerTests
{
    private static BpeTrainer Classic(int extraVocab = 1000, long minFrequency = 1)
    {
        // The tokenizers docs' example: hug×10, pug×5, pun×12, bun×4, hugs×5.
        var t = new BpeTrainer(new BpeTrainerOptions { VocabSize = 256 + 32 + extraVocab, MinFrequency = minFrequency });
        t.FeedWord("hug", 10);
        t.FeedWord("pug", 5);
        t.FeedWord("pun", 12);
        t.FeedWord("bun", 4);
        t.FeedWord("hugs", 5);
        return t;
    }

    private static string[] Merges(BpeTrainingResult r) => r.Merges.Select(m => m.Left + " " + m.Right).ToArray();

    [TestMethod]
    public void ClassicCorpus_HandCheckedMerges()
    {
        // Pair counts: ug 20, pu 17, un 16, hu 15, gs 5, bu 4 → "ug"; then un 16 (pu fell to 12, hu to 0) → "un";
        // h+ug 15; p+un 12; then a tie at 5 between (p, ug) and (hug, s): ids (79, 256) < (258, 82) → "pug" first;
        // "hugs"; b+un 4. Nothing left.
        var r = Classic().Train();
        CollectionAssert.AreEqual(new[] { "u g", "u n", "h ug", "p un", "p ug", "hug s", "b un" }, Merges(r));
        Assert.AreEqual(256 + 7, r.Vocab.Count);
        Assert.AreEqual("!", r.Vocab[0]);                       // byte chars sorted by code point
        Assert.AreEqual("Ġ", r.Vocab[IndexOfByteChar('Ġ')]);
        Assert.AreEqual("ug", r.Vocab[256]);
        Assert.AreEqual("bun", r.Vocab[262]);
    }

    private static int IndexOfByteChar(char c)
    {
        var chars = Enumerable.Range(0, 256).Select(b => ByteChar(b)).Order().ToList();
        return chars.IndexOf(c);
    }

    private static char ByteChar(int b)
    {
        int n = 0;
        for (int x = 0; x < 256; x++)
        {
            bool printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
            char c = printable ? (char)x : (char)(256 + n++);
            if (x == b) return c;
        }
        throw new ArgumentOutOfRangeException(nameof(b));
    }

    [TestMethod]
    public void VocabTargetAndMinFrequencyStopTraining()
    {
        CollectionAssert.AreEqual(new[] { "u g", "u n", "h ug", "p un", "p ug" }, Merges(Classic(extraVocab: 5).Train()));
        CollectionAssert.AreEqual(new[] { "u g", "u n", "h ug", "p un", "p ug", "hug s" }, Merges(Classic(minFrequency: 5).Train()));
    }

    [TestMethod]
    public void RepeatedSymbols_MergeLeftToRightWithoutOverlap()
    {
        // "aaaaa": (a,a) 4 → aa aa a; then (aa, a) 1 and (aa, aa) 1 tie: (256, 64) < (256, 256) → "aaa" → aa aaa; then "aaaaa".
        var t = new BpeTrainer(new BpeTrainerOptions { VocabSize = 1000, MinFrequency = 1 });
        t.FeedWord("aaaaa");
        CollectionAssert.AreEqual(new[] { "a a", "aa a", "aa aaa" }, Merges(t.Train()));
    }

    [TestMethod]
    public void Feed_PreTokenizesWithLlama3Regex_AndSkipsAddedTokens()
    {
        var t = new BpeTrainer(new BpeTrainerOptions { VocabSize = 1000, MinFrequency = 1 });
        t.Feed("<|im_start|>user\nhello hello<tool_call>{\"a\": 1}</tool_call><|im_end|>");
        // user | \n | hello | Ġhello | {" | a | ": | Ġ | 1 | }
        Assert.AreEqual(10, t.TotalWords);
        var r = t.Train();
        Assert.IsFalse(r.Vocab.Skip(256).Any(v => v.Contains('<') || v.Contains('|')), string.Join(" ", r.Vocab.Skip(256)));
        CollectionAssert.Contains(r.Vocab.ToList(), "Ġhello");
        CollectionAssert.Contains(r.Vocab.ToList(), "{\"");
        Assert.AreEqual(r.Vocab.Count + 15, r.AddedTokenId("<tool_call>"));
    }

    [TestMethod]
    public void DigitGroups_EveryOneToThreeDigitStringIsOneToken()
    {
        var t = new BpeTrainer(new BpeTrainerOptions { VocabSize = 4000, DigitGroups = true });
        t.Feed("Version 12 of 345.");
        var r = t.Train();
        var vocab = r.Vocab.ToHashSet();
        for (int v = 0; v < 1000; v++) Assert.IsTrue(vocab.Contains(v.ToString("D3")), v.ToString("D3"));
        for (int v = 0; v < 100; v++) Assert.IsTrue(vocab.Contains(v.ToString("D2")), v.ToString("D2"));
    }

    [TestMethod]
    public void TrainedFile_LoadsAndEncodesWithToolTuneTokenizer()
    {
        var t = new BpeTrainer(new BpeTrainerOptions { VocabSize = 600 });
        for (int i = 0; i < 50; i++)
            t.Feed($"<|im_start|>user\nWhat is the weather in Paris on day {i}?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{{\"name\": \"get_weather\", \"arguments\": {{\"city\": \"Paris\", \"day\": {i}}}}}\n</tool_call><|im_end|>\n");
        var r = t.Train();
        var dir = Path.Combine(Path.GetTempPath(), $"tt-bpe-{Guid.NewGuid():N}");
        try
        {
            r.Save(dir, "{{ messages }}");
            var tok = Tokenizer.FromDirectory(dir);
            Assert.AreEqual(r.TotalVocabSize, tok.VocabularySize);
            var text = "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich 🌧\"}}\n</tool_call><|im_end|>";
            var ids = tok.EncodeToIds(text);
            Assert.AreEqual(text, tok.Decode(ids));
            Assert.AreEqual(r.AddedTokenId("<|im_start|>"), ids[0]);
            Assert.AreEqual(r.AddedTokenId("<|im_end|>"), ids[^1]);
            CollectionAssert.Contains(ids.ToList(), r.AddedTokenId("<tool_call>"));
            Assert.AreEqual(r.AddedTokenId("<|im_end|>"), tok.EosTokenId);
            Assert.IsNull(tok.BosToken);
            Assert.AreEqual("{{ messages }}", tok.ChatTemplate);
            Assert.AreEqual("{{ messages }}", File.ReadAllText(Path.Combine(dir, "chat_template.jinja")));
            // Seen 50 times: one token per pre-tokenized word ("get" | "_weather", " Paris").
            Assert.AreEqual(2, tok.EncodeToIds("get_weather").Count);
            Assert.AreEqual(1, tok.EncodeToIds(" Paris").Count);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    public void Json_IsSerdePrettyLayout()
    {
        var t = new BpeTrainer(new BpeTrainerOptions { VocabSize = 300, MinFrequency = 1 });
        t.FeedWord("ab", 3);
        t.FeedWord("\"\\", 2);
        var r = t.Train();
        var json = r.ToTokenizerJson();
        Assert.IsTrue(json.StartsWith("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [\n    {\n      \"id\": "), json[..200]);
        Assert.IsFalse(json.EndsWith('\n'));
        StringAssert.Contains(json, "\"special_tokens\": {}");
        StringAssert.Contains(json, "\"merges\": [\n      [\n        \"a\",\n        \"b\"\n      ],");
        StringAssert.Contains(json, "\"\\\"\\\\\": 257");   // the token "\ escaped
        using var doc = JsonDocument.Parse(json);
        Assert.AreEqual(true, doc.RootElement.GetProperty("model").GetProperty("ignore_merges").GetBoolean());
        var cfg = r.ToTokenizerConfigJson("x\u2500\n");
        Assert.IsTrue(cfg.EndsWith("}\n"));
        StringAssert.Contains(cfg, "\"chat_template\": \"x\u2500\\n\"");
        using var cdoc = JsonDocument.Parse(cfg);
        var keys = cdoc.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        CollectionAssert.AreEqual(keys.Order(StringComparer.Ordinal).ToList(), keys);
    }

    /// <summary>The incremental pair index gives exactly the merges of a naive trainer that recounts every pair of every
    /// word before each merge (max count, then the smaller (left id, right id)), on seeded random words and on text.</summary>
    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(3)]
    public void IncrementalCounts_EqualNaiveRecount(int seed)
    {
        var rng = new Random(seed);
        var words = new Dictionary<string, long>();
        string alphabet = seed == 3 ? "aab" : "abcdeéĠ";
        for (int i = 0; i < 400; i++)
        {
            var sb = new System.Text.StringBuilder();
            int len = 1 + rng.Next(9);
            for (int k = 0; k < len; k++) sb.Append(alphabet[rng.Next(alphabet.Length)]);
            words[sb.ToString()] = words.GetValueOrDefault(sb.ToString()) + 1 + rng.Next(20);
        }
        var t = new BpeTrainer(new BpeTrainerOptions { VocabSize = 256 + 32 + 250, MinFrequency = 2 });
        foreach (var (w, c) in words) t.FeedWord(w, c);
        var r = t.Train();
        CollectionAssert.AreEqual(Naive(words, 250, 2), Merges(r));
    }

    private static string[] Naive(Dictionary<string, long> rawWords, int maxNewTokens, long minFrequency)
    {
        // Byte-level map of each word, then one symbol per char.
        var vocab = Enumerable.Range(0, 256).Select(ByteChar).Order().Select(c => c.ToString()).ToList();
        var ids = vocab.Select((v, i) => (v, i)).ToDictionary(x => x.v, x => x.i);
        var words = rawWords.Select(kv => (Symbols: System.Text.Encoding.UTF8.GetBytes(kv.Key).Select(b => ids[ByteChar(b).ToString()]).ToList(), Count: kv.Value)).ToList();
        var merges = new List<string>();
        int target = 256 + maxNewTokens;
        while (vocab.Count < target)
        {
            var counts = new Dictionary<(int, int), long>();
            foreach (var (sym, c) in words)
                for (int i = 0; i + 1 < sym.Count; i++) counts[(sym[i], sym[i + 1])] = counts.GetValueOrDefault((sym[i], sym[i + 1])) + c;
            if (counts.Count == 0) break;
            var best = counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key.Item1).ThenBy(kv => kv.Key.Item2).First();
            if (best.Value < minFrequency) break;
            var (a, b) = best.Key;
            var merged = vocab[a] + vocab[b];
            if (!ids.TryGetValue(merged, out int id)) { id = vocab.Count; vocab.Add(merged); ids[merged] = id; }
            merges.Add(vocab[a] + " " + vocab[b]);
            foreach (var (sym, _) in words)
                for (int i = 0; i + 1 < sym.Count; i++)
                    if (sym[i] == a && sym[i + 1] == b) { sym[i] = id; sym.RemoveAt(i + 1); }
        }
        return merges.ToArray();
    }
}
