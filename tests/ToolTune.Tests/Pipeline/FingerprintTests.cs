using ToolTune.Diagnostics;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Fingerprints;
using ToolTune.IO;

namespace ToolTune.Tests.Pipeline;

[TestClass]
public sealed class FingerprintTests
{
    private static PipelineConfig Parse(string yaml, params string[] overrides) =>
        ConfigLoader.Parse(yaml, "run.yaml", Path.GetTempPath(), overrides, checkPaths: false).Config;

    private static Dictionary<string, string> Sections(PipelineConfig c) =>
        PipelineConfig.SectionNames.ToDictionary(s => s, s => ConfigCanonical.Sha256(ConfigCanonical.Canonical(c, s)));

    private const string Base = """
        run:
          name: demo
          seed: 3
        train:
          learning_rate: 0.0001
          epochs: 2
          betas: [0.9, 0.95]
        eval:
          gates: ["tool_call_f1 >= 0.9"]
        """;

    [TestMethod]
    public void CommentsKeyOrderQuotingAndNumberFormsDoNotCount()
    {
        var reordered = Parse("""
            # a comment
            eval:
              gates: ['tool_call_f1 >= 0.9']   # same gate
            train:
              epochs: 2          # reordered keys
              betas: [9e-1, 0.950]
              learning_rate: 1e-4
            run: {seed: 3, name: "demo"}
            """);
        CollectionAssert.AreEquivalent(Sections(Parse(Base)), Sections(reordered));
    }

    [TestMethod]
    public void ExplicitDefaultsEqualOmittedKeys()
    {
        var explicitDefaults = Parse(Base + "\nlora:\n  r: 16\n  alpha: 32\n");
        Assert.AreEqual(Sections(Parse(Base))["lora"], Sections(explicitDefaults)["lora"]);
    }

    [TestMethod]
    public void ARealChangeChangesOnlyItsSectionAndKey()
    {
        var before = Parse(Base);
        var after = Parse(Base.Replace("epochs: 2", "epochs: 3"));
        var changed = Sections(before).Where(kv => Sections(after)[kv.Key] != kv.Value).Select(kv => kv.Key).ToList();
        CollectionAssert.AreEqual(new[] { "train" }, changed);
        Assert.AreNotEqual(ConfigCanonical.Canonical(before, "train.epochs"), ConfigCanonical.Canonical(after, "train.epochs"));
        Assert.AreEqual(ConfigCanonical.Canonical(before, "train.learning_rate"), ConfigCanonical.Canonical(after, "train.learning_rate"));
    }

    [TestMethod]
    public void OverridesAreFingerprinted()
    {
        var plain = Sections(Parse(Base));
        var overridden = Sections(Parse(Base, "train.learning_rate=3e-4"));
        Assert.AreNotEqual(plain["train"], overridden["train"]);
        Assert.AreEqual(plain["eval"], overridden["eval"]);
        // An override that restates the file's value changes nothing.
        Assert.AreEqual(plain["train"], Sections(Parse(Base, "train.learning_rate=0.0001"))["train"]);
    }

    [TestMethod]
    public void UnknownDependencyKeyIsAnError() =>
        Assert.ThrowsExactly<ToolTuneException>(() => ConfigCanonical.Canonical(Parse(Base), "train.nope"));

    [TestMethod]
    public void LeavesGiveReadableDiffs()
    {
        var leaves = ConfigCanonical.Leaves(ConfigCanonical.Canonical(Parse(Base), "train"), "train");
        Assert.AreEqual("0.0001", leaves["train.learning_rate"]);
        Assert.AreEqual("[0.9,0.95]", leaves["train.betas"]);
    }
}

[TestClass]
public sealed class ContentHashCacheTests
{
    [TestMethod]
    public void TouchRehashesToTheSameValueEditChangesItDeleteIsNull()
    {
        using var dir = new TempDir();
        var file = dir.File("data.jsonl", "{\"a\":1}\n");
        var cachePath = Path.Combine(dir.Path, "cache.json");

        var cache = ContentHashCache.Open(cachePath);
        var original = cache.TryGetHash(file);
        Assert.AreEqual(1, cache.FilesHashed);
        cache.Save();

        // Unchanged (same size + mtime): served from the persisted cache, not re-read.
        var reopened = ContentHashCache.Open(cachePath);
        Assert.AreEqual(original, reopened.TryGetHash(file));
        Assert.AreEqual(0, reopened.FilesHashed);

        // touch: mtime changes, content does not -> re-hashed, same hash.
        File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(5));
        Assert.AreEqual(original, reopened.TryGetHash(file));
        Assert.AreEqual(1, reopened.FilesHashed);

        // A real edit of the same size, with the mtime forced back to the cached one, would be missed (like git's
        // racy-clean case); with any mtime change it is caught:
        File.WriteAllText(file, "{\"a\":2}\n");
        Assert.AreNotEqual(original, reopened.TryGetHash(file));

        File.Delete(file);
        Assert.IsNull(reopened.TryGetHash(file));
        reopened.Save();
        StringAssert.DoesNotMatch(File.ReadAllText(cachePath), new System.Text.RegularExpressions.Regex("data\\.jsonl"));
    }

    [TestMethod]
    public void CorruptCacheIsIgnored()
    {
        using var dir = new TempDir();
        var file = dir.File("x.txt", "x");
        var cachePath = dir.File("cache.json", "{ not json");
        var cache = ContentHashCache.Open(cachePath);
        Assert.IsNotNull(cache.TryGetHash(file));
        cache.Save();
        Assert.AreEqual(0, ContentHashCache.Open(cachePath) is var c && c.TryGetHash(file) is not null ? c.FilesHashed : -1);
    }
}

[TestClass]
public sealed class AtomicFileTests
{
    [TestMethod]
    public void WriteIfChangedKeepsTheTimestampOfIdenticalContent()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "sub", "x.fp");
        Assert.IsTrue(AtomicFile.WriteIfChanged(path, "abc\n"));
        var old = DateTime.UtcNow.AddHours(-1);
        File.SetLastWriteTimeUtc(path, old);
        Assert.IsFalse(AtomicFile.WriteIfChanged(path, "abc\n"));
        Assert.AreEqual(old, File.GetLastWriteTimeUtc(path));
        Assert.IsTrue(AtomicFile.WriteIfChanged(path, "abd\n"));
        Assert.AreEqual("abd\n", File.ReadAllText(path));
        Assert.AreNotEqual(old, File.GetLastWriteTimeUtc(path));
        Assert.AreEqual(1, Directory.GetFiles(Path.GetDirectoryName(path)!).Length, "no temporary files are left");
    }

    [TestMethod]
    public void OrphanedTemporariesOfDeadWritersAreRemovedAndLiveOnesKept()
    {
        using var dir = new TempDir();
        using var exited = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("true") { UseShellExecute = false })!;
        exited.WaitForExit();
        var orphan = dir.File($".x.fp.{exited.Id}.{Guid.NewGuid():N}.tmp", "half");
        var live = dir.File($".y.fp.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp", "being written");
        var other = dir.File(".notes.tmp", "not ours");
        Assert.AreEqual(1, AtomicFile.RemoveOrphans(dir.Path));
        Assert.IsFalse(File.Exists(orphan));
        Assert.IsTrue(File.Exists(live), "a running writer's temporary is kept");
        Assert.IsTrue(File.Exists(other), "only AtomicFile's naming is touched");
    }

    [TestMethod]
    public void FailedWriteLeavesTheOldFileAndNoTemporary()
    {
        using var dir = new TempDir();
        var blocker = dir.File("blocker", "a file, not a folder");
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => AtomicFile.Write(Path.Combine(blocker, "x.json"), "{}"));
        Assert.AreEqual(ErrorCodes.ArtifactWriteFailed, ex.Code);

        var target = dir.File("target.json", "old");
        AtomicFile.Write(target, "new");
        Assert.AreEqual("new", File.ReadAllText(target));
        Assert.AreEqual(2, Directory.GetFiles(dir.Path).Length); // blocker + target
    }
}
