using System.Text.Json;
using ToolTune.Text.Tokenization;

namespace ToolTune.Tests.Text.Tokenization;

[TestClass]
public sealed class NfcTests
{
    /// <summary>3000 random strings rich in composable chars (tests/oracles/make_nfc_fixture.py) against Python's
    /// unicodedata NFC/NFD; the alignment map must cover the input monotonically.</summary>
    [TestMethod]
    public void MatchesPythonUnicodedata()
    {
        int n = 0;
        foreach (var line in File.ReadLines(SharedFixtures.Fixture("tokenizers", "nfc.jsonl")))
        {
            using var doc = JsonDocument.Parse(line);
            var text = doc.RootElement.GetProperty("text").GetString()!;
            var nfc = Nfc.Normalize(text, compose: true, out var map);
            Assert.AreEqual(doc.RootElement.GetProperty("nfc").GetString(), nfc, $"NFC of {Escape(text)}");
            Assert.AreEqual(doc.RootElement.GetProperty("nfd").GetString(), Nfc.Normalize(text, compose: false, out _), $"NFD of {Escape(text)}");
            if (map is not null)
            {
                Assert.AreEqual(nfc.Length, map.Length);
                int prevStart = 0;
                foreach (var (s, e) in map)
                {
                    Assert.IsTrue(s >= prevStart && e > s && e <= text.Length, $"map of {Escape(text)}");
                    prevStart = s;
                }
            }
            n++;
        }
        Assert.AreEqual(3000, n);
    }

    private static string Escape(string s) => string.Concat(s.Select(c => c > 0x7e ? $"\\u{(int)c:x4}" : c.ToString()));
}
