using ToolTune.Data;
using ToolTune.Data.Generation;
using ToolTune.Data.Loaders;
using ToolTune.Data.Selection;

namespace ToolTune.Tests.Data;

[TestClass]
public sealed class SelectionTests
{
    private static (List<Conversation> Tool, List<Conversation> General, DataReport Report) Pools(TempDir dir, int nTool, int nGeneral, long seed = 7)
    {
        var tp = dir.Combine("tool.jsonl");
        var gp = dir.Combine("general.jsonl");
        // The generator's no-call shape is ~4%: generate a few more and keep exactly nTool calling ones.
        HermesGenerator.WriteJsonl(tp, HermesGenerator.Generate(nTool + nTool / 10 + 10, seed));
        if (nGeneral > 0) HermesGenerator.WriteJsonl(gp, HermesGenerator.GenerateGeneral(nGeneral, seed));
        var report = new DataReport();
        var tool = DataLoader.Load(new DataSourceSpec("hermes", tp, DataFormat.Hermes), report).Where(c => c.HasToolCalls).Take(nTool).ToList();
        var general = nGeneral == 0 ? [] : DataLoader.Load(new DataSourceSpec("general", gp, DataFormat.Instruct, DataRole.General), report).ToList();
        return (tool, general, report);
    }

    [TestMethod]
    public void SplitMix64IsStableAcrossRuntimes()
    {
        // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        var r = new SplitMix64(0);
        Assert.AreEqual(0xE220A8397B1DCDAFUL, r.NextUInt64());
        Assert.AreEqual(0x6E789E6AA1B965F4UL, r.NextUInt64());
        Assert.AreEqual(0x06C45D188009454FUL, r.NextUInt64());
    }

    [TestMethod]
    public void MixIs70_30WithinOneSampleOn1000Records()
    {
        using var dir = new TempDir();
        var (tool, general, report) = Pools(dir, 800, 400);
        var sel = DataSelection.Select(tool, general, new SelectionOptions { Seed = 1, MaxSamples = 1000, ToolEvalConversations = 0, ValFraction = 0.1 }, report);
        var all = sel.Train.Concat(sel.Val).ToList();
        Assert.AreEqual(1000, all.Count);
        var nTool = all.Count(c => c.DataRole == DataRole.Tool);
        Assert.IsTrue(Math.Abs(nTool - 700) <= 1, $"tool {nTool}");
        Assert.IsTrue(Math.Abs(all.Count - nTool - 300) <= 1);
        Assert.AreEqual(100, sel.Val.Count);

        // 1,000 input records (700 tool + 300 general) mix to exactly 70/30.
        var (tool2, general2, report2) = Pools(dir, 700, 300);
        var sel2 = DataSelection.Select(tool2, general2, new SelectionOptions { Seed = 2, ToolEvalConversations = 0 }, report2);
        Assert.AreEqual(700, sel2.ToolSelected);
        Assert.AreEqual(300, sel2.GeneralSelected);
    }

    [TestMethod]
    public void TrainingNeverHoldsAnEvalPrompt()
    {
        using var dir = new TempDir();
        var (tool, general, report) = Pools(dir, 300, 100);
        var options = new SelectionOptions { Seed = 3, ToolEvalConversations = 40, GeneralEvalConversations = 10 };
        var sel = DataSelection.Select(tool, general, options, report);
        var evalKeys = sel.EvalConversations.Select(DataSelection.PromptKey).OfType<string>().ToHashSet();
        var train = sel.Train.Concat(sel.Val).ToList();
        Assert.IsFalse(train.Any(c => evalKeys.Contains(DataSelection.PromptKey(c)!)), "a training conversation repeats an eval prompt");
        // The generator repeats short prompts ("How much is TSLA trading at today?"), so some were dropped, each located.
        var dropped = report.Issues.Where(i => i.Code == "TT3040").ToList();
        Assert.IsTrue(dropped.Count > 0, "expected duplicates of eval prompts in 300 generated conversations");
        Assert.IsTrue(dropped.All(i => i.Line > 0 && i.RecordId is not null && i.Reason == DropReasons.EvalDuplicate));

        // Without decontamination the same pools keep them (and the hold-out itself is unchanged).
        var (tool2, general2, report2) = Pools(dir, 300, 100);
        var leaky = DataSelection.Select(tool2, general2, options with { DropEvalDuplicates = false }, report2);
        CollectionAssert.AreEqual(sel.EvalConversations.Select(c => c.Id).ToList(), leaky.EvalConversations.Select(c => c.Id).ToList());
        Assert.IsTrue(leaky.Train.Concat(leaky.Val).Any(c => evalKeys.Contains(DataSelection.PromptKey(c)!)), "the leaky selection trains on eval prompts");
    }

    [TestMethod]
    public void MixCountsRespectTheRatioForAnyPoolSizes()
    {
        foreach (var (t, g) in new[] { (800, 200), (100, 1000), (7, 3), (1000, 1), (0, 50), (50, 0), (701, 299) })
        {
            var (nt, ng) = DataSelection.MixCounts(t, g, 0.7, null);
            Assert.IsTrue(nt <= t && ng <= g, $"{t}/{g}");
            if (t > 0 && g > 0)
            {
                var n = nt + ng;
                Assert.IsTrue(Math.Abs(nt - 0.7 * n) <= 1, $"{t}/{g}: {nt}+{ng}");
                // Maximal: one more sample would break the ratio or the pools.
                var (nt1, ng1) = (Math.Round((n + 1) * 0.7, MidpointRounding.AwayFromZero), 0);
                Assert.IsTrue(nt1 > t || n + 1 - nt1 > g, $"{t}/{g}: {n} is not maximal");
                _ = ng1;
            }
        }
    }

    [TestMethod]
    public void SameSeedSameSplitDifferentSeedDifferentOrder()
    {
        using var dir = new TempDir();
        var (tool, general, report) = Pools(dir, 200, 100);
        var o = new SelectionOptions { Seed = 5, ToolEvalConversations = 10 };
        var a = DataSelection.Select(tool, general, o, report);
        var b = DataSelection.Select(tool, general, o, new DataReport());
        var c = DataSelection.Select(tool, general, o with { Seed = 6 }, new DataReport());
        CollectionAssert.AreEqual(a.Train.Select(x => x.Id).ToList(), b.Train.Select(x => x.Id).ToList());
        CollectionAssert.AreEqual(a.Val.Select(x => x.Id).ToList(), b.Val.Select(x => x.Id).ToList());
        CollectionAssert.AreNotEqual(a.Train.Select(x => x.Id).ToList(), c.Train.Select(x => x.Id).ToList());
        // Held-out eval conversations never leak into train/val.
        var evalIds = a.EvalConversations.Select(x => x.Id).ToHashSet();
        Assert.AreEqual(10, evalIds.Count);
        Assert.IsFalse(a.Train.Concat(a.Val).Any(x => evalIds.Contains(x.Id)));
    }

    [TestMethod]
    public void ToolEvalItemsHavePromptsToolsAndGoldCallsOrNoCall()
    {
        using var dir = new TempDir();
        var (tool, general, report) = Pools(dir, 100, 50);
        var sel = DataSelection.Select(tool, general, new SelectionOptions { Seed = 3, ToolEvalConversations = 20 }, report);
        Assert.IsTrue(sel.ToolEval.Any(i => i.ExpectCall));
        Assert.IsTrue(sel.ToolEval.Any(i => !i.ExpectCall), "final answers after tool responses → no call expected");
        foreach (var item in sel.ToolEval)
        {
            var ctx = item.ToRenderContext();
            var msgs = ctx["messages"]!.AsArray();
            Assert.AreEqual(item.TurnIndex, msgs.Count);
            Assert.AreNotEqual("assistant", (string)msgs[^1]!["role"]!);
            Assert.IsTrue(ctx["tools"]!.AsArray().Count >= 2);
            var json = item.ToJson();
            Assert.AreEqual(item.ExpectCall ? "tool_call" : "no call expected", (string)json["expected"]!);
            Assert.AreEqual(item.GoldCalls.Count, json["gold_calls"]!.AsArray().Count);
            Assert.IsTrue((int)json["source_line"]! > 0);
        }
        using var t = new TempDir();
        var p = t.Combine("tool_eval.jsonl");
        DataWriters.WriteToolEvalJsonl(p, sel.ToolEval);
        Assert.AreEqual(sel.ToolEval.Count, File.ReadAllLines(p).Length);
        StringAssert.Contains(File.ReadAllText(p), "\"gold_calls\":[{\"name\":");
    }

    [TestMethod]
    public void ToolOnlyMixWarnsAndInvalidOptionsThrow()
    {
        using var dir = new TempDir();
        var (tool, _, report) = Pools(dir, 30, 0);
        var sel = DataSelection.Select(tool, [], new SelectionOptions { ToolEvalConversations = 4 }, report);
        Assert.AreEqual(26, sel.Train.Count + sel.Val.Count);
        Assert.IsTrue(sel.Warnings.Any(w => w.Contains("tool-only")));
        Assert.ThrowsExactly<ToolTune.Diagnostics.ToolTuneException>(() => DataSelection.Select(tool, [], new SelectionOptions { ToolFraction = 1.5 }, report));
    }
}
