using System.Runtime.CompilerServices;

namespace ToolTune.Tensors;

/// <summary>
/// Rotary position embedding, HF/NeoX half-split layout: for head dim d and j &lt; d/2,
/// <c>inv_freq[j] = 1/theta^(2j/d)</c>, angle = pos·inv_freq[j] (computed in fp32 like HF),
/// <c>x'[j] = x[j]·cos − x[j+d/2]·sin</c>, <c>x'[j+d/2] = x[j+d/2]·cos + x[j]·sin</c>
/// (= <c>x·cos + rotate_half(x)·sin</c>). The backward is the inverse rotation.
/// </summary>
public sealed class Rope
{
    private readonly float[] _invFreq;

    public Rope(int headDim, double theta)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentException($"RoPE head_dim must be even, got {headDim}");
        HeadDim = headDim;
        Theta = theta;
        _invFreq = new float[headDim / 2];
        // HF: 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)), in float32.
        for (var j = 0; j < headDim / 2; j++)
        {
            var expo = (float)(2 * j) / headDim;
            _invFreq[j] = 1f / MathF.Pow((float)theta, expo);
        }
    }

    public int HeadDim { get; }
    public double Theta { get; }

    private sealed record AngleTable(float[] Cos, float[] Sin, int Positions);

    private AngleTable _table = new([], [], 0);
    private readonly object _grow = new();

    /// <summary>cos/sin rows for positions 0..(at least) maxPosition, grown on demand and shared by all callers.</summary>
    private AngleTable Table(int maxPosition)
    {
        var table = Volatile.Read(ref _table);
        if (maxPosition < table.Positions) return table;
        lock (_grow)
        {
            table = _table;
            if (maxPosition < table.Positions) return table;
            var count = Math.Max(maxPosition + 1, Math.Max(64, table.Positions * 2));
            var half = HeadDim / 2;
            var cos = new float[(long)count * half];
            var sin = new float[(long)count * half];
            for (var p = 0; p < count; p++) Angles(p, cos.AsSpan(p * half, half), sin.AsSpan(p * half, half));
            table = new AngleTable(cos, sin, count);
            Volatile.Write(ref _table, table);
            return table;
        }
    }

    /// <summary>cos/sin for one position (length d/2 each; the second half repeats the first).</summary>
    public void Angles(int position, Span<float> cos, Span<float> sin)
    {
        for (var j = 0; j < _invFreq.Length; j++)
        {
            var f = position * _invFreq[j]; // fp32 product, as HF's fp32 matmul of inv_freq by position
            cos[j] = MathF.Cos(f);
            sin[j] = MathF.Sin(f);
        }
    }

    /// <summary>
    /// Rotates in place x laid out [T × heads × d] (row t at offset t·rowStride, head h at h·d), token t at
    /// <paramref name="positions"/>[t]. <paramref name="inverse"/> applies the transpose (the backward).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Apply(Span<float> x, int tokens, int heads, ReadOnlySpan<int> positions, bool inverse = false, int rowStride = -1)
    {
        var d = HeadDim;
        var half = d / 2;
        if (rowStride < 0) rowStride = heads * d;
        if (positions.Length < tokens) throw new ArgumentException("RoPE: fewer positions than tokens");
        if (tokens > 0 && (tokens - 1) * rowStride + heads * d > x.Length) throw new ArgumentException("RoPE: x too small");
        var maxPos = 0;
        for (var t = 0; t < tokens; t++)
        {
            if (positions[t] < 0) throw new ArgumentOutOfRangeException(nameof(positions), $"negative position {positions[t]}");
            maxPos = Math.Max(maxPos, positions[t]);
        }
        var table = Table(maxPos);
        var sign = inverse ? -1f : 1f;
        for (var t = 0; t < tokens; t++)
        {
            var cos = table.Cos.AsSpan(positions[t] * half, half);
            var sin = table.Sin.AsSpan(positions[t] * half, half);
            var row = x.Slice(t * rowStride, heads * d);
            for (var h = 0; h < heads; h++)
            {
                var v = row.Slice(h * d, d);
                for (var j = 0; j < half; j++)
                {
                    var a = v[j];
                    var b = v[j + half];
                    var sn = sign * sin[j];
                    v[j] = a * cos[j] - b * sn;
                    v[j + half] = b * cos[j] + a * sn;
                }
            }
        }
    }

    /// <summary>Forward with positions start..start+T-1.</summary>
    public void Apply(Span<float> x, int tokens, int heads, int startPosition, bool inverse = false)
    {
        var pos = new int[tokens];
        for (var t = 0; t < tokens; t++) pos[t] = startPosition + t;
        Apply(x, tokens, heads, pos, inverse);
    }
}
