using System.Xml.Linq;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Tests.Pipeline;

/// <summary>The stages MSBuild runs by default are the registry's pipeline stages, in the same order.</summary>
[TestClass]
public sealed class StageListTests
{
    [TestMethod]
    public void TargetsFileStagesEqualTheRegistry()
    {
        var targets = Path.Combine(SharedFixtures.RepoRoot, "build", "ToolTune.Stages.targets");
        var items = XDocument.Load(targets).Descendants()
            .Where(e => e.Name.LocalName == "ToolTuneStage")
            .Select(e => (string?)e.Attribute("Include"))
            .ToArray();
        CollectionAssert.AreEqual(StageRegistry.PipelineStages.ToArray(), items,
            $"the ToolTuneStage items of {targets} differ from StageRegistry.PipelineStages");
        foreach (var stage in StageRegistry.PipelineStages)
        {
            Assert.IsTrue(StageRegistry.TryGet(stage, out var implementation), stage);
            Assert.AreEqual(stage, implementation.Name);
        }
    }
}
