using System.Text;
using System.Text.Json.Nodes;
using ToolTune.Evaluation;
using ToolTune.Model;
using ToolTune.Text.Tokenization;

namespace ToolTune.Tests.Evaluation;

/// <summary>The real SmolLM3 tokenizer, scripted outputs, a ChatML-ish prompt renderer and a scripted generator.</summary>
internal static class EvalTestUtil
{
    private static Tokenizer? s_tok;
    private static readonly Lock s_lock = new();

    public static Tokenizer Tok
    {
        get
        {
            lock (s_lock)
                return s_tok ??= Tokenizer.FromDirectory(SharedFixtures.RequireShared("parity", "tokenizers", "smollm3-3b"));
        }
    }

    public const int ImEnd = 128012;

    public static JsonObject Tool(string name, params string[] props)
    {
        var p = new JsonObject();
        foreach (var x in props) p[x] = new JsonObject { ["type"] = "string" };
        return new JsonObject
        {
            ["type"] = "function",
            ["function"] = new JsonObject
            {
                ["name"] = name,
                ["description"] = name.Replace('_', ' '),
                ["parameters"] = new JsonObject { ["type"] = "object", ["properties"] = p },
            },
        };
    }

    public static JsonArray Tools() =>
    [
        Tool("get_weather", "city", "unit"),
        Tool("get_time", "timezone"),
        Tool("search", "query"),
        Tool("write_file", "path", "content"),
    ];

    public static GoldCall G(string name, string argsJson) => new(name, (JsonObject)JsonNode.Parse(argsJson)!);

    public static EvalItem Item(string id, string user, params GoldCall[] gold) => new()
    {
        Id = id,
        Kind = EvalItemKind.ToolEval,
        RenderContext = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = user }),
            ["tools"] = Tools(),
        },
        GoldCalls = gold,
        ExpectCall = gold.Length > 0,
    };

    public static EvalItem Emission(string id, string user, string? expectTool = null) => new()
    {
        Id = id,
        Kind = EvalItemKind.Emission,
        RenderContext = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = user }),
            ["tools"] = Tools(),
        },
        GoldCalls = expectTool is null ? [] : [new GoldCall(expectTool, null)],
        ExpectCall = true,
    };

    /// <summary>The scripted output as the model would produce it: special tokens in the text become their ids; <c>&lt;|im_end|&gt;</c> appended when <paramref name="stop"/>.</summary>
    public static int[] Ids(string text, bool stop = true)
    {
        var ids = Tok.EncodeToIds(text).ToList();
        if (stop) ids.Add(ImEnd);
        return [.. ids];
    }

    public static GenerationResult Gen(string text, bool stop = true) =>
        new(Ids(text, stop), stop ? FinishReason.Stop : FinishReason.Length, TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(80));

    public static SampleScorer Scorer() =>
        new(HermesToolCallParser.FromTokenizer(Tok), [ImEnd, 128001], ids => Tok.Decode(ids, skipSpecialTokens: false));

    public static SampleResult Score(EvalItem item, string output, bool stop = true) =>
        Scorer().Score("tuned", item, [1, 2, 3], Gen(output, stop));

    /// <summary>A minimal SmolLM3-like rendering (system with tools, user turns, generation prompt) → ids.</summary>
    public static IReadOnlyList<int> Render(EvalItem item)
    {
        var sb = new StringBuilder("<|im_start|>system\nYou may call one or more functions.\n<tools>\n");
        foreach (var t in (JsonArray)item.RenderContext["tools"]!) sb.Append(t!.ToJsonString()).Append('\n');
        sb.Append("</tools><|im_end|>\n");
        foreach (var m in (JsonArray)item.RenderContext["messages"]!)
            sb.Append("<|im_start|>").Append(m!["role"]).Append('\n').Append(m["content"]).Append("<|im_end|>\n");
        sb.Append("<|im_start|>assistant\n<think>\n\n</think>\n");
        return Tok.EncodeToIds(sb.ToString());
    }

    public static string Call(string name, string args) => $"<tool_call>\n{{\"name\": \"{name}\", \"arguments\": {args}}}\n</tool_call>";
}

/// <summary>A fake <see cref="IGenerator"/>: answers each prompt with the script for its last user message.</summary>
internal sealed class ScriptedGenerator(string name, Dictionary<string, (string Text, bool Stop)> script) : IGenerator
{
    public string Name => name;
    public int Calls { get; private set; }

    public GenerationResult Generate(IReadOnlyList<int> promptIds, GenerationOptions options, CancellationToken cancellationToken)
    {
        Calls++;
        var prompt = EvalTestUtil.Tok.Decode(promptIds, skipSpecialTokens: false);
        var start = prompt.LastIndexOf("<|im_start|>user\n", StringComparison.Ordinal) + "<|im_start|>user\n".Length;
        var user = prompt[start..prompt.IndexOf("<|im_end|>", start, StringComparison.Ordinal)];
        var (text, stop) = script.TryGetValue(user, out var s) ? s : ("I don't know.", true);
        var ids = EvalTestUtil.Ids(text, stop);
        if (ids.Length > options.MaxNewTokens) return new GenerationResult(ids[..options.MaxNewTokens], FinishReason.Length, TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(ids.Length));
        return new GenerationResult(ids, stop ? FinishReason.Stop : FinishReason.Length, TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(ids.Length));
    }
}
