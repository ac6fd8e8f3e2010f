using System.Text.RegularExpressions;
using ToolTune.Tensors;

namespace ToolTune.Tests.Repository;

/// <summary>
/// The "not trained" label is spelled once, as <see cref="CrossEntropy.IgnoreIndex"/>: code under <c>src/</c> names the
/// constant instead of writing the number (messages and comments may still say -100 to the reader).
/// </summary>
[TestClass]
public sealed partial class IgnoreLabelSpellingTests
{
    [GeneratedRegex(@"(?<![\w.])-\s*100(?![\w.])")]
    private static partial Regex BareIgnoreLabel();

    [GeneratedRegex(@"@?\$?""(?:[^""\\]|\\.)*""")]
    private static partial Regex StringLiteral();

    [TestMethod]
    public void OnlyCrossEntropySpellsTheIgnoreLabel()
    {
        var src = Path.Combine(SharedFixtures.RepoRoot, "src");
        var home = Path.Combine("ToolTune", "Tensors", "CrossEntropy.cs");
        var bare = new List<string>();
        foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(src, file);
            var parts = relative.Split(Path.DirectorySeparatorChar);
            if (parts.Contains("bin") || parts.Contains("obj")) continue;
            var n = 0;
            foreach (var line in File.ReadLines(file))
            {
                n++;
                var code = StringLiteral().Replace(line, "\"\"");
                var comment = code.IndexOf("//", StringComparison.Ordinal);
                if (comment >= 0) code = code[..comment];
                if (BareIgnoreLabel().IsMatch(code)) bare.Add($"{relative}:{n}: {line.Trim()}");
            }
        }
        var outside = bare.Where(b => !b.StartsWith(home + ":", StringComparison.Ordinal)).ToList();
        Assert.AreEqual(1, bare.Count - outside.Count, "CrossEntropy.IgnoreIndex is declared with the literal:\n" + string.Join('\n', bare));
        Assert.AreEqual(0, outside.Count, "use CrossEntropy.IgnoreIndex instead of -100:\n" + string.Join('\n', outside));
    }
}
