using System.Numerics;
using System.Runtime.CompilerServices;

namespace ToolTune.Lora;

/// <summary>
/// Deterministic random numbers for LoRA (SplitMix64 streams; the algorithm is fixed so a seed reproduces the same
/// adapter on every runtime): PEFT's init distributions and counter-based dropout masks.
/// </summary>
public static class LoraRandom
{
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>FNV-1a of a label (module path), for deriving independent streams.</summary>
    public static ulong Hash(string s)
    {
        var h = 14695981039346656037UL;
        foreach (var c in s) { h ^= c; h *= 1099511628211UL; }
        return h;
    }

    /// <summary>Uniform in [0, 1) from the counter <paramref name="i"/> of stream <paramref name="key"/>.</summary>
    public static double Uniform(ulong key, ulong i) => (Mix(key + (i + 1) * 0x9E3779B97F4A7C15UL) >> 11) * (1.0 / (1UL << 53));

    /// <summary>
    /// PEFT Linear <c>lora_A</c> init (layer.py <c>reset_lora_parameters</c>, init_lora_weights=True):
    /// <c>nn.init.kaiming_uniform_(A, a=√5)</c>: gain √(2/(1+a²)) = √(1/3), bound = gain·√3/√fan_in = 1/√in, U(−bound, bound).
    /// </summary>
    public static void KaimingUniformA(Span<float> a, int fanIn, ulong key)
    {
        var bound = 1.0 / Math.Sqrt(fanIn);
        for (var i = 0; i < a.Length; i++) a[i] = (float)((2 * Uniform(key, (ulong)i) - 1) * bound);
    }

    /// <summary>PEFT Embedding <c>lora_embedding_B</c> init: <c>nn.init.normal_(B)</c> (N(0, 1)), Box–Muller.</summary>
    public static void Normal(Span<float> b, ulong key, double std = 1.0)
    {
        for (var i = 0; i < b.Length; i += 2)
        {
            var u1 = 1.0 - Uniform(key, (ulong)i);
            var u2 = Uniform(key, (ulong)i + 1);
            var rad = Math.Sqrt(-2 * Math.Log(u1));
            b[i] = (float)(std * rad * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < b.Length) b[i + 1] = (float)(std * rad * Math.Sin(2 * Math.PI * u2));
        }
    }

    private static uint Fmix32(uint h)
    {
        h ^= h >> 16; h *= 0x85EBCA6B;
        h ^= h >> 13; h *= 0xC2B2AE35;
        return h ^ (h >> 16);
    }

    private static Vector<uint> Fmix32(Vector<uint> h)
    {
        h ^= Vector.ShiftRightLogical(h, 16); h *= new Vector<uint>(0x85EBCA6B);
        h ^= Vector.ShiftRightLogical(h, 13); h *= new Vector<uint>(0xC2B2AE35);
        return h ^ Vector.ShiftRightLogical(h, 16);
    }

    /// <summary>
    /// Inverted dropout with a counter-based mask: element i is dropped iff <c>fmix32(fmix32(i + k1) ^ k2) &lt; p·2³²</c>
    /// (k1, k2 = the two halves of <paramref name="key"/>); kept elements are scaled by 1/(1−p). dst = src ⊙ mask
    /// (may alias). Vectorised; identical on every SIMD width.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ApplyDropout(ReadOnlySpan<float> src, Span<float> dst, ulong key, double p)
    {
        var n = dst.Length;
        var k1 = (uint)key;
        var k2 = (uint)(key >> 32);
        var threshold = (uint)Math.Min(uint.MaxValue, Math.Round(p * 4294967296.0));
        var keep = (float)(1.0 / (1.0 - p));
        var i = 0;
        var w = Vector<uint>.Count;
        if (Vector.IsHardwareAccelerated && n >= w)
        {
            Span<uint> lane = stackalloc uint[w];
            for (var j = 0; j < w; j++) lane[j] = (uint)j;
            var idx = new Vector<uint>(lane);
            var vk1 = new Vector<uint>(k1);
            var vk2 = new Vector<uint>(k2);
            var vt = new Vector<uint>(threshold);
            var vkeep = new Vector<float>(keep);
            for (; i <= n - w; i += w)
            {
                var h = Fmix32(Fmix32(idx + new Vector<uint>((uint)i) + vk1) ^ vk2);
                var kept = Vector.AsVectorSingle(~Vector.LessThan(h, vt));      // all-ones where kept
                var v = new Vector<float>(src.Slice(i, w)) * vkeep;
                Vector.BitwiseAnd(v, kept).CopyTo(dst.Slice(i, w));
            }
        }
        for (; i < n; i++)
            dst[i] = Fmix32(Fmix32((uint)i + k1) ^ k2) < threshold ? 0f : src[i] * keep;
    }
}
