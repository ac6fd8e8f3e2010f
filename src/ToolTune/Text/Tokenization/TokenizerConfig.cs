using System.Text.Json;
using ToolTune.Diagnostics;

namespace ToolTune.Text.Tokenization;

/// <summary>Values of tokenizer_config.json (transformers), exposed raw for the chat-template loader.</summary>
public sealed class TokenizerConfig
{
    public string? Path { get; init; }
    public string? BosToken { get; init; }
    public string? EosToken { get; init; }
    public string? PadToken { get; init; }
    public string? UnkToken { get; init; }
    /// <summary>The default chat template: the string form, or the entry named "default" of the list form.</summary>
    public string? ChatTemplate { get; init; }
    /// <summary>Named templates of the list form (<c>[{"name":…, "template":…}]</c>); for the string form, one entry "default".</summary>
    public IReadOnlyDictionary<string, string> ChatTemplates { get; init; } = new Dictionary<string, string>();
    /// <summary>Path of a <c>chat_template.jinja</c> file the template came from, if any.</summary>
    public string? ChatTemplatePath { get; init; }
    public bool CleanUpTokenizationSpaces { get; init; }
    public bool? AddBosToken { get; init; }
    public bool? AddEosToken { get; init; }
    /// <summary>transformers <c>split_special_tokens</c>: special tokens in the text are encoded as plain text.</summary>
    public bool SplitSpecialTokens { get; init; }
    public string? TokenizerClass { get; init; }
    public double? ModelMaxLength { get; init; }
    public IReadOnlyDictionary<int, AddedToken> AddedTokensDecoder { get; init; } = new Dictionary<int, AddedToken>();
    /// <summary>The whole file, for keys not modelled here.</summary>
    public JsonElement? Raw { get; init; }

    public static TokenizerConfig Load(string path, string? chatTemplateJinjaPath = null)
    {
        using var doc = TokenizerJsonLoader.ParseFile(path, "tokenizer_config.json");
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new ToolTuneException(ErrorCodes.TokenizerConfigInvalid, "the root of tokenizer_config.json must be an object", path);

        var templates = new Dictionary<string, string>(StringComparer.Ordinal);
        string? chat = null, chatPath = null;
        if (root.TryGetProperty("chat_template", out var ct))
        {
            if (ct.ValueKind == JsonValueKind.String)
            {
                chat = ct.GetString();
                templates["default"] = chat!;
            }
            else if (ct.ValueKind == JsonValueKind.Array)
            {
                foreach (var t in ct.EnumerateArray())
                {
                    if (t.ValueKind != JsonValueKind.Object || !t.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String
                        || !t.TryGetProperty("template", out var tv) || tv.ValueKind != JsonValueKind.String)
                        throw new ToolTuneException(ErrorCodes.TokenizerConfigInvalid, "chat_template list entries must be {\"name\": string, \"template\": string}", path);
                    templates[n.GetString()!] = tv.GetString()!;
                }
                templates.TryGetValue("default", out chat);
            }
            else if (ct.ValueKind != JsonValueKind.Null)
                throw new ToolTuneException(ErrorCodes.TokenizerConfigInvalid, "chat_template must be a string or a list of named templates", path);
        }
        if (chatTemplateJinjaPath is not null && File.Exists(chatTemplateJinjaPath))
        {
            chat = File.ReadAllText(chatTemplateJinjaPath);
            templates["default"] = chat;
            chatPath = chatTemplateJinjaPath;
        }

        var decoder = new Dictionary<int, AddedToken>();
        if (root.TryGetProperty("added_tokens_decoder", out var atd) && atd.ValueKind == JsonValueKind.Object)
            foreach (var p in atd.EnumerateObject())
            {
                if (!int.TryParse(p.Name, out var id))
                    throw new ToolTuneException(ErrorCodes.TokenizerConfigInvalid, $"added_tokens_decoder key '{p.Name}' is not an integer id", path);
                decoder[id] = TokenizerJsonLoader.ParseAddedToken(p.Value, path, id);
            }

        return new TokenizerConfig
        {
            Path = path,
            BosToken = TokenString(root, "bos_token"),
            EosToken = TokenString(root, "eos_token"),
            PadToken = TokenString(root, "pad_token"),
            UnkToken = TokenString(root, "unk_token"),
            ChatTemplate = chat,
            ChatTemplates = templates,
            ChatTemplatePath = chatPath,
            CleanUpTokenizationSpaces = Bool(root, "clean_up_tokenization_spaces") ?? false,
            AddBosToken = Bool(root, "add_bos_token"),
            AddEosToken = Bool(root, "add_eos_token"),
            SplitSpecialTokens = Bool(root, "split_special_tokens") ?? false,
            TokenizerClass = root.TryGetProperty("tokenizer_class", out var tc) && tc.ValueKind == JsonValueKind.String ? tc.GetString() : null,
            ModelMaxLength = root.TryGetProperty("model_max_length", out var ml) && ml.ValueKind == JsonValueKind.Number ? ml.GetDouble() : null,
            AddedTokensDecoder = decoder,
            Raw = root.Clone(),
        };
    }

    private static bool? Bool(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;

    // Token values are a string or an AddedToken-like object {"content": …}.
    private static string? TokenString(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => null,
        };
    }
}
