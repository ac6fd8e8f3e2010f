using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using ToolTune.Diagnostics;

namespace ToolTune.Evaluation;

/// <summary>A gate's outcome on the tuned model's metrics (or the base's: <c>base.X</c>, and metrics only the base carries).</summary>
/// <param name="Gate">The gate as configured.</param>
/// <param name="Actual">The metric's value, null when it could not be measured (counts as a miss).</param>
/// <param name="Passed">Whether <c>actual op threshold</c> holds.</param>
/// <param name="Worst">Up to three samples that pull the metric the wrong way.</param>
public sealed record GateResult(Gate Gate, double? Actual, bool Passed, IReadOnlyList<SampleResult> Worst)
{
    public bool IsWarning => !Passed && Gate.Warn;
    public bool IsFailure => !Passed && !Gate.Warn;

    public string Describe()
    {
        var actual = Actual is { } a ? GateEvaluator.Format(a) : "not measured";
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"gate '{Gate.Metric} {Gate.Op} {GateEvaluator.Format(Gate.Value)}' missed: {Gate.Metric} = {actual}");
        if (Worst.Count > 0)
        {
            sb.Append(". Worst examples: ");
            sb.Append(string.Join("; ", Worst.Select(w => $"{w.Id} [{w.Verdict}] \"{GateEvaluator.Short(w.Text)}\"")));
        }
        return sb.ToString();
    }
}

/// <summary>Evaluates <c>eval.gates</c> (<c>metric op threshold</c>, ops <c>&gt;= &lt;= &gt; &lt; ==</c>, optionally warn-only).</summary>
public static partial class GateEvaluator
{
    [GeneratedRegex(@"^\s*((?:base\.)?[A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|>|<)\s*(\S+)\s*$")]
    internal static partial Regex GatePattern();

    private static ToolTuneException Unknown(string metric) =>
        new(ErrorCodes.EvalGateInvalid, $"Gate metric '{metric}' is unknown. Known metrics: {string.Join(", ", MetricCatalog.Names)} " +
            $"(prefix '{MetricCatalog.BasePrefix}' to read one from the base model).");

    /// <summary>Parses <c>"tool_call_f1 >= 0.9"</c> (TT7004 when malformed or the metric is unknown).</summary>
    public static Gate Parse(string text, bool warn = false)
    {
        var m = GatePattern().Match(text);
        if (!m.Success || !double.TryParse(m.Groups[3].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
            throw new ToolTuneException(ErrorCodes.EvalGateInvalid, $"Gate '{text}' must look like 'metric >= number' (operators: >=, <=, >, <, ==).");
        if (MetricCatalog.ResolveGate(m.Groups[1].Value) is null) throw Unknown(m.Groups[1].Value);
        return new Gate { Metric = m.Groups[1].Value, Op = m.Groups[2].Value, Value = v, Warn = warn };
    }

    public static bool Holds(double actual, string op, double threshold) => op switch
    {
        ">=" => actual >= threshold,
        "<=" => actual <= threshold,
        ">" => actual > threshold,
        "<" => actual < threshold,
        "==" => Math.Abs(actual - threshold) <= 1e-9 * Math.Max(1, Math.Abs(threshold)),
        _ => throw new ToolTuneException(ErrorCodes.EvalGateInvalid, $"Unknown gate operator '{op}'."),
    };

    /// <summary>Evaluates the gates on the tuned model's metrics; a gate on a base metric reads <paramref name="baseEval"/>
    /// (not measured, so missed, without one).</summary>
    public static List<GateResult> Evaluate(IEnumerable<Gate> gates, MetricSet metrics, IReadOnlyList<SampleResult> samples, ModelEvaluation? baseEval = null)
    {
        var results = new List<GateResult>();
        foreach (var g in gates)
        {
            var (info, fromBase) = MetricCatalog.ResolveGate(g.Metric) ?? throw Unknown(g.Metric);
            var actual = fromBase ? baseEval?.Metrics[info.Name] : metrics[info.Name];
            var passed = actual is { } a && !double.IsNaN(a) && Holds(a, g.Op, g.Value);
            List<SampleResult> worst = passed ? []
                : info.Name == "intent_preserved" ? EvalMetrics.IntentPairs(baseEval?.Samples ?? [], samples).Where(p => !EvalMetrics.IntentPreserved(p.Base, p.Tuned))
                    .Select(p => p.Tuned).OrderBy(s => s.Id, StringComparer.Ordinal).Take(3).ToList()
                : WorstExamples(info.Name, fromBase ? baseEval?.Samples ?? [] : samples, 3);
            results.Add(new GateResult(g, actual, passed, worst));
        }
        return results;
    }

    /// <summary>
    /// Throws TT7000 listing every failed (non-warn) gate with metric, threshold, actual value and worst examples, located at
    /// the first failed gate's line in <paramref name="file"/>; returns the warn-only misses as warning lines.
    /// </summary>
    public static List<string> Enforce(IReadOnlyList<GateResult> results, string? file = null)
    {
        var failures = results.Where(r => r.IsFailure).ToList();
        if (failures.Count > 0)
            throw new ToolTuneException(ErrorCodes.EvalGateFailed,
                $"{failures.Count} evaluation gate(s) failed: " + string.Join(" | ", failures.Select(f => f.Describe())), file,
                failures[0].Gate.Line, failures[0].Gate.Column);
        return WarningLines(results);
    }

    /// <summary>The warn-only misses as <c>warning TT7000: …</c> lines.</summary>
    public static List<string> WarningLines(IEnumerable<GateResult> results) =>
        results.Where(r => r.IsWarning).Select(r => "warning " + ErrorCodes.EvalGateFailed + ": " + r.Describe()).ToList();

    /// <summary>The samples that hurt a metric most (by verdict severity, then id).</summary>
    public static List<SampleResult> WorstExamples(string metric, IReadOnlyList<SampleResult> samples, int count)
    {
        Func<SampleResult, bool> bad = metric switch
        {
            "hallucination_rate" => s => s.Verdict == Verdict.HallucinatedCall,
            "code_dump_rate" => s => s.Verdict == Verdict.CodeDump,
            "base_intent_correct" => s => s.Item.Kind == EvalItemKind.ToolEval && s.Item.ExpectCall && !EvalMetrics.BaseIntentCorrect(s),
            "intent_preserved" => _ => false, // needs the base's generations: Evaluate picks these
            "emission_rate" => s => s.Item.Kind == EvalItemKind.Emission && !s.Parse.ToolsCalled,
            "emission_tool_match" => s => s.Item.Kind == EvalItemKind.Emission && s.Item.GoldCalls.Count > 0 && !EvalMetrics.CallsExpectedTool(s),
            "stop_rate" => s => s.Parse.ToolsCalled && !s.StoppedAfterCall,
            "end_of_turn_rate" => s => !s.EndedTurn,
            "json_valid" or "args_parse_rate" => s => s.HasStart && (!s.Parse.ToolsCalled || s.Blocks > s.BlocksWithObjectArguments),
            "start_token_rate" => s => s.Item.ExpectCall && !s.HasStart,
            "end_token_rate" => s => s.Item.ExpectCall && (!s.HasStart || !s.Parse.AllBlocksClosed),
            "args_exact_match" or "args_key_match" => s => s.NamePairs > s.ExactPairs,
            "args_schema_valid" => s => s.SchemaValid < s.SchemaChecked,
            "eval_loss" or "perplexity" => _ => false,
            _ => s => s.Item.Kind == EvalItemKind.ToolEval &&
                      (s.Item.ExpectCall ? s.Verdict != Verdict.ExactMatch : s.Verdict == Verdict.HallucinatedCall),
        };
        return samples.Where(bad).OrderByDescending(s => (int)s.Verdict).ThenBy(s => s.Id, StringComparer.Ordinal).Take(count).ToList();
    }

    public static string Format(double v) => v.ToString("0.####", CultureInfo.InvariantCulture);

    /// <summary>The first ~120 characters on one line (newlines shown as ⏎).</summary>
    public static string Short(string text, int max = 120)
    {
        var one = text.Replace("\r", "").Replace("\n", "⏎");
        return one.Length <= max ? one : one[..max] + "…";
    }
}
