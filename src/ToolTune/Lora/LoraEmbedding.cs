using ToolTune.Model;
using ToolTune.Tensors;

namespace ToolTune.Lora;

/// <summary>
/// LoRA on the input embedding (PEFT tuners/lora/layer.py <c>Embedding</c>): plain parameters
/// <c>lora_embedding_A</c> [r × vocab] (init zeros) and <c>lora_embedding_B</c> [hidden × r] (init N(0,1)),
/// forward <c>y = base(ids) + (F.embedding(ids, Aᵀ) @ Bᵀ) · scale</c>; no dropout (PEFT applies none here).
/// Merge delta: <c>(B·A)ᵀ · scale</c> → [vocab × hidden].
/// </summary>
public sealed class LoraEmbedding : IEmbedding
{
    public const string ModulePath = "model.embed_tokens";

    public LoraEmbedding(int vocab, int dim, int r, float scale)
    {
        Vocab = vocab;
        Dim = dim;
        R = r;
        Scale = scale;
        A = new Param($"{ModulePath}.lora_embedding_A", [r, vocab], new float[r * vocab]);
        B = new Param($"{ModulePath}.lora_embedding_B", [dim, r], new float[dim * r]);
        A.MakeTrainable();
        B.MakeTrainable();
    }

    public int Vocab { get; }
    public int Dim { get; }
    public int R { get; }
    public float Scale { get; }
    public Param A { get; }
    public Param B { get; }
    public IEmbedding? Base { get; set; }
    public IEnumerable<Param> Parameters => Base is null ? [A, B] : Base.Parameters.Concat([A, B]);

    /// <summary>PEFT init for embeddings (reverse of Linear): A = 0, B ~ N(0, 1).</summary>
    public void Initialize(ulong seed)
    {
        A.Data.Clear();
        LoraRandom.Normal(B.Data, LoraRandom.Mix(seed ^ LoraRandom.Hash(ModulePath)));
    }

    public void Forward(ReadOnlySpan<int> ids, Span<float> y)
    {
        if (Base is null) throw new InvalidOperationException("embed_tokens LoRA is not attached to a base embedding");
        Base.Forward(ids, y);
        StepProfile.Current?.Lap("embedding");
        ForwardDelta(ids, y);
        StepProfile.Current?.Lap("lora_fwd");
    }

    public void Backward(ReadOnlySpan<int> ids, ReadOnlySpan<float> dy)
    {
        Base?.Backward(ids, dy);
        StepProfile.Current?.Lap("embedding");
        BackwardDelta(ids, dy);
        StepProfile.Current?.Lap("lora_bwd");
    }

    private float[] _after = [], _dAfter = [];

    /// <summary>A[:, ids]ᵀ [T × r] in a buffer reused across calls (valid until the next call).</summary>
    private float[] AfterA(ReadOnlySpan<int> ids)
    {
        var t = ids.Length;
        if (_after.Length != t * R) _after = new float[t * R];
        var after = _after;
        var a = A.F32;
        for (var i = 0; i < t; i++)
        {
            var id = ids[i];
            if ((uint)id >= (uint)Vocab) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} at position {i} is outside the vocabulary (size {Vocab})");
            for (var k = 0; k < R; k++) after[i * R + k] = a[k * Vocab + id]; // F.embedding(ids, Aᵀ)
        }
        return after;
    }

    /// <summary><c>y += scale · A[:, ids]ᵀ · Bᵀ</c>; y [T × dim].</summary>
    public void ForwardDelta(ReadOnlySpan<int> ids, Span<float> y) =>
        Gemm.MatMulTransB(AfterA(ids), B.F32, y, ids.Length, R, Dim, accumulate: true, alpha: Scale);

    /// <summary>dB += s·dyᵀ·afterA; dA[:, id] += (s·dy·B)[t] for every position t with that id.</summary>
    public void BackwardDelta(ReadOnlySpan<int> ids, ReadOnlySpan<float> dy)
    {
        var t = ids.Length;
        if (B.Grad is { } gB) Gemm.MatMulTransA(dy, AfterA(ids), gB, Dim, t, R, accumulate: true, alpha: Scale);
        if (A.Grad is not { } gA) return;
        if (_dAfter.Length != t * R) _dAfter = new float[t * R];
        var dAfter = _dAfter;
        Gemm.MatMul(dy, B.F32, dAfter, t, Dim, R, alpha: Scale);
        for (var i = 0; i < t; i++)
            for (var k = 0; k < R; k++) gA[k * Vocab + ids[i]] += dAfter[i * R + k];
    }

    /// <summary>The merged delta row-major [vocab × hidden]: <c>(B·A)ᵀ · scale</c>.</summary>
    public float[] Delta()
    {
        var d = new float[Vocab * Dim];
        Gemm.Sgemm(true, true, Vocab, Dim, R, Scale, A.F32, Vocab, B.F32, R, d, Dim); // Aᵀ[vocab×r]·Bᵀ[r×dim]
        return d;
    }
}
