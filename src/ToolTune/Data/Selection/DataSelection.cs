using System.Text.Json.Nodes;
using ToolTune.Data.Loaders;
using ToolTune.Diagnostics;

namespace ToolTune.Data.Selection;

/// <summary>How conversations are filtered, mixed and split (the <c>data:</c> config section feeds this).</summary>
public sealed record SelectionOptions
{
    /// <summary>Run seed: every shuffle and split derives from it.</summary>
    public long Seed { get; init; } = 42;

    /// <summary>Fraction of tool-calling conversations in the mixed set (default 0.7 → 70/30 with general data).</summary>
    public double ToolFraction { get; init; } = 0.7;

    /// <summary>Cap on the mixed set (train + val); null = as many as the ratio allows.</summary>
    public int? MaxSamples { get; init; }

    /// <summary>Fraction of the mixed set held out as the validation split.</summary>
    public double ValFraction { get; init; } = 0.05;

    /// <summary>Tool conversations held out (before the mix) to build the tool-eval set.</summary>
    public int ToolEvalConversations { get; init; } = 64;

    /// <summary>General conversations held out for "no call expected" tool-eval items.</summary>
    public int GeneralEvalConversations { get; init; }

    /// <summary>Drop tool-source conversations that never call a tool (reason "no tool call"). Default true.</summary>
    public bool RequireToolCalls { get; init; } = true;

    /// <summary>Keep tool-source conversations that declare tools but never call one (they teach when not to call), counted
    /// in <see cref="SourceStats.KeptNoCall"/> instead of dropped with TT3008. Default false.</summary>
    public bool KeepNoCall { get; init; }

    /// <summary>Drop train/val conversations whose first user prompt equals a held-out eval conversation's (reason
    /// <see cref="DropReasons.EvalDuplicate"/>), so the eval measures prompts training never saw. Default true.</summary>
    public bool DropEvalDuplicates { get; init; } = true;

    public void Validate()
    {
        if (!(ToolFraction is >= 0 and <= 1)) throw Invalid($"tool fraction must be within [0, 1], got {ToolFraction}");
        if (!(ValFraction is >= 0 and < 1)) throw Invalid($"validation fraction must be within [0, 1), got {ValFraction}");
        if (MaxSamples is < 1) throw Invalid($"max samples must be positive, got {MaxSamples}");
        if (ToolEvalConversations < 0 || GeneralEvalConversations < 0) throw Invalid("eval conversation counts must not be negative");
    }

    private static ToolTuneException Invalid(string m) => new(ErrorCodes.DataSelectionInvalid, m);
}

/// <summary>One tool-eval prompt: the messages before an assistant turn, the tools, and what the model should do.</summary>
public sealed record ToolEvalItem(
    string Id,
    Conversation Conversation,
    int TurnIndex,
    IReadOnlyList<ToolCall> GoldCalls,
    string? GoldContent)
{
    /// <summary>False: the gold assistant turn answers in text ("no call expected").</summary>
    public bool ExpectCall => GoldCalls.Count > 0;

    public IReadOnlyList<JsonObject> Tools => Conversation.Tools;

    /// <summary>The prompt as a chat-template context (<c>messages</c> up to the turn, <c>tools</c>).</summary>
    public JsonObject ToRenderContext() => Conversation.ToRenderContext(TurnIndex);

    /// <summary>One JSONL record: id, source location, prompt messages, tools, gold calls or "no call expected".</summary>
    public JsonObject ToJson()
    {
        var ctx = ToRenderContext();
        var gold = new JsonArray();
        foreach (var c in GoldCalls) gold.Add(c.ToHermesJson());
        return new JsonObject
        {
            ["id"] = Id,
            ["conversation_id"] = Conversation.Id,
            ["source"] = Conversation.Source,
            ["source_file"] = Conversation.SourceFile,
            ["source_line"] = Conversation.SourceLine,
            ["turn"] = TurnIndex,
            ["messages"] = ctx["messages"]!.DeepClone(),
            ["tools"] = ctx["tools"]!.DeepClone(),
            ["expect_call"] = ExpectCall,
            ["expected"] = ExpectCall ? "tool_call" : "no call expected",
            ["gold_calls"] = gold,
            ["gold_content"] = GoldContent ?? "",
        };
    }

    /// <summary>Items for every assistant turn of a conversation (a turn with calls → gold calls; without → no call expected).</summary>
    public static IEnumerable<ToolEvalItem> FromConversation(Conversation c)
    {
        for (var i = 0; i < c.Messages.Count; i++)
        {
            var m = c.Messages[i];
            if (m.Role != Roles.Assistant || i == 0) continue;
            yield return new ToolEvalItem($"{c.Id}#{i}", c, i, m.ToolCalls, m.Content);
        }
    }
}

/// <summary>The selected data: the train/val splits, the held-out tool-eval conversations and items.</summary>
public sealed class SelectionResult
{
    public required List<Conversation> Train { get; init; }
    public required List<Conversation> Val { get; init; }
    public required List<Conversation> EvalConversations { get; init; }
    public required List<ToolEvalItem> ToolEval { get; init; }

    /// <summary>Tool and general conversations in the mix (train + val).</summary>
    public int ToolSelected { get; init; }
    public int GeneralSelected { get; init; }

    /// <summary>Non-fatal notes (e.g. "no general data: the mix is tool-only").</summary>
    public List<string> Warnings { get; } = [];
}

/// <summary>
/// Filtering, the tool/general mix, the deterministic shuffle and the train/val/tool-eval split, all from the run seed.
/// Same inputs + same seed → same result on every machine (SplitMix64, Fisher–Yates).
/// </summary>
public static class DataSelection
{
    /// <summary>Drops tool-source conversations without a tool call (reason "no tool call", located); general sources pass.
    /// <paramref name="keepNoCall"/>: those that declare tools are kept and counted (<see cref="SourceStats.KeptNoCall"/>).</summary>
    public static List<Conversation> FilterToolConversations(IEnumerable<Conversation> conversations, DataReport report, bool requireToolCalls = true,
        bool keepNoCall = false)
    {
        var kept = new List<Conversation>();
        foreach (var c in conversations)
        {
            if (requireToolCalls && c.DataRole == DataRole.Tool && !c.HasToolCalls)
            {
                if (keepNoCall && c.Tools.Count > 0)
                {
                    report.Source(c.Source, c.DataRole).KeptNoCall++;
                    kept.Add(c);
                    continue;
                }
                report.Drop(c.Source, new DataIssue(ErrorCodes.DataNoToolCall, DropReasons.NoToolCall, c.SourceFile, c.SourceLine, c.IssueColumn, c.Id,
                    c.Tools.Count > 0 ? $"{c.Tools.Count} tool(s) declared but no assistant turn calls one" : "no tools and no tool call"));
                continue;
            }
            kept.Add(c);
        }
        return kept;
    }

    /// <summary>The first user message, whitespace-collapsed: what "the same prompt" means for the eval hold-out.</summary>
    public static string? PromptKey(Conversation c)
    {
        var user = c.Messages.FirstOrDefault(m => m.Role == Roles.User)?.Content;
        return string.IsNullOrWhiteSpace(user) ? null : string.Join(' ', user.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
    }

    private static List<Conversation> DropEvalDuplicates(List<Conversation> pool, HashSet<string> heldOut, DataReport report)
    {
        if (heldOut.Count == 0) return pool;
        var kept = new List<Conversation>(pool.Count);
        foreach (var c in pool)
        {
            if (PromptKey(c) is { } key && heldOut.Contains(key))
            {
                report.Source(c.Source, c.DataRole).Kept--;
                report.Drop(c.Source, new DataIssue(ErrorCodes.DataEvalDuplicate, DropReasons.EvalDuplicate, c.SourceFile, c.SourceLine, c.IssueColumn, c.Id,
                    "its first user message equals a tool-eval prompt, so training on it would leak the eval set"));
                continue;
            }
            kept.Add(c);
        }
        return kept;
    }

    /// <summary>How many tool/general conversations a mix of <paramref name="toolFraction"/> takes from pools of the given sizes.</summary>
    public static (int Tool, int General) MixCounts(int toolAvailable, int generalAvailable, double toolFraction, int? maxSamples)
    {
        int total;
        if (toolFraction >= 1 || generalAvailable == 0) total = toolAvailable;
        else if (toolFraction <= 0 || toolAvailable == 0) total = generalAvailable;
        else
        {
            // The largest N with round(N·r) ≤ tool and N − round(N·r) ≤ general.
            var upper = (int)Math.Min((long)toolAvailable + generalAvailable, int.MaxValue);
            total = (int)Math.Floor(Math.Min(toolAvailable / toolFraction, generalAvailable / (1 - toolFraction)) + 1e-9);
            total = Math.Min(total, upper);
            bool Fits(int n) => ToolShare(n, toolFraction) <= toolAvailable && n - ToolShare(n, toolFraction) <= generalAvailable;
            while (total > 0 && !Fits(total)) total--;
            while (total < upper && Fits(total + 1)) total++;
        }
        if (maxSamples is { } cap && total > cap) total = cap;
        var tool = toolFraction >= 1 || generalAvailable == 0 ? Math.Min(total, toolAvailable)
            : toolFraction <= 0 || toolAvailable == 0 ? 0
            : ToolShare(total, toolFraction);
        return (tool, total - tool);
    }

    private static int ToolShare(int total, double r) => (int)Math.Round(total * r, MidpointRounding.AwayFromZero);

    /// <summary>Filters, holds out the eval conversations, mixes, shuffles and splits.</summary>
    public static SelectionResult Select(IEnumerable<Conversation> toolConversations, IEnumerable<Conversation> generalConversations,
        SelectionOptions options, DataReport report)
    {
        options.Validate();
        var tool = FilterToolConversations(toolConversations, report, options.RequireToolCalls, options.KeepNoCall);
        var general = generalConversations.ToList();
        foreach (var c in tool) report.Source(c.Source, c.DataRole).Kept++;
        foreach (var c in general) report.Source(c.Source, c.DataRole).Kept++;

        var warnings = new List<string>();
        SplitMix64.For(options.Seed, "tool-pool").Shuffle(tool);
        SplitMix64.For(options.Seed, "general-pool").Shuffle(general);

        var nEval = Math.Min(options.ToolEvalConversations, tool.Count / 2);
        if (nEval < options.ToolEvalConversations)
            warnings.Add($"only {tool.Count} tool conversations: tool-eval holds out {nEval} instead of {options.ToolEvalConversations}");
        var nGenEval = Math.Min(options.GeneralEvalConversations, general.Count / 2);
        var evalConvs = tool.GetRange(0, nEval);
        evalConvs.AddRange(general.GetRange(0, nGenEval));
        tool.RemoveRange(0, nEval);
        general.RemoveRange(0, nGenEval);
        if (options.DropEvalDuplicates)
        {
            var heldOut = evalConvs.Select(PromptKey).OfType<string>().ToHashSet(StringComparer.Ordinal);
            tool = DropEvalDuplicates(tool, heldOut, report);
            general = DropEvalDuplicates(general, heldOut, report);
        }

        if (general.Count == 0 && options.ToolFraction < 1 && tool.Count > 0)
            warnings.Add($"no general data: the mix is tool-only instead of {options.ToolFraction:P0} tool");
        var (nTool, nGen) = MixCounts(tool.Count, general.Count, options.ToolFraction, options.MaxSamples);
        var mixed = new List<Conversation>(nTool + nGen);
        mixed.AddRange(tool.Take(nTool));
        mixed.AddRange(general.Take(nGen));
        SplitMix64.For(options.Seed, "mix").Shuffle(mixed);
        if (mixed.Count == 0)
            throw report.EmptyDatasetError("no conversations left after filtering and the tool-eval hold-out");

        var nVal = (int)Math.Round(mixed.Count * options.ValFraction, MidpointRounding.AwayFromZero);
        if (options.ValFraction > 0 && nVal == 0 && mixed.Count >= 2) nVal = 1;
        if (nVal >= mixed.Count) nVal = mixed.Count - 1;
        var val = mixed.GetRange(0, nVal);
        var train = mixed.GetRange(nVal, mixed.Count - nVal);

        foreach (var c in train) { var s = report.Source(c.Source, c.DataRole); s.Selected++; s.Train++; }
        foreach (var c in val) { var s = report.Source(c.Source, c.DataRole); s.Selected++; s.Val++; }
        foreach (var c in evalConvs) report.Source(c.Source, c.DataRole).ToolEval++;

        var items = evalConvs.SelectMany(ToolEvalItem.FromConversation).ToList();
        var result = new SelectionResult
        {
            Train = train,
            Val = val,
            EvalConversations = evalConvs,
            ToolEval = items,
            ToolSelected = nTool,
            GeneralSelected = nGen,
        };
        result.Warnings.AddRange(warnings);
        return result;
    }
}
