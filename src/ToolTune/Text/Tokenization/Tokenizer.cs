using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using ToolTune.Diagnostics;

namespace ToolTune.Text.Tokenization;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> byte-level BPE tokenizer that encodes and decodes exactly like HF
/// <c>tokenizers</c>: added tokens first (leftmost-longest on the raw text, always recognised), normalizer,
/// pre-tokenizers evaluated per code point, ByteLevel mapping, BPE with <c>ignore_merges</c>, post-processor
/// only when <c>addSpecialTokens</c> is asked. API shaped like Microsoft.ML.Tokenizers. Thread-safe.
/// </summary>
public sealed class Tokenizer
{
    public const int DefaultWordCacheCapacity = 10_000;

    private readonly BpeModel _model;
    private readonly TextNormalizer? _normalizer;
    private readonly PreTokenizer? _preTokenizer;
    private readonly bool _byteLevel, _byteLevelDecoder, _hasDecoder;
    private readonly int[] _postPrefix, _postSuffix;
    private readonly AddedTokenMatcher _rawMatcher, _normalizedMatcher;
    private readonly Dictionary<int, AddedToken> _addedById = new();
    private readonly Dictionary<string, AddedToken> _addedByContent = new(StringComparer.Ordinal);
    private readonly string?[] _idToToken;

    private Tokenizer(TokenizerComponents c, string path, TokenizerConfig? config)
    {
        _model = c.Model;
        _normalizer = c.Normalizer;
        _preTokenizer = c.PreTokenizer;
        _byteLevel = c.ByteLevel;
        _byteLevelDecoder = c.ByteLevelDecoder;
        _hasDecoder = c.HasDecoder;
        _postPrefix = c.PostPrefix;
        _postSuffix = c.PostSuffix;
        TokenizerPath = path;
        Config = config;
        AddedTokens = c.AddedTokens;
        foreach (var t in c.AddedTokens)
        {
            _addedById[t.Id] = t;
            _addedByContent[t.Content] = t;
        }
        // split_special_tokens (transformers) = encode_special_tokens (tokenizers): specials are not matched in text.
        bool splitSpecial = config?.SplitSpecialTokens ?? false;
        var matchable = c.AddedTokens.Where(t => !(splitSpecial && t.Special)).ToList();
        _rawMatcher = new AddedTokenMatcher(matchable.Where(t => !t.Normalized).Select(t => (t.Content, t)));
        _normalizedMatcher = new AddedTokenMatcher(matchable.Where(t => t.Normalized)
            .Select(t => (_normalizer is null ? t.Content : _normalizer.Normalize(t.Content, out _), t)));
        int max = _model.IdToToken.Length - 1;
        foreach (var t in c.AddedTokens) max = Math.Max(max, t.Id);
        _idToToken = new string?[max + 1];
        Array.Copy(_model.IdToToken, _idToToken, _model.IdToToken.Length);
        foreach (var t in c.AddedTokens) _idToToken[t.Id] = t.Content;
        int count = 0;
        foreach (var s in _idToToken) if (s is not null) count++;
        VocabularySize = count;
    }

    /// <summary>Loads <paramref name="tokenizerJsonPath"/>, plus <paramref name="tokenizerConfigPath"/> (default: the
    /// <c>tokenizer_config.json</c> beside it, when present) and <c>chat_template.jinja</c> beside it when present.</summary>
    public static Tokenizer FromFile(string tokenizerJsonPath, string? tokenizerConfigPath = null, int wordCacheCapacity = DefaultWordCacheCapacity)
    {
        var sw = Stopwatch.StartNew();
        if (Directory.Exists(tokenizerJsonPath)) return FromDirectory(tokenizerJsonPath, wordCacheCapacity);
        var full = Path.GetFullPath(tokenizerJsonPath);
        var dir = Path.GetDirectoryName(full) ?? ".";
        tokenizerConfigPath ??= Path.Combine(dir, "tokenizer_config.json") is var beside && File.Exists(beside) ? beside : null;
        var components = TokenizerJsonLoader.Load(tokenizerJsonPath, wordCacheCapacity);
        TokenizerConfig? config = tokenizerConfigPath is null ? null
            : TokenizerConfig.Load(tokenizerConfigPath, Path.Combine(Path.GetDirectoryName(Path.GetFullPath(tokenizerConfigPath)) ?? dir, "chat_template.jinja"));
        return new Tokenizer(components, tokenizerJsonPath, config) { LoadTime = sw.Elapsed };
    }

    /// <summary>Loads <c>tokenizer.json</c> (+ <c>tokenizer_config.json</c>, <c>chat_template.jinja</c> when present) from a model folder.</summary>
    public static Tokenizer FromDirectory(string directory, int wordCacheCapacity = DefaultWordCacheCapacity)
    {
        var json = Path.Combine(directory, "tokenizer.json");
        if (!File.Exists(json))
            throw new ToolTuneException(ErrorCodes.TokenizerFileMissing, $"tokenizer.json not found in {directory}", json);
        var cfg = Path.Combine(directory, "tokenizer_config.json");
        return FromFile(json, File.Exists(cfg) ? cfg : null, wordCacheCapacity);
    }

    public string TokenizerPath { get; }
    public TokenizerConfig? Config { get; }
    /// <summary>Wall time <see cref="FromFile"/> took.</summary>
    public TimeSpan LoadTime { get; private init; }
    /// <summary>Distinct ids: model vocabulary plus added tokens outside it (HF <c>get_vocab_size(true)</c>).</summary>
    public int VocabularySize { get; }
    public IReadOnlyList<AddedToken> AddedTokens { get; }
    public string? BosToken => Config?.BosToken;
    public string? EosToken => Config?.EosToken;
    public string? PadToken => Config?.PadToken;
    public string? ChatTemplate => Config?.ChatTemplate;
    public IReadOnlyDictionary<int, AddedToken> AddedTokensDecoder => Config?.AddedTokensDecoder ?? _addedById;
    public int? BosTokenId => BosToken is null ? null : TokenToId(BosToken);
    public int? EosTokenId => EosToken is null ? null : TokenToId(EosToken);
    public int? PadTokenId => PadToken is null ? null : TokenToId(PadToken);
    /// <summary>The model's regular vocabulary (token string → id), without added tokens.</summary>
    public IReadOnlyDictionary<string, int> Vocabulary => _model.Vocab;
    internal int WordCacheCount => _model.CacheCount;

    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out var t) ? t.Id : _model.TryGetId(token, out var id) ? id : null;

    public string? IdToToken(int id) => id >= 0 && id < _idToToken.Length ? _idToToken[id] : null;

    /// <summary>True for added tokens marked <c>special</c> (the ones <c>skipSpecialTokens</c> drops).</summary>
    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var t) && t.Special;

    // ---------------------------------------------------------------- encode

    public IReadOnlyList<int> EncodeToIds(string text, bool addSpecialTokens = false) => EncodeToIds(text.AsSpan(), addSpecialTokens);

    public IReadOnlyList<int> EncodeToIds(ReadOnlySpan<char> text, bool addSpecialTokens = false)
    {
        var s = Scratch.Get();
        s.Ids.Clear();
        EncodeCore(text, addSpecialTokens, s, withOffsets: false);
        return s.Ids.ToArray();
    }

    /// <summary>At most <paramref name="maxTokenCount"/> leading ids, cut where no char is split between kept and dropped
    /// tokens; <paramref name="charsConsumed"/> is the length of the text prefix they cover (Microsoft.ML.Tokenizers shape).</summary>
    public IReadOnlyList<int> EncodeToIds(string text, int maxTokenCount, out int charsConsumed, bool addSpecialTokens = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxTokenCount);
        var tokens = EncodeToTokens(text, addSpecialTokens);
        if (tokens.Count <= maxTokenCount)
        {
            charsConsumed = text.Length;
            return tokens.Select(t => t.Id).ToArray();
        }
        int n = maxTokenCount;
        while (n > 0 && tokens[n].Offset.Start.Value < tokens[n - 1].Offset.End.Value) n--;
        charsConsumed = n > 0 ? tokens[n - 1].Offset.End.Value : 0;
        return tokens.Take(n).Select(t => t.Id).ToArray();
    }

    public int CountTokens(string text, bool addSpecialTokens = false) => CountTokens(text.AsSpan(), addSpecialTokens);

    public int CountTokens(ReadOnlySpan<char> text, bool addSpecialTokens = false)
    {
        var s = Scratch.Get();
        s.Ids.Clear();
        EncodeCore(text, addSpecialTokens, s, withOffsets: false);
        return s.Ids.Count;
    }

    /// <summary>Tokens with their UTF-16 ranges in <paramref name="text"/> (the original input, before normalization).
    /// Ranges are exact, not trimmed like HF's ByteLevel <c>trim_offsets</c>: "Ġworld" covers its leading space, so
    /// consecutive tokens tile the text. A char split over several byte-level tokens gives each of them the whole char's
    /// range; a normalizer expansion or reordering gives the affected tokens the range of the input it came from; added
    /// tokens cover their lstrip/rstrip whitespace; post-processor tokens have an empty range at the start or end.</summary>
    public IReadOnlyList<EncodedToken> EncodeToTokens(string text, bool addSpecialTokens = false) => EncodeToTokens(text.AsSpan(), addSpecialTokens);

    public IReadOnlyList<EncodedToken> EncodeToTokens(ReadOnlySpan<char> text, bool addSpecialTokens = false)
    {
        var s = Scratch.Get();
        s.Ids.Clear();
        s.Offsets.Clear();
        EncodeCore(text, addSpecialTokens, s, withOffsets: true);
        var result = new EncodedToken[s.Ids.Count];
        for (int i = 0; i < result.Length; i++)
        {
            var (a, b) = s.Offsets[i];
            result[i] = new EncodedToken(s.Ids[i], _idToToken[s.Ids[i]] ?? "", new Range(a, b));
        }
        return result;
    }

    private sealed class Scratch
    {
        [ThreadStatic] private static Scratch? t_instance;
        public static Scratch Get() => t_instance ??= new Scratch();

        public readonly List<int> Ids = new();
        public readonly List<(int, int)> Offsets = new();
        public readonly List<(int Start, int End, AddedToken Token)> RawMatches = new();
        public readonly List<(int Start, int End, AddedToken Token)> NormMatches = new();
        public readonly List<Piece> PiecesIn = new(), PiecesOut = new();
        public readonly List<int> Pairs = new();
        public byte[] Bytes = new byte[256];
        public char[] Chars = new char[256];
        public int[] ByteStart = new int[256], ByteEnd = new int[256];

        public void Ensure(int n)
        {
            if (Bytes.Length >= n) return;
            int size = Math.Max(n, Bytes.Length * 2);
            Bytes = new byte[size]; Chars = new char[size]; ByteStart = new int[size]; ByteEnd = new int[size];
        }
    }

    private void EncodeCore(ReadOnlySpan<char> text, bool addSpecialTokens, Scratch s, bool withOffsets)
    {
        if (addSpecialTokens)
            foreach (var id in _postPrefix) { s.Ids.Add(id); if (withOffsets) s.Offsets.Add((0, 0)); }
        var matches = s.RawMatches;
        matches.Clear();
        _rawMatcher.FindMatches(text, matches);
        int pos = 0;
        // matches may be reused by nothing below (normalized matches use their own list)
        for (int m = 0; m < matches.Count; m++)
        {
            var (start, end, token) = matches[m];
            if (start > pos) EncodeSegment(text, pos, start, s, withOffsets);
            s.Ids.Add(token.Id);
            if (withOffsets) s.Offsets.Add((start, end));
            pos = Math.Max(pos, end);
        }
        if (pos < text.Length) EncodeSegment(text, pos, text.Length, s, withOffsets);
        if (addSpecialTokens)
            foreach (var id in _postSuffix) { s.Ids.Add(id); if (withOffsets) s.Offsets.Add((text.Length, text.Length)); }
    }

    private readonly ref struct Alignment(int segStart, int segLength, (int Start, int End)[]? map)
    {
        public (int, int) Map(int a, int b)
        {
            if (map is null) return (segStart + a, segStart + b);
            int start = a < map.Length ? segStart + map[a].Start : segStart + segLength;
            int end = b > a ? segStart + map[b - 1].End : start;
            return (start, end);
        }
    }

    private void EncodeSegment(ReadOnlySpan<char> text, int segStart, int segEnd, Scratch s, bool withOffsets)
    {
        var seg = text[segStart..segEnd];
        ReadOnlySpan<char> normalized = seg;
        (int Start, int End)[]? map = null;
        if (_normalizer is not null && !(_normalizer is NfcNormalizer { Composes: true } && Nfc.IsTriviallyNormalized(seg)))
            normalized = _normalizer.Normalize(seg.ToString(), out map);
        var align = new Alignment(segStart, seg.Length, map);
        if (_normalizedMatcher.IsEmpty)
        {
            PreTokenizeAndEncode(normalized, 0, normalized.Length, align, s, withOffsets);
            return;
        }
        var matches = s.NormMatches;
        matches.Clear();
        _normalizedMatcher.FindMatches(normalized, matches);
        if (matches.Count == 0)
        {
            PreTokenizeAndEncode(normalized, 0, normalized.Length, align, s, withOffsets);
            return;
        }
        var copy = matches.ToArray();
        int pos = 0;
        foreach (var (start, end, token) in copy)
        {
            if (start > pos) PreTokenizeAndEncode(normalized, pos, start, align, s, withOffsets);
            s.Ids.Add(token.Id);
            if (withOffsets) s.Offsets.Add(align.Map(start, end));
            pos = Math.Max(pos, end);
        }
        if (pos < normalized.Length) PreTokenizeAndEncode(normalized, pos, normalized.Length, align, s, withOffsets);
    }

    private void PreTokenizeAndEncode(ReadOnlySpan<char> text, int start, int end, Alignment align, Scratch s, bool withOffsets)
    {
        var pieces = s.PiecesIn;
        pieces.Clear();
        pieces.Add(new Piece(start, end));
        if (_preTokenizer is not null)
        {
            var output = s.PiecesOut;
            output.Clear();
            _preTokenizer.Split(text, pieces, output);
            pieces = output;
        }
        foreach (var piece in pieces) EncodePiece(text, piece, align, s, withOffsets);
    }

    private void EncodePiece(ReadOnlySpan<char> text, Piece piece, Alignment align, Scratch s, bool withOffsets)
    {
        var span = text[piece.Start..piece.End];
        ReadOnlySpan<char> word;
        if (_byteLevel)
        {
            s.Ensure(span.Length * 3 + 1);
            int nb = 0;
            if (piece.PrefixSpace)
            {
                s.Bytes[nb] = 0x20;
                s.ByteStart[nb] = s.ByteEnd[nb] = piece.Start;
                nb++;
            }
            if (withOffsets)
            {
                for (int i = 0; i < span.Length;)
                {
                    Rune.DecodeFromUtf16(span[i..], out var r, out int cl);
                    int L = r.EncodeToUtf8(s.Bytes.AsSpan(nb));
                    for (int k = 0; k < L; k++)
                    {
                        s.ByteStart[nb + k] = piece.Start + i;
                        s.ByteEnd[nb + k] = piece.Start + i + cl;
                    }
                    nb += L;
                    i += cl;
                }
            }
            else nb += Encoding.UTF8.GetBytes(span, s.Bytes.AsSpan(nb));
            var map = ByteLevelMap.ByteToChar;
            for (int k = 0; k < nb; k++) s.Chars[k] = map[s.Bytes[k]];
            word = s.Chars.AsSpan(0, nb);
        }
        else word = span;

        var pairs = s.Pairs;
        pairs.Clear();
        _model.EncodeWord(word, pairs, useCache: true);
        var ps = CollectionsMarshal.AsSpan(pairs);
        int pos = 0;
        for (int k = 0; k < ps.Length; k += 2)
        {
            int id = ps[k], len = ps[k + 1];
            s.Ids.Add(id);
            if (withOffsets)
            {
                int a, b;
                if (_byteLevel)
                {
                    a = s.ByteStart[pos];
                    b = len > 0 ? s.ByteEnd[pos + len - 1] : a;
                }
                else
                {
                    a = piece.Start + pos;
                    b = a + len;
                }
                s.Offsets.Add(align.Map(a, b));
            }
            pos += len;
        }
    }

    // ---------------------------------------------------------------- decode

    /// <summary>HF <c>decode</c>: unknown ids dropped, special added tokens dropped when asked, byte-level tokens joined
    /// and decoded once as lossy UTF-8 (U+FFFD per maximal invalid subpart, like Rust <c>from_utf8_lossy</c>).
    /// No <c>clean_up_tokenization_spaces</c> (see <see cref="CleanUpTokenizationSpaces"/>).</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        if (_byteLevelDecoder)
        {
            var bytes = new List<byte>();
            foreach (var id in ids)
                if (TokenForDecode(id, skipSpecialTokens) is { } tok) ByteLevelMap.AppendTokenBytes(tok, bytes);
            return Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(bytes));
        }
        var parts = new List<string>();
        foreach (var id in ids)
            if (TokenForDecode(id, skipSpecialTokens) is { } tok) parts.Add(tok);
        return string.Join(_hasDecoder ? "" : " ", parts);
    }

    internal string? TokenForDecode(int id, bool skipSpecialTokens)
    {
        if (id < 0 || id >= _idToToken.Length) return null;
        if (skipSpecialTokens && _addedById.TryGetValue(id, out var t) && t.Special) return null;
        return _idToToken[id];
    }

    internal bool ByteLevelDecoder => _byteLevelDecoder;

    /// <summary>A decoder for generation: feed ids one at a time, get text as soon as it is complete UTF-8.</summary>
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);

    /// <summary>transformers' <c>clean_up_tokenization_spaces</c> (applied by Python <c>decode</c> when the config asks).</summary>
    public static string CleanUpTokenizationSpaces(string text) =>
        text.Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",").Replace(" ' ", "'")
            .Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" 's", "'s").Replace(" 've", "'ve").Replace(" 're", "'re");
}

/// <summary>Incremental decoding that holds back an incomplete UTF-8 sequence until the token completing it arrives
/// (HF <c>DecodeStream</c>).</summary>
public sealed class StreamingDecoder
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _skipSpecial;
    private readonly List<byte> _pending = new();
    private bool _any;

    internal StreamingDecoder(Tokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecial = skipSpecialTokens;
    }

    /// <summary>Adds one id; returns the text it completes (empty while a multi-byte char is still incomplete).</summary>
    public string Add(int id)
    {
        var tok = _tokenizer.TokenForDecode(id, _skipSpecial);
        if (tok is null) return "";
        if (!_tokenizer.ByteLevelDecoder)
        {
            var r = _any ? " " + tok : tok;
            _any = true;
            return r;
        }
        ByteLevelMap.AppendTokenBytes(tok, _pending);
        int complete = CompletePrefixLength(CollectionsMarshal.AsSpan(_pending));
        if (complete == 0) return "";
        var text = Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(_pending)[..complete]);
        _pending.RemoveRange(0, complete);
        return text;
    }

    /// <summary>Returns whatever is held back, decoded lossily, and resets.</summary>
    public string Flush()
    {
        var text = Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(_pending));
        _pending.Clear();
        return text;
    }

    internal static int CompletePrefixLength(ReadOnlySpan<byte> b)
    {
        int n = b.Length;
        for (int back = 1; back <= Math.Min(3, n); back++)
        {
            byte c = b[n - back];
            if ((c & 0xC0) == 0x80) continue; // continuation: keep looking for the lead byte
            int need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 1;
            if (need <= back) return n;
            if (back >= 2)
            {
                byte s = b[n - back + 1];
                bool ok = c switch
                {
                    0xE0 => s >= 0xA0,
                    0xED => s <= 0x9F,
                    0xF0 => s >= 0x90,
                    0xF4 => s <= 0x8F,
                    _ => true,
                };
                if (!ok) return n;
            }
            return n - back;
        }
        return n;
    }
}
