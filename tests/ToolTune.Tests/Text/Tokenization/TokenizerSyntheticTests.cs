using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Text.Tokenization;

namespace ToolTune.Tests.Text.Tokenization;

/// <summary>Small hand-built tokenizer.json files: options the real files do not use, and error reporting.</summary>
[TestClass]
public sealed class TokenizerSyntheticTests
{
    public TestContext TestContext { get; set; } = null!;

    private string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tooltune-tok-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>A byte-level vocabulary (256 byte chars) plus merges for "he", "hel", "hell", "hello", "Ġw", "Ġwo".</summary>
    private static JsonObject ByteLevelTokenizer(bool stringMerges = false)
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[ByteLevelMap.ByteToChar[b].ToString()] = b;
        string[][] merges = [["h", "e"], ["he", "l"], ["hel", "l"], ["hell", "o"], ["Ġ", "w"], ["Ġw", "o"]];
        int next = 256;
        foreach (var m in merges) vocab[m[0] + m[1]] = next++;
        var mergeArray = new JsonArray(merges.Select(m => stringMerges ? (JsonNode)JsonValue.Create(m[0] + " " + m[1]) : new JsonArray(m[0], m[1])).ToArray());
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(
                Added(300, "<s>", special: true),
                Added(301, "<mask>", lstrip: true, rstrip: true, special: true),
                Added(302, "yo", singleWord: true)),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                ["pair"] = new JsonArray(),
                ["special_tokens"] = new JsonObject { ["<s>"] = new JsonObject { ["id"] = "<s>", ["ids"] = new JsonArray(300), ["tokens"] = new JsonArray("<s>") } },
            },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = mergeArray, ["ignore_merges"] = false },
        };
    }

    private static JsonObject Added(int id, string content, bool lstrip = false, bool rstrip = false, bool singleWord = false, bool special = false) =>
        new() { ["id"] = id, ["content"] = content, ["single_word"] = singleWord, ["lstrip"] = lstrip, ["rstrip"] = rstrip, ["normalized"] = false, ["special"] = special };

    private string Write(JsonObject json, string? raw = null)
    {
        var path = Path.Combine(TempDir(), "tokenizer.json");
        File.WriteAllText(path, raw ?? json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    [TestMethod]
    public void ArrayAndStringMergesGiveTheSameTokens()
    {
        var a = Tokenizer.FromFile(Write(ByteLevelTokenizer()));
        var b = Tokenizer.FromFile(Write(ByteLevelTokenizer(stringMerges: true)));
        CollectionAssert.AreEqual(new[] { 259, 261 }, a.EncodeToIds("hello wo").ToArray());
        CollectionAssert.AreEqual(a.EncodeToIds("hello wo hell").ToArray(), b.EncodeToIds("hello wo hell").ToArray());
        Assert.AreEqual("hello wo", a.Decode([259, 261]));
    }

    [TestMethod]
    public void PostProcessorAddsBosOnlyWhenAsked()
    {
        var t = Tokenizer.FromFile(Write(ByteLevelTokenizer()));
        CollectionAssert.AreEqual(new[] { 259 }, t.EncodeToIds("hello").ToArray());
        CollectionAssert.AreEqual(new[] { 300, 259 }, t.EncodeToIds("hello", addSpecialTokens: true).ToArray());
        Assert.AreEqual(2, t.CountTokens("hello", addSpecialTokens: true));
        Assert.AreEqual("hello", t.Decode([300, 259], skipSpecialTokens: true));
        Assert.AreEqual("<s>hello", t.Decode([300, 259]));
        // Special tokens in the text are always recognised, whatever addSpecialTokens says.
        CollectionAssert.AreEqual(new[] { 300, 259 }, t.EncodeToIds("<s>hello").ToArray());
    }

    [TestMethod]
    public void AddedTokenStripAndSingleWord()
    {
        var t = Tokenizer.FromFile(Write(ByteLevelTokenizer()));
        const string text = "hello  <mask>  wo";
        var tokens = t.EncodeToTokens(text);
        // lstrip/rstrip: the whitespace on both sides is swallowed into the <mask> token's span.
        CollectionAssert.AreEqual(new[] { 259, 301, 'w', 'o' }.Select(x => x < 256 ? ByteId(x) : x).ToArray(), tokens.Select(x => x.Id).ToArray());
        Assert.AreEqual("  <mask>  ", text[tokens[1].Offset]);
        // single_word: "yo" only matches as a whole word.
        Assert.AreEqual(302, t.EncodeToIds("yo")[0]);
        Assert.IsTrue(t.EncodeToIds("hi yo!").Contains(302));
        Assert.IsFalse(t.EncodeToIds("yoyo").Contains(302));
        Assert.IsFalse(t.EncodeToIds("xyo").Contains(302));
        // Word chars are Rust regex \w: letters, marks, Nd, '_' (but not No like ½).
        Assert.IsFalse(t.EncodeToIds("_yo").Contains(302));
        Assert.IsFalse(t.EncodeToIds("1yo").Contains(302));
        Assert.IsFalse(t.EncodeToIds("yo\u0301").Contains(302));
        Assert.IsTrue(t.EncodeToIds("½yo").Contains(302));
        Assert.IsTrue(t.EncodeToIds("(yo)").Contains(302));
    }

    private static int ByteId(int b) => b; // byte-level vocab: byte b has id b here

    [TestMethod]
    public void SplitBehavioursAndContinuingSubwordPrefix()
    {
        // A character-level (non byte-level) BPE with "##" continuing prefix, Split on "-" with each behaviour.
        static JsonObject Make(string behavior, bool invert) => new()
        {
            ["added_tokens"] = new JsonArray(),
            ["pre_tokenizer"] = new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["String"] = "-" }, ["behavior"] = behavior, ["invert"] = invert },
            ["decoder"] = null,
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["continuing_subword_prefix"] = "##",
                ["vocab"] = new JsonObject { ["a"] = 0, ["b"] = 1, ["-"] = 2, ["##a"] = 3, ["##b"] = 4, ["##-"] = 5, ["ab"] = 6, ["a-"] = 7 },
                ["merges"] = new JsonArray("a ##b", "a ##-"),
            },
        };
        string Run(string behavior, bool invert = false)
        {
            var t = Tokenizer.FromFile(Write(Make(behavior, invert)));
            return string.Join(" ", t.EncodeToTokens("ab-ab").Select(x => x.Value));
        }
        Assert.AreEqual("ab - ab", Run("Isolated"));
        Assert.AreEqual("ab ab", Run("Removed"));
        Assert.AreEqual("ab ##- ab", Run("MergedWithPrevious"));
        Assert.AreEqual("ab - ##a ##b", Run("MergedWithNext"));
        Assert.AreEqual("ab - ab", Run("Contiguous"));
        Assert.AreEqual("-", Run("Removed", invert: true));
    }

    [TestMethod]
    public void MalformedJsonReportsLineAndColumn()
    {
        var path = Write(new JsonObject(), "{\n  \"model\": {\n    \"type\": \"BPE\",,\n  }\n}");
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => Tokenizer.FromFile(path));
        Assert.AreEqual(ErrorCodes.TokenizerMalformedJson, ex.Code);
        Assert.AreEqual(path, ex.File);
        Assert.AreEqual(3, ex.Line);
        Assert.IsTrue(ex.Column > 0);
        StringAssert.StartsWith(ex.ToString(), $"{path}(3,");
        TestContext.WriteLine(ex.ToString());
    }

    [TestMethod]
    public void UnknownComponentTypesAreNamed()
    {
        foreach (var (key, type) in new[] { ("pre_tokenizer", "Whitespace"), ("normalizer", "Precompiled"), ("decoder", "WordPiece"), ("post_processor", "Mystery") })
        {
            var json = ByteLevelTokenizer();
            json[key] = new JsonObject { ["type"] = type };
            var path = Write(json);
            var ex = Assert.ThrowsExactly<ToolTuneException>(() => Tokenizer.FromFile(path));
            Assert.AreEqual(ErrorCodes.TokenizerUnsupportedComponent, ex.Code, key);
            StringAssert.Contains(ex.Message, type);
            StringAssert.Contains(ex.ToString(), path);
        }
        var wp = ByteLevelTokenizer();
        wp["model"]!["type"] = "WordPiece";
        var ex2 = Assert.ThrowsExactly<ToolTuneException>(() => Tokenizer.FromFile(Write(wp)));
        Assert.AreEqual(ErrorCodes.TokenizerUnsupportedComponent, ex2.Code);
        StringAssert.Contains(ex2.Message, "WordPiece");
    }

    [TestMethod]
    public void MissingFileAndBadMerges()
    {
        var missing = Path.Combine(TempDir(), "nope", "tokenizer.json");
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => Tokenizer.FromFile(missing));
        Assert.AreEqual(ErrorCodes.TokenizerFileMissing, ex.Code);
        StringAssert.Contains(ex.ToString(), missing);
        var ex1 = Assert.ThrowsExactly<ToolTuneException>(() => Tokenizer.FromDirectory(TempDir()));
        Assert.AreEqual(ErrorCodes.TokenizerFileMissing, ex1.Code);

        var json = ByteLevelTokenizer();
        ((JsonArray)json["model"]!["merges"]!).Add(new JsonArray("zzz", "q"));
        var path = Write(json);
        var ex2 = Assert.ThrowsExactly<ToolTuneException>(() => Tokenizer.FromFile(path));
        Assert.AreEqual(ErrorCodes.TokenizerInvalidModel, ex2.Code);
        StringAssert.Contains(ex2.Message, "zzz");
        Assert.AreEqual(path, ex2.File);
    }

    [TestMethod]
    public void ConfigValuesAreExposed()
    {
        var path = Write(ByteLevelTokenizer());
        var dir = Path.GetDirectoryName(path)!;
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """
            {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "<mask>", "pad_token": null,
             "chat_template": [{"name": "default", "template": "{{ x }}"}, {"name": "tool_use", "template": "{{ y }}"}],
             "added_tokens_decoder": {"300": {"content": "<s>", "special": true}}, "clean_up_tokenization_spaces": true}
            """);
        var t = Tokenizer.FromDirectory(dir);
        Assert.AreEqual("<s>", t.BosToken);
        Assert.AreEqual(300, t.BosTokenId);
        Assert.AreEqual("<mask>", t.EosToken);
        Assert.IsNull(t.PadToken);
        Assert.AreEqual("{{ x }}", t.ChatTemplate);
        Assert.AreEqual("{{ y }}", t.Config!.ChatTemplates["tool_use"]);
        Assert.IsTrue(t.Config.CleanUpTokenizationSpaces);
        Assert.IsTrue(t.AddedTokensDecoder[300].Special);
        File.WriteAllText(Path.Combine(dir, "chat_template.jinja"), "{{ z }}");
        Assert.AreEqual("{{ z }}", Tokenizer.FromDirectory(dir).ChatTemplate);
        Assert.AreEqual("hello", t.IdToToken(259));
        Assert.AreEqual(259, t.TokenToId("hello"));
        Assert.IsNull(t.TokenToId("not a token"));
        Assert.IsTrue(t.EncodeToIds("<s>").SequenceEqual([300]));

        // split_special_tokens: special tokens in text are plain text; non-special added tokens still match.
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"split_special_tokens": true}""");
        var split = Tokenizer.FromDirectory(dir);
        Assert.IsFalse(split.EncodeToIds("<s>").Contains(300));
        Assert.AreEqual("<s>", split.Decode(split.EncodeToIds("<s>")));
        Assert.IsTrue(split.EncodeToIds("yo").Contains(302));
    }
}
