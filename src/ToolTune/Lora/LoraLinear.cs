using ToolTune.Model;
using ToolTune.Tensors;

namespace ToolTune.Lora;

/// <summary>
/// LoRA around a frozen linear layer (PEFT tuners/lora/layer.py <c>Linear</c>):
/// <c>y = base(x) + scale · (drop(x)·Aᵀ)·Bᵀ</c>, A [r × in] (kaiming-uniform, a=√5), B [out × r] (zeros),
/// scale = alpha / r. Dropout (nn.Dropout on the input of A: keep with 1−p, kept values × 1/(1−p)) draws its
/// mask from a counter-based hash of (<see cref="DropoutKey"/>, module path, element index), so a recomputed
/// forward (gradient checkpointing) and the backward see the same mask without storing it.
/// </summary>
public sealed class LoraLinear : ILinear
{
    public LoraLinear(string modulePath, int inFeatures, int outFeatures, int r, float scale, double dropout)
    {
        ModulePath = modulePath;
        In = inFeatures;
        Out = outFeatures;
        R = r;
        Scale = scale;
        Dropout = dropout;
        A = new Param($"{modulePath}.lora_A.weight", [r, inFeatures], new float[r * inFeatures]);
        B = new Param($"{modulePath}.lora_B.weight", [outFeatures, r], new float[outFeatures * r]);
        A.MakeTrainable();
        B.MakeTrainable();
        _pathHash = LoraRandom.Hash(modulePath);
    }

    private readonly ulong _pathHash;
    private float[] _h = [], _dh = [];
    // drop(x) [rows × in] lives only within one Forward/Backward call, so one buffer per thread serves every module
    // (per module it was rows × in × 7 × layers: ≈ 6.9 GB for SmolLM3-3B at seq 2048 with dropout on).
    [ThreadStatic] private static float[]? t_xd;
    // What _h was computed from by the last Forward: (input address, rows, dropout key). The decoder's backward always
    // follows the forward (or the checkpointing recompute) of the same layer on the same buffer, so it can reuse h
    // instead of recomputing x·Aᵀ; anything else (another buffer, row count or key) recomputes it.
    private (nint Input, int Rows, ulong? Key) _hFrom;

    public string ModulePath { get; }
    public string Name => ModulePath;
    public int In { get; }
    public int Out { get; }
    public int R { get; }
    public float Scale { get; }
    public double Dropout { get; }
    /// <summary>lora_A [r × in].</summary>
    public Param A { get; }
    /// <summary>lora_B [out × r].</summary>
    public Param B { get; }
    /// <summary>The wrapped frozen layer (set when attached to a decoder).</summary>
    public ILinear? Base { get; set; }
    /// <summary>Dropout stream for the current micro-batch; null = no dropout (evaluation).</summary>
    public ulong? DropoutKey { get; set; }

    public IEnumerable<Param> Parameters => Base is null ? [A, B] : Base.Parameters.Concat([A, B]);

    /// <summary>PEFT init: A ~ kaiming_uniform(a=√5) = U(−1/√in, 1/√in), B = 0.</summary>
    public void Initialize(ulong seed)
    {
        LoraRandom.KaimingUniformA(A.Data, In, LoraRandom.Mix(seed ^ _pathHash));
        B.Data.Clear();
    }

    public void Forward(ReadOnlySpan<float> x, Span<float> y, int rows)
    {
        if (Base is null) throw new InvalidOperationException($"{ModulePath}: LoRA layer is not attached to a base layer");
        Base.Forward(x, y, rows);
        StepProfile.Current?.Lap("gemm_fwd");
        ForwardCore(x, y, rows, [], Keyed);
        _hFrom = (Address(x), rows, DropoutKey);
        StepProfile.Current?.Lap("lora_fwd");
    }

    public void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx, int rows, bool accumulateDx)
    {
        if (Base is null) throw new InvalidOperationException($"{ModulePath}: LoRA layer is not attached to a base layer");
        Base.Backward(dy, x, dx, rows, accumulateDx);
        StepProfile.Current?.Lap("gemm_bwd");
        var hValid = _hFrom == (Address(x), rows, DropoutKey);
        BackwardCore(dy, x, dx, rows, [], Keyed, accumulateDx: true, hValid);
        StepProfile.Current?.Lap("lora_bwd");
    }

    private static Span<float> DropScratch(int n)
    {
        if (t_xd is null || t_xd.Length < n) t_xd = new float[n];
        return t_xd.AsSpan(0, n);
    }

    private static unsafe nint Address(ReadOnlySpan<float> x)
    {
        fixed (float* p = x) return (nint)p;
    }

    private bool Keyed => DropoutKey is not null && Dropout > 0;
    private ulong StreamKey => LoraRandom.Mix(DropoutKey!.Value ^ _pathHash);

    /// <summary>The dropout multipliers for <paramref name="rows"/> input rows (0 or 1/(1−p)); empty when off.</summary>
    public float[] Mask(int rows)
    {
        if (!Keyed) return [];
        var ones = new float[rows * In];
        ones.AsSpan().Fill(1f);
        LoraRandom.ApplyDropout(ones, ones, StreamKey, Dropout);
        return ones;
    }

    /// <summary>dst = src ⊙ mask (explicit mask, or the keyed counter-hash mask).</summary>
    private void Drop(ReadOnlySpan<float> src, Span<float> dst, ReadOnlySpan<float> mask, bool keyed)
    {
        if (!mask.IsEmpty) { for (var i = 0; i < dst.Length; i++) dst[i] = src[i] * mask[i]; return; }
        LoraRandom.ApplyDropout(src, dst, StreamKey, Dropout);
    }

    private ReadOnlySpan<float> Dropped(ReadOnlySpan<float> x, ReadOnlySpan<float> mask, bool keyed, int rows)
    {
        if (mask.IsEmpty && !keyed) return x;
        var n = rows * In;
        var xd = DropScratch(n);
        Drop(x[..n], xd, mask, keyed);
        return xd;
    }

    /// <summary><c>y += scale·(drop(x)·Aᵀ)·Bᵀ</c>; x [rows × in], y [rows × out], mask [rows × in] (0 or 1/(1−p)) or empty.</summary>
    public void ForwardDelta(ReadOnlySpan<float> x, Span<float> y, int rows, ReadOnlySpan<float> mask) => ForwardCore(x, y, rows, mask, false);

    /// <summary>
    /// Given dL/dy: dB += s·dyᵀ·h, dA += (s·dy·B)ᵀ·drop(x), dx (+)= ((s·dy·B)·A) ⊙ mask. h is recomputed.
    /// </summary>
    public void BackwardDelta(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx, int rows, ReadOnlySpan<float> mask, bool accumulateDx) =>
        BackwardCore(dy, x, dx, rows, mask, false, accumulateDx, hValid: false);

    private void ForwardCore(ReadOnlySpan<float> x, Span<float> y, int rows, ReadOnlySpan<float> mask, bool keyed)
    {
        _hFrom = default;
        var xd = Dropped(x, mask, keyed, rows);
        if (_h.Length < rows * R) _h = new float[rows * R];
        var h = _h.AsSpan(0, rows * R);
        Gemm.MatMulTransB(xd, A.F32, h, rows, In, R);                               // h = xd·Aᵀ   [rows × r]
        Gemm.MatMulTransB(h, B.F32, y, rows, R, Out, accumulate: true, alpha: Scale); // y += s·h·Bᵀ
    }

    private void BackwardCore(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx, int rows, ReadOnlySpan<float> mask, bool keyed, bool accumulateDx,
        bool hValid)
    {
        var xd = Dropped(x, mask, keyed, rows);
        if (_h.Length < rows * R) { _h = new float[rows * R]; hValid = false; }
        if (_dh.Length < rows * R) _dh = new float[rows * R];
        var h = _h.AsSpan(0, rows * R);
        var dh = _dh.AsSpan(0, rows * R);
        if (!hValid) Gemm.MatMulTransB(xd, A.F32, h, rows, In, R);                  // h = xd·Aᵀ (same GEMM as the forward's)
        _hFrom = default;
        Gemm.MatMul(dy, B.F32, dh, rows, Out, R, alpha: Scale);                       // dh = s·dy·B  [rows × r]
        if (B.Grad is { } gB) Gemm.MatMulTransA(dy, h, gB, Out, rows, R, accumulate: true, alpha: Scale); // dB += s·dyᵀ·h
        if (A.Grad is { } gA) Gemm.MatMulTransA(dh, xd, gA, R, rows, In, accumulate: true);               // dA += dhᵀ·xd
        if (dx.IsEmpty) return;
        if (mask.IsEmpty && !keyed) { Gemm.MatMul(dh, A.F32, dx, rows, R, In, accumulate: accumulateDx); return; }
        var n = rows * In;
        var t = DropScratch(n);                                                       // xd no longer needed: reuse
        Gemm.MatMul(dh, A.F32, t, rows, R, In);
        Drop(t, t, mask, keyed);
        if (accumulateDx) for (var i = 0; i < n; i++) dx[i] += t[i];
        else t.CopyTo(dx);
    }
}
