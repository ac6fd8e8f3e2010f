using System.Text;
using ToolTune.Diagnostics;
using ToolTune.Text.Tokenization;

namespace ToolTune.Tests.Text.Tokenization;

[TestClass]
public sealed class TokenizerBehaviourTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void SmolLM3ToolCallDelimitersAreSingleTokens()
    {
        var tok = TokenizerFixtures.Get("smollm3-3b");
        Assert.AreEqual(128015, tok.TokenToId("<tool_call>"));
        Assert.AreEqual(128016, tok.TokenToId("</tool_call>"));
        const string text = "<tool_call>\n{\"name\": \"x\"}\n</tool_call>";
        var ids = tok.EncodeToIds(text);
        Assert.AreEqual(128015, ids[0]);
        Assert.AreEqual(128016, ids[^1]);
        Assert.AreEqual(1, ids.Count(i => i == 128015));
        Assert.AreEqual(text, tok.Decode(ids));
        Assert.IsFalse(tok.IsSpecial(128015), "<tool_call> is special=false in SmolLM3");
        Assert.AreEqual(text, tok.Decode(ids, skipSpecialTokens: true));
        Assert.IsTrue(tok.IsSpecial(128012));
        Assert.AreEqual("<|im_end|>", tok.EosToken);
        Assert.AreEqual(128012, tok.EosTokenId);
        Assert.AreEqual(128256, tok.VocabularySize);
        Assert.AreEqual(256, tok.AddedTokensDecoder.Count);
        var tokens = tok.EncodeToTokens(text);
        Assert.AreEqual("<tool_call>", text[tokens[0].Offset]);
        Assert.AreEqual("</tool_call>", text[tokens[^1].Offset]);
    }

    [TestMethod]
    [DataRow("smollm3-3b")]
    [DataRow("qwen2.5")]
    [DataRow("smollm-135m")]
    [DataRow("phi-2")]
    public void OffsetsMapTokensBackToTheirText(string name)
    {
        var tok = TokenizerFixtures.Get(name);
        int checkedTokens = 0, splitChars = 0;
        foreach (var text in TokenizerFixtures.Corpus())
        {
            var tokens = tok.EncodeToTokens(text);
            CollectionAssert.AreEqual(tok.EncodeToIds(text).ToArray(), tokens.Select(t => t.Id).ToArray());
            int prevEnd = 0;
            for (int i = 0; i < tokens.Count; i++)
            {
                var t = tokens[i];
                var (start, len) = t.Offset.GetOffsetAndLength(text.Length);
                // A char (or a normalizer expansion of one) split over several tokens gives them overlapping ranges.
                bool shared = (i > 0 && tokens[i - 1].Offset.End.Value > start)
                    || (i + 1 < tokens.Count && tokens[i + 1].Offset.Start.Value < start + len);
                Assert.IsTrue(start >= 0 && start + len <= text.Length, $"{name}: offset out of range in {text}");
                // Tokens tile the text: each starts where the previous ended, or inside the previous one's char
                // when a multi-byte char is split over tokens.
                Assert.IsTrue(start <= prevEnd, $"{name}: gap before token {t.Value} in {text}");
                var piece = tok.Decode([t.Id]);
                if (!piece.Contains('\uFFFD') && !shared)
                {
                    var source = text.Substring(start, len);
                    if (name == "qwen2.5") source = Nfc.Normalize(source, compose: true, out _);
                    Assert.AreEqual(source, piece, $"{name}: token {t.Id} offset {start}+{len} in \"{text}\"");
                    checkedTokens++;
                }
                else splitChars++;
                prevEnd = Math.Max(prevEnd, start + len);
            }
            Assert.AreEqual(text.Length, prevEnd, $"{name}: tokens do not cover \"{text}\"");
        }
        TestContext.WriteLine($"{name}: {checkedTokens} token offsets checked against their decoded text, {splitChars} partial-char tokens");
    }

    [TestMethod]
    public void OffsetsOfSplitMultiByteCharsAndNfc()
    {
        var smol = TokenizerFixtures.Get("smollm3-3b");
        const string text = "a𒀀b";
        var tokens = smol.EncodeToTokens(text);
        Assert.IsTrue(tokens.Count > 3, "the cuneiform sign is split into byte tokens");
        foreach (var t in tokens.Where(t => t.Value != "a" && t.Value != "b"))
        {
            var (s, l) = t.Offset.GetOffsetAndLength(text.Length);
            Assert.IsTrue(s <= 1 && s + l >= 3, "each piece of the split char covers the whole char");
        }
        var qwen = TokenizerFixtures.Get("qwen2.5");
        const string nfd = "cafe\u0301!";
        var q = qwen.EncodeToTokens(nfd);
        Assert.AreEqual("!", nfd[q[^1].Offset]);
        Assert.AreEqual(nfd.Length - 1, q[^1].Offset.Start.Value);
        Assert.AreEqual(qwen.EncodeToIds("café!").ToArray().Length, q.Count);
    }

    [TestMethod]
    public void EncodeWithMaxTokenCountNeverSplitsAChar()
    {
        var tok = TokenizerFixtures.Get("smollm3-3b");
        const string text = "ab 𒀀𒀀 cd";
        var all = tok.EncodeToTokens(text);
        for (int max = 0; max <= all.Count + 1; max++)
        {
            var ids = tok.EncodeToIds(text, max, out var consumed);
            Assert.IsTrue(ids.Count <= max);
            CollectionAssert.AreEqual(all.Take(ids.Count).Select(t => t.Id).ToArray(), ids.ToArray());
            Assert.AreEqual(text[..consumed], tok.Decode(ids), $"max {max}");
        }
    }

    [TestMethod]
    public void StreamingDecoderHoldsBackIncompleteUtf8()
    {
        var tok = TokenizerFixtures.Get("smollm3-3b");
        const string text = "Party 🧑‍🤝‍🧑 time 𒀀!";
        var ids = tok.EncodeToIds(text);
        var dec = tok.CreateStreamingDecoder();
        var sb = new StringBuilder();
        int heldBack = 0;
        foreach (var id in ids)
        {
            var piece = dec.Add(id);
            Assert.IsFalse(piece.Contains('\uFFFD'), "streaming never emits a replacement char for a split emoji");
            if (piece.Length == 0) heldBack++;
            sb.Append(piece);
        }
        sb.Append(dec.Flush());
        Assert.AreEqual(text, sb.ToString());
        Assert.IsTrue(heldBack > 0, "some emoji bytes were split across tokens and held back");
        // Thai example of HF's DecodeStream test: a lone lead byte is held back.
        Assert.AreEqual(0, StreamingDecoder.CompletePrefixLength([0xE0, 0xB8]));
        Assert.AreEqual(3, StreamingDecoder.CompletePrefixLength([0xE0, 0xB8, 0xAD]));
        Assert.AreEqual(2, StreamingDecoder.CompletePrefixLength([0xFF, 0x61]));
    }

    [TestMethod]
    public void DecodeIsLossyUtf8LikeRust()
    {
        var tok = TokenizerFixtures.Get("smollm3-3b");
        int B(int b) => tok.TokenToId(ByteLevelMap.ByteToChar[b].ToString())!.Value;
        // from_utf8_lossy: one U+FFFD per maximal invalid subpart.
        Assert.AreEqual("\uFFFDa", tok.Decode([B(0xE2), B(0x82), B(0x61)]));
        Assert.AreEqual("\uFFFD\uFFFD", tok.Decode([B(0xC0), B(0x80)]));
        Assert.AreEqual("\uFFFD\uFFFD\uFFFD", tok.Decode([B(0xED), B(0xA0), B(0x80)]));
        Assert.AreEqual("€", tok.Decode([B(0xE2), B(0x82), B(0xAC)]));
        Assert.AreEqual("x", tok.Decode([-5, 999_999, B('x')]), "unknown ids are dropped");
    }

    [TestMethod]
    public void WordCacheDoesNotChangeResults()
    {
        var dir = SharedFixtures.RequireShared("parity", "tokenizers", "smollm-135m");
        var none = Tokenizer.FromDirectory(dir, wordCacheCapacity: 0);
        var tiny = Tokenizer.FromDirectory(dir, wordCacheCapacity: 3);
        var full = TokenizerFixtures.Get("smollm-135m");
        var corpus = TokenizerFixtures.Corpus();
        for (int pass = 0; pass < 2; pass++)
            foreach (var text in corpus)
            {
                var expected = none.EncodeToIds(text).ToArray();
                CollectionAssert.AreEqual(expected, tiny.EncodeToIds(text).ToArray(), text);
                CollectionAssert.AreEqual(expected, full.EncodeToIds(text).ToArray(), text);
            }
        Assert.AreEqual(0, none.WordCacheCount);
        Assert.AreEqual(3, tiny.WordCacheCount, "bounded");
    }

    [TestMethod]
    public void ConcurrentEncodingGivesTheSameResults()
    {
        var tok = TokenizerFixtures.Get("qwen2.5");
        var corpus = TokenizerFixtures.Corpus().Concat(TokenizerFixtures.Corpus("fuzz")).ToArray();
        var expected = corpus.Select(t => tok.EncodeToIds(t).ToArray()).ToArray();
        var failures = 0;
        Parallel.For(0, corpus.Length * 4, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            int k = i % corpus.Length;
            var ids = i % 2 == 0 ? tok.EncodeToIds(corpus[k]).ToArray() : tok.EncodeToTokens(corpus[k]).Select(t => t.Id).ToArray();
            if (!ids.SequenceEqual(expected[k])) Interlocked.Increment(ref failures);
        });
        Assert.AreEqual(0, failures);
        // Span overload on a slice: offsets are relative to the slice.
        const string wrapped = "xx<tool_call>hi";
        var smol = TokenizerFixtures.Get("smollm3-3b");
        var slice = smol.EncodeToTokens(wrapped.AsSpan(2));
        Assert.AreEqual(new Range(0, 11), slice[0].Offset);
        CollectionAssert.AreEqual(smol.EncodeToIds("<tool_call>hi").ToArray(), smol.EncodeToIds(wrapped.AsSpan(2)).ToArray());
        Assert.AreEqual(smol.EncodeToIds("<tool_call>hi").Count, smol.CountTokens("<tool_call>hi"));
    }

    [TestMethod]
    [DataRow("smollm3-3b")]
    [DataRow("qwen2.5")]
    [DataRow("smollm-135m")]
    [DataRow("phi-2")]
    public void HotPathAllocatesOnlyTheResult(string name)
    {
        var tok = TokenizerFixtures.Get(name);
        const string text = "Sure! <tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call> It's 21°C, isn't it?   ";
        int count = 0;
        for (int i = 0; i < 3; i++) count = tok.EncodeToIds(text).Count; // warm the word cache and scratch buffers
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) tok.EncodeToIds(text);
        long perCall = (GC.GetAllocatedBytesForCurrentThread() - before) / 100;
        TestContext.WriteLine($"{name}: {perCall} bytes allocated per EncodeToIds call ({count} ids)");
        Assert.IsTrue(perCall <= 4 * count + 64, $"{perCall} bytes per call for {count} ids");
    }

    [TestMethod]
    public void LruCacheEvictsLeastRecentlyUsed()
    {
        var c = new LruCache<string>(2);
        c.Add("a", "A");
        c.Add("b", "B");
        Assert.IsTrue(c.TryGet("a", out _));
        c.Add("c", "C");
        Assert.IsTrue(c.TryGet("a", out var a));
        Assert.AreEqual("A", a);
        Assert.IsFalse(c.TryGet("b", out _));
        Assert.IsTrue(c.TryGet("c", out _));
        Assert.AreEqual(2, c.Count);
    }

    [TestMethod]
    public void SplitRegexSeesAstralCodePoints()
    {
        var rx = new CodePointRegex(@"\p{L}+|\p{N}{1,3}|[^\s\p{L}\p{N}]+");
        var m = new List<(int, int)>();
        rx.Matches("𝐀𝐁x 𝟏𝟐𝟑𝟒 😀", m);
        CollectionAssert.AreEqual(new List<(int, int)> { (0, 5), (6, 12), (12, 14), (15, 17) }, m);
    }

    [TestMethod]
    public void NfcComposesAndAligns()
    {
        Assert.AreEqual("é", Nfc.Normalize("e\u0301", true, out var map));
        Assert.AreEqual((0, 2), map![0]);
        Assert.AreEqual("각", Nfc.Normalize("\u1100\u1161\u11A8", true, out _));
        Assert.AreEqual("\u1100\u1161\u11A8", Nfc.Normalize("각", false, out _));
        Assert.AreEqual("Å", Nfc.Normalize("\u212B", true, out _));
        Assert.AreEqual("ḉ", Nfc.Normalize("c\u0301\u0327", true, out _), "canonical reordering before composition");
        Assert.AreEqual("plain", Nfc.Normalize("plain", true, out var none));
        Assert.IsNull(none);
    }
}
