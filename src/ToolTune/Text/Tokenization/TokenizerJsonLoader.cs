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
    public static byte[] ReadBytes(string path, string what)
    {
        try
        {
            var bytes = File.ReadAllBytes(path);
            // System.Text.Json validates string UTF-8 only when a string is read: reject the file here, located.
            if (!System.Text.Unicode.Utf8.IsValid(bytes))
            {
                var at = Data.Loaders.JsonRecordReader.FirstInvalidUtf8(bytes);
                var line = 1 + bytes.AsSpan(0, at).Count((byte)'\n');
                var col = at - bytes.AsSpan(0, at).LastIndexOf((byte)'\n');
                throw new ToolTuneException(ErrorCodes.TokenizerMalformedJson, $"{what} is not valid UTF-8 (byte 0x{bytes[at]:X2})", path, line, col);
            }
            return bytes;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ToolTuneException(ErrorCodes.TokenizerFileMissing, $"{what} not found: {path}", path, inner: ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ToolTuneException(ErrorCodes.TokenizerFileMissing, $"cannot read {what}: {ex.Message}", path, inner: ex);
        }
    }

    public static ToolTuneException Malformed(JsonException ex, string path, string what)
    {
        int line = (int)(ex.LineNumber ?? 0) + 1, col = (int)(ex.BytePositionInLine ?? 0) + 1;
        return new ToolTuneException(ErrorCodes.TokenizerMalformedJson, $"malformed JSON in {what}: {ex.Message}", path, line, col, ex);
    }

    public static JsonDocument ParseFile(string path, string what)
    {
        var bytes = ReadBytes(path, what);
        try
        {
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException ex)
        {
            throw Malformed(ex, path, what);
        }
    }

    /// <summary>The BPE model section, read by streaming: vocab into the dictionary directly, merge token texts into one
    /// char buffer (no string per merge), other keys as small JSON values.</summary>
    private sealed class RawModel
    {
        public readonly Dictionary<string, JsonElement> Scalars = new(StringComparer.Ordinal);
        public Dictionary<string, int>? Vocab;
        public char[] Chars = new char[1 << 20];
        public int Used;
        /// <summary>Per merge: start/length of a, start/length of b in <see cref="Chars"/>; a length of -1 marks a malformed entry.</summary>
        public readonly List<(int A, int ALen, int B, int BLen)> Merges = new();
        public bool HasMerges;

        public (int Start, int Length) Copy(ref Utf8JsonReader reader)
        {
            int max = reader.HasValueSequence ? (int)reader.ValueSequence.Length : reader.ValueSpan.Length;
            if (Chars.Length < Used + max) Array.Resize(ref Chars, Math.Max(Chars.Length * 2, Used + max));
            int n = reader.CopyString(Chars.AsSpan(Used));
            var r = (Used, n);
            Used += n;
            return r;
        }

        public string Text(int start, int length) => new(Chars, start, length);
    }

    private static RawModel ReadModel(ref Utf8JsonReader reader, string path)
    {
        var m = new RawModel();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            reader.Read();
            if (name == "vocab" && reader.TokenType == JsonTokenType.StartObject)
            {
                var vocab = m.Vocab = new Dictionary<string, int>(StringComparer.Ordinal);
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var key = reader.GetString()!;
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var id) || id < 0 || id > MaxTokenId)
                        throw Invalid(path, $"vocab entry '{key}' has no valid id");
                    vocab[key] = id;
                }
            }
            else if (name == "merges" && reader.TokenType == JsonTokenType.StartArray)
            {
                m.HasMerges = true;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        var (start, len) = m.Copy(ref reader);
                        var text = m.Chars.AsSpan(start, len);
                        int sp = text.IndexOf(' ');
                        if (sp < 0 || text[(sp + 1)..].IndexOf(' ') >= 0) m.Merges.Add((start, -1, start, len));
                        else m.Merges.Add((start, sp, start + sp + 1, len - sp - 1));
                    }
                    else if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        reader.Read();
                        if (reader.TokenType != JsonTokenType.String) throw Invalid(path, $"merge #{m.Merges.Count} is neither [\"a\", \"b\"] nor \"a b\"");
                        var a = m.Copy(ref reader);
                        reader.Read();
                        if (reader.TokenType != JsonTokenType.String) throw Invalid(path, $"merge #{m.Merges.Count} is neither [\"a\", \"b\"] nor \"a b\"");
                        var b = m.Copy(ref reader);
                        reader.Read();
                        if (reader.TokenType != JsonTokenType.EndArray) throw Invalid(path, $"merge #{m.Merges.Count} has more than two tokens");
                        m.Merges.Add((a.Start, a.Length, b.Start, b.Length));
                    }
                    else throw Invalid(path, $"merge #{m.Merges.Count} is neither [\"a\", \"b\"] nor \"a b\"");
                }
            }
            else m.Scalars[name] = JsonElement.ParseValue(ref reader);
        }
        return m;
    }

    public static TokenizerComponents Load(string path, int cacheCapacity)
    {
        try
        {
            return LoadCore(path, cacheCapacity);
        }
        catch (InvalidOperationException ex) when (Data.JsonNodeChecks.IsDeferredJsonError(ex))
        {
            // An escaped unpaired surrogate ("\ud800") parses as JSON but cannot become a .NET string.
            throw new ToolTuneException(ErrorCodes.TokenizerMalformedJson, $"tokenizer.json holds a string that is not valid Unicode: {ex.Message}", path, inner: ex);
        }
        catch (FormatException ex) when (Data.JsonNodeChecks.IsDeferredJsonError(ex))
        {
            throw new ToolTuneException(ErrorCodes.TokenizerInvalidModel, $"tokenizer.json holds a number where an int32 id or count is expected: {ex.Message}", path, inner: ex);
        }
    }

    /// <summary>Ids index dense arrays: far above any real vocabulary (≈ 256k) is corruption, not a tokenizer.</summary>
    private const int MaxTokenId = 1 << 24;

    private static TokenizerComponents LoadCore(string path, int cacheCapacity)
    {
        var bytes = ReadBytes(path, "tokenizer.json");
        var sections = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        RawModel? rawModel = null;
        try
        {
            var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = 256 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw Invalid(path, "the root of tokenizer.json must be an object");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString()!;
                reader.Read();
                if (name == "model" && reader.TokenType == JsonTokenType.StartObject) rawModel = ReadModel(ref reader, path);
                else sections[name] = JsonElement.ParseValue(ref reader);
            }
            while (reader.Read()) { } // trailing content must be valid (throws otherwise)
        }
        catch (JsonException ex)
        {
            throw Malformed(ex, path, "tokenizer.json");
        }
        var root = new JsonObjectView(sections);

        var normalizer = ParseNormalizer(Get(root, "normalizer"), path);
        var added = new List<AddedToken>();
        if (Get(root, "added_tokens") is { ValueKind: JsonValueKind.Array } at)
            foreach (var t in at.EnumerateArray()) added.Add(ParseAddedToken(t, path));

        if (rawModel is null)
            throw Invalid(path, "missing \"model\" object");
        var bpe = ParseBpe(rawModel, path, cacheCapacity, added);

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

    /// <summary>Top-level members read one by one (the big model section streamed, the rest as small elements).</summary>
    private readonly record struct JsonObjectView(Dictionary<string, JsonElement> Members);

    private static JsonElement? Get(JsonObjectView obj, string name) =>
        obj.Members.TryGetValue(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static string? GetString(JsonObjectView obj, string name) =>
        Get(obj, name) is { ValueKind: JsonValueKind.String } v ? v.GetString() : null;

    private static bool GetBool(JsonObjectView obj, string name, bool dflt) =>
        Get(obj, name) is { } v && (v.ValueKind == JsonValueKind.True || v.ValueKind == JsonValueKind.False) ? v.GetBoolean() : dflt;

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
        if (id is < 0 or > MaxTokenId) throw Invalid(path, $"added token id {id} is outside 0..{MaxTokenId}");
        var content = GetString(t, "content") ?? throw Invalid(path, $"added token {id} without content");
        return new AddedToken(id, content, GetBool(t, "single_word", false), GetBool(t, "lstrip", false), GetBool(t, "rstrip", false),
            GetBool(t, "normalized", !GetBool(t, "special", false)), GetBool(t, "special", false));
    }

    private static BpeModel ParseBpe(RawModel raw, string path, int cacheCapacity, List<AddedToken> added)
    {
        var model = new JsonObjectView(raw.Scalars);
        var type = GetString(model, "type") ?? (raw.HasMerges ? "BPE" : throw Invalid(path, "model without a \"type\""));
        if (type != "BPE") throw Unsupported(path, "model", type);
        if (Get(model, "dropout") is { ValueKind: JsonValueKind.Number } d && d.GetDouble() > 0)
            throw new ToolTuneException(ErrorCodes.TokenizerUnsupportedComponent, "BPE dropout is not supported (training-time randomness)", path);
        if (GetBool(model, "byte_fallback", false))
            throw new ToolTuneException(ErrorCodes.TokenizerUnsupportedComponent, "BPE byte_fallback is not supported", path);

        var vocab = raw.Vocab ?? throw Invalid(path, "BPE model without a \"vocab\" object");
        var lookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        string? prefix = GetString(model, "continuing_subword_prefix");
        string? suffix = GetString(model, "end_of_word_suffix");
        int prefixLen = prefix?.Length ?? 0;

        var merges = new Dictionary<long, long>(raw.Merges.Count, PairKeyComparer.Instance);
        char[] buf = new char[256];
        var chars = raw.Chars;
        for (int rank = 0; rank < raw.Merges.Count; rank++)
        {
            var (a, alen, b, blen) = raw.Merges[rank];
            if (alen < 0) throw Invalid(path, $"merge #{rank} \"{raw.Text(a, blen)}\" is not two tokens separated by one space");
            var sa = chars.AsSpan(a, alen);
            var sb = chars.AsSpan(b, blen);
            if (!lookup.TryGetValue(sa, out var ia)) throw Invalid(path, $"merge #{rank} ({sa} {sb}) references unknown token '{sa}'");
            if (!lookup.TryGetValue(sb, out var ib)) throw Invalid(path, $"merge #{rank} ({sa} {sb}) references unknown token '{sb}'");
            int skip = Math.Min(prefixLen, blen);
            int len = alen + blen - skip;
            if (buf.Length < len) buf = new char[len * 2];
            sa.CopyTo(buf);
            sb[skip..].CopyTo(buf.AsSpan(alen));
            if (!lookup.TryGetValue(buf.AsSpan(0, len), out var inew))
                throw Invalid(path, $"merge #{rank} ({sa} {sb}) produces '{new string(buf, 0, len)}', which is not in the vocabulary");
            merges[((long)ia << 32) | (uint)ib] = ((long)rank << 32) | (uint)inew;
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
