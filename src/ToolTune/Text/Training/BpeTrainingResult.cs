using System.Globalization;
using System.Text;
using ToolTune.Python;
using ToolTune.Text.Templates;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Text.Tokenization;
using ToolTune.IO;

namespace ToolTune.Text.Training;

/// <summary>A trained byte-level BPE: the model vocabulary (id order), the merges (rank order) and the added tokens,
/// which take the ids after the model vocabulary. Writes a SmolLM3-shaped <c>tokenizer.json</c> / <c>tokenizer_config.json</c>.</summary>
public sealed class BpeTrainingResult
{
    internal BpeTrainingResult(IReadOnlyList<string> vocab, IReadOnlyList<(string Left, string Right)> merges,
        IReadOnlyList<AddedTokenSpec> addedTokens, string splitPattern, int distinctWords, long totalWords, long totalChars, TimeSpan trainTime)
    {
        Vocab = vocab;
        Merges = merges;
        AddedTokens = addedTokens;
        SplitPattern = splitPattern;
        DistinctWords = distinctWords;
        TotalWords = totalWords;
        TotalChars = totalChars;
        TrainTime = trainTime;
    }

    /// <summary>Model vocabulary, index = id: the 256 byte chars by code point, then merged tokens in creation order.</summary>
    public IReadOnlyList<string> Vocab { get; }
    public IReadOnlyList<(string Left, string Right)> Merges { get; }
    public IReadOnlyList<AddedTokenSpec> AddedTokens { get; }
    /// <summary>The pre-tokenizer's split regex the vocabulary was trained with.</summary>
    public string SplitPattern { get; }
    public int DistinctWords { get; }
    public long TotalWords { get; }
    public long TotalChars { get; }
    /// <summary>Time of the merge loop (not of feeding the corpus).</summary>
    public TimeSpan TrainTime { get; }

    /// <summary>Model vocabulary plus added tokens.</summary>
    public int TotalVocabSize => Vocab.Count + AddedTokens.Count;

    /// <summary>Id of an added token (model vocabulary size + its index).</summary>
    public int AddedTokenId(string content)
    {
        for (int i = 0; i < AddedTokens.Count; i++)
            if (AddedTokens[i].Content == content) return Vocab.Count + i;
        throw new KeyNotFoundException(content);
    }

    /// <summary>tokenizer.json, laid out like <c>tokenizers</c>' <c>save(pretty=true)</c> (SmolLM3-3B's file): the trained
    /// split (<see cref="SplitPattern"/>) + ByteLevel(use_regex=false) pre-tokenizer, BPE with array merges and
    /// <c>ignore_merges</c>, TemplateProcessing without BOS, ByteLevel decoder, no normalizer.</summary>
    public string ToTokenizerJson()
    {
        var added = new JsonArray();
        for (int i = 0; i < AddedTokens.Count; i++)
        {
            var t = AddedTokens[i];
            added.Add(new JsonObject
            {
                ["id"] = Vocab.Count + i,
                ["content"] = t.Content,
                ["single_word"] = t.SingleWord,
                ["lstrip"] = t.Lstrip,
                ["rstrip"] = t.Rstrip,
                ["normalized"] = t.Normalized,
                ["special"] = t.Special,
            });
        }
        var vocab = new JsonObject();
        for (int i = 0; i < Vocab.Count; i++) vocab[Vocab[i]] = i;
        var merges = new JsonArray();
        foreach (var (l, r) in Merges) merges.Add(new JsonArray(l, r));

        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray
                {
                    new JsonObject
                    {
                        ["type"] = "Split",
                        ["pattern"] = new JsonObject { ["Regex"] = SplitPattern },
                        ["behavior"] = "Isolated",
                        ["invert"] = false,
                    },
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false },
                },
            },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray { Seq("A", 0) },
                ["pair"] = new JsonArray { Seq("A", 0), Seq("B", 1) },
                ["special_tokens"] = new JsonObject(),
            },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false,
                ["byte_fallback"] = false,
                ["ignore_merges"] = true,
                ["vocab"] = vocab,
                ["merges"] = merges,
            },
        };
        return PrettyJson.Write(root); // tokenizers writes no final newline

        static JsonObject Seq(string id, int typeId) => new() { ["Sequence"] = new JsonObject { ["id"] = id, ["type_id"] = typeId } };
    }

    /// <summary>tokenizer_config.json like SmolLM3-3B's (keys sorted, as transformers writes them): no BOS, eos = pad =
    /// <paramref name="eosToken"/>, the added tokens in <c>added_tokens_decoder</c>, the chat template inline.
    /// <c>clean_up_tokenization_spaces</c> is false so Python decode round-trips.</summary>
    public string ToTokenizerConfigJson(string? chatTemplate, string eosToken = "<|im_end|>", int modelMaxLength = 8192)
    {
        if (!AddedTokens.Any(t => t.Content == eosToken))
            throw new ArgumentException($"eos token '{eosToken}' is not an added token", nameof(eosToken));
        var decoder = new JsonObject();
        for (int i = 0; i < AddedTokens.Count; i++)
        {
            var t = AddedTokens[i];
            decoder[(Vocab.Count + i).ToString(CultureInfo.InvariantCulture)] = new JsonObject
            {
                ["content"] = t.Content,
                ["lstrip"] = t.Lstrip,
                ["normalized"] = t.Normalized,
                ["rstrip"] = t.Rstrip,
                ["single_word"] = t.SingleWord,
                ["special"] = t.Special,
            };
        }
        var root = new JsonObject { ["added_tokens_decoder"] = decoder, ["bos_token"] = null };
        if (chatTemplate is not null) root["chat_template"] = chatTemplate;
        root["clean_up_tokenization_spaces"] = false;
        root["eos_token"] = eosToken;
        root["extra_special_tokens"] = new JsonObject();
        root["model_input_names"] = new JsonArray("input_ids", "attention_mask");
        root["model_max_length"] = modelMaxLength;
        root["pad_token"] = eosToken;
        root["tokenizer_class"] = "PreTrainedTokenizerFast";
        return PrettyJson.Write(root) + "\n";
    }

    /// <summary>Writes tokenizer.json, tokenizer_config.json and (when a template is given) chat_template.jinja into
    /// <paramref name="directory"/>, each atomically.</summary>
    public void Save(string directory, string? chatTemplate, string eosToken = "<|im_end|>", int modelMaxLength = 8192)
    {
        Directory.CreateDirectory(directory);
        WriteAtomic(Path.Combine(directory, "tokenizer.json"), ToTokenizerJson());
        WriteAtomic(Path.Combine(directory, "tokenizer_config.json"), ToTokenizerConfigJson(chatTemplate, eosToken, modelMaxLength));
        if (chatTemplate is not null) WriteAtomic(Path.Combine(directory, "chat_template.jinja"), chatTemplate);
    }

    internal static void WriteAtomic(string path, string text)
    {
        var bytes = new UTF8Encoding(false).GetBytes(text);
        AtomicFile.Write(path, fs => fs.Write(bytes));
    }
}

/// <summary>
/// Deterministic JSON text in the layout both serde_json's pretty printer and Python's <c>json.dumps(indent=2,
/// ensure_ascii=False)</c> produce: two-space indent, <c>": "</c>, <c>[]</c>/<c>{}</c> when empty, only <c>"</c>,
/// <c>\</c> and control chars escaped (<c>\n \t \r \b \f</c>, else <c>\u00XX</c>), LF line ends, no final newline.
/// </summary>
internal static class PrettyJson
{
    public static string Write(JsonNode? node)
    {
        var sb = new StringBuilder(1 << 16);
        Write(sb, node, 0);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, JsonNode? node, int depth)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                break;
            case JsonObject o:
                if (o.Count == 0) { sb.Append("{}"); break; }
                sb.Append('{');
                bool first = true;
                foreach (var (k, v) in o)
                {
                    sb.Append(first ? "\n" : ",\n");
                    first = false;
                    Indent(sb, depth + 1);
                    PythonJson.WriteString(sb, k, ensureAscii: false);
                    sb.Append(": ");
                    Write(sb, v, depth + 1);
                }
                sb.Append('\n');
                Indent(sb, depth);
                sb.Append('}');
                break;
            case JsonArray a:
                if (a.Count == 0) { sb.Append("[]"); break; }
                sb.Append('[');
                for (int i = 0; i < a.Count; i++)
                {
                    sb.Append(i == 0 ? "\n" : ",\n");
                    Indent(sb, depth + 1);
                    Write(sb, a[i], depth + 1);
                }
                sb.Append('\n');
                Indent(sb, depth);
                sb.Append(']');
                break;
            case JsonValue v:
                switch (v.GetValueKind())
                {
                    case JsonValueKind.String: PythonJson.WriteString(sb, v.GetValue<string>(), ensureAscii: false); break;
                    case JsonValueKind.True: sb.Append("true"); break;
                    case JsonValueKind.False: sb.Append("false"); break;
                    case JsonValueKind.Number: sb.Append(v.ToJsonString()); break;
                    default: sb.Append("null"); break;
                }
                break;
        }
    }

    private static void Indent(StringBuilder sb, int depth) => sb.Append(' ', 2 * depth);

}
