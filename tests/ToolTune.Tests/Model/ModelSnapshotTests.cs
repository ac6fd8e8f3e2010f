using ToolTune.Model;

namespace ToolTune.Tests.Model;

/// <summary>Which snapshot files each stage fingerprints: training the weights alone, a merge also generation_config.json.</summary>
[TestClass]
public sealed class ModelSnapshotTests
{
    [TestMethod]
    public void WeightAndMergeFilesAreListedInTheirStableOrders()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tt-snapshot-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            foreach (var name in new[] { "config.json", "generation_config.json", "model-00002-of-00002.safetensors", "model-00001-of-00002.safetensors",
                                         "model.safetensors.index.json", "tokenizer.json", "README.md" })
                File.WriteAllText(Path.Combine(dir, name), "{}");
            var snapshot = new ModelSnapshot(dir);
            CollectionAssert.AreEqual(
                new[] { "config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json" },
                snapshot.WeightFiles().Select(Path.GetFileName).ToArray());
            CollectionAssert.AreEqual(
                new[] { "config.json", "generation_config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json" },
                snapshot.MergeInputFiles().Select(Path.GetFileName).ToArray());
            Assert.IsTrue(snapshot.WeightFiles().All(f => Path.GetDirectoryName(f) == dir), "paths keep the folder as given");
            Assert.AreEqual(0, new ModelSnapshot(Path.Combine(dir, "missing")).WeightFiles().Count());
            Assert.AreEqual(0, new ModelSnapshot(Path.Combine(dir, "missing")).MergeInputFiles().Count());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
