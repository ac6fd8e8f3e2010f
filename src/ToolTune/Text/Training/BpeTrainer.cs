using System.Text;
using ToolTune.Text.Tokenization;

namespace ToolTune.Text.Training;

/// <summary>An added token of a trained tokenizer (tokenizer.json <c>added_tokens</c> entry, without the id).</summary>
public sealed record AddedTokenSpec(string Content, bool Special, bool SingleWord = false, bool Lstrip = false, bool Rstrip = false, bool Normalized = false);

/// <summary>Options of <see cref="BpeTrainer"/>.</summary>
public sealed record BpeTrainerOptions
{
    /// <summary>Total vocabulary size: the 256 byte symbols, the merged tokens and the added tokens (which come last).</summary>
    public int VocabSize { get; init; } = 4096;

    /// <summary>A pair seen fewer times than this (weighted by word counts) is never merged (HF <c>min_frequency</c>).</summary>
    public long MinFrequency { get; init; } = 2;

    /// <summary>Added tokens, in id order after the trained vocabulary. Default: <see cref="BpeTrainer.SmolLM3AddedTokens"/>.</summary>
    public IReadOnlyList<AddedTokenSpec> AddedTokens { get; init; } = BpeTrainer.SmolLM3AddedTokens();

    /// <summary>Also count every 1–3 digit string ("0"…"999", "00"…"099", "000"…) <see cref="MinFrequency"/> times, so each
    /// digit group the Llama-3 regex can cut (<c>\p{N}{1,3}</c>) can become one token, as in Llama-3 / SmolLM3's vocabulary.
    /// They rank last among merges of equal count. Default false.</summary>
    public bool DigitGroups { get; init; }

    /// <summary>Split regex of the pre-tokenizer (written into tokenizer.json), one of <see cref="SplitPatterns"/>; default
    /// SmolLM3's.</summary>
    public string SplitPattern { get; init; } = SplitPatterns.Llama3;
}

/// <summary>The pre-tokenizer split regexes a trained tokenizer can use, by the names <c>tooltune make-tokenizer --split</c> takes.</summary>
public static class SplitPatterns
{
    /// <summary>SmolLM3's (Llama-3's): a word takes the space or punctuation character before it.</summary>
    public const string Llama3 = KnownPattern.Llama3;

    /// <summary>A word is the same ids wherever it stands (<see cref="KnownPattern.Words"/>).</summary>
    public const string Words = KnownPattern.Words;

    private static readonly Dictionary<string, string> ByName = new(StringComparer.Ordinal) { ["llama3"] = Llama3, ["words"] = Words };

    public static IReadOnlyCollection<string> Names => ByName.Keys;

    public static string Named(string name) => ByName.TryGetValue(name, out var pattern) ? pattern
        : throw new ArgumentException($"unknown split '{name}' (expected {string.Join(" or ", Names)})");
}

/// <summary>
/// Byte-level BPE trainer with the semantics of Hugging Face <c>tokenizers</c>' <c>BpeTrainer</c> for a Llama-3 style
/// tokenizer: text is cut on the added tokens (they are never learned from), pre-tokenized with the split regex of
/// <see cref="BpeTrainerOptions.SplitPattern"/>, Llama-3's by default (the project's <see cref="SplitPreTokenizer"/>/
/// <see cref="KnownPattern"/>, per code point), each piece's UTF-8 bytes mapped through the ByteLevel table; the initial
/// vocabulary is the 256 byte chars sorted by code point (HF <c>compute_alphabet</c> with <c>ByteLevel::alphabet()</c>);
/// pair frequencies are counted over distinct words weighted by their counts; the most frequent pair is merged, ties
/// broken by the smaller (left id, right id) pair (HF's <c>Merge</c> ordering); a merge whose result already exists
/// reuses its id; training stops at the vocabulary target, when no pair is left, or when the best pair is below
/// <see cref="BpeTrainerOptions.MinFrequency"/>.
/// Pair counts are updated incrementally from an index pair → words containing it (no recount per merge).
/// Differences from HF that do not change a valid file: one heap entry per count change (HF keeps per-entry word sets
/// and may record a pair twice), and added tokens are removed from the training text.
/// </summary>
public sealed class BpeTrainer
{
    private readonly BpeTrainerOptions _options;
    private readonly Dictionary<string, long> _wordCounts = new(StringComparer.Ordinal);
    private readonly SplitPreTokenizer _split;
    private readonly System.Text.RegularExpressions.Regex? _addedPattern;
    private readonly List<Piece> _in = new(), _out = new();
    private byte[] _bytes = new byte[256];
    private bool _digitsFed;

    public BpeTrainer(BpeTrainerOptions? options = null)
    {
        _options = options ?? new BpeTrainerOptions();
        _split = new(new CodePointRegex(_options.SplitPattern), SplitBehavior.Isolated, invert: false);
        if (_options.VocabSize < 256 + _options.AddedTokens.Count)
            throw new ArgumentOutOfRangeException(nameof(options), $"vocab size {_options.VocabSize} is smaller than 256 byte tokens + {_options.AddedTokens.Count} added tokens");
        var contents = _options.AddedTokens.Select(t => t.Content).Where(c => c.Length > 0).Distinct()
            .OrderByDescending(c => c.Length).ThenBy(c => c, StringComparer.Ordinal).ToArray();
        _addedPattern = contents.Length == 0 ? null : new System.Text.RegularExpressions.Regex(
            string.Join("|", contents.Select(System.Text.RegularExpressions.Regex.Escape)),
            System.Text.RegularExpressions.RegexOptions.CultureInvariant | System.Text.RegularExpressions.RegexOptions.Compiled);
    }

    public BpeTrainerOptions Options => _options;

    /// <summary>Distinct pre-tokenized words fed so far.</summary>
    public int DistinctWords => _wordCounts.Count;

    /// <summary>Total pre-tokenized words fed so far.</summary>
    public long TotalWords { get; private set; }

    /// <summary>Total UTF-16 chars fed so far.</summary>
    public long TotalChars { get; private set; }

    /// <summary>The SmolLM3-3B added tokens (ids 128000–128018 there) in the same order and with the same flags, then
    /// <paramref name="reserved"/> reserved special tokens <c>&lt;|reserved_special_token_11|&gt;</c>… as in SmolLM3.</summary>
    public static IReadOnlyList<AddedTokenSpec> SmolLM3AddedTokens(int reserved = 13)
    {
        var list = new List<AddedTokenSpec>
        {
            new("<|begin_of_text|>", true),
            new("<|end_of_text|>", true),
            new("<think>", false),
            new("</think>", false),
            new("<|finetune_right_pad_id|>", true),
            new("<|reserved_special_token_2|>", true),
            new("<|start_header_id|>", true),
            new("<|end_header_id|>", true),
            new("<|eom_id|>", true),
            new("<|eot_id|>", true),
            new("<|python_tag|>", true),
            new("<|im_start|>", true),
            new("<|im_end|>", true),
            new("<tool_response>", false),
            new("</tool_response>", false),
            new("<tool_call>", false),
            new("</tool_call>", false),
            new("<code>", false),
            new("</code>", false),
        };
        for (int i = 0; i < reserved; i++) list.Add(new($"<|reserved_special_token_{11 + i}|>", true));
        return list;
    }

    /// <summary>Adds one training text: cut on added tokens, pre-tokenized, each word counted once per occurrence.</summary>
    public void Feed(string text)
    {
        TotalChars += text.Length;
        int pos = 0;
        if (_addedPattern is not null)
        {
            // Alternatives longest first: at one position the longest added token wins (leftmost-longest).
            foreach (var m in _addedPattern.EnumerateMatches(text))
            {
                if (m.Index > pos) FeedSegment(text.AsSpan(pos, m.Index - pos));
                pos = m.Index + m.Length;
            }
        }
        if (pos < text.Length) FeedSegment(text.AsSpan(pos));
    }

    /// <summary>Adds a word (an already pre-tokenized piece, raw text) <paramref name="count"/> times.</summary>
    public void FeedWord(string piece, long count = 1)
    {
        var w = ToByteLevel(piece);
        _wordCounts[w] = _wordCounts.GetValueOrDefault(w) + count;
        TotalWords += count;
    }

    private void FeedSegment(ReadOnlySpan<char> segment)
    {
        _in.Clear();
        _out.Clear();
        _in.Add(new Piece(0, segment.Length));
        _split.Split(segment, _in, _out);
        foreach (var p in _out)
        {
            if (p.End <= p.Start) continue;
            var w = ToByteLevel(segment[p.Start..p.End]);
            ref var slot = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_wordCounts, w, out _);
            slot++;
            TotalWords++;
        }
    }

    private string ToByteLevel(ReadOnlySpan<char> s)
    {
        int max = Encoding.UTF8.GetMaxByteCount(s.Length);
        if (_bytes.Length < max) _bytes = new byte[Math.Max(max, _bytes.Length * 2)];
        int n = Encoding.UTF8.GetBytes(s, _bytes);
        return string.Create(n, _bytes, static (dst, b) =>
        {
            for (int i = 0; i < dst.Length; i++) dst[i] = ByteLevelMap.ByteToChar[b[i]];
        });
    }

    /// <summary>Runs the merges and returns the trained tokenizer.</summary>
    public BpeTrainingResult Train()
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        int target = _options.VocabSize - _options.AddedTokens.Count;

        // Initial alphabet: all 256 byte chars, by code point.
        var idToToken = new List<string>(target);
        var tokenToId = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var c in ByteLevelMap.ByteToChar.Order())
        {
            tokenToId[c.ToString()] = idToToken.Count;
            idToToken.Add(c.ToString());
        }

        if (_options.DigitGroups && !_digitsFed)
        {
            long c = Math.Max(1, _options.MinFrequency);
            for (int len = 2; len <= 3; len++)
                for (int v = 0; v < (len == 2 ? 100 : 1000); v++)
                    FeedWord(v.ToString(len == 2 ? "D2" : "D3", System.Globalization.CultureInfo.InvariantCulture), c);
            _digitsFed = true;
        }

        // Words in ordinal order (the result does not depend on it; it keeps the run reproducible to the bit).
        var entries = _wordCounts.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray();
        int nw = entries.Length;
        var words = new int[nw][];
        var lens = new int[nw];
        var counts = new long[nw];
        for (int i = 0; i < nw; i++)
        {
            var s = entries[i].Key;
            var w = new int[s.Length];
            for (int k = 0; k < s.Length; k++) w[k] = tokenToId[s[k].ToString()];
            words[i] = w;
            lens[i] = s.Length;
            counts[i] = entries[i].Value;
        }

        var pairCounts = new Dictionary<long, long>();
        var where = new Dictionary<long, HashSet<int>>();
        for (int i = 0; i < nw; i++)
        {
            var w = words[i];
            for (int k = 0; k + 1 < lens[i]; k++)
            {
                long key = Key(w[k], w[k + 1]);
                pairCounts[key] = pairCounts.GetValueOrDefault(key) + counts[i];
                if (!where.TryGetValue(key, out var set)) where[key] = set = new HashSet<int>();
                set.Add(i);
            }
        }

        // Max count first, then the smaller (left, right) id pair; stale entries (count changed since) are skipped.
        var queue = new PriorityQueue<long, (long NegCount, long Pair)>();
        foreach (var (key, count) in pairCounts)
            if (count > 0) queue.Enqueue(key, (-count, key));

        var merges = new List<(string Left, string Right)>();
        var changed = new HashSet<long>();
        while (idToToken.Count < target && queue.TryDequeue(out long pair, out var prio))
        {
            long current = pairCounts.GetValueOrDefault(pair);
            if (-prio.NegCount != current) continue; // stale: a fresh entry was queued when the count changed
            if (current < 1 || current < _options.MinFrequency) break;

            int a = (int)(pair >> 32), b = (int)(pair & 0xFFFFFFFF);
            string merged = idToToken[a] + idToToken[b];
            if (!tokenToId.TryGetValue(merged, out int newId))
            {
                newId = idToToken.Count;
                idToToken.Add(merged);
                tokenToId[merged] = newId;
            }
            merges.Add((idToToken[a], idToToken[b]));
            pairCounts.Remove(pair);

            changed.Clear();
            if (where.Remove(pair, out var positions))
            {
                foreach (int wi in positions.Order())
                    MergeWord(wi, a, b, newId, words, lens, counts[wi], pairCounts, where, changed);
            }
            foreach (long key in changed)
            {
                long c = pairCounts.GetValueOrDefault(key);
                if (c > 0) queue.Enqueue(key, (-c, key));
                else pairCounts.Remove(key);
            }
        }

        sw.Stop();
        return new BpeTrainingResult(idToToken, merges, _options.AddedTokens, _options.SplitPattern, nw, TotalWords, TotalChars, sw.Elapsed);
    }

    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    /// <summary>HF <c>Word::merge</c>: left to right, every non-overlapping (a, b) becomes <paramref name="id"/>; the
    /// neighbour pairs lose the word's count and the new ones gain it.</summary>
    private static void MergeWord(int wi, int a, int b, int id, int[][] words, int[] lens, long count,
        Dictionary<long, long> pairCounts, Dictionary<long, HashSet<int>> where, HashSet<long> changed)
    {
        var w = words[wi];
        int n = lens[wi];
        int dst = 0;
        for (int i = 0; i < n; i++)
        {
            if (w[i] == a && i + 1 < n && w[i + 1] == b)
            {
                if (dst > 0)
                {
                    int prev = w[dst - 1];
                    Add(Key(prev, a), -count);
                    Add(Key(prev, id), count, wi);
                }
                if (i + 2 < n)
                {
                    // The right neighbour is still unmerged input; if it starts another (a, b), the (id, a) counted
                    // here is taken back by that merge's "prev" branch, which counts (id, id) instead (as HF does).
                    int next = w[i + 2];
                    Add(Key(b, next), -count);
                    Add(Key(id, next), count, wi);
                }
                w[dst++] = id;
                i++;
            }
            else w[dst++] = w[i];
        }
        lens[wi] = dst;

        void Add(long key, long delta, int word = -1)
        {
            pairCounts[key] = pairCounts.GetValueOrDefault(key) + delta;
            changed.Add(key);
            if (word >= 0)
            {
                if (!where.TryGetValue(key, out var set)) where[key] = set = new HashSet<int>();
                set.Add(word);
            }
        }
    }
}
