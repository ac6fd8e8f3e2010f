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
    private float[] _h = [], _xd = [], _dh = [];

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
        ForwardDelta(x, y, rows, Mask(rows));
    }

    public void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx, int rows, bool accumulateDx)
    {
        if (Base is null) throw new InvalidOperationException($"{ModulePath}: LoRA layer is not attached to a base layer");
        Base.Backward(dy, x, dx, rows, accumulateDx);
        BackwardDelta(dy, x, dx, rows, Mask(rows), accumulateDx: true);
    }

    /// <summary>The dropout multipliers for <paramref name="rows"/> input rows (0 or 1/(1−p)); empty when off.</summary>
    public float[] Mask(int rows)
    {
        if (DropoutKey is not { } key || Dropout <= 0) return [];
        var n = rows * In;
        var mask = new float[n];
        var k = LoraRandom.Mix(key ^ _pathHash);
        var keep = (float)(1.0 / (1.0 - Dropout));
        for (var i = 0; i < n; i++) mask[i] = LoraRandom.Uniform(k, (ulong)i) >= Dropout ? keep : 0f;
        return mask;
    }

    private ReadOnlySpan<float> Dropped(ReadOnlySpan<float> x, ReadOnlySpan<float> mask, int rows)
    {
        if (mask.IsEmpty) return x;
        var n = rows * In;
        if (_xd.Length < n) _xd = new float[n];
        for (var i = 0; i < n; i++) _xd[i] = x[i] * mask[i];
        return _xd.AsSpan(0, n);
    }

    /// <summary><c>y += scale·(drop(x)·Aᵀ)·Bᵀ</c>; x [rows × in], y [rows × out], mask [rows × in] or empty.</summary>
    public void ForwardDelta(ReadOnlySpan<float> x, Span<float> y, int rows, ReadOnlySpan<float> mask)
    {
        var xd = Dropped(x, mask, rows);
        if (_h.Length < rows * R) _h = new float[rows * R];
        var h = _h.AsSpan(0, rows * R);
        Gemm.MatMulTransB(xd, A.F32, h, rows, In, R);                               // h = xd·Aᵀ   [rows × r]
        Gemm.MatMulTransB(h, B.F32, y, rows, R, Out, accumulate: true, alpha: Scale); // y += s·h·Bᵀ
    }

    /// <summary>
    /// Given dL/dy: dB += s·dyᵀ·h, dA += (s·dy·B)ᵀ·drop(x), dx (+)= ((s·dy·B)·A) ⊙ mask. h is recomputed.
    /// </summary>
    public void BackwardDelta(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx, int rows, ReadOnlySpan<float> mask, bool accumulateDx)
    {
        var xd = Dropped(x, mask, rows);
        if (_h.Length < rows * R) _h = new float[rows * R];
        if (_dh.Length < rows * R) _dh = new float[rows * R];
        var h = _h.AsSpan(0, rows * R);
        var dh = _dh.AsSpan(0, rows * R);
        Gemm.MatMulTransB(xd, A.F32, h, rows, In, R);
        Gemm.MatMul(dy, B.F32, dh, rows, Out, R, alpha: Scale);                       // dh = s·dy·B  [rows × r]
        if (B.Grad is { } gB) Gemm.MatMulTransA(dy, h, gB, Out, rows, R, accumulate: true, alpha: Scale); // dB += s·dyᵀ·h
        if (A.Grad is { } gA) Gemm.MatMulTransA(dh, xd, gA, R, rows, In, accumulate: true);               // dA += dhᵀ·xd
        if (dx.IsEmpty) return;
        if (mask.IsEmpty) { Gemm.MatMul(dh, A.F32, dx, rows, R, In, accumulate: accumulateDx); return; }
        var n = rows * In;
        var t = new float[n];
        Gemm.MatMul(dh, A.F32, t, rows, R, In);
        for (var i = 0; i < n; i++) dx[i] = accumulateDx ? dx[i] + t[i] * mask[i] : t[i] * mask[i];
    }
}
