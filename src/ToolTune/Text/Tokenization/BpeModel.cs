using System.Text;

namespace ToolTune.Text.Tokenization;

/// <summary>
/// The BPE model of tokenizer.json (tokenizers models/bpe): vocabulary, merges as (idA, idB) → (rank, new id),
/// <c>ignore_merges</c>, continuing-subword prefix / end-of-word suffix, unk token. Merging follows word.rs
/// <c>merge_all</c>: always the lowest rank, leftmost on ties.
/// </summary>
internal sealed class BpeModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabLookup;
    private readonly Dictionary<long, long> _merges;
    private readonly int[] _charId = new int[0x144];
    private readonly LruCache<int[]>[]? _cache; // sharded so parallel encoders rarely contend

    public BpeModel(Dictionary<string, int> vocab, Dictionary<long, long> merges, bool ignoreMerges,
        string? continuingSubwordPrefix, string? endOfWordSuffix, int? unkId, bool fuseUnk, int cacheCapacity)
    {
        _vocab = vocab;
        _vocabLookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _merges = merges;
        IgnoreMerges = ignoreMerges;
        Prefix = string.IsNullOrEmpty(continuingSubwordPrefix) ? null : continuingSubwordPrefix;
        Suffix = string.IsNullOrEmpty(endOfWordSuffix) ? null : endOfWordSuffix;
        UnkId = unkId;
        FuseUnk = fuseUnk;
        int max = -1;
        foreach (var v in vocab.Values) max = Math.Max(max, v);
        IdToToken = new string?[max + 1];
        foreach (var (k, v) in vocab) IdToToken[v] = k;
        for (int c = 0; c < _charId.Length; c++)
            _charId[c] = vocab.TryGetValue(((char)c).ToString(), out var id) ? id : -1;
        if (cacheCapacity > 0)
        {
            int shards = cacheCapacity >= 4096 ? 16 : 1;
            _cache = new LruCache<int[]>[shards];
            for (int i = 0; i < shards; i++) _cache[i] = new LruCache<int[]>((cacheCapacity + shards - 1) / shards);
        }
    }

    public bool IgnoreMerges { get; }
    public string? Prefix { get; }
    public string? Suffix { get; }
    public int? UnkId { get; }
    public bool FuseUnk { get; }
    public string?[] IdToToken { get; }
    public int VocabCount => _vocab.Count;
    public IReadOnlyDictionary<string, int> Vocab => _vocab;
    internal int CacheCount => _cache?.Sum(c => c.Count) ?? 0;

    public bool TryGetId(ReadOnlySpan<char> token, out int id) => _vocabLookup.TryGetValue(token, out id);

    [ThreadStatic] private static Scratch? t_scratch;

    private sealed class Scratch
    {
        public int[] Id = new int[64], Len = new int[64], Prev = new int[64], Next = new int[64], Rank = new int[64], NewId = new int[64];
        public char[] Key = new char[64];
        public PriorityQueue<(int Pos, int NewId), long> Queue = new();

        public void Ensure(int n)
        {
            if (Id.Length >= n) return;
            int size = Math.Max(n, Id.Length * 2);
            Id = new int[size]; Len = new int[size]; Prev = new int[size]; Next = new int[size]; Rank = new int[size]; NewId = new int[size];
        }
    }

    /// <summary>Encodes one pre-token; appends (id, length in <paramref name="word"/> chars) pairs to <paramref name="output"/>.</summary>
    public void EncodeWord(ReadOnlySpan<char> word, List<int> output, bool useCache)
    {
        if (word.IsEmpty) return;
        // ignore_merges: a pre-token that is a whole vocabulary entry is emitted as is (cheaper than the cache).
        if (IgnoreMerges && _vocabLookup.TryGetValue(word, out var whole))
        {
            output.Add(whole);
            output.Add(word.Length);
            return;
        }
        if (word.Length == 1 && Prefix is null && Suffix is null && word[0] < _charId.Length && _charId[word[0]] >= 0)
        {
            output.Add(_charId[word[0]]);
            output.Add(1);
            return;
        }
        if (useCache && _cache is not null && word.Length <= 256)
        {
            var shard = _cache.Length == 1 ? _cache[0] : _cache[(int)((uint)(word.Length * 31 + word[0] * 7 + word[^1] + word[word.Length / 2] * 13) % (uint)_cache.Length)];
            if (shard.TryGet(word, out var cached))
            {
                output.AddRange(cached);
                return;
            }
            int start = output.Count;
            EncodeUncached(word, output);
            var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(output)[start..];
            shard.Add(word, span.ToArray());
            return;
        }
        EncodeUncached(word, output);
    }

    private void EncodeUncached(ReadOnlySpan<char> word, List<int> output)
    {
        if (IgnoreMerges && _vocabLookup.TryGetValue(word, out var whole))
        {
            output.Add(whole);
            output.Add(word.Length);
            return;
        }
        var s = t_scratch ??= new Scratch();
        s.Ensure(word.Length + 1);
        int n = InitialSymbols(word, s);
        if (n == 0) return;
        if (n > 1)
        {
            if (n <= 256) MergeSmall(s, n); else MergeHeap(s, n);
        }
        for (int i = 0; i >= 0; i = s.Next[i])
        {
            output.Add(s.Id[i]);
            output.Add(s.Len[i]);
        }
    }

    private int InitialSymbols(ReadOnlySpan<char> word, Scratch s)
    {
        int n = 0;
        for (int i = 0; i < word.Length;)
        {
            int len = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            int id;
            bool first = i == 0, last = i + len == word.Length;
            if (Prefix is null && Suffix is null && len == 1 && word[i] < _charId.Length)
                id = _charId[word[i]];
            else
                id = LookupAffixed(word.Slice(i, len), !first ? Prefix : null, last ? Suffix : null, s);
            if (id < 0)
            {
                if (UnkId is int unk)
                {
                    if (FuseUnk && n > 0 && s.Id[n - 1] == unk)
                    {
                        s.Len[n - 1] += len;
                        i += len;
                        continue;
                    }
                    id = unk;
                }
                else
                {
                    // tokenizers drops chars missing from the vocabulary when there is no unk token;
                    // keep the length on the previous symbol so offsets stay contiguous.
                    if (n > 0) s.Len[n - 1] += len;
                    i += len;
                    continue;
                }
            }
            s.Id[n] = id;
            s.Len[n] = len;
            n++;
            i += len;
        }
        for (int k = 0; k < n; k++)
        {
            s.Prev[k] = k - 1;
            s.Next[k] = k + 1 < n ? k + 1 : -1;
        }
        return n;
    }

    private int LookupAffixed(ReadOnlySpan<char> ch, string? prefix, string? suffix, Scratch s)
    {
        int total = ch.Length + (prefix?.Length ?? 0) + (suffix?.Length ?? 0);
        if (s.Key.Length < total) s.Key = new char[total * 2];
        var key = s.Key.AsSpan(0, total);
        int p = 0;
        if (prefix is not null) { prefix.AsSpan().CopyTo(key); p = prefix.Length; }
        ch.CopyTo(key[p..]);
        p += ch.Length;
        if (suffix is not null) suffix.AsSpan().CopyTo(key[p..]);
        return _vocabLookup.TryGetValue(key, out var id) ? id : -1;
    }

    private bool TryMerge(int a, int b, out int rank, out int newId)
    {
        if (_merges.TryGetValue(((long)a << 32) | (uint)b, out var v))
        {
            rank = (int)(v >> 32);
            newId = (int)v;
            return true;
        }
        rank = newId = 0;
        return false;
    }

    private void MergeSmall(Scratch s, int n)
    {
        // Symbols stay in index order (merges absorb the right neighbour), so a scan from the head finds the lowest
        // rank with leftmost tie-breaking. Pair ranks are cached per left symbol; a merge refreshes only its two pairs.
        var rank = s.Rank;
        var nid = s.NewId;
        for (int i = 0; i < n; i++) SetPair(s, i);
        while (true)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i >= 0; i = s.Next[i])
                if (rank[i] < bestRank) { bestRank = rank[i]; best = i; }
            if (best < 0) return;
            Absorb(s, best, nid[best]);
            SetPair(s, best);
            if (s.Prev[best] >= 0) SetPair(s, s.Prev[best]);
        }
    }

    private void SetPair(Scratch s, int i)
    {
        int j = s.Next[i];
        if (j >= 0 && TryMerge(s.Id[i], s.Id[j], out var r, out var id))
        {
            s.Rank[i] = r;
            s.NewId[i] = id;
        }
        else s.Rank[i] = int.MaxValue;
    }

    private static void Absorb(Scratch s, int i, int newId)
    {
        int j = s.Next[i];
        s.Id[i] = newId;
        s.Len[i] += s.Len[j];
        s.Len[j] = 0;
        int k = s.Next[j];
        s.Next[i] = k;
        if (k >= 0) s.Prev[k] = i;
    }

    private void MergeHeap(Scratch s, int n)
    {
        var q = s.Queue;
        q.Clear();
        for (int i = 0; i + 1 < n; i++)
            if (TryMerge(s.Id[i], s.Id[i + 1], out var rank, out var newId))
                q.Enqueue((i, newId), ((long)rank << 32) | (uint)i);
        while (q.TryDequeue(out var top, out _))
        {
            int i = top.Pos;
            if (s.Len[i] == 0) continue;
            int j = s.Next[i];
            if (j < 0) continue;
            if (!TryMerge(s.Id[i], s.Id[j], out _, out var nid) || nid != top.NewId) continue;
            Absorb(s, i, nid);
            int p = s.Prev[i];
            if (p >= 0 && TryMerge(s.Id[p], s.Id[i], out var r1, out var n1))
                q.Enqueue((p, n1), ((long)r1 << 32) | (uint)p);
            int nx = s.Next[i];
            if (nx >= 0 && TryMerge(s.Id[i], s.Id[nx], out var r2, out var n2))
                q.Enqueue((i, n2), ((long)r2 << 32) | (uint)i);
        }
    }
}

/// <summary>long.GetHashCode is hi ^ lo, which for packed (idA, idB) pairs collides massively; mix the bits instead.</summary>
internal sealed class PairKeyComparer : IEqualityComparer<long>
{
    public static readonly PairKeyComparer Instance = new();
    public bool Equals(long x, long y) => x == y;
    public int GetHashCode(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> 32);
}
