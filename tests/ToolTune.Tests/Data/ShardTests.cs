using System.Diagnostics;
using ToolTune.Data;
using ToolTune.Data.Generation;
using ToolTune.Data.Loaders;
using ToolTune.Data.Selection;
using ToolTune.Data.Shards;
using ToolTune.Diagnostics;
using ToolTune.Tensors;

namespace ToolTune.Tests.Data;

[TestClass]
public sealed class ShardTests
{
    public TestContext TestContext { get; set; } = null!;

    private static SampleMeta Meta(int i) => new($"s{i}", "src", "f.jsonl", i + 1, i % 3);

    private static string WriteSynthetic(TempDir dir, string name, int count, out List<(int[] Ids, int[] Labels)> samples)
    {
        samples = [];
        var r = new SplitMix64(99);
        var w = new ShardWriter();
        for (var i = 0; i < count; i++)
        {
            var n = 1 + r.NextInt(50);
            var ids = Enumerable.Range(0, n).Select(_ => r.NextInt(200_000)).ToArray();
            var labels = ids.Select((x, k) => k % 3 == 0 ? CrossEntropy.IgnoreIndex : x).ToArray();
            samples.Add((ids, labels));
            w.Add(EncodedSample.Success(ids, labels), Meta(i));
        }
        var path = dir.Combine(name);
        var info = w.Write(path);
        Assert.AreEqual(count, info.Samples);
        Assert.AreEqual(ShardFormat.Sha256File(path), info.Sha256);
        return path;
    }

    [TestMethod]
    public void RoundTripsIdsLabelsAndMeta()
    {
        using var dir = new TempDir();
        var path = WriteSynthetic(dir, "a.bin", 300, out var samples);
        using var r = new ShardReader(path);
        Assert.AreEqual(300, r.Count);
        Assert.AreEqual(samples.Sum(s => (long)s.Ids.Length), r.TotalTokens);
        Assert.AreEqual(samples.Sum(s => (long)s.Labels.Count(l => l != CrossEntropy.IgnoreIndex)), r.TrainedTokens);
        for (var i = 0; i < samples.Count; i++)
        {
            CollectionAssert.AreEqual(samples[i].Ids, r.InputIds(i).ToArray());
            CollectionAssert.AreEqual(samples[i].Labels, r.LabelIds(i).ToArray());
        }
        Assert.AreEqual(Meta(17), r.Meta(17));
        Assert.IsFalse(Directory.GetFiles(dir.Path).Any(f => f.EndsWith(".tmp")), "no temp file left behind");
    }

    [TestMethod]
    public void EmptyShardRoundTrips()
    {
        using var dir = new TempDir();
        var p = dir.Combine("e.bin");
        new ShardWriter().Write(p);
        using var r = new ShardReader(p);
        Assert.AreEqual(0, r.Count);
    }

    [TestMethod]
    public void TruncatedFileIsReported()
    {
        using var dir = new TempDir();
        var path = WriteSynthetic(dir, "t.bin", 50, out _);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => new ShardReader(path));
        Assert.AreEqual(ErrorCodes.ShardTruncated, ex.Code);
        Assert.AreEqual(path, ex.File);
        StringAssert.Contains(ex.Message, "truncated");
        File.WriteAllBytes(path, bytes[..20]);
        Assert.AreEqual(ErrorCodes.ShardTruncated, Assert.ThrowsExactly<ToolTuneException>(() => new ShardReader(path)).Code);
        File.WriteAllBytes(path, []);
        Assert.AreEqual(ErrorCodes.ShardTruncated, Assert.ThrowsExactly<ToolTuneException>(() => new ShardReader(path)).Code);
    }

    [TestMethod]
    public void BadMagicAndVersionAreReported()
    {
        using var dir = new TempDir();
        var path = WriteSynthetic(dir, "m.bin", 5, out _);
        var bytes = File.ReadAllBytes(path);
        var bad = (byte[])bytes.Clone();
        bad[0] = (byte)'X';
        File.WriteAllBytes(path, bad);
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => new ShardReader(path));
        Assert.AreEqual(ErrorCodes.ShardBadMagic, ex.Code);
        StringAssert.Contains(ex.Message, "magic");
        bad = (byte[])bytes.Clone();
        bad[8] = 9;
        File.WriteAllBytes(path, bad);
        Assert.AreEqual(ErrorCodes.ShardUnsupportedVersion, Assert.ThrowsExactly<ToolTuneException>(() => new ShardReader(path)).Code);
    }

    [TestMethod]
    public void ChecksumMismatchIsReported()
    {
        using var dir = new TempDir();
        var path = WriteSynthetic(dir, "c.bin", 40, out _);
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x40; // flip a bit inside ids/labels
        File.WriteAllBytes(path, bytes);
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => new ShardReader(path));
        Assert.AreEqual(ErrorCodes.ShardChecksumMismatch, ex.Code);
        StringAssert.Contains(ex.Message, "checksum mismatch");
        // A header field change (count) is caught too.
        var h = File.ReadAllBytes(path);
        using (var ok = new TempDir())
        {
            var p2 = WriteSynthetic(ok, "d.bin", 40, out _);
            var b2 = File.ReadAllBytes(p2);
            b2[24] ^= 1; // total tokens
            File.WriteAllBytes(p2, b2);
            Assert.AreEqual(ErrorCodes.ShardChecksumMismatch, Assert.ThrowsExactly<ToolTuneException>(() => new ShardReader(p2)).Code);
        }
        _ = h;
    }

    [TestMethod]
    public void ManifestVerifiesShardHashes()
    {
        using var dir = new TempDir();
        var report = new DataReport();
        var convs = Hermes(dir, 60, 1);
        var split = ShardSetWriter.WriteSplit(dir.Path, "train", convs, new SyntheticEncoder(), report, new ShardWriteOptions { MaxTokensPerShard = 20_000 });
        Assert.IsTrue(split.Shards.Count > 1, "several shard files");
        var m = new ShardManifest();
        m.Splits["train"] = split;
        m.Write(dir.Path);
        var back = ShardManifest.Read(dir.Path, verifyFiles: true);
        Assert.AreEqual(split.Samples, back.Splits["train"].Samples);
        using (var set = ShardSet.Open(dir.Path, "train"))
        {
            Assert.AreEqual(split.Samples, set.Count);
            Assert.AreEqual(convs[^1].Id, set.Meta(set.Count - 1).Id);
        }
        var victim = Path.Combine(dir.Path, split.Shards[1].File);
        var bytes = File.ReadAllBytes(victim);
        bytes[^1] ^= 1;
        File.WriteAllBytes(victim, bytes);
        Assert.AreEqual(ErrorCodes.ShardChecksumMismatch, Assert.ThrowsExactly<ToolTuneException>(() => ShardManifest.Read(dir.Path, verifyFiles: true)).Code);
        File.Delete(victim);
        Assert.AreEqual(ErrorCodes.ShardMissing, Assert.ThrowsExactly<ToolTuneException>(() => ShardManifest.Read(dir.Path, verifyFiles: true)).Code);
    }

    private static List<Conversation> Hermes(TempDir dir, int n, long seed)
    {
        var p = dir.Combine($"h{seed}.jsonl");
        HermesGenerator.WriteJsonl(p, HermesGenerator.Generate(n, seed));
        return DataLoader.Load(new DataSourceSpec("hermes", p, DataFormat.Hermes), new DataReport()).ToList();
    }

    [TestMethod]
    public void BatchesAreDeterministicFromBytesAndSeed()
    {
        using var dir = new TempDir();
        var path = WriteSynthetic(dir, "b.bin", 103, out var samples);
        using var set = new ShardSet([path]);
        var a = BatchIterator.Batches(set, 8, seed: 1, epoch: 0, padId: 0).ToList();
        var b = BatchIterator.Batches(set, 8, seed: 1, epoch: 0, padId: 0).ToList();
        var c = BatchIterator.Batches(set, 8, seed: 1, epoch: 1, padId: 0).ToList();
        Assert.AreEqual(13, a.Count);
        for (var i = 0; i < a.Count; i++)
        {
            CollectionAssert.AreEqual(a[i].InputIds, b[i].InputIds);
            CollectionAssert.AreEqual(a[i].LabelIds, b[i].LabelIds);
        }
        CollectionAssert.AreNotEqual(a.SelectMany(x => x.SampleIndices).ToList(), c.SelectMany(x => x.SampleIndices).ToList());
        CollectionAssert.AreEquivalent(Enumerable.Range(0, 103).ToList(), a.SelectMany(x => x.SampleIndices).ToList());
        var first = a[0];
        var s0 = samples[first.SampleIndices[0]];
        CollectionAssert.AreEqual(s0.Ids, first.Row(0)[..s0.Ids.Length].ToArray());
        Assert.IsTrue(first.LabelRow(0)[s0.Ids.Length..].ToArray().All(l => l == CrossEntropy.IgnoreIndex));
        Assert.AreEqual(12, BatchIterator.Batches(set, 8, 1, 0, 0, dropLast: true).Count());
    }

    [TestMethod]
    public void SameSeedByteIdenticalShardsDifferentSeedDifferentOrder()
    {
        using var dir = new TempDir();
        var tp = dir.Combine("t.json");
        var gp = dir.Combine("g.jsonl");
        HermesGenerator.WriteJsonArray(tp, HermesGenerator.Generate(300, 11));
        HermesGenerator.WriteJsonl(gp, HermesGenerator.GenerateGeneral(150, 11));
        DataPreparationRequest Req(long seed) => new()
        {
            Sources = [new DataSourceSpec("hermes", tp, DataFormat.Hermes), new DataSourceSpec("general", gp, DataFormat.Instruct, DataRole.General)],
            Selection = new SelectionOptions { Seed = seed, ToolEvalConversations = 16 },
            Shards = new ShardWriteOptions { Parallelism = seed == 1 ? 1 : 2 },
        };
        var o1 = Path.Combine(dir.Path, "o1");
        var o2 = Path.Combine(dir.Path, "o2");
        var o3 = Path.Combine(dir.Path, "o3");
        var r1 = DataPreparation.Run(Req(1), new SyntheticEncoder(), o1);
        var r2 = DataPreparation.Run(Req(1) with { Shards = new ShardWriteOptions { Parallelism = 3 } }, new SyntheticEncoder(), o2);
        DataPreparation.Run(Req(2), new SyntheticEncoder(), o3);
        foreach (var f in r1.Files)
            CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(o1, f)), File.ReadAllBytes(Path.Combine(o2, f)), f);
        CollectionAssert.AreNotEqual(File.ReadAllBytes(Path.Combine(o1, "train-00000.bin")), File.ReadAllBytes(Path.Combine(o3, "train-00000.bin")));
        using var s1 = ShardSet.Open(o1, "train");
        using var s3 = ShardSet.Open(o3, "train");
        var ids1 = Enumerable.Range(0, s1.Count).Select(i => s1.Meta(i).Id).ToList();
        var ids3 = Enumerable.Range(0, s3.Count).Select(i => s3.Meta(i).Id).ToList();
        CollectionAssert.AreNotEqual(ids1, ids3);
        Assert.AreEqual(r2.Manifest.Splits["train"].Samples, s1.Count);
    }

    [TestMethod]
    public void PreparationWritesStatsToolEvalAndCountsDrops()
    {
        using var dir = new TempDir();
        var sample = Path.Combine(SharedFixtures.RepoRoot, "data", "samples", "hermes_sample.json");
        var bulk = dir.Combine("bulk.jsonl");
        HermesGenerator.WriteJsonl(bulk, HermesGenerator.Generate(120, 5));
        var gp = dir.Combine("g.jsonl");
        HermesGenerator.WriteJsonl(gp, HermesGenerator.GenerateGeneral(60, 5));
        var outDir = dir.Combine("prepared");
        var res = DataPreparation.Run(new DataPreparationRequest
        {
            Sources =
            [
                new DataSourceSpec("hermes", [sample, bulk], DataFormat.Hermes),
                new DataSourceSpec("general", gp, DataFormat.Instruct, DataRole.General),
            ],
            Selection = new SelectionOptions { Seed = 4, ToolEvalConversations = 8, GeneralEvalConversations = 2 },
        }, new SyntheticEncoder(maxLength: 1200), outDir);

        var rows = DataWriters.ReadStatsCsv(Path.Combine(outDir, DataPreparation.StatsFile));
        var hermes = rows.Single(r => r["source"] == "hermes" && r["reason"] == "");
        Assert.AreEqual(128, int.Parse(hermes["records_read"]));
        Assert.AreEqual("1", rows.Single(r => r["source"] == "hermes" && r["reason"] == DropReasons.BadToolCall)["dropped"]);
        Assert.IsTrue(int.Parse(rows.Single(r => r["source"] == "hermes" && r["reason"] == DropReasons.NoToolCall)["dropped"]) >= 1);
        Assert.IsTrue(int.Parse(rows.Single(r => r["source"] == "hermes" && r["reason"] == DropReasons.OverMaxLength)["dropped"]) >= 1);
        var total = rows.Single(r => r["source"] == "*");
        Assert.AreEqual(res.Manifest.Splits["train"].Samples + res.Manifest.Splits["val"].Samples, int.Parse(total["samples"]));
        Assert.IsTrue(double.Parse(total["trained_fraction"], System.Globalization.CultureInfo.InvariantCulture) is > 0 and < 1);
        Assert.IsTrue(int.Parse(hermes["tool_calls"]) > 0);
        Assert.AreEqual(8, int.Parse(hermes["tool_eval"]));

        var dropped = File.ReadAllLines(Path.Combine(outDir, DataPreparation.DroppedFile));
        Assert.IsTrue(dropped.Any(l => l.Contains("sample-broken-call") && l.Contains("hermes_sample.json")));
        Assert.IsTrue(File.ReadAllLines(Path.Combine(outDir, DataPreparation.ToolEvalFile)).Any(l => l.Contains("\"expected\":\"no call expected\"")));

        // The labelled region of a tool sample holds the call delimiters.
        using var set = ShardSet.Open(outDir, "train");
        var withCalls = Enumerable.Range(0, set.Count).First(i => set.Meta(i).ToolCalls > 0);
        var labels = set.LabelIds(withCalls).ToArray();
        Assert.IsTrue(labels.Contains(SyntheticEncoder.CallStart) && labels.Contains(SyntheticEncoder.CallEnd));
        Assert.IsFalse(Directory.EnumerateFiles(outDir, "*.tmp", SearchOption.AllDirectories).Any());
    }

    [TestMethod]
    [TestCategory("Throughput")]
    public void LoadAndConvertThroughputOnGeneratedHermesConversations()
    {
        // 2,000 by default to keep the suite quick; the 20,000-conversation measurement (the size of Hermes V1):
        //   TOOLTUNE_THROUGHPUT_N=20000 dotnet test -c Release --filter TestCategory=Throughput --logger "console;verbosity=detailed"
        var n = int.TryParse(Environment.GetEnvironmentVariable("TOOLTUNE_THROUGHPUT_N"), out var env) && env > 0 ? env : 2_000;
        using var dir = new TempDir();
        var path = dir.Combine("hermes.json");
        HermesGenerator.WriteJsonArray(path, HermesGenerator.Generate(n, 2026));
        var jsonl = dir.Combine("hermes.jsonl");
        HermesGenerator.WriteJsonl(jsonl, HermesGenerator.Generate(n, 2026));
        // Warm-up (JIT) on a small slice.
        DataLoader.Load(new DataSourceSpec("w", jsonl, DataFormat.Hermes), new DataReport()).Take(500).ToList();

        foreach (var (name, p) in new[] { ("json-array", path), ("jsonl", jsonl) })
        {
            var report = new DataReport();
            var sw = Stopwatch.StartNew();
            var convs = DataLoader.Load(new DataSourceSpec("hermes", p, DataFormat.Hermes), report).ToList();
            var loaded = sw.Elapsed;
            var kept = DataSelection.FilterToolConversations(convs, report);
            var ctxBytes = 0L;
            foreach (var c in kept) ctxBytes += c.ToRenderContext().ToJsonString().Length;
            sw.Stop();
            Assert.AreEqual(n, convs.Count);
            var mb = new FileInfo(p).Length / 1e6;
            TestContext.WriteLine($"THROUGHPUT {name}: {mb:F1} MB, {n} conversations loaded+converted in {loaded.TotalSeconds:F2}s " +
                $"({n / loaded.TotalSeconds:F0} conv/s, {mb / loaded.TotalSeconds:F1} MB/s); with filter + render context: " +
                $"{sw.Elapsed.TotalSeconds:F2}s ({n / sw.Elapsed.TotalSeconds:F0} conv/s); kept {kept.Count}");
        }
    }
}

[TestClass]
public sealed class EncoderDropTests
{
    [TestMethod]
    public void OverLengthSamplesAreCountedOrThrownWithTheirSourceLine()
    {
        using var dir = new TempDir();
        var p = dir.Combine("h.jsonl");
        HermesGenerator.WriteJsonl(p, HermesGenerator.Generate(30, 8));
        var report = new DataReport();
        var convs = DataLoader.Load(new DataSourceSpec("hermes", p, DataFormat.Hermes), report).ToList();
        var lengths = convs.Select(c => new SyntheticEncoder().Encode(c).InputIds.Length).OrderBy(x => x).ToList();
        var cap = lengths[lengths.Count / 2];
        var split = ShardSetWriter.WriteSplit(dir.Combine("out"), "train", convs, new SyntheticEncoder(cap), report);
        var dropped = report.Source("hermes").DroppedByReason[DropReasons.OverMaxLength];
        Assert.AreEqual(convs.Count, split.Samples + dropped);
        Assert.IsTrue(dropped > 0);
        var issue = report.Issues.First(i => i.Reason == DropReasons.OverMaxLength);
        Assert.IsTrue(issue.Line > 0);
        Assert.AreEqual(p, issue.File);

        var ex = Assert.ThrowsExactly<ToolTuneException>(() =>
            ShardSetWriter.WriteSplit(dir.Combine("out2"), "train", convs, new SyntheticEncoder(cap), new DataReport(), new ShardWriteOptions { Strict = true }));
        Assert.AreEqual(ErrorCodes.DataEncodeFailed, ex.Code);
        Assert.AreEqual(p, ex.File);
        Assert.IsTrue(ex.Line > 0);
    }
}

[TestClass]
public sealed class MaskPreviewTests
{
    [TestMethod]
    public void TrainedSpansAreBracketed()
    {
        int[] ids = [1, 2, 3, 4, 5];
        int[] labels = [CrossEntropy.IgnoreIndex, 2, 3, CrossEntropy.IgnoreIndex, 5];
        var text = MaskPreview.Render(ids, labels, xs => string.Concat(xs.Select(x => (char)('a' + x - 1))));
        Assert.AreEqual("a⟦bc⟧d⟦e⟧", text);
    }
}
