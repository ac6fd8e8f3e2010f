using System.Numerics;
using System.Runtime.CompilerServices;
using ToolTune.Model;

namespace ToolTune.Training;

/// <summary>
/// <c>torch.optim.AdamW</c> (single-tensor path, amsgrad=False, maximize=False), f32 moments, per parameter:
/// <code>
/// p ← p·(1 − lr·wd)                      (decoupled weight decay)
/// m ← m + (g − m)·(1 − β1)                (exp_avg.lerp_(grad, 1 − β1))
/// v ← v·β2 + (1 − β2)·g·g
/// bc1 = 1 − β1^t; bc2 = 1 − β2^t          (t = step, 1-based, in double as Python floats)
/// p ← p − (lr / bc1) · m / (√v / √bc2 + eps)
/// </code>
/// </summary>
public sealed class AdamW
{
    public AdamW(IReadOnlyList<Param> parameters, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.0)
    {
        Parameters = parameters;
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
        ExpAvg = parameters.Select(p => new float[p.Count]).ToArray();
        ExpAvgSq = parameters.Select(p => new float[p.Count]).ToArray();
    }

    public IReadOnlyList<Param> Parameters { get; }
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public double WeightDecay { get; }
    /// <summary>Number of steps taken (torch's per-parameter <c>state["step"]</c>, equal for all).</summary>
    public long Step { get; set; }
    public float[][] ExpAvg { get; }
    public float[][] ExpAvgSq { get; }

    public void Update(double lr)
    {
        Step++;
        var bc1 = 1 - Math.Pow(Beta1, Step);
        var bc2 = 1 - Math.Pow(Beta2, Step);
        var stepSize = (float)(lr / bc1);
        var bc2Sqrt = (float)Math.Sqrt(bc2);
        var decay = (float)(1 - lr * WeightDecay);
        var w1 = (float)(1 - Beta1);
        var b2 = (float)Beta2;
        var w2 = (float)(1 - Beta2);
        var eps = (float)Eps;
        for (var i = 0; i < Parameters.Count; i++)
        {
            var g = Parameters[i].Grad ?? throw new InvalidOperationException($"{Parameters[i].Name} is not trainable");
            UpdateTensor(Parameters[i].Data, g, ExpAvg[i], ExpAvgSq[i], WeightDecay != 0, decay, w1, b2, w2, bc2Sqrt, eps, stepSize);
        }
    }

    /// <summary>One tensor's AdamW update; the vector lanes do the scalar tail's operations in the same order (same bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void UpdateTensor(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, bool weightDecay, float decay,
        float w1, float b2, float w2, float bc2Sqrt, float eps, float stepSize)
    {
        var j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var n = Vector<float>.Count;
            for (; j + n <= p.Length; j += n)
            {
                var pj = new Vector<float>(p.Slice(j));
                if (weightDecay) pj *= decay;
                var gj = new Vector<float>(g.Slice(j));
                var mj = new Vector<float>(m.Slice(j));
                mj += w1 * (gj - mj);
                var vj = new Vector<float>(v.Slice(j)) * b2 + w2 * gj * gj;
                var denom = Vector.SquareRoot(vj) / bc2Sqrt + new Vector<float>(eps);
                pj -= stepSize * (mj / denom);
                mj.CopyTo(m.Slice(j));
                vj.CopyTo(v.Slice(j));
                pj.CopyTo(p.Slice(j));
            }
        }
        for (; j < p.Length; j++)
        {
            if (weightDecay) p[j] *= decay;
            var gj = g[j];
            m[j] += w1 * (gj - m[j]);
            v[j] = v[j] * b2 + w2 * gj * gj;
            var denom = MathF.Sqrt(v[j]) / bc2Sqrt + eps;
            p[j] -= stepSize * (m[j] / denom);
        }
    }
}

/// <summary>Global-norm gradient clipping with <c>torch.nn.utils.clip_grad_norm_</c> semantics.</summary>
public static class GradClip
{
    /// <summary>The L2 norm over all gradients (each tensor's norm, then the norm of the norms).</summary>
    public static double GlobalNorm(IEnumerable<Param> parameters)
    {
        double total = 0;
        foreach (var p in parameters)
        {
            if (p.Grad is not { } g) continue;
            double s = 0;
            foreach (var x in g) s += (double)x * x;
            var n = (float)Math.Sqrt(s);
            total += (double)n * n;
        }
        return (float)Math.Sqrt(total);
    }

    /// <summary>
    /// Scales all gradients by <c>min(1, max_norm / (total + 1e-6))</c> (torch multiplies even when the coefficient
    /// clamps to 1) and returns the total norm before clipping. A non-finite norm leaves gradients as they are.
    /// </summary>
    public static double Clip(IReadOnlyList<Param> parameters, double maxNorm)
    {
        var total = GlobalNorm(parameters);
        if (!double.IsFinite(total)) return total;
        var coef = (float)Math.Min(1.0, maxNorm / (total + 1e-6));
        if (coef == 1f) return total;
        foreach (var p in parameters)
            if (p.Grad is { } g) for (var j = 0; j < g.Length; j++) g[j] *= coef;
        return total;
    }
}

/// <summary>
/// Learning-rate schedules exactly as transformers <c>get_{cosine,linear,constant}_schedule_with_warmup</c> (LambdaLR):
/// the optimizer step with 0-based index s uses <c>lr·λ(s)</c>; warmup steps = ⌈total · warmup_ratio⌉
/// (<c>TrainingArguments.get_warmup_steps</c>).
/// </summary>
public sealed record LrSchedule(string Kind, double BaseLr, int TotalSteps, int WarmupSteps)
{
    public static LrSchedule Create(string kind, double baseLr, int totalSteps, double warmupRatio) =>
        new(kind, baseLr, totalSteps, (int)Math.Ceiling(totalSteps * warmupRatio));

    public double Factor(int step)
    {
        if (step < WarmupSteps) return (double)step / Math.Max(1, WarmupSteps);
        switch (Kind)
        {
            case "constant":
                return 1.0;
            case "linear":
                return Math.Max(0.0, (double)(TotalSteps - step) / Math.Max(1, TotalSteps - WarmupSteps));
            case "cosine":
                var progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
                return Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * 0.5 * 2.0 * progress)));
            default:
                throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "cosine, linear or constant");
        }
    }

    /// <summary>The learning rate of the optimizer step with 0-based index <paramref name="step"/>.</summary>
    public double At(int step) => BaseLr * Factor(step);
}
