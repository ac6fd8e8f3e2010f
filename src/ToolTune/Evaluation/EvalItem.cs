using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Data.Selection;
using ToolTune.Diagnostics;
using ToolTune.Python;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;

namespace ToolTune.Evaluation;

/// <summary>Where an eval item comes from: the held-out tool-eval set, or the emission prompts (a call MUST be emitted).</summary>
public enum EvalItemKind
{
    ToolEval,
    Emission,
}

/// <summary>A gold call. <see cref="Arguments"/> null: only the name is checked (emission prompts naming the tool).</summary>
public sealed record GoldCall(string Name, JsonObject? Arguments);

/// <summary>
/// One evaluation prompt: the chat-template context (<c>messages</c> + <c>tools</c>, rendered with
/// <c>add_generation_prompt</c>), the declared tool names, and what the model should do.
/// </summary>
public sealed record EvalItem
{
    public required string Id { get; init; }
    public EvalItemKind Kind { get; init; } = EvalItemKind.ToolEval;

    /// <summary><c>{"messages": [...], "tools": [...]}</c>, the context the chat template renders.</summary>
    public required JsonObject RenderContext { get; init; }

    /// <summary>
    /// Prompt ids for an item: <paramref name="kwargs"/> (cloned per item) overlaid with the item's
    /// <see cref="RenderContext"/> and <c>add_generation_prompt: true</c>, rendered and tokenized without added specials.
    /// </summary>
    public static Func<EvalItem, IReadOnlyList<int>> PromptRenderer(ChatTemplate template, RenderOptions options, JsonObject kwargs, Tokenizer tokenizer) =>
        item =>
        {
            var ctx = (JsonObject)kwargs.DeepClone();
            foreach (var (k, v) in item.RenderContext) ctx[k] = v?.DeepClone();
            ctx["add_generation_prompt"] = true;
            return tokenizer.EncodeToIds(template.Render(ctx, options).Text, addSpecialTokens: false);
        };

    public IReadOnlyList<GoldCall> GoldCalls { get; init; } = [];

    /// <summary>True when the model should call a tool (gold calls, or any emission prompt).</summary>
    public bool ExpectCall { get; init; }

    public string? Category { get; init; }

    /// <summary>Tool names declared in the prompt's <c>tools</c>.</summary>
    public IReadOnlyList<string> ToolNames
    {
        get
        {
            var names = new List<string>();
            if (RenderContext["tools"] is JsonArray tools)
                foreach (var t in tools)
                {
                    var f = t?["function"] ?? t;
                    if (f?["name"] is JsonValue v && v.TryGetValue(out string? s)) names.Add(s);
                }
            return names;
        }
    }

    /// <summary>The last user message (for reports).</summary>
    public string LastUserMessage
    {
        get
        {
            if (RenderContext["messages"] is not JsonArray msgs) return "";
            for (var i = msgs.Count - 1; i >= 0; i--)
                if (msgs[i]?["role"]?.GetValue<string>() == "user") return msgs[i]?["content"]?.ToString() ?? "";
            return "";
        }
    }

    /// <summary>From PrepareData's in-memory item (category from the conversation).</summary>
    public static EvalItem FromToolEvalItem(ToolEvalItem item) => new()
    {
        Id = item.Id,
        Kind = EvalItemKind.ToolEval,
        RenderContext = item.ToRenderContext(),
        GoldCalls = item.GoldCalls.Select(c => new GoldCall(c.Name, (JsonObject)c.Arguments.DeepClone())).ToList(),
        ExpectCall = item.ExpectCall,
        Category = item.Conversation.Category,
    };

    /// <summary>
    /// From one JSON record. Tool-eval records are PrepareData's <c>tool_eval.jsonl</c> lines (<c>id</c>,
    /// <c>messages</c>, <c>tools</c>, <c>expect_call</c>, <c>gold_calls</c>, optional <c>category</c>). Emission
    /// prompts take <c>messages</c> or a single <c>prompt</c> string (a user message), <c>tools</c>, and optionally
    /// <c>gold_calls</c> or <c>expect_tool</c> (a name); they always expect a call.
    /// </summary>
    public static EvalItem FromJson(JsonObject o, EvalItemKind kind, string file, int line)
    {
        ToolTuneException Bad(string why) => new(ErrorCodes.EvalSetInvalid, $"Invalid eval record: {why}.", file, line);
        var id = o["id"]?.ToString() ?? $"{Path.GetFileNameWithoutExtension(file)}:{line}";
        JsonArray messages;
        if (o["messages"] is JsonArray m) messages = (JsonArray)m.DeepClone();
        else if (o["prompt"] is JsonValue p && p.TryGetValue(out string? prompt))
            messages = [new JsonObject { ["role"] = "user", ["content"] = prompt }];
        else throw Bad("needs 'messages' (an array) or 'prompt' (a string)");
        var tools = o["tools"] is JsonArray t ? (JsonArray)t.DeepClone() : [];
        var gold = new List<GoldCall>();
        if (o["gold_calls"] is JsonArray gc)
            foreach (var g in gc)
            {
                if (g is not JsonObject go || go["name"] is not JsonValue nv || !nv.TryGetValue(out string? name))
                    throw Bad("each gold call needs a string 'name'");
                var args = go["arguments"] switch
                {
                    JsonObject a => (JsonObject)a.DeepClone(),
                    JsonValue s when s.TryGetValue(out string? str) => PythonJson.Loads(str) as JsonObject ?? throw Bad("gold 'arguments' must be an object"),
                    null => kind == EvalItemKind.Emission ? null : new JsonObject(),
                    _ => throw Bad("gold 'arguments' must be an object"),
                };
                gold.Add(new GoldCall(name, args));
            }
        if (o["expect_tool"] is JsonValue et && et.TryGetValue(out string? expectTool) && gold.Count == 0)
            gold.Add(new GoldCall(expectTool, null));
        var expect = kind == EvalItemKind.Emission || (o["expect_call"] is JsonValue ec && ec.TryGetValue(out bool b) ? b : gold.Count > 0);
        if (kind == EvalItemKind.ToolEval && expect && gold.Count == 0) throw Bad("'expect_call' is true but 'gold_calls' is empty");
        return new EvalItem
        {
            Id = id,
            Kind = kind,
            RenderContext = new JsonObject { ["messages"] = messages, ["tools"] = tools },
            GoldCalls = gold,
            ExpectCall = expect,
            Category = o["category"] is JsonValue cv && cv.TryGetValue(out string? cat) && cat.Length > 0 ? cat : null,
        };
    }

    /// <summary>Reads a JSONL file (or a JSON array file) of records (TT7002 missing, TT7003 malformed).</summary>
    public static List<EvalItem> ReadFile(string path, EvalItemKind kind)
    {
        if (!File.Exists(path))
            throw new ToolTuneException(ErrorCodes.EvalSetMissing, $"Eval set '{path}' does not exist.", path);
        var text = File.ReadAllText(path, Encoding.UTF8);
        var items = new List<EvalItem>();
        if (text.TrimStart().StartsWith('['))
        {
            JsonArray arr;
            try { arr = JsonNode.Parse(text) as JsonArray ?? []; }
            catch (JsonException e) { throw new ToolTuneException(ErrorCodes.EvalSetInvalid, $"Malformed JSON: {e.Message}", path, (int)(e.LineNumber ?? -1) + 1); }
            foreach (var n in arr)
                items.Add(FromJson(n as JsonObject ?? throw new ToolTuneException(ErrorCodes.EvalSetInvalid, "Each record must be an object.", path), kind, path, 1));
            return items;
        }
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var l = lines[i].Trim();
            if (l.Length == 0) continue;
            JsonNode? n;
            try { n = JsonNode.Parse(l); }
            catch (JsonException e) { throw new ToolTuneException(ErrorCodes.EvalSetInvalid, $"Malformed JSON line: {e.Message}", path, i + 1); }
            if (n is not JsonObject o) throw new ToolTuneException(ErrorCodes.EvalSetInvalid, "Each line must be a JSON object.", path, i + 1);
            items.Add(FromJson(o, kind, path, i + 1));
        }
        return items;
    }
}
