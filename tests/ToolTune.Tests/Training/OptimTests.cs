using System.Text.Json.Nodes;
using ToolTune.Model;
using ToolTune.Training;
using static ToolTune.Tests.Training.LoraTests;

namespace ToolTune.Tests.Training;

[TestClass]
public sealed class OptimTests
{
    [TestMethod]
    public void AdamWMatchesTorchOverSixSteps()
    {
        var f = Fixtures["adamw"]!;
        var w = new Param("w", [3, 5], F(f["w0"]));
        w.MakeTrainable();
        var opt = new AdamW([w], (double)f["beta1"]!, (double)f["beta2"]!, (double)f["eps"]!, (double)f["wd"]!);
        var grads = f["grads"]!.AsArray();
        var lrs = f["lrs"]!.AsArray().Select(v => (double)v!).ToArray();
        for (var s = 0; s < lrs.Length; s++)
        {
            F(grads[s]).CopyTo(w.Grad!, 0);
            opt.Update(lrs[s]);
            Close(F(f["traj"]![s]), w.F32, 1e-6, $"step {s + 1}");
        }
        Close(F(f["exp_avg"]), opt.ExpAvg[0], 1e-6, "exp_avg");
        Close(F(f["exp_avg_sq"]), opt.ExpAvgSq[0], 1e-6, "exp_avg_sq");
    }

    [TestMethod]
    public void ClipMatchesTorch()
    {
        var f = Fixtures["clip"]!;
        var g = f["grads"]!.AsArray();
        var ps = new[] { new Param("a", [4, 3], new float[12]), new Param("b", [5], new float[5]) };
        for (var i = 0; i < 2; i++) { ps[i].MakeTrainable(); F(g[i]).CopyTo(ps[i].Grad!, 0); }
        var total = GradClip.Clip(ps, (double)f["max_norm"]!);
        Assert.AreEqual((double)f["total"]!, total, 1e-5 * total);
        for (var i = 0; i < 2; i++) Close(F(f["clipped"]![i]), ps[i].Grad, 1e-6, $"clipped {i}");
    }

    [TestMethod]
    public void SchedulesMatchTransformers()
    {
        foreach (var s in Fixtures["schedules"]!.AsArray())
        {
            var sched = LrSchedule.Create((string)s!["kind"]!, (double)s["lr"]!, (int)s["total"]!, (double)s["ratio"]!);
            Assert.AreEqual((int)s["warmup"]!, sched.WarmupSteps);
            var values = s["values"]!.AsArray().Select(v => (double)v!).ToArray();
            for (var i = 0; i < values.Length; i++)
                Assert.AreEqual(values[i], sched.At(i), 1e-15, $"{sched.Kind} total {sched.TotalSteps} step {i}");
        }
    }
}
