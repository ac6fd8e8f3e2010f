namespace ToolTune.Data.Selection;

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a tiny PRNG with a fixed, documented algorithm, so shuffles and splits
/// are the same on every runtime version (System.Random's algorithm is not a compatibility promise).
/// </summary>
public sealed class SplitMix64
{
    private ulong _state;

    public SplitMix64(ulong seed) => _state = seed;

    /// <summary>A stream derived from a run seed and a purpose label (so independent uses never share a sequence).</summary>
    public static SplitMix64 For(long seed, string purpose)
    {
        // FNV-1a of the label, mixed with the seed.
        var h = 14695981039346656037UL;
        foreach (var c in purpose)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        return new SplitMix64(Mix((ulong)seed ^ h));
    }

    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform integer in [0, bound), unbiased (Lemire's method with rejection).</summary>
    public int NextInt(int bound)
    {
        if (bound <= 0) throw new ArgumentOutOfRangeException(nameof(bound));
        var b = (ulong)bound;
        while (true)
        {
            var x = NextUInt64();
            var m = (UInt128)x * b;
            var low = (ulong)m;
            if (low < b)
            {
                var threshold = (0UL - b) % b;
                if (low < threshold) continue;
            }
            return (int)(m >> 64);
        }
    }

    /// <summary>Uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>In-place Fisher–Yates shuffle.</summary>
    public void Shuffle<T>(IList<T> items)
    {
        for (var i = items.Count - 1; i > 0; i--)
        {
            var j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
