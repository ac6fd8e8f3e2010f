using System.Text.Json;
using System.Text.RegularExpressions;
using ToolTune.Diagnostics;

namespace ToolTune.Text.Tokenization;

/// <summary>Parsed components of a tokenizer.json.</summary>
internal sealed class TokenizerComponents
{
    public required BpeModel Model { get; init; }
    public required List<AddedToken> AddedTokens { get; init; }
    public TextNormalizer? Normalizer { get; init; }
    public PreTokenizer? PreTokenizer { get; init; }
    public bool ByteLevel { get; init; }
    public bool ByteLevelDecoder { get; init; }
    public bool HasDecoder { get; init; }
    public required int[] PostPrefix { get; init; }
    public required int[] PostSuffix { get; init; }
}

internal static class TokenizerJsonLoader
{
    public static JsonDocument ParseFile(string path, string what)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ToolTuneException(ErrorCodes.TokenizerFileMissing, $"{what} not found: {path}", path, inner: ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ToolTuneException(ErrorCodes.TokenizerFileMissing, $"cannot read {what}: {ex.Message}", path, inner: ex);
        }
        try
        {
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException ex)
        {
            int line = (int)(ex.LineNumber ?? 0) + 1, col = (int)(ex.BytePositionInLine ?? 0) + 1;
            throw new ToolTuneException(ErrorCodes.TokenizerMalformedJson, $"malformed JSON in {what}: {ex.Message}", path, line, col, ex);
        }
    }

    public static TokenizerComponents Load(string path, int cacheCapacity)
    {
        using var doc = ParseFile(path, "tokenizer.json");
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw Invalid(path, "the root of tokenizer.json must be an object");

        var normalizer = ParseNormalizer(Get(root, "normalizer"), path);
        var added = new List<AddedToken>();
        if (Get(root, "added_tokens") is { ValueKind: JsonValueKind.Array } at)
            foreach (var t in at.EnumerateArray()) added.Add(ParseAddedToken(t, path));

        if (Get(root, "model") is not { ValueKind: JsonValueKind.Object } model)
            throw Invalid(path, "missing \"model\" object");
        var bpe = ParseBpe(model, path, cacheCapacity, added);

        bool byteLevel = false;
        var pre = ParsePreTokenizer(Get(root, "pre_tokenizer"), path, ref byteLevel, top: true);

        bool hasDecoder = false, byteLevelDecoder = false;
        ParseDecoder(Get(root, "decoder"), path, ref hasDecoder, ref byteLevelDecoder);

        var prefix = new List<int>();
        var suffix = new List<int>();
        ParsePostProcessor(Get(root, "post_processor"), path, prefix, suffix);

        return new TokenizerComponents
        {
            Model = bpe, AddedTokens = added, Normalizer = normalizer, PreTokenizer = pre, ByteLevel = byteLevel,
            HasDecoder = hasDecoder, ByteLevelDecoder = byteLevelDecoder, PostPrefix = prefix.ToArray(), PostSuffix = suffix.ToArray(),
        };
    }

    private static JsonElement? Get(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static string? GetString(JsonElement obj, string name) =>
        Get(obj, name) is { ValueKind: JsonValueKind.String } v ? v.GetString() : null;

    private static bool GetBool(JsonElement obj, string name, bool dflt) =>
        Get(obj, name) is { } v && (v.ValueKind == JsonValueKind.True || v.ValueKind == JsonValueKind.False) ? v.GetBoolean() : dflt;

    private static ToolTuneException Invalid(string path, string message) =>
        new(ErrorCodes.TokenizerInvalidModel, message, path);

    private static ToolTuneException Unsupported(string path, string kind, string type) =>
        new(ErrorCodes.TokenizerUnsupportedComponent, $"unsupported {kind} type '{type}' in tokenizer.json", path);

    private static string TypeOf(JsonElement e, string path, string kind) =>
        GetString(e, "type") ?? throw Invalid(path, $"{kind} without a \"type\"");

    internal static AddedToken ParseAddedToken(JsonElement t, string path, int? idOverride = null)
    {
        int id = idOverride ?? (Get(t, "id") is { ValueKind: JsonValueKind.Number } idv ? idv.GetInt32() : throw Invalid(path, "added token without an id"));
        var content = GetString(t, "content") ?? throw Invalid(path, $"added token {id} without content");
        return new AddedToken(id, content, GetBool(t, "single_word", false), GetBool(t, "lstrip", false), GetBool(t, "rstrip", false),
            GetBool(t, "normalized", !GetBool(t, "special", false)), GetBool(t, "special", false));
    }

    private static BpeModel ParseBpe(JsonElement model, string path, int cacheCapacity, List<AddedToken> added)
    {
        var type = GetString(model, "type") ?? (Get(model, "merges") is not null ? "BPE" : throw Invalid(path, "model without a \"type\""));
        if (type != "BPE") throw Unsupported(path, "model", type);
        if (Get(model, "dropout") is { ValueKind: JsonValueKind.Number } d && d.GetDouble() > 0)
            throw new ToolTuneException(ErrorCodes.TokenizerUnsupportedComponent, "BPE dropout is not supported (training-time randomness)", path);
        if (GetBool(model, "byte_fallback", false))
            throw new ToolTuneException(ErrorCodes.TokenizerUnsupportedComponent, "BPE byte_fallback is not supported", path);

        if (Get(model, "vocab") is not { ValueKind: JsonValueKind.Object } vocabEl)
            throw Invalid(path, "BPE model without a \"vocab\" object");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in vocabEl.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var id) || id < 0)
                throw Invalid(path, $"vocab entry '{p.Name}' has no valid id");
            vocab[p.Name] = id;
        }
        var lookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        string? prefix = GetString(model, "continuing_subword_prefix");
        string? suffix = GetString(model, "end_of_word_suffix");
        int prefixLen = prefix?.Length ?? 0;

        var merges = new Dictionary<long, long>(PairKeyComparer.Instance);
        if (Get(model, "merges") is { ValueKind: JsonValueKind.Array } mergesEl)
        {
            merges.EnsureCapacity(mergesEl.GetArrayLength());
            int rank = 0;
            char[] buf = new char[256];
            foreach (var m in mergesEl.EnumerateArray())
            {
                string a, b;
                if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2)
                {
                    a = m[0].GetString() ?? "";
                    b = m[1].GetString() ?? "";
                }
                else if (m.ValueKind == JsonValueKind.String)
                {
                    var s = m.GetString()!;
                    int sp = s.IndexOf(' ');
                    if (sp < 0 || s.IndexOf(' ', sp + 1) >= 0)
                        throw Invalid(path, $"merge #{rank} \"{s}\" is not two tokens separated by one space");
                    a = s[..sp];
                    b = s[(sp + 1)..];
                }
                else throw Invalid(path, $"merge #{rank} is neither [\"a\", \"b\"] nor \"a b\"");
                if (!vocab.TryGetValue(a, out var ia)) throw Invalid(path, $"merge #{rank} ({a} {b}) references unknown token '{a}'");
                if (!vocab.TryGetValue(b, out var ib)) throw Invalid(path, $"merge #{rank} ({a} {b}) references unknown token '{b}'");
                int len = a.Length + b.Length - Math.Min(prefixLen, b.Length);
                if (buf.Length < len) buf = new char[len * 2];
                a.AsSpan().CopyTo(buf);
                b.AsSpan(Math.Min(prefixLen, b.Length)).CopyTo(buf.AsSpan(a.Length));
                if (!lookup.TryGetValue(buf.AsSpan(0, len), out var inew))
                    throw Invalid(path, $"merge #{rank} ({a} {b}) produces '{new string(buf, 0, len)}', which is not in the vocabulary");
                merges[((long)ia << 32) | (uint)ib] = ((long)rank << 32) | (uint)inew;
                rank++;
            }
        }
        int? unkId = null;
        if (GetString(model, "unk_token") is { } unk)
        {
            if (vocab.TryGetValue(unk, out var u)) unkId = u;
            else if (added.FirstOrDefault(t => t.Content == unk) is { } at) unkId = at.Id;
            else throw Invalid(path, $"unk_token '{unk}' is not in the vocabulary");
        }
        return new BpeModel(vocab, merges, GetBool(model, "ignore_merges", false), prefix, suffix, unkId,
            GetBool(model, "fuse_unk", false), cacheCapacity);
    }

    private static TextNormalizer? ParseNormalizer(JsonElement? el, string path)
    {
        if (el is not { } e) return null;
        var type = TypeOf(e, path, "normalizer");
        switch (type)
        {
            case "NFC": return new NfcNormalizer(compose: true);
            case "NFD": return new NfcNormalizer(compose: false);
            case "Lowercase": return new LowercaseNormalizer();
            case "Sequence":
                var list = new List<TextNormalizer>();
                if (Get(e, "normalizers") is { ValueKind: JsonValueKind.Array } items)
                    foreach (var i in items.EnumerateArray())
                        if (ParseNormalizer(i, path) is { } n) list.Add(n);
                return list.Count == 0 ? null : list.Count == 1 ? list[0] : new SequenceNormalizer(list);
            default: throw Unsupported(path, "normalizer", type);
        }
    }

    private static PreTokenizer? ParsePreTokenizer(JsonElement? el, string path, ref bool byteLevel, bool top)
    {
        if (el is not { } e) return null;
        var type = TypeOf(e, path, "pre_tokenizer");
        if (byteLevel)
            throw new ToolTuneException(ErrorCodes.TokenizerUnsupportedComponent,
                $"pre_tokenizer '{type}' after ByteLevel is not supported (ByteLevel must come last)", path);
        switch (type)
        {
            case "Split":
            {
                string pattern;
                if (Get(e, "pattern") is { ValueKind: JsonValueKind.Object } pat)
                {
                    if (GetString(pat, "Regex") is { } rx) pattern = rx;
                    else if (GetString(pat, "String") is { } lit) pattern = Regex.Escape(lit);
                    else throw Invalid(path, "Split pattern must be {\"Regex\": …} or {\"String\": …}");
                }
                else throw Invalid(path, "Split without a pattern");
                var behaviorName = GetString(e, "behavior") ?? "Isolated";
                if (!Enum.TryParse<SplitBehavior>(behaviorName, out var behavior))
                    throw Unsupported(path, "Split behavior", behaviorName);
                CodePointRegex regex;
                try
                {
                    regex = new CodePointRegex(pattern);
                }
                catch (ArgumentException ex)
                {
                    throw new ToolTuneException(ErrorCodes.TokenizerInvalidPattern, $"Split regex /{pattern}/ is not supported: {ex.Message}", path, inner: ex);
                }
                return new SplitPreTokenizer(regex, behavior, GetBool(e, "invert", false));
            }
            case "ByteLevel":
                byteLevel = true;
                return new ByteLevelPreTokenizer(GetBool(e, "add_prefix_space", true), GetBool(e, "use_regex", true));
            case "Digits":
                return new DigitsPreTokenizer(GetBool(e, "individual_digits", false));
            case "Sequence":
            {
                var list = new List<PreTokenizer>();
                if (Get(e, "pretokenizers") is { ValueKind: JsonValueKind.Array } items)
                    foreach (var i in items.EnumerateArray())
                        if (ParsePreTokenizer(i, path, ref byteLevel, top: false) is { } p) list.Add(p);
                return list.Count == 0 ? null : list.Count == 1 ? list[0] : new SequencePreTokenizer(list);
            }
            default: throw Unsupported(path, "pre_tokenizer", type);
        }
    }

    private static void ParseDecoder(JsonElement? el, string path, ref bool hasDecoder, ref bool byteLevel)
    {
        if (el is not { } e) return;
        var type = TypeOf(e, path, "decoder");
        switch (type)
        {
            case "ByteLevel":
                hasDecoder = true;
                byteLevel = true;
                return;
            case "Sequence":
                if (Get(e, "decoders") is { ValueKind: JsonValueKind.Array } items)
                    foreach (var i in items.EnumerateArray()) ParseDecoder(i, path, ref hasDecoder, ref byteLevel);
                return;
            default: throw Unsupported(path, "decoder", type);
        }
    }

    private static void ParsePostProcessor(JsonElement? el, string path, List<int> prefix, List<int> suffix)
    {
        if (el is not { } e) return;
        var type = TypeOf(e, path, "post_processor");
        switch (type)
        {
            case "ByteLevel":
                return; // only trims offsets; ids are unchanged
            case "Sequence":
                if (Get(e, "processors") is { ValueKind: JsonValueKind.Array } items)
                    foreach (var i in items.EnumerateArray()) ParsePostProcessor(i, path, prefix, suffix);
                return;
            case "RobertaProcessing":
            case "BertProcessing":
            {
                int cls = Get(e, "cls") is { ValueKind: JsonValueKind.Array } c && c.GetArrayLength() == 2 ? c[1].GetInt32() : throw Invalid(path, $"{type} without cls");
                int sep = Get(e, "sep") is { ValueKind: JsonValueKind.Array } s && s.GetArrayLength() == 2 ? s[1].GetInt32() : throw Invalid(path, $"{type} without sep");
                prefix.Insert(0, cls);
                suffix.Add(sep);
                return;
            }
            case "TemplateProcessing":
            {
                var specials = new Dictionary<string, int[]>(StringComparer.Ordinal);
                if (Get(e, "special_tokens") is { ValueKind: JsonValueKind.Object } st)
                    foreach (var p in st.EnumerateObject())
                        specials[p.Name] = Get(p.Value, "ids") is { ValueKind: JsonValueKind.Array } ids ? ids.EnumerateArray().Select(x => x.GetInt32()).ToArray() : [];
                if (Get(e, "single") is not { ValueKind: JsonValueKind.Array } single)
                    throw Invalid(path, "TemplateProcessing without a \"single\" template");
                bool seenA = false;
                var before = new List<int>();
                var after = new List<int>();
                foreach (var item in single.EnumerateArray())
                {
                    if (Get(item, "Sequence") is not null)
                    {
                        seenA = true;
                        continue;
                    }
                    if (Get(item, "SpecialToken") is { } sp)
                    {
                        var name = GetString(sp, "id") ?? throw Invalid(path, "TemplateProcessing SpecialToken without id");
                        if (!specials.TryGetValue(name, out var ids))
                            throw Invalid(path, $"TemplateProcessing uses special token '{name}' missing from special_tokens");
                        (seenA ? after : before).AddRange(ids);
                        continue;
                    }
                    throw Invalid(path, "TemplateProcessing item must be SpecialToken or Sequence");
                }
                prefix.InsertRange(0, before);
                suffix.AddRange(after);
                return;
            }
            default: throw Unsupported(path, "post_processor", type);
        }
    }
}
