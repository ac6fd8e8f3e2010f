using System.Text.Json.Nodes;
using ToolTune.Model;
using ToolTune.Python;

namespace ToolTune.Evaluation;

/// <summary>The verdict on one generation. Order: most to least severe within each group.</summary>
public enum Verdict
{
    /// <summary>Parsed calls equal the gold calls as a multiset (names and canonical arguments), every block closed.</summary>
    ExactMatch,

    /// <summary>Emission prompt without gold calls: at least one call parsed.</summary>
    CallEmitted,

    /// <summary>No call expected, none emitted.</summary>
    CorrectNoCall,

    /// <summary>Calls right (vLLM accepts the unclosed block) but a block has no <c>&lt;/tool_call&gt;</c>;
    /// or parsing failed in an unclosed block (typically cut by <c>max_new_tokens</c>).</summary>
    MissingEndDelimiter,

    /// <summary>Same names (multiset), some arguments differ (or are not a JSON object).</summary>
    WrongArguments,

    /// <summary>Same number of calls, different names.</summary>
    WrongName,

    /// <summary>Different number of calls than gold (missed or extra parallel calls).</summary>
    WrongCallCount,

    /// <summary>A parsed call names a tool the prompt did not declare.</summary>
    UnknownTool,

    /// <summary>A block's payload fails <c>json.loads</c>: vLLM returns the output as plain text.</summary>
    BrokenJson,

    /// <summary>A block's JSON is not <c>{"name": str, "arguments": ...}</c>: vLLM returns plain text.</summary>
    InvalidCall,

    /// <summary>A call was expected; no start delimiter, and no code calling a tool.</summary>
    MissingCall,

    /// <summary>A call was expected; instead the output calls a tool inside code (fenced, inline, statement).</summary>
    CodeDump,

    /// <summary>No call expected, but a start delimiter was emitted.</summary>
    HallucinatedCall,
}

/// <summary>One scored generation.</summary>
public sealed class SampleResult
{
    public required string Model { get; init; }
    public required EvalItem Item { get; init; }
    public required IReadOnlyList<int> PromptIds { get; init; }

    /// <summary>The generator's ids, unchanged (stop id included when it returned one).</summary>
    public required IReadOnlyList<int> GeneratedIds { get; init; }

    public required FinishReason Reason { get; init; }

    /// <summary>All generated ids decoded with special tokens.</summary>
    public required string Text { get; init; }

    /// <summary>The parse of the ids before the first stop id.</summary>
    public required HermesParseResult Parse { get; init; }

    public required Verdict Verdict { get; init; }
    public string? Detail { get; init; }
    public CodeDump? CodeDump { get; init; }

    /// <summary>The calls read out of <see cref="CodeDump"/>'s code (<see cref="CodeDumpCalls"/>); null without a dump.</summary>
    public CodeCalls? CodeCalls { get; init; }

    /// <summary>A stop id ended the output (not <c>max_new_tokens</c>).</summary>
    public bool EndedTurn { get; init; }

    /// <summary>Calls were parsed and only whitespace lies between the last <c>&lt;/tool_call&gt;</c> and the end of turn.</summary>
    public bool StoppedAfterCall { get; init; }

    // Counts for micro-averaged metrics.
    public int GoldCount { get; init; }
    public int PredCount { get; init; }
    public int NameTruePositives { get; init; }
    public int CallTruePositives { get; init; }
    public int NamePairs { get; init; }
    public int ExactPairs { get; init; }
    public int KeyMatches { get; init; }
    public int KeyTotal { get; init; }
    public int Blocks { get; init; }
    public int BlocksWithObjectArguments { get; init; }

    /// <summary>Parsed calls whose arguments could be checked against their tool's schema (<see cref="ArgumentSchemas"/>),
    /// and how many of them conform.</summary>
    public int SchemaChecked { get; init; }
    public int SchemaValid { get; init; }

    /// <summary>The first schema violation among the parsed calls, or null.</summary>
    public string? SchemaError { get; init; }

    public TimeSpan Elapsed { get; init; }

    public bool HasStart => Parse.HasStartDelimiter;
    public string Id => Item.Id;
}

/// <summary>Parses one generation (<see cref="HermesToolCallParser"/>) and judges it against the item.</summary>
public sealed class SampleScorer(HermesToolCallParser parser, IReadOnlyCollection<int> stopIds, Func<IReadOnlyList<int>, string> decodeWithSpecialTokens)
{
    private readonly HashSet<int> _stops = [.. stopIds];

    public HermesToolCallParser Parser => parser;

    public SampleResult Score(string model, EvalItem item, IReadOnlyList<int> promptIds, GenerationResult gen)
    {
        var ids = gen.Ids;
        var cut = ids.Count;
        for (var i = 0; i < ids.Count; i++)
            if (_stops.Contains(ids[i])) { cut = i; break; }
        var body = cut == ids.Count ? ids : ids.Take(cut).ToArray();
        var endedTurn = cut < ids.Count || gen.Reason == FinishReason.Stop;
        var parse = parser.Parse(body);
        var text = decodeWithSpecialTokens(ids);

        // Stop after the last </tool_call>: nothing but whitespace until the end of turn.
        var stoppedAfterCall = false;
        if (parse.ToolsCalled && parse.AllBlocksClosed && endedTurn)
        {
            var lastEnd = parse.Blocks[^1].EndIndex;
            var tail = decodeWithSpecialTokens(body.Skip(lastEnd + 1).ToArray());
            stoppedAfterCall = string.IsNullOrWhiteSpace(tail);
        }

        return Judge(model, item, promptIds, ids, gen.Reason, text, parse, endedTurn, stoppedAfterCall, gen.Total);
    }

    /// <summary>
    /// The verdict and counts for one output, from its parse. The raw and in-process paths parse token ids
    /// (<see cref="Score"/>); the served path builds the parse from what an endpoint returned (<c>message.tool_calls</c>,
    /// <c>content</c>, <c>finish_reason</c>) and is judged by the same rules.
    /// </summary>
    public static SampleResult Judge(string model, EvalItem item, IReadOnlyList<int> promptIds, IReadOnlyList<int> ids, FinishReason reason, string text,
        HermesParseResult parse, bool endedTurn, bool stoppedAfterCall, TimeSpan elapsed)
    {
        var toolNames = item.ToolNames;
        var preds = parse.ToolsCalled ? parse.Calls : [];
        var gold = item.GoldCalls;

        // Name multiset overlap.
        var nameTp = MultisetOverlap(gold.Select(g => g.Name), preds.Select(p => p.Name));
        // Full-call multiset overlap (name + canonical arguments; gold without arguments matches any arguments).
        var (pairs, exactPairs, keyMatches, keyTotal, callTp) = PairCalls(gold, preds);

        var blocks = parse.Blocks.Count;
        var objBlocks = parse.Blocks.Count(b => b.Call is { ArgumentsIsObject: true });
        int schemaChecked = 0, schemaValid = 0;
        string? schemaError = null;
        if (preds.Count > 0)
        {
            var schemas = new ArgumentSchemas(item.RenderContext["tools"] as JsonArray);
            foreach (var p in preds)
            {
                var (isChecked, error) = schemas.Check(p);
                if (!isChecked) continue;
                schemaChecked++;
                if (error is null) schemaValid++;
                else schemaError ??= error;
            }
        }

        CodeDump? dump = null;
        CodeCalls? codeCalls = null;
        Verdict verdict;
        string? detail = null;
        if (!item.ExpectCall)
        {
            verdict = parse.HasStartDelimiter ? Verdict.HallucinatedCall : Verdict.CorrectNoCall;
            if (verdict == Verdict.HallucinatedCall)
                detail = parse.ToolsCalled ? "called " + string.Join(", ", preds.Select(p => p.Name)) : "start delimiter emitted (" + parse.Error + ")";
        }
        else if (!parse.HasStartDelimiter)
        {
            dump = CodeDumpDetector.Find(parse.Text, toolNames);
            if (dump is not null) codeCalls = CodeDumpCalls.Parse(parse.Text, dump, item.RenderContext["tools"] as JsonArray);
            verdict = dump is null ? Verdict.MissingCall : Verdict.CodeDump;
            detail = dump is null ? (endedTurn ? "answered in text" : "no call before max_new_tokens") : $"{dump.ToolName} called in {dump.Where} code: {dump.Snippet}";
        }
        else if (!parse.ToolsCalled)
        {
            var bad = parse.Blocks.First(b => b.Call is null);
            verdict = !bad.Closed ? Verdict.MissingEndDelimiter : bad.JsonError ? Verdict.BrokenJson : Verdict.InvalidCall;
            detail = bad.Error;
        }
        else if (preds.FirstOrDefault(p => !toolNames.Contains(p.Name)) is { } unknown)
        {
            verdict = Verdict.UnknownTool;
            detail = $"'{unknown.Name}' is not among the declared tools ({string.Join(", ", toolNames)})";
        }
        else if (gold.Count == 0)
        {
            verdict = parse.AllBlocksClosed ? Verdict.CallEmitted : Verdict.MissingEndDelimiter;
        }
        else if (preds.Count != gold.Count)
        {
            verdict = Verdict.WrongCallCount;
            detail = $"{preds.Count} call(s), expected {gold.Count}";
        }
        else if (nameTp != gold.Count)
        {
            verdict = Verdict.WrongName;
            detail = $"called {string.Join(", ", preds.Select(p => p.Name))}; expected {string.Join(", ", gold.Select(g => g.Name))}";
        }
        else if (callTp != gold.Count)
        {
            verdict = Verdict.WrongArguments;
            var wrong = preds.FirstOrDefault(p => !p.ArgumentsIsObject);
            detail = wrong is not null ? $"'{wrong.Name}' arguments are a JSON {HermesToolCallParser.Kind(wrong.Arguments)}, not an object" : $"{callTp}/{gold.Count} calls with exact arguments";
        }
        else
        {
            verdict = parse.AllBlocksClosed ? Verdict.ExactMatch : Verdict.MissingEndDelimiter;
            if (verdict == Verdict.MissingEndDelimiter) detail = "calls correct, but no </tool_call> (vLLM accepts the unclosed block)";
        }

        return new SampleResult
        {
            Model = model,
            Item = item,
            PromptIds = promptIds,
            GeneratedIds = ids,
            Reason = reason,
            Text = text,
            Parse = parse,
            Verdict = verdict,
            Detail = detail,
            CodeDump = dump,
            CodeCalls = codeCalls,
            EndedTurn = endedTurn,
            StoppedAfterCall = stoppedAfterCall,
            GoldCount = gold.Count,
            PredCount = preds.Count,
            NameTruePositives = nameTp,
            CallTruePositives = callTp,
            NamePairs = pairs,
            ExactPairs = exactPairs,
            KeyMatches = keyMatches,
            KeyTotal = keyTotal,
            Blocks = blocks,
            BlocksWithObjectArguments = objBlocks,
            SchemaChecked = schemaChecked,
            SchemaValid = schemaValid,
            SchemaError = schemaError,
            Elapsed = elapsed,
        };
    }

    internal static int MultisetOverlap(IEnumerable<string> a, IEnumerable<string> b)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var x in a) counts[x] = counts.GetValueOrDefault(x) + 1;
        var tp = 0;
        foreach (var y in b)
            if (counts.TryGetValue(y, out var n) && n > 0) { counts[y] = n - 1; tp++; }
        return tp;
    }

    /// <summary>
    /// Pairs gold and predicted calls by name: exact-argument pairs first, then the rest in order. Returns the
    /// number of name pairs, exact pairs, per-key matches over the union of keys of each pair, and the full-call
    /// true positives (= exact pairs).
    /// </summary>
    internal static (int Pairs, int Exact, int KeyMatches, int KeyTotal, int CallTp) PairCalls(IReadOnlyList<GoldCall> gold, IReadOnlyList<ParsedToolCall> preds)
    {
        int pairs = 0, exact = 0, km = 0, kt = 0;
        foreach (var name in gold.Select(g => g.Name).Distinct())
        {
            var g = gold.Where(x => x.Name == name).ToList();
            var p = preds.Where(x => x.Name == name).ToList();
            var usedP = new bool[p.Count];
            var usedG = new bool[g.Count];
            for (var i = 0; i < g.Count; i++)
                for (var j = 0; j < p.Count; j++)
                {
                    if (usedP[j] || !ArgsEqual(g[i], p[j])) continue;
                    usedP[j] = usedG[i] = true;
                    pairs++;
                    exact++;
                    var (m, t) = KeyMatch(g[i], p[j]);
                    km += m;
                    kt += t;
                    break;
                }
            var j2 = 0;
            for (var i = 0; i < g.Count; i++)
            {
                if (usedG[i]) continue;
                while (j2 < p.Count && usedP[j2]) j2++;
                if (j2 >= p.Count) break;
                usedP[j2] = true;
                pairs++;
                var (m, t) = KeyMatch(g[i], p[j2]);
                km += m;
                kt += t;
            }
        }
        return (pairs, exact, km, kt, exact);
    }

    /// <summary>
    /// The calls are the same as a multiset: equal names and canonically equal arguments (the rule behind
    /// <c>tool_call_f1</c> and the ExactMatch verdict; an expected call without arguments matches any).
    /// </summary>
    public static bool SameCalls(IReadOnlyList<GoldCall> expected, IReadOnlyList<ParsedToolCall> actual) =>
        expected.Count == actual.Count && PairCalls(expected, actual).CallTp == expected.Count;

    /// <summary><see cref="SameCalls(IReadOnlyList{GoldCall}, IReadOnlyList{ParsedToolCall})"/> between two sets of parsed calls.</summary>
    public static bool SameCalls(IReadOnlyList<ParsedToolCall> expected, IReadOnlyList<ParsedToolCall> actual) =>
        expected.All(c => c.Arguments is JsonObject) &&
        SameCalls(expected.Select(c => new GoldCall(c.Name, (JsonObject)c.Arguments!)).ToList(), actual);

    private static bool ArgsEqual(GoldCall g, ParsedToolCall p) =>
        g.Arguments is null || PythonJson.CanonicalEquals(g.Arguments, p.Arguments);

    /// <summary>Keys whose values are canonically equal, over the union of gold and predicted keys (an empty pair counts 1/1).</summary>
    private static (int Matches, int Total) KeyMatch(GoldCall g, ParsedToolCall p)
    {
        if (g.Arguments is null) return (0, 0);
        var pa = p.Arguments as JsonObject;
        var keys = new HashSet<string>(g.Arguments.Select(kv => kv.Key), StringComparer.Ordinal);
        if (pa is not null) keys.UnionWith(pa.Select(kv => kv.Key));
        if (keys.Count == 0) return pa is not null ? (1, 1) : (0, 1);
        var m = 0;
        foreach (var k in keys)
            if (pa is not null && g.Arguments.TryGetPropertyValue(k, out var gv) && pa.TryGetPropertyValue(k, out var pv) && PythonJson.CanonicalEquals(gv, pv)) m++;
        return (m, keys.Count);
    }
}
