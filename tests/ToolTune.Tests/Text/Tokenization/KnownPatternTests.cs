using System.Text;
using ToolTune.Text.Tokenization;

namespace ToolTune.Tests.Text.Tokenization;

/// <summary>The hand-written Llama-3 / Qwen2 / GPT-2 matchers against the .NET Regex path on random text.</summary>
[TestClass]
public sealed class KnownPatternTests
{
    private static readonly string[] Pool =
    [
        "a", "Z", "é", "S", "s", "t", "T", "r", "e", "E", "v", "m", "l", "L", "d", "'", "’", " ", "  ", "\t", "\n", "\r",
        "\r\n", "\v", "\f", "\u0085", "\u00a0", "\u2028", "\u3000", "\u200b", "\u001c", "0", "7", "½", "١", "Ⅻ", "!", "?", ".", "-",
        "_", "<", "|", "😀", "👍🏽", "\u200d", "𝐀", "𠀀", "𝟏", "\u0301", "中", "ก", "\ud800", "\udc00", "x", "y",
    ];

    /// <summary>One deliberate difference: in <c>(?i:'s…)</c> Oniguruma (HF Rust) case-folds U+017F LONG S to s
    /// (CaseFolding.txt), .NET Regex does not; the hand-written matcher follows Rust, so ſ is left out of the pool.</summary>
    [TestMethod]
    public void LongSFoldsLikeOniguruma()
    {
        var m = new List<(int, int)>();
        new CodePointRegex(KnownPattern.Llama3).Matches("'ſL", m);
        CollectionAssert.AreEqual(new List<(int, int)> { (0, 2), (2, 3) }, m);
    }

    [TestMethod]
    [DataRow(KnownPattern.Llama3)]
    [DataRow(KnownPattern.Qwen2)]
    [DataRow(ByteLevelPreTokenizer.Gpt2Pattern)]
    public void HandWrittenMatcherEqualsRegex(string pattern)
    {
        var fast = new CodePointRegex(pattern);
        var slow = new CodePointRegex(pattern, useKnownMatchers: false);
        Assert.IsTrue(fast.UsesKnownMatcher);
        Assert.IsFalse(slow.UsesKnownMatcher);
        var rng = new Random(7);
        var a = new List<(int, int)>();
        var b = new List<(int, int)>();
        var sb = new StringBuilder();
        var corpus = TokenizerFixtures.Corpus().Concat(TokenizerFixtures.Corpus("fuzz")).ToList();
        for (int n = 0; n < 20000 + corpus.Count; n++)
        {
            string text;
            if (n < corpus.Count) text = corpus[n];
            else
            {
                sb.Clear();
                int len = rng.Next(1, 16);
                for (int k = 0; k < len; k++) sb.Append(Pool[rng.Next(Pool.Length)]);
                text = sb.ToString();
            }
            a.Clear();
            b.Clear();
            fast.Matches(text, a);
            slow.Matches(text, b);
            if (!a.SequenceEqual(b))
                Assert.Fail($"pattern differs on {Escape(text)}: fast [{string.Join(" ", a)}] regex [{string.Join(" ", b)}]");
        }
    }

    private static string Escape(string s) =>
        string.Concat(s.Select(c => c < 0x20 || c > 0x7e ? $"\\u{(int)c:x4}" : c.ToString()));
}
