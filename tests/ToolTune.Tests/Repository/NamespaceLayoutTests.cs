using System.Text.RegularExpressions;

namespace ToolTune.Tests.Repository;

/// <summary>
/// Every source file under <c>src/</c> declares the namespace its folder spells (the project's root namespace plus
/// the folder path), so a type is found where its namespace says it lives.
/// </summary>
[TestClass]
public sealed partial class NamespaceLayoutTests
{
    [GeneratedRegex(@"^\s*namespace\s+([\w.]+)\s*[;{]", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();

    [GeneratedRegex(@"<RootNamespace>\s*([\w.]+)\s*</RootNamespace>")]
    private static partial Regex RootNamespaceProperty();

    [TestMethod]
    public void EverySourceFileDeclaresTheNamespaceOfItsFolder()
    {
        var src = Path.Combine(SharedFixtures.RepoRoot, "src");
        var mismatches = new List<string>();
        var checkedFiles = 0;
        foreach (var csproj in Directory.EnumerateFiles(src, "*.csproj", SearchOption.AllDirectories))
        {
            var projectDir = Path.GetDirectoryName(csproj)!;
            var rootMatch = RootNamespaceProperty().Match(File.ReadAllText(csproj));
            var rootNamespace = rootMatch.Success ? rootMatch.Groups[1].Value : Path.GetFileNameWithoutExtension(csproj);
            foreach (var file in Directory.EnumerateFiles(projectDir, "*.cs", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(projectDir, file);
                var folders = Path.GetDirectoryName(relative)!.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
                if (folders.Length > 0 && folders[0] is "bin" or "obj") continue;
                checkedFiles++;
                var expected = string.Join('.', [rootNamespace, .. folders]);
                var declared = NamespaceDeclaration().Matches(File.ReadAllText(file)).Select(m => m.Groups[1].Value).ToList();
                // The entry point's top-level statements are the one place without a namespace.
                if (declared.Count == 0 && folders.Length == 0 && Path.GetFileName(file) == "Program.cs") continue;
                if (declared.Count == 0)
                    mismatches.Add($"{Path.GetRelativePath(src, file)}: no namespace (expected {expected})");
                foreach (var ns in declared.Where(ns => ns != expected))
                    mismatches.Add($"{Path.GetRelativePath(src, file)}: namespace {ns} (expected {expected})");
            }
        }
        Assert.IsTrue(checkedFiles > 100, $"only {checkedFiles} source files found under {src}");
        Assert.AreEqual(0, mismatches.Count, "namespace differs from folder:\n" + string.Join('\n', mismatches));
    }
}
