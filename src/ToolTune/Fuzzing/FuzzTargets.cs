using System.Text;
using System.Text.Json.Nodes;
using ToolTune.Data;
using ToolTune.Data.Loaders;
using ToolTune.Diagnostics;
using ToolTune.Evaluation;
using ToolTune.Python;
using ToolTune.Tensors;
using ToolTune.Text.Tokenization;
using ToolTune.Text.Templates;

namespace ToolTune.Fuzzing;

/// <summary>
/// One parser under fuzz: built-in seed inputs, a dictionary of tokens its grammar cares about, and
/// <see cref="Execute"/>, which feeds one input through the REAL entry point (files where the product reads files).
/// Execute either returns an outcome label or throws; only <see cref="ToolTuneException"/> is an expected failure.
/// </summary>
public abstract class FuzzTarget
{
    public abstract string Name { get; }
    /// <summary>File extension of seed files this target accepts from <c>--seeds</c>.</summary>
    public abstract string SeedExtension { get; }
    public virtual int MaxInputBytes => 64 * 1024;
    public abstract IReadOnlyList<byte[]> BuiltInSeeds();
    public abstract IReadOnlyList<string> Dictionary { get; }
    /// <summary>Runs one input; <paramref name="scratch"/> is a private folder for files the entry point reads.</summary>
    public abstract string Execute(byte[] input, string scratch);

    public static readonly string[] Names = ["json", "jsonl", "hermes", "safetensors", "template", "tokenizer"];

    public static FuzzTarget Create(string name) => name switch
    {
        "json" => new DataFileTarget("json", ".json"),
        "jsonl" => new DataFileTarget("jsonl", ".jsonl"),
        "hermes" => new HermesTarget(),
        "safetensors" => new SafetensorsTarget(),
        "template" => new TemplateTarget(),
        "tokenizer" => new TokenizerTarget(),
        _ => throw new ToolTuneException(ErrorCodes.FuzzTargetUnknown, $"Unknown fuzz target '{name}'; known: {string.Join(", ", Names)}."),
    };

    protected static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    protected static readonly string[] JsonTokens =
    [
        "{", "}", "[", "]", "\"", ":", ",", "\\", "\\u0000", "\\ud800", "\\\"", "null", "true", "false", "\u0000", "\r\n", "\n",
        "\uFEFF", "\"role\"", "\"content\"", "\"from\"", "\"value\"", "\"tool_calls\"", "\"arguments\"", "\"name\"", "\"tools\"",
        "\"conversations\"", "\"messages\"", "<tool_call>", "</tool_call>", "<tools>", "</tools>", "\"function\"", "[[[[[[[[", "{\"a\":",
    ];
}

/// <summary>Dataset loader (<see cref="DataLoader"/>, auto format) over a .json array or a .jsonl file; lenient, so
/// bad records are counted skips and the file-level failures are TT3xxx.</summary>
internal sealed class DataFileTarget(string name, string extension) : FuzzTarget
{
    public override string Name => name;
    public override string SeedExtension => extension;
    public override IReadOnlyList<string> Dictionary => JsonTokens;

    private static readonly string[] Records =
    [
        """{"id": "h1", "conversations": [{"from": "system", "value": "<tools>\n[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}}}}]\n</tools>"}, {"from": "human", "value": "Weather in Paris?"}, {"from": "gpt", "value": "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"}, {"from": "tool", "value": "<tool_response>\n{\"temp\": 21}\n</tool_response>"}, {"from": "gpt", "value": "It is 21 degrees."}]}""",
        """{"messages": [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Add 2 and 3"}, {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "add", "arguments": "{\"a\": 2, \"b\": 3}"}}]}, {"role": "tool", "content": "5"}, {"role": "assistant", "content": "5"}], "tools": [{"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}}}]}""",
        """{"instruction": "Say hi", "input": "", "output": "Hi! caf\u00e9 \ud83d\ude00"}""",
    ];

    public override IReadOnlyList<byte[]> BuiltInSeeds() => extension == ".json"
        ? [Utf8("[\n" + string.Join(",\n", Records) + "\n]\n"), Utf8("[" + Records[0] + "]")]
        : [Utf8(string.Join("\n", Records) + "\n"), Utf8(Records[1] + "\r\n" + Records[2])];

    public override string Execute(byte[] input, string scratch)
    {
        var path = Path.Combine(scratch, "input" + extension);
        File.WriteAllBytes(path, input);
        var report = new DataReport();
        var loaded = DataLoader.Load(new DataSourceSpec("fuzz", path), report).Count();
        return report.Issues.Count == 0 ? $"loaded" : $"skipped:{report.Issues[0].Code}" + (loaded > 0 ? "+loaded" : "");
    }
}

/// <summary>Tool-call text: the Hermes data converter (assistant turn with &lt;tool_call&gt; blocks, a &lt;tools&gt;
/// system prompt) and the evaluation parser's <c>json.loads</c> of each block payload.</summary>
internal sealed class HermesTarget : FuzzTarget
{
    public override string Name => "hermes";
    public override string SeedExtension => ".txt";
    public override IReadOnlyList<string> Dictionary => JsonTokens;

    public override IReadOnlyList<byte[]> BuiltInSeeds() =>
    [
        Utf8("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": [1, 2.5e3, -0]}}\n</tool_call>"),
        Utf8("Let me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": \"{\\\"x\\\": 1}\"}\n</tool_call>\n<tool_call>\n{'name': 'b', 'arguments': {'y': None}}\n</tool_call>"),
        Utf8("<tools>\n[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"description\": \"d\", \"parameters\": {\"type\": \"object\", \"properties\": {}, \"required\": []}}}]\n</tools>"),
    ];

    public override string Execute(byte[] input, string scratch)
    {
        var text = Encoding.UTF8.GetString(input);
        var blocks = 0;
        foreach (var payload in Between(text, "<tool_call>", "</tool_call>"))
        {
            var block = HermesToolCallParser.ParseBlock(0, 1, payload);
            blocks += block.Call is null ? 0 : 1;
        }
        var record = new JsonObject
        {
            ["id"] = "fuzz",
            ["conversations"] = new JsonArray(
                new JsonObject { ["from"] = "system", ["value"] = text.Contains("<tools>", StringComparison.Ordinal) ? text : "sys" },
                new JsonObject { ["from"] = "human", ["value"] = "q" },
                new JsonObject { ["from"] = "gpt", ["value"] = text }),
        };
        // Through the loader's own entry (DataLoader.Convert) so a bad record is what users get: a counted, coded issue.
        var raw = new RawRecord(record, "fuzz.jsonl", 1, JsonRecordReader.LazyParseIssue(record, "fuzz.jsonl", 1, 1));
        DataLoader.Convert(raw, new DataSourceSpec("fuzz", "fuzz.jsonl", DataFormat.Hermes), new LoadOptions(), out var issue);
        return issue is not null ? "skipped:" + issue.Code : blocks > 0 ? "calls" : "converted";
    }

    private static IEnumerable<string> Between(string text, string open, string close)
    {
        for (var i = text.IndexOf(open, StringComparison.Ordinal); i >= 0; i = text.IndexOf(open, i + 1, StringComparison.Ordinal))
        {
            var end = text.IndexOf(close, i + open.Length, StringComparison.Ordinal);
            yield return end < 0 ? text[(i + open.Length)..] : text[(i + open.Length)..end];
        }
    }
}

/// <summary>Safetensors header and layout validation: <see cref="SafetensorsFile.Open"/> on the bytes, then every
/// tensor read as f32 (the path model loading and merge take).</summary>
internal sealed class SafetensorsTarget : FuzzTarget
{
    public override string Name => "safetensors";
    public override string SeedExtension => ".safetensors";
    public override IReadOnlyList<string> Dictionary =>
    [
        "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"", "\"BF16\"", "\"F16\"", "\"I64\"", "\"F8_E4M3\"",
        "[", "]", "{", "}", ",", ":", "\"", "[0,0]", "[]", "[-1]", "[4294967296,4294967296]", "\u0000", "\\u0000",
    ];

    public override IReadOnlyList<byte[]> BuiltInSeeds()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tt-fuzz-seed-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            var a = Path.Combine(dir, "a.safetensors");
            SafetensorsWriter.Write(a,
            [
                SafetensorsTensor.FromSingle("model.embed_tokens.weight", [2, 3], [1, 2, 3, 4, 5, 6]),
                SafetensorsTensor.FromSingleAsBF16("lm_head.weight", [3], [0.5f, -1, 2]),
                SafetensorsTensor.FromSingleAsF16("norm.weight", [1, 2], [1, 1]),
            ], new Dictionary<string, string> { ["format"] = "pt" });
            var b = Path.Combine(dir, "b.safetensors");
            SafetensorsWriter.Write(b, [SafetensorsTensor.FromSingle("x", [0], [])]);
            return [File.ReadAllBytes(a), File.ReadAllBytes(b)];
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    public override string Execute(byte[] input, string scratch)
    {
        var path = Path.Combine(scratch, "input.safetensors");
        File.WriteAllBytes(path, input);
        using var file = SafetensorsFile.Open(path);
        foreach (var entry in file.Entries.Values)
            if (entry.DType is "F32" or "BF16" or "F16" && entry.ElementCount < 1 << 20) file.ReadSingle(entry.Name);
        return "opened";
    }
}

/// <summary>Chat templates: lexer, parser and the sandboxed renderer (small limits so runaway inputs stop fast).</summary>
internal sealed class TemplateTarget : FuzzTarget
{
    public override string Name => "template";
    public override string SeedExtension => ".jinja";
    public override int MaxInputBytes => 16 * 1024;

    private static readonly RenderOptions Limits = new()
    {
        Now = new DateTime(2025, 7, 10),
        MaxOutputChars = 256 * 1024,
        MaxLoopIterations = 20_000,
        MaxRecursionDepth = 100,
    };

    public override IReadOnlyList<string> Dictionary =>
    [
        "{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", "{{-", "-}}", "for", "endfor", "if", "endif", "elif", "else", "macro", "endmacro",
        "set", "endset", "call", "endcall", "filter", "endfilter", "generation", "endgeneration", "namespace(", "loop.", "range(",
        "|tojson", "|length", "|join", "|map(", "|selectattr(", "|replace(", "|indent(", "|format(", "raise_exception(", "strftime_now(",
        "__class__", "__globals__", "__init__", ".mro()", "__subclasses__()", "cycler", "joiner", "lipsum", "self", "config",
        "messages", "message['content']", "tools", "add_generation_prompt", "*", "**", "~", "(", ")", "[", "]", "'", "\"", "9999999",
    ];

    public override IReadOnlyList<byte[]> BuiltInSeeds() =>
    [
        Utf8("""
            {%- macro render(m) -%}<|im_start|>{{ m.role }}
            {% if m.content is string %}{{ m.content | trim }}{% else %}{% for p in m.content %}{{ p.text }}{% endfor %}{% endif %}
            {%- if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>
            {{ {"name": c.function.name, "arguments": c.function.arguments} | tojson }}
            </tool_call>{% endfor %}{% endif %}<|im_end|>
            {% endmacro -%}
            {%- set ns = namespace(last=-1) -%}
            {%- for m in messages %}{% if m.role == 'user' %}{% set ns.last = loop.index0 %}{% endif %}{{ render(m) }}{% endfor -%}
            {%- if tools %}<tools>{% for t in tools %}{{ t | tojson(indent=2) }}{% endfor %}</tools>{% endif -%}
            {%- if add_generation_prompt %}<|im_start|>assistant
            {% generation %}{{ '%s-%d' | format('x', ns.last) }}{% endgeneration %}{% endif %}
            """),
        Utf8("{% for i in range(3) %}{{ loop.index }}{{ ', ' if not loop.last }}{% endfor %}{{ messages | map(attribute='role') | join('|') }}" +
             "{{ strftime_now('%Y-%m-%d') }}{% if messages[0].role != 'system' %}{{ raise_exception('no system') }}{% endif %}"),
        Utf8("{% set c = cycler('a', 'b') %}{% for m in messages | selectattr('role', 'equalto', 'user') %}{{ c.next() }}{{ m['content'][:5] | upper }}{% endfor %}" +
             "{{ (messages | length) * 2 ** 3 }}{{ {'k': [1, 2.5, none, true]} | tojson }}{{ 'a,b' .split(',') | reverse | list }}"),
    ];

    public override string Execute(byte[] input, string scratch)
    {
        var template = ChatTemplate.Parse(Encoding.UTF8.GetString(input), "fuzz.jinja");
        var text = template.RenderText(Context(), Limits);
        return text.Length == 0 ? "empty" : "rendered";
    }

    private static JsonObject Context() => new()
    {
        ["messages"] = new JsonArray(
            new JsonObject { ["role"] = "system", ["content"] = "sys" },
            new JsonObject { ["role"] = "user", ["content"] = "Weather in Paris?" },
            new JsonObject
            {
                ["role"] = "assistant",
                ["content"] = "",
                ["tool_calls"] = new JsonArray(new JsonObject
                {
                    ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = "get_weather", ["arguments"] = new JsonObject { ["city"] = "Paris" } },
                }),
            }),
        ["tools"] = new JsonArray(new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "get_weather" } }),
        ["add_generation_prompt"] = true,
        ["bos_token"] = "<s>",
    };
}

/// <summary>Tokenizer: loads the input as tokenizer.json and encodes/decodes a fixed text with it; also encodes the
/// input as text with the built-in tokenizer (pre-tokenizer regex, BPE, added tokens on arbitrary text).</summary>
internal sealed class TokenizerTarget : FuzzTarget
{
    private Tokenizer? _reference;

    public override string Name => "tokenizer";
    public override string SeedExtension => ".json";
    public override int MaxInputBytes => 512 * 1024;

    public override IReadOnlyList<string> Dictionary =>
    [
        .. JsonTokens, "\"model\"", "\"BPE\"", "\"WordPiece\"", "\"vocab\"", "\"merges\"", "\"added_tokens\"", "\"pre_tokenizer\"",
        "\"ByteLevel\"", "\"Split\"", "\"Sequence\"", "\"pattern\"", "\"Regex\"", "\"normalizer\"", "\"NFC\"", "\"decoder\"",
        "\"post_processor\"", "\"TemplateProcessing\"", "\"special\"", "\"id\"", "(?", "\\p{L}", "[^", "+", "*", "|",
    ];

    public override IReadOnlyList<byte[]> BuiltInSeeds() => [Utf8(MinimalTokenizerJson())];

    /// <summary>A byte-level BPE tokenizer.json with all 256 byte symbols, a few merges and two special tokens.</summary>
    internal static string MinimalTokenizerJson()
    {
        var vocab = new JsonObject();
        var id = 0;
        foreach (var c in ByteLevelMap.ByteToChar) vocab[c.ToString()] = id++;
        string[] merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o"];
        foreach (var m in merges) vocab[m.Replace(" ", "", StringComparison.Ordinal)] = id++;
        var added = new JsonArray();
        foreach (var special in new[] { "<tool_call>", "</tool_call>" })
            added.Add(new JsonObject
            {
                ["id"] = id++, ["content"] = special, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = false, ["special"] = true,
            });
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = added,
            ["normalizer"] = new JsonObject { ["type"] = "NFC" },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["fuse_unk"] = false, ["byte_fallback"] = false,
                ["vocab"] = vocab, ["merges"] = new JsonArray([.. merges.Select(m => (JsonNode)m)]),
            },
        };
        return root.ToJsonString();
    }

    private const string Sample = "hello world <tool_call>{\"name\": \"f\"}</tool_call> café 😀\r\n\t  x";

    public override string Execute(byte[] input, string scratch)
    {
        _reference ??= LoadReference(scratch);
        var asText = Encoding.UTF8.GetString(input);
        _reference.Decode(_reference.EncodeToIds(asText));

        var path = Path.Combine(scratch, "tokenizer.json");
        File.WriteAllBytes(path, input);
        var tokenizer = Tokenizer.FromFile(path);
        tokenizer.Decode(tokenizer.EncodeToIds(Sample, addSpecialTokens: true));
        return "loaded";
    }

    private static Tokenizer LoadReference(string scratch)
    {
        var path = Path.Combine(scratch, "reference-tokenizer.json");
        File.WriteAllText(path, MinimalTokenizerJson());
        return Tokenizer.FromFile(path);
    }
}
