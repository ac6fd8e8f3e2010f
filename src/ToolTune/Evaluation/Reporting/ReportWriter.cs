using System.Globalization;
using System.Text;
using ToolTune.Python;

namespace ToolTune.Evaluation.Reporting;

/// <summary>What <see cref="ReportWriter.Render"/> needs.</summary>
public sealed record ReportInput
{
    public required ModelEvaluation Tuned { get; init; }
    public ModelEvaluation? Base { get; init; }
    public IReadOnlyList<GateResult> Gates { get; init; } = [];
    public required GenerationOptions Options { get; init; }

    /// <summary>Bar chart path relative to the report.</summary>
    public string? MetricsSvg { get; init; }

    /// <summary>Loss curve path relative to the report (TrainLora's <c>loss.svg</c>), when it exists.</summary>
    public string? LossSvg { get; init; }

    /// <summary>The served path through an endpoint, shown beside the primary (raw or in-process) path.</summary>
    public ModelEvaluation? ServedTuned { get; init; }
    public ModelEvaluation? ServedBase { get; init; }

    public string MergedModel { get; init; } = "<merged>";
    public string ChatTemplate { get; init; } = "<template>";
}

/// <summary>Renders <c>report.md</c>: gates, before/after table, charts, verdicts, per-category table, examples, serving command.</summary>
public static class ReportWriter
{
    public static string Render(ReportInput r)
    {
        var t = r.Tuned;
        var b = r.Base;
        var sb = new StringBuilder();
        var c = t.Metrics.Counts;
        sb.AppendLine("# ToolTune evaluation");
        sb.AppendLine();
        sb.Append(CultureInfo.InvariantCulture,
            $"Tuned model `{t.ModelName}`{(b is null ? "" : $" vs base model `{b.ModelName}`")}: {c["tool_eval_items"]} tool-eval items ");
        sb.Append(CultureInfo.InvariantCulture,
            $"({c["expect_call"]} expect a call, {c["expect_no_call"]} expect none, {c["parallel_items"]} with parallel calls) and {c["emission_prompts"]} emission prompts. ");
        sb.Append(CultureInfo.InvariantCulture,
            $"{(r.Options.Temperature == 0 ? "Greedy" : $"Sampling at temperature {r.Options.Temperature}")} decoding, max {r.Options.MaxNewTokens} new tokens. ");
        sb.AppendLine("Calls are parsed exactly as vLLM's `hermes` tool parser does, with the `<tool_call>`/`</tool_call>` delimiters checked as token ids.");
        sb.AppendLine();

        if (r.Gates.Count > 0)
        {
            sb.AppendLine("## Gates");
            sb.AppendLine();
            sb.AppendLine("| gate | tuned | result |");
            sb.AppendLine("|---|---:|---|");
            foreach (var g in r.Gates)
            {
                var res = g.Passed ? "✅ pass" : g.Gate.Warn ? "⚠️ missed (warning)" : "❌ FAILED";
                var worst = g.Worst.Count > 0 ? " — worst: " + string.Join(", ", g.Worst.Select(w => $"`{w.Id}` ({w.Verdict})")) : "";
                var fromBase = MetricCatalog.ResolveGate(g.Gate.Metric) is { FromBase: true };
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"| `{g.Gate.Metric} {g.Gate.Op} {GateEvaluator.Format(g.Gate.Value)}`{(g.Gate.Warn ? " (warn)" : "")} | {Value(g.Actual, Unit(g.Gate.Metric))}{(fromBase ? " (base)" : "")} | {res}{worst} |");
            }
            sb.AppendLine();
        }

        sb.AppendLine("## Before / after");
        sb.AppendLine();
        if (b is not null)
        {
            sb.AppendLine("| metric | base | tuned | Δ |");
            sb.AppendLine("|---|---:|---:|---:|");
        }
        else
        {
            sb.AppendLine("| metric | tuned |");
            sb.AppendLine("|---|---:|");
        }
        foreach (var m in MetricCatalog.All)
        {
            var tv = t.Metrics[m.Name];
            var bv = b?.Metrics[m.Name];
            if (tv is null && bv is null) continue;
            var name = $"`{m.Name}`{(m.HigherIsBetter ? "" : " ↓")}";
            if (b is null) sb.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {Value(tv, m.Unit)} |");
            else sb.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {Value(bv, m.Unit)} | {Value(tv, m.Unit)} | {Delta(bv, tv, m)} |");
        }
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Path of these metrics: {t.Path}.");
        sb.AppendLine();
        if (r.ServedTuned is not null || r.ServedBase is not null) ServedSection(sb, r);
        sb.AppendLine("↓: lower is better. Rates are percentages of the items each metric counts (see `metrics.json` → `definitions`); n/a: nothing to count.");
        sb.AppendLine();
        if (r.MetricsSvg is not null)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"![Tool-call metrics, base vs tuned]({r.MetricsSvg})");
            sb.AppendLine();
        }

        sb.AppendLine("## Loss curve");
        sb.AppendLine();
        sb.AppendLine(r.LossSvg is null ? "_No loss curve (TrainLora's `loss.svg` was not found)._" : $"![Training and validation loss]({r.LossSvg})");
        sb.AppendLine();

        sb.AppendLine("## Verdicts");
        sb.AppendLine();
        sb.AppendLine(b is null ? "| verdict | tuned |" : "| verdict | base | tuned |");
        sb.AppendLine(b is null ? "|---|---:|" : "|---|---:|---:|");
        foreach (var v in Enum.GetValues<Verdict>())
        {
            var tn = t.Metrics.Verdicts.GetValueOrDefault(v);
            var bn = b?.Metrics.Verdicts.GetValueOrDefault(v) ?? 0;
            if (tn == 0 && bn == 0) continue;
            sb.AppendLine(b is null ? $"| {v} | {tn} |" : $"| {v} | {bn} | {tn} |");
        }
        sb.AppendLine();

        if (t.Categories.Count > 0)
        {
            string[] cols = ["tool_call_f1", "name_f1", "args_exact_match", "hallucination_rate", "code_dump_rate"];
            sb.AppendLine("## Per category (tuned" + (b is null ? ")" : ", base in parentheses)"));
            sb.AppendLine();
            sb.AppendLine("| category | items | " + string.Join(" | ", cols.Select(x => $"`{x}`")) + " |");
            sb.AppendLine("|---|---:|" + string.Concat(cols.Select(_ => "---:|")));
            foreach (var (cat, set) in t.Categories)
            {
                var bs = b?.Categories.GetValueOrDefault(cat);
                sb.Append(CultureInfo.InvariantCulture, $"| {Md(cat)} | {set.Counts["tool_eval_items"]} |");
                foreach (var col in cols)
                    sb.Append(' ').Append(Value(set[col], MetricUnit.Rate)).Append(bs is null ? "" : $" ({Value(bs[col], MetricUnit.Rate)})").Append(" |");
                sb.AppendLine();
            }
            sb.AppendLine();
        }

        if (b is not null) IntentSection(sb, b, t);
        SchemaSection(sb, t);

        sb.AppendLine("## Example generations");
        sb.AppendLine();
        sb.AppendLine("Raw output with special tokens as generated (the stop token included).");
        sb.AppendLine();
        foreach (var s in PickExamples(t.Samples))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"### `{s.Id}` — {s.Verdict}");
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"**User:** {Md(GateEvaluator.Short(s.Item.LastUserMessage, 300))}");
            sb.AppendLine();
            sb.AppendLine("**Expected:** " + (s.Item.GoldCalls.Count > 0
                ? string.Join(" ", s.Item.GoldCalls.Select(g => $"`{g.Name}({(g.Arguments is null ? "…" : PythonJson.Dumps(g.Arguments))})`"))
                : s.Item.ExpectCall ? "a tool call" : "an answer without a tool call"));
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"**Tuned** ({s.Verdict}{(s.Detail is null ? "" : ": " + Md(s.Detail))}):");
            sb.AppendLine();
            Fence(sb, s.Text);
            var bs = b?.Samples.FirstOrDefault(x => x.Id == s.Id && x.Item.Kind == s.Item.Kind);
            if (bs is not null)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"**Base** ({bs.Verdict}{(bs.Detail is null ? "" : ": " + Md(bs.Detail))}):");
                sb.AppendLine();
                Fence(sb, bs.Text);
            }
        }

        sb.AppendLine("## Speed");
        sb.AppendLine();
        sb.AppendLine("| model | prompts | prompts/s | generated tokens | tokens/s (decode) | tokens/s (wall) |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var m in new[] { b, t })
        {
            if (m is null) continue;
            var sp = m.Speed;
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {m.Label} (`{m.ModelName}`) | {sp.Prompts} | {sp.PromptsPerSecond:0.##} | {sp.GeneratedTokens} | {sp.DecodeTokensPerSecond:0.#} | {sp.GeneratedTokensPerSecond:0.#} |");
        }
        sb.AppendLine();

        sb.AppendLine("## Serving with vLLM");
        sb.AppendLine();
        sb.AppendLine("```bash");
        sb.AppendLine(ServingCommand(r.MergedModel, r.ChatTemplate));
        sb.AppendLine("```");
        sb.AppendLine();
        sb.AppendLine("`--tool-call-parser hermes` parses exactly what this report measured; pass the same chat template the model was trained with.");
        return sb.ToString();
    }

    /// <summary>Raw and served paths side by side: the same items, verdicts from token ids vs from the server's parse.</summary>
    private static void ServedSection(StringBuilder sb, ReportInput r)
    {
        sb.AppendLine("## Raw vs served (endpoint)");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"- **raw**: {r.Tuned.Path} (`{r.Tuned.ModelName}`{(r.Base is null ? "" : $", base `{r.Base.ModelName}`")})");
        var served = r.ServedTuned ?? r.ServedBase!;
        sb.AppendLine(CultureInfo.InvariantCulture, $"- **served**: {served.Path} (`{served.ModelName}`{(r.ServedBase is null || r.ServedTuned is null ? "" : $", base `{r.ServedBase.ModelName}`")})");
        sb.AppendLine("- `–` on the served path: the API does not show it (whether every block was closed, what followed the last call).");
        sb.AppendLine();
        sb.AppendLine("| metric | base raw | base served | tuned raw | tuned served |");
        sb.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var m in MetricCatalog.All)
        {
            double? Get(ModelEvaluation? e) => e?.Metrics[m.Name];
            var values = new[] { Get(r.Base), Get(r.ServedBase), Get(r.Tuned), Get(r.ServedTuned) };
            if (values.All(v => v is null)) continue;
            sb.AppendLine(CultureInfo.InvariantCulture, $"| `{m.Name}`{(m.HigherIsBetter ? "" : " ↓")} | {string.Join(" | ", values.Select(v => Value(v, m.Unit)))} |");
        }
        sb.AppendLine();
        var disagree = r.ServedTuned is null ? 0 : r.ServedTuned.Samples.Zip(r.Tuned.Samples).Count(p => p.First.Verdict != p.Second.Verdict);
        if (r.ServedTuned is not null)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"Tuned verdicts that differ between the paths: {disagree} of {r.Tuned.Samples.Count}.");
            sb.AppendLine();
        }
    }

    /// <summary>Up to five items where the base wrote the call as code, each on one line: what the base wrote → what the tuned
    /// model emits (preserved ones first, at least one that was not when there is one).</summary>
    private static void IntentSection(StringBuilder sb, ModelEvaluation b, ModelEvaluation t) =>
        ExampleSection(sb, "Code → tool call",
            $"Items where the base model wrote Python instead of a tool call, and what the tuned model emits (`intent_preserved`: {Value(t.Metrics["intent_preserved"], MetricUnit.Rate)}).",
            IntentExamples(b.Samples, t.Samples));

    /// <summary>Calls whose arguments break their tool's schema: on emission prompts, whose verdict reads only the tool's
    /// name, this is the one place a made-up parameter shows.</summary>
    private static void SchemaSection(StringBuilder sb, ModelEvaluation t) =>
        ExampleSection(sb, "Arguments outside the tool's schema",
            $"Calls whose arguments miss a required parameter, have a wrong type or enum value, or add a parameter the tool does not declare (`args_schema_valid`: {Value(t.Metrics["args_schema_valid"], MetricUnit.Rate)}).",
            SchemaExamples(t.Samples));

    /// <summary>A section of one-line examples under a heading and a sentence; nothing when there are no examples.</summary>
    private static void ExampleSection(StringBuilder sb, string heading, string intro, List<string> lines)
    {
        if (lines.Count == 0) return;
        sb.AppendLine("## " + heading);
        sb.AppendLine();
        sb.AppendLine(intro);
        sb.AppendLine();
        foreach (var line in lines) sb.AppendLine("- " + line);
        sb.AppendLine();
    }

    /// <summary>The lines of the schema section: the first violation of each sample that has one, by id.</summary>
    public static List<string> SchemaExamples(IReadOnlyList<SampleResult> samples, int max = 5) =>
        samples.Where(s => s.SchemaError is not null).OrderBy(s => s.Id, StringComparer.Ordinal).Take(max)
            .Select(s => $"`{Md(s.Id)}`: {NativeCalls(s)} — {Md(s.SchemaError!)}")
            .ToList();

    /// <summary>The example lines of the code → tool call section.</summary>
    public static List<string> IntentExamples(IReadOnlyList<SampleResult> baseSamples, IReadOnlyList<SampleResult> tunedSamples, int max = 5)
    {
        var pairs = EvalMetrics.IntentPairs(baseSamples, tunedSamples)
            .Select(p => (p.Base, p.Tuned, Kept: EvalMetrics.IntentPreserved(p.Base, p.Tuned)))
            .OrderBy(p => p.Base.Id, StringComparer.Ordinal).ToList();
        var picked = pairs.Where(p => p.Kept).Take(max).ToList();
        var missed = pairs.FindIndex(p => !p.Kept);
        if (missed >= 0)
        {
            if (picked.Count == max) picked.RemoveAt(max - 1);
            picked.Add(pairs[missed]);
        }
        foreach (var p in pairs.Where(p => !p.Kept).Skip(1))
            if (picked.Count < max) picked.Add(p);
        return picked.Select(p =>
        {
            var code = string.Join("; ", p.Base.CodeCalls!.Calls.Select(PythonCall));
            var tuned = p.Tuned.Parse.ToolsCalled && p.Tuned.Parse.Calls.Count > 0
                ? NativeCalls(p.Tuned)
                : $"no tool call ({p.Tuned.Verdict})";
            return $"`{Md(p.Base.Id)}`: the base wrote `{code}` as code → the tuned model emits {tuned}{(p.Kept ? "" : " ✗")}";
        }).ToList();
    }

    /// <summary>A sample's parsed calls as the tool-call blocks the model emitted, one code span each.</summary>
    private static string NativeCalls(SampleResult s) =>
        string.Join(" ", s.Parse.Calls.Select(c => $"`<tool_call>{PythonJson.Dumps(c.ToJson())}</tool_call>`"));

    /// <summary><c>name(key=value, …)</c> with Python-literal values, as the base would have written it.</summary>
    private static string PythonCall(ParsedToolCall c) =>
        c.Name + "(" + string.Join(", ", (c.Arguments as System.Text.Json.Nodes.JsonObject ?? []).Select(kv => kv.Key + "=" + PyRepr(kv.Value))) + ")";

    private static string PyRepr(System.Text.Json.Nodes.JsonNode? v) => v switch
    {
        null => "None",
        System.Text.Json.Nodes.JsonValue j when j.TryGetValue(out bool x) => x ? "True" : "False",
        System.Text.Json.Nodes.JsonValue j when j.TryGetValue(out string? str) => "'" + str.Replace("\\", "\\\\").Replace("'", "\\'").Replace("\n", "\\n") + "'",
        System.Text.Json.Nodes.JsonArray a => "[" + string.Join(", ", a.Select(PyRepr)) + "]",
        System.Text.Json.Nodes.JsonObject o => "{" + string.Join(", ", o.Select(kv => PyRepr(kv.Key) + ": " + PyRepr(kv.Value))) + "}",
        _ => PythonJson.Dumps(v),
    };

    public static string ServingCommand(string mergedModel, string chatTemplate) =>
        $"vllm serve {Quote(mergedModel)} --enable-auto-tool-choice --tool-call-parser hermes --chat-template {Quote(chatTemplate)}";

    private static string Quote(string s) => s.Length > 0 && s.All(ch => char.IsAsciiLetterOrDigit(ch) || "/._-<>:".Contains(ch)) ? s : "'" + s.Replace("'", "'\\''") + "'";

    /// <summary>Three examples: a correct call (parallel preferred), the worst failure, and a no-call or emission item.</summary>
    public static List<SampleResult> PickExamples(IReadOnlyList<SampleResult> samples)
    {
        var picked = new List<SampleResult>();
        void Add(SampleResult? s)
        {
            if (s is not null && !picked.Contains(s) && picked.Count < 3) picked.Add(s);
        }
        Add(samples.Where(s => s.Verdict == Verdict.ExactMatch).OrderByDescending(s => s.GoldCount).ThenBy(s => s.Id, StringComparer.Ordinal).FirstOrDefault());
        Add(samples.Where(s => s.Verdict is not (Verdict.ExactMatch or Verdict.CorrectNoCall or Verdict.CallEmitted))
            .OrderByDescending(s => (int)s.Verdict).ThenBy(s => s.Id, StringComparer.Ordinal).FirstOrDefault());
        Add(samples.Where(s => !s.Item.ExpectCall || s.Item.Kind == EvalItemKind.Emission).OrderBy(s => s.Id, StringComparer.Ordinal).FirstOrDefault());
        foreach (var s in samples) Add(s);
        return picked;
    }

    private static void Fence(StringBuilder sb, string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            // Only whitespace (or nothing): an empty code block reads as "no output"; show it escaped instead.
            var escaped = System.Text.Json.JsonSerializer.Serialize(text.Length > 60 ? text[..60] : text);
            sb.AppendLine(text.Length == 0 ? "*(no output)*" : $"*(whitespace only, {text.Length} characters: `{escaped}`{(text.Length > 60 ? " …" : "")})*");
            sb.AppendLine();
            return;
        }
        var longest = 0;
        var run = 0;
        foreach (var ch in text)
        {
            run = ch == '`' ? run + 1 : 0;
            longest = Math.Max(longest, run);
        }
        var fence = new string('`', Math.Max(3, longest + 1));
        sb.AppendLine(fence + "text");
        sb.AppendLine(text.TrimEnd('\n'));
        sb.AppendLine(fence);
        sb.AppendLine();
    }

    private static MetricUnit Unit(string metric) => MetricCatalog.ResolveGate(metric)?.Info.Unit ?? MetricUnit.Number;

    public static string Value(double? v, MetricUnit unit) => v switch
    {
        null => "n/a",
        { } d when !double.IsFinite(d) => d.ToString(CultureInfo.InvariantCulture),
        { } d => unit == MetricUnit.Rate ? (d * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %" : d.ToString("0.###", CultureInfo.InvariantCulture),
    };

    private static string Delta(double? b, double? t, MetricInfo m)
    {
        if (b is null || t is null || !double.IsFinite(b.Value) || !double.IsFinite(t.Value)) return "n/a";
        var d = t.Value - b.Value;
        var text = m.Unit == MetricUnit.Rate
            ? (d * 100).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture) + " pp"
            : d.ToString("+0.###;-0.###;0", CultureInfo.InvariantCulture);
        var better = m.HigherIsBetter ? d > 1e-12 : d < -1e-12;
        var worse = m.HigherIsBetter ? d < -1e-12 : d > 1e-12;
        return text + (better ? " ▲" : worse ? " ▼" : "");
    }

    private static string Md(string s) => s.Replace("|", "\\|").Replace("\n", " ").Replace("\r", "");
}
