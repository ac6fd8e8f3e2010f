namespace ToolTune.Evaluation;

/// <summary>How a metric reads: a rate in [0, 1] (shown as a percentage) or a plain number.</summary>
public enum MetricUnit
{
    Rate,
    Number,
}

/// <summary>Which model's metric set carries a metric.</summary>
public enum MetricScope
{
    /// <summary>Every model's set (base and tuned).</summary>
    EveryModel,

    /// <summary>Only the base model's set: how the base behaves, measured once (gates read it from the base).</summary>
    Base,

    /// <summary>Only the tuned model's set, measured against the base's generations (null without <c>compare_base</c>).</summary>
    Tuned,
}

/// <summary>A metric's name (as gates and files spell it), meaning, unit, direction and the model set that carries it.</summary>
public sealed record MetricInfo(string Name, string Description, MetricUnit Unit, bool HigherIsBetter, MetricScope Scope = MetricScope.EveryModel);

/// <summary>Every metric Evaluate reports, in report order. Gate names (<c>eval.gates</c>) are these names.</summary>
public static class MetricCatalog
{
    public static IReadOnlyList<MetricInfo> All { get; } =
    [
        new("tool_call_f1", "F1 of full calls (name + canonical arguments) as multisets, micro over tool-eval items", MetricUnit.Rate, true),
        new("tool_call_precision", "full-call precision: exact calls / parsed calls", MetricUnit.Rate, true),
        new("tool_call_recall", "full-call recall: exact calls / gold calls", MetricUnit.Rate, true),
        new("exact_match_rate", "items expecting a call whose verdict is ExactMatch", MetricUnit.Rate, true),
        new("name_precision", "function-name precision, names as multisets per item", MetricUnit.Rate, true),
        new("name_recall", "function-name recall, names as multisets per item", MetricUnit.Rate, true),
        new("name_f1", "function-name F1", MetricUnit.Rate, true),
        new("parallel_f1", "tool_call_f1 over items with 2+ gold calls", MetricUnit.Rate, true),
        new("start_token_rate", "items expecting a call whose output has the <tool_call> id", MetricUnit.Rate, true),
        new("end_token_rate", "items expecting a call whose every <tool_call> is closed by the </tool_call> id", MetricUnit.Rate, true),
        new("json_valid", "outputs with a <tool_call> id that vLLM's Hermes parser accepts (all blocks valid)", MetricUnit.Rate, true),
        new("args_parse_rate", "tool-call blocks whose payload parses with name and an object 'arguments'", MetricUnit.Rate, true),
        new("args_exact_match", "name-matched call pairs whose arguments are canonically equal", MetricUnit.Rate, true),
        new("args_key_match", "argument keys with equal values over the union of keys of name-matched pairs", MetricUnit.Rate, true),
        new("args_schema_valid", "parsed calls (tool-eval and emission) whose arguments satisfy their tool's parameters schema: required, types, enums, no undeclared parameter", MetricUnit.Rate, true),
        new("hallucination_rate", "items expecting no call whose output has the <tool_call> id", MetricUnit.Rate, false),
        new("code_dump_rate", "items expecting a call that call a tool inside code instead", MetricUnit.Rate, false),
        new("base_intent_correct", "base model: tool-eval items expecting a call whose code dump parses into exactly the gold calls", MetricUnit.Rate, true, MetricScope.Base),
        new("intent_preserved", "items expecting a call whose base code dump parses into calls that the tuned model emits as <tool_call> calls", MetricUnit.Rate, true, MetricScope.Tuned),
        new("stop_rate", "outputs with parsed calls that end the turn right after the last </tool_call>", MetricUnit.Rate, true),
        new("end_of_turn_rate", "outputs ended by an end-of-turn id (not max_new_tokens)", MetricUnit.Rate, true),
        new("emission_rate", "emission prompts whose output vLLM parses into at least one call", MetricUnit.Rate, true),
        new("emission_tool_match", "emission prompts naming an expected tool whose calls all name one of them", MetricUnit.Rate, true),
        new("eval_loss", "mean validation loss (nats/token)", MetricUnit.Number, false),
        new("perplexity", "validation perplexity, exp(eval_loss)", MetricUnit.Number, false),
    ];

    private static readonly Dictionary<string, MetricInfo> ByName = All.ToDictionary(m => m.Name, StringComparer.Ordinal);

    public static MetricInfo? Find(string name) => ByName.GetValueOrDefault(name);

    public static IEnumerable<string> Names => All.Select(m => m.Name);

    /// <summary>The prefix a gate puts before a metric to read it from the base model's set (<c>base.code_dump_rate</c>).</summary>
    public const string BasePrefix = "base.";

    /// <summary>Every name a gate may use: the metrics, and <c>base.</c> + each metric the base's set carries.</summary>
    public static IReadOnlyList<string> GateNames { get; } =
        [.. All.Select(m => m.Name), .. All.Where(m => m.Scope != MetricScope.Tuned).Select(m => BasePrefix + m.Name)];

    /// <summary>
    /// A gate's metric and the model set it reads: <c>base.X</c> and metrics only the base carries
    /// (<see cref="MetricScope.Base"/>) read the base; the rest read the tuned model. Null when the name is unknown.
    /// </summary>
    public static (MetricInfo Info, bool FromBase)? ResolveGate(string name)
    {
        var fromBase = name.StartsWith(BasePrefix, StringComparison.Ordinal);
        var info = Find(fromBase ? name[BasePrefix.Length..] : name);
        if (info is null || (fromBase && info.Scope == MetricScope.Tuned)) return null;
        return (info, fromBase || info.Scope == MetricScope.Base);
    }
}

/// <summary>Metric values (null: not measurable on this set, e.g. no parallel items).</summary>
public sealed class MetricSet
{
    private readonly Dictionary<string, double?> _values = new(StringComparer.Ordinal);

    public double? this[string name]
    {
        get => _values.GetValueOrDefault(name);
        set => _values[name] = value;
    }

    public IReadOnlyDictionary<string, double?> Values => _values;

    /// <summary>Sample counts behind the rates (items, call-expected items, ...).</summary>
    public Dictionary<string, int> Counts { get; } = new(StringComparer.Ordinal);

    public Dictionary<Verdict, int> Verdicts { get; } = [];
}

/// <summary>Computes <see cref="MetricCatalog"/> metrics from scored samples.</summary>
public static class EvalMetrics
{
    private static double? Ratio(double num, double den) => den == 0 ? null : num / den;

    private static double? F1(double? p, double? r) =>
        p is null || r is null ? null : p + r == 0 ? 0 : 2 * p * r / (p + r);

    /// <param name="samples">One model's samples (tool-eval and emission items).</param>
    /// <param name="evalLoss">Mean validation loss, when measured (perplexity = exp).</param>
    public static MetricSet Compute(IReadOnlyList<SampleResult> samples, double? evalLoss = null)
    {
        var m = new MetricSet();
        var tool = samples.Where(s => s.Item.Kind == EvalItemKind.ToolEval).ToList();
        var expect = tool.Where(s => s.Item.ExpectCall).ToList();
        var noCall = tool.Where(s => !s.Item.ExpectCall).ToList();
        var emission = samples.Where(s => s.Item.Kind == EvalItemKind.Emission).ToList();
        var parallel = tool.Where(s => s.GoldCount >= 2).ToList();

        double gold = tool.Sum(s => s.GoldCount), pred = tool.Sum(s => s.PredCount);
        double nameTp = tool.Sum(s => s.NameTruePositives), callTp = tool.Sum(s => s.CallTruePositives);
        // Precision is 1 when nothing was predicted but something was expected? No: undefined → 0 when gold > 0 (a silent
        // model must not score perfect precision), null when neither exists.
        double? P(double tp, double predicted) => predicted == 0 ? (gold > 0 ? 0 : null) : tp / predicted;
        m["name_precision"] = P(nameTp, pred);
        m["name_recall"] = Ratio(nameTp, gold);
        m["name_f1"] = F1(m["name_precision"], m["name_recall"]);
        m["tool_call_precision"] = P(callTp, pred);
        m["tool_call_recall"] = Ratio(callTp, gold);
        m["tool_call_f1"] = F1(m["tool_call_precision"], m["tool_call_recall"]);
        m["exact_match_rate"] = Ratio(expect.Count(s => s.Verdict == Verdict.ExactMatch), expect.Count);

        double pg = parallel.Sum(s => s.GoldCount), pp = parallel.Sum(s => s.PredCount), ptp = parallel.Sum(s => s.CallTruePositives);
        m["parallel_f1"] = parallel.Count == 0 ? null : F1(pp == 0 ? 0 : ptp / pp, Ratio(ptp, pg));

        m["start_token_rate"] = Ratio(expect.Count(s => s.HasStart), expect.Count);
        m["end_token_rate"] = Ratio(expect.Count(s => s.HasStart && s.Parse.AllBlocksClosed), expect.Count);
        var withStart = tool.Where(s => s.HasStart).ToList();
        m["json_valid"] = Ratio(withStart.Count(s => s.Parse.ToolsCalled), withStart.Count);
        m["args_parse_rate"] = Ratio(tool.Sum(s => s.BlocksWithObjectArguments), tool.Sum(s => s.Blocks));
        m["args_exact_match"] = Ratio(tool.Sum(s => s.ExactPairs), tool.Sum(s => s.NamePairs));
        m["args_key_match"] = Ratio(tool.Sum(s => s.KeyMatches), tool.Sum(s => s.KeyTotal));
        var scored = tool.Concat(emission).ToList();
        m["args_schema_valid"] = Ratio(scored.Sum(s => s.SchemaValid), scored.Sum(s => s.SchemaChecked));
        m["hallucination_rate"] = Ratio(noCall.Count(s => s.Verdict == Verdict.HallucinatedCall), noCall.Count);
        m["code_dump_rate"] = Ratio(expect.Count(s => s.Verdict == Verdict.CodeDump), expect.Count);
        // Filled by CompareBase, which sees both models' generations.
        m["base_intent_correct"] = null;
        m["intent_preserved"] = null;
        var called = samples.Where(s => s.Parse.ToolsCalled).ToList();
        m["stop_rate"] = Ratio(called.Count(s => s.StoppedAfterCall), called.Count);
        m["end_of_turn_rate"] = Ratio(samples.Count(s => s.EndedTurn), samples.Count);
        m["emission_rate"] = Ratio(emission.Count(s => s.Parse.ToolsCalled && s.Parse.Calls.Count > 0), emission.Count);
        var named = emission.Where(s => s.Item.GoldCalls.Count > 0).ToList();
        m["emission_tool_match"] = Ratio(named.Count(CallsExpectedTool), named.Count);
        m["eval_loss"] = evalLoss;
        m["perplexity"] = evalLoss is { } l ? Math.Exp(l) : null;

        m.Counts["samples"] = samples.Count;
        m.Counts["tool_eval_items"] = tool.Count;
        m.Counts["expect_call"] = expect.Count;
        m.Counts["expect_no_call"] = noCall.Count;
        m.Counts["parallel_items"] = parallel.Count;
        m.Counts["emission_prompts"] = emission.Count;
        m.Counts["gold_calls"] = (int)gold;
        m.Counts["parsed_calls"] = (int)pred;
        m.Counts["call_blocks"] = tool.Sum(s => s.Blocks);
        m.Counts["schema_checked_calls"] = scored.Sum(s => s.SchemaChecked);
        m.Counts["code_dumps"] = samples.Count(s => s.CodeCalls is not null);
        m.Counts["code_dumps_parsed"] = samples.Count(s => s.CodeCalls is { Parsed: true });
        foreach (var s in samples) m.Verdicts[s.Verdict] = m.Verdicts.GetValueOrDefault(s.Verdict) + 1;
        return m;
    }

    /// <summary>The output has calls and every one names a tool of the item's gold calls (emission prompts name the tool
    /// they expect; the emission rate alone counts a call to any tool).</summary>
    public static bool CallsExpectedTool(SampleResult s) =>
        s.Parse.ToolsCalled && s.Parse.Calls.Count > 0 && s.Parse.Calls.All(c => s.Item.GoldCalls.Any(g => g.Name == c.Name));

    /// <summary>
    /// The metrics that need both models' generations of the same items: <c>base_intent_correct</c> on the base's sets,
    /// <c>intent_preserved</c> on the tuned model's sets (overall and per category).
    /// </summary>
    public static void CompareBase(ModelEvaluation tuned, ModelEvaluation baseEval)
    {
        Apply(baseEval.Metrics, tuned.Metrics, baseEval.Samples, tuned.Samples);
        foreach (var (cat, set) in baseEval.Categories)
            Apply(set, tuned.Categories.GetValueOrDefault(cat), baseEval.Samples.Where(s => s.Item.Category == cat).ToList(),
                tuned.Samples.Where(s => s.Item.Category == cat).ToList());

        static void Apply(MetricSet baseSet, MetricSet? tunedSet, IReadOnlyList<SampleResult> baseSamples, IReadOnlyList<SampleResult> tunedSamples)
        {
            var expect = baseSamples.Where(s => s.Item.Kind == EvalItemKind.ToolEval && s.Item.ExpectCall).ToList();
            baseSet["base_intent_correct"] = Ratio(expect.Count(BaseIntentCorrect), expect.Count);
            if (tunedSet is null) return;
            var pairs = IntentPairs(baseSamples, tunedSamples);
            tunedSet["intent_preserved"] = Ratio(pairs.Count(p => IntentPreserved(p.Base, p.Tuned)), pairs.Count);
            tunedSet.Counts["intent_items"] = pairs.Count;
        }
    }

    /// <summary>The base wrote code instead of a call, and that code makes exactly the gold calls.</summary>
    public static bool BaseIntentCorrect(SampleResult b) =>
        b.Verdict == Verdict.CodeDump && b.CodeCalls is { Parsed: true } cc && SampleScorer.SameCalls(b.Item.GoldCalls, cc.Calls);

    /// <summary>The items <c>intent_preserved</c> counts: a call expected and the base's code dump parsed into calls,
    /// paired with the tuned model's generation of the same item (kind and id).</summary>
    public static List<(SampleResult Base, SampleResult Tuned)> IntentPairs(IReadOnlyList<SampleResult> baseSamples, IReadOnlyList<SampleResult> tunedSamples)
    {
        var tunedById = tunedSamples.GroupBy(s => (s.Item.Kind, s.Id)).ToDictionary(g => g.Key, g => g.First());
        return baseSamples.Where(b => b.Item.ExpectCall && b.CodeCalls is { Parsed: true })
            .Select(b => (Base: b, Tuned: tunedById.GetValueOrDefault((b.Item.Kind, b.Id))))
            .Where(p => p.Tuned is not null).Select(p => (p.Base, p.Tuned!)).ToList();
    }

    /// <summary>The tuned model's parsed <c>&lt;tool_call&gt;</c> calls equal the calls the base wrote as code.</summary>
    public static bool IntentPreserved(SampleResult b, SampleResult t) =>
        b.CodeCalls is { Parsed: true } cc && t.Parse.ToolsCalled && SampleScorer.SameCalls(cc.Calls, t.Parse.Calls);

    /// <summary>Metrics per category (tool-eval items that have one), categories sorted.</summary>
    public static SortedDictionary<string, MetricSet> ByCategory(IReadOnlyList<SampleResult> samples)
    {
        var r = new SortedDictionary<string, MetricSet>(StringComparer.Ordinal);
        foreach (var g in samples.Where(s => s.Item.Category is not null && s.Item.Kind == EvalItemKind.ToolEval).GroupBy(s => s.Item.Category!))
            r[g.Key] = Compute(g.ToList());
        return r;
    }
}
