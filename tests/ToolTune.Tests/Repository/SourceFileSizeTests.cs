namespace ToolTune.Tests.Repository;

/// <summary>
/// No source file under <c>src/</c> grows past <see cref="MaxLines"/> lines: a file that long holds more than one
/// concept and is split along its seams. The Jinja parser is the one exception (one recursive-descent grammar).
/// </summary>
[TestClass]
public sealed class SourceFileSizeTests
{
    private const int MaxLines = 650;
    private static readonly string[] Exceptions = [Path.Combine("ToolTune", "Text", "Templates", "Parser.cs")];

    [TestMethod]
    public void NoSourceFileIsLongerThanTheLimit()
    {
        var src = Path.Combine(SharedFixtures.RepoRoot, "src");
        var tooLong = new List<string>();
        var checkedFiles = 0;
        foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(src, file);
            var parts = relative.Split(Path.DirectorySeparatorChar);
            if (parts.Contains("bin") || parts.Contains("obj")) continue;
            checkedFiles++;
            if (Exceptions.Contains(relative)) continue;
            var lines = File.ReadLines(file).Count();
            if (lines > MaxLines) tooLong.Add($"{relative}: {lines} lines");
        }
        Assert.IsTrue(checkedFiles > 100, $"only {checkedFiles} source files found under {src}");
        Assert.AreEqual(0, tooLong.Count, $"source files over {MaxLines} lines (split them along their seams):\n" + string.Join('\n', tooLong));
    }
}
