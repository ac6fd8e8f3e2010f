using System.Text.Json.Nodes;
using ToolTune.Data;
using ToolTune.Data.Loaders;
using ToolTune.Data.Selection;
using ToolTune.Diagnostics;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Fingerprints;
using ToolTune.Pipeline.Stages;
using ToolTune.Tests.Pipeline;

namespace ToolTune.Tests.Data;

/// <summary><c>data.keep_no_call</c>: tool conversations that declare tools but call none are kept instead of dropped (TT3008).</summary>
[TestClass]
[DoNotParallelize] // the PrepareData run is CPU-heavy (2 shared cores)
public sealed class KeepNoCallTests
{
    private static string SampleFile => Path.Combine(SharedFixtures.RepoRoot, "data", "samples", "hermes_sample.json");

    private static List<Conversation> Load(DataReport report) =>
        DataLoader.Load(new DataSourceSpec("hermes", SampleFile, DataFormat.Hermes), report).ToList();

    [TestMethod]
    public void FilterKeepsDeclaredToolsWithoutACallOnlyWhenAsked()
    {
        var report = new DataReport();
        var convs = Load(report);
        var noCall = convs.Single(c => c.Id == "sample-no-call");
        Assert.IsTrue(noCall.Tools.Count > 0);
        var kept = DataSelection.FilterToolConversations(convs, report, keepNoCall: true);
        Assert.AreEqual(convs.Count, kept.Count);
        Assert.AreEqual(1, report.Source("hermes").KeptNoCall);
        Assert.IsFalse(report.Issues.Any(i => i.Code == ErrorCodes.DataNoToolCall));

        // Off (the default): dropped and reported as before.
        var before = new DataReport();
        var dropped = DataSelection.FilterToolConversations(Load(before), before);
        Assert.AreEqual(convs.Count - 1, dropped.Count);
        Assert.AreEqual("sample-no-call", before.Issues.Single(i => i.Code == ErrorCodes.DataNoToolCall).RecordId);
        Assert.AreEqual(0, before.Source("hermes").KeptNoCall);

        // No tools and no call: nothing to learn about calling, dropped even when asked.
        var bare = new Conversation(noCall.Id, noCall.Messages) { Source = "hermes", DataRole = DataRole.Tool };
        var r2 = new DataReport();
        Assert.AreEqual(0, DataSelection.FilterToolConversations([bare], r2, keepNoCall: true).Count);
        Assert.AreEqual(ErrorCodes.DataNoToolCall, r2.Issues.Single().Code);
    }

    [TestMethod]
    public void ConfigKeyIsParsedAndFingerprintedOnlyWhenOn()
    {
        static PipelineConfig Parse(string data) =>
            ConfigLoader.Parse("data:\n  tool_ratio: 0.7\n" + data, "run.yaml", Path.GetTempPath(), checkPaths: false).Config;
        var off = Parse("");
        var on = Parse("  keep_no_call: true\n");
        Assert.IsFalse(off.Data.KeepNoCall);
        Assert.IsTrue(on.Data.KeepNoCall);
        // Unset and an explicit false fingerprint the same as before the key existed; true changes the data fingerprint.
        Assert.AreEqual(ConfigCanonical.Canonical(off, "data"), ConfigCanonical.Canonical(Parse("  keep_no_call: false\n"), "data"));
        Assert.IsFalse(ConfigCanonical.Canonical(off, "data").Contains("keep_no_call", StringComparison.Ordinal));
        StringAssert.Contains(ConfigCanonical.Canonical(on, "data"), "\"keep_no_call\":true");
    }

    [TestMethod]
    public void PrepareDataKeepsTheConversationAndWarnsNothing()
    {
        using var p = new StageProject();
        p.Copy("data/samples/hermes_sample.json", "data/hermes_sample.json");
        foreach (var keep in new[] { true, false })
        {
            var config = p.Config($"keep{keep}", "- path: data/hermes_sample.json", data: $"val_fraction: 0\nkeep_no_call: {(keep ? "true" : "false")}");
            var log = new RecordingLog();
            var result = PrepareDataStage.Prepare(p.Load(config), Path.Combine(p.Root, $"out-{keep}"), log);
            var ids = result.Selection.Train.Select(c => c.Id).ToList();
            var warned = log.Warnings.Any(w => w.Contains(ErrorCodes.DataNoToolCall, StringComparison.Ordinal));
            var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(p.Root, $"out-{keep}", "manifest.json")))!.ToJsonString();
            if (keep)
            {
                CollectionAssert.Contains(ids, "sample-no-call");
                Assert.IsFalse(warned, string.Join("\n", log.Warnings));
                Assert.AreEqual(1, result.Report.Sources.Sum(s => s.KeptNoCall));
                StringAssert.Contains(manifest, "\"kept_no_call\":1");
            }
            else
            {
                CollectionAssert.DoesNotContain(ids, "sample-no-call");
                Assert.IsTrue(warned, string.Join("\n", log.Warnings));
                Assert.IsFalse(manifest.Contains("kept_no_call", StringComparison.Ordinal));
            }
        }
    }
}
