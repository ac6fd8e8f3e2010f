using System.Text.RegularExpressions;

namespace ToolTune.Tests.Repository;

/// <summary>
/// The job libraries (<c>Training/</c>, <c>Lora/</c>, <c>Evaluation/</c>, <c>Torch/</c>) sit below <c>Pipeline/</c>
/// (README → Architecture): they take their own options, and the pipeline maps its config to them
/// (<c>Pipeline/Config/LibraryOptions.cs</c>). None of their files may name a <c>ToolTune.Pipeline</c> type.
/// </summary>
[TestClass]
public sealed partial class LayerDirectionTests
{
    private static readonly string[] Libraries = ["Training", "Lora", "Evaluation", "Torch"];

    // "ToolTune.Pipeline" anywhere (using directives, aliases, full names), or "Pipeline.X" written from inside another
    // ToolTune namespace, where it resolves to ToolTune.Pipeline.X; "global::" and member access "a.Pipeline.X" aside.
    [GeneratedRegex(@"\bToolTune\.Pipeline\b|(?<![\w.:])Pipeline\.[A-Z]")]
    private static partial Regex PipelineReference();

    [GeneratedRegex(@"//.*$", RegexOptions.Multiline)]
    private static partial Regex LineComment();

    /// <summary>The lines (1-based) of <paramref name="source"/> that name a Pipeline type, comments left out.</summary>
    public static List<int> PipelineReferences(string source)
    {
        var lines = source.Split('\n');
        var hits = new List<int>();
        for (var i = 0; i < lines.Length; i++)
            if (PipelineReference().IsMatch(LineComment().Replace(lines[i], ""))) hits.Add(i + 1);
        return hits;
    }

    [TestMethod]
    public void LibrariesDoNotNamePipelineTypes()
    {
        var src = Path.Combine(SharedFixtures.RepoRoot, "src", "ToolTune");
        var found = new List<string>();
        var checkedFiles = 0;
        foreach (var library in Libraries)
        foreach (var file in Directory.EnumerateFiles(Path.Combine(src, library), "*.cs", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            checkedFiles++;
            foreach (var line in PipelineReferences(File.ReadAllText(file)))
                found.Add($"{Path.GetRelativePath(src, file)}:{line}");
        }
        Assert.IsTrue(checkedFiles > 40, $"only {checkedFiles} source files found under {string.Join(", ", Libraries)}");
        Assert.AreEqual(0, found.Count,
            "these library files name ToolTune.Pipeline types (map the config to the library's own options in Pipeline/Config/LibraryOptions.cs):\n"
            + string.Join('\n', found));
    }

    [TestMethod]
    public void EveryFormOfPipelineReferenceIsFound()
    {
        CollectionAssert.AreEqual(new[] { 1, 2, 3, 4, 5, 6 }, PipelineReferences(
            "using ToolTune.Pipeline.Config;\n" +
            "using ToolTune.Pipeline;\n" +
            "using C = ToolTune.Pipeline.Config.PipelineConfig;\n" +
            "void F(Pipeline.Config.PipelineConfig c) { }\n" +
            "var x = global::ToolTune.Pipeline.Stages.StageRegistry.PipelineStages;\n" +
            "var y = new ToolTune.Pipeline.Config.EvalSection(); // Pipeline.Config\n" +
            "/// <summary>The config maps to this in Pipeline.Config.LibraryOptions.</summary>\n" +
            "// Pipeline.Config used to be read here\n" +
            "var z = run.Pipeline.Count + PipelineStages.Count;\n" +
            "namespace ToolTune.Training;\n"));
    }
}
