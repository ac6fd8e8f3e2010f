using System.Text;

namespace ToolTune.Tests.Text.Tokenization;

/// <summary>
/// Every string of the hard corpus (tests/oracles/tokenizer_corpus.json) and of the seeded fuzz set
/// (tokenizer_fuzz.json), every tokenizer: ids (with and without special
/// tokens) and decoded text (with and without skipping specials) identical to transformers.js, whose fixtures are in
/// Fixtures/tokenizers/*.jsonl. Exception, smollm-135m: tokenizers.js's Digits pre-tokenizer uses ASCII \d where HF
/// Rust uses char::is_numeric; for the strings marked js_digits_divergence the expected ids are <c>ids_rust</c>,
/// computed by the oracle script by cutting the text around each Unicode numeric char (what Rust's Digits does)
/// and encoding the parts with transformers.js.
/// </summary>
[TestClass]
public sealed class TokenizerParityTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow("smollm3-3b", "corpus")]
    [DataRow("qwen2.5", "corpus")]
    [DataRow("smollm-135m", "corpus")]
    [DataRow("phi-2", "corpus")]
    [DataRow("smollm3-3b", "fuzz")]
    [DataRow("qwen2.5", "fuzz")]
    [DataRow("smollm-135m", "fuzz")]
    [DataRow("phi-2", "fuzz")]
    public void MatchesTransformersJs(string name, string kind)
    {
        var tok = TokenizerFixtures.Get(name);
        var records = TokenizerFixtures.Oracle(name, kind == "fuzz" ? ".fuzz" : "");
        var texts = TokenizerFixtures.Corpus(kind);
        Assert.AreEqual(texts.Count, records.Count, "fixture is stale: regenerate it (tests/oracles/README.md)");
        for (int i = 0; i < texts.Count; i++) Assert.AreEqual(texts[i], records[i].Text, $"fixture is stale at #{i}");
        int idsOk = 0, specialOk = 0, decOk = 0, skipOk = 0, rustRule = 0;
        var failures = new StringBuilder();
        foreach (var r in records)
        {
            var expected = r.IdsRust ?? r.Ids;
            if (r.IdsRust is not null) rustRule++;
            var ids = tok.EncodeToIds(r.Text).ToArray();
            if (ids.SequenceEqual(expected)) idsOk++;
            else failures.AppendLine($"#{r.Index} ids {Show(r.Text)}\n  expected [{string.Join(",", expected)}]\n  actual   [{string.Join(",", ids)}]");
            var idsSpecial = tok.EncodeToIds(r.Text, addSpecialTokens: true).ToArray();
            var expectedSpecial = r.IdsRust is null ? r.IdsSpecial : r.IdsSpecial.Length == r.Ids.Length ? r.IdsRust : null;
            if (expectedSpecial is null || idsSpecial.SequenceEqual(expectedSpecial)) specialOk++;
            else failures.AppendLine($"#{r.Index} ids+special {Show(r.Text)}: [{string.Join(",", idsSpecial)}]");
            // Decoding is compared on the oracle's own ids, so it is tested independently of encoding.
            var decoded = tok.Decode(r.Ids);
            if (decoded == r.Decoded) decOk++;
            else failures.AppendLine($"#{r.Index} decode {Show(r.Text)}: {Show(decoded)} != {Show(r.Decoded)}");
            var skipped = tok.Decode(r.Ids, skipSpecialTokens: true);
            if (skipped == r.DecodedSkip) skipOk++;
            else failures.AppendLine($"#{r.Index} decode(skip) {Show(r.Text)}: {Show(skipped)} != {Show(r.DecodedSkip)}");
        }
        int n = records.Count;
        TestContext.WriteLine($"{name} {kind}: ids {idsOk}/{n}, ids+special {specialOk}/{n}, decode {decOk}/{n}, decode(skip) {skipOk}/{n}" +
            (rustRule > 0 ? $" ({rustRule} strings use the Rust Digits rule, see class doc)" : ""));
        Console.WriteLine($"{name} {kind}: ids {idsOk}/{n}, ids+special {specialOk}/{n}, decode {decOk}/{n}, decode(skip) {skipOk}/{n}, rust-digits {rustRule}");
        if (failures.Length > 0) Assert.Fail(failures.ToString());
    }

    private static string Show(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in s.Length > 60 ? s[..60] + "…" : s)
            sb.Append(c < 0x20 || c == 0x7f ? $"\\x{(int)c:x2}" : c.ToString());
        return sb.Append('"').ToString();
    }
}
