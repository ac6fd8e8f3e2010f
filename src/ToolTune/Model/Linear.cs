using ToolTune.Tensors;

namespace ToolTune.Model;

/// <summary>
/// A bias-free linear map <c>y = x·Wᵀ</c> (W [out × in], nn.Linear layout). The decoder only talks to this
/// interface, so LoRA wraps the frozen base: <c>y = base(x) + scale·(x·Aᵀ)·Bᵀ</c>, with its own
/// backward adding into A/B gradients and into dx.
/// </summary>
public interface ILinear
{
    string Name { get; }
    int In { get; }
    int Out { get; }

    /// <summary><paramref name="y"/> [rows × Out] = f(<paramref name="x"/> [rows × In]) (overwritten).</summary>
    void Forward(ReadOnlySpan<float> x, Span<float> y, int rows);

    /// <summary>
    /// Given dL/dy and the forward input x: writes (or, when <paramref name="accumulateDx"/>, adds) dL/dx into
    /// <paramref name="dx"/> (skipped when empty) and adds the gradients of trainable parameters.
    /// </summary>
    void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx, int rows, bool accumulateDx);

    /// <summary>Trainable and frozen parameters owned by this layer (base weight first).</summary>
    IEnumerable<Param> Parameters { get; }
}

/// <summary>The plain linear layer over a (possibly bf16, memory-mapped) weight.</summary>
public sealed class Linear(Param weight) : ILinear
{
    public Param Weight { get; } = weight;
    public string Name => Weight.Name;
    public int In => Weight.Cols;
    public int Out => Weight.Rows;
    public IEnumerable<Param> Parameters => [Weight];

    public void Forward(ReadOnlySpan<float> x, Span<float> y, int rows) => MatMulWT(x, Weight, y, rows, accumulate: false);

    public void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx, int rows, bool accumulateDx)
    {
        if (!dx.IsEmpty) MatMulW(dy, Weight, dx, rows, accumulateDx);
        if (Weight.Grad is { } g) Gemm.MatMulTransA(dy, x, g, Out, rows, In, accumulate: true); // dW += dyᵀ·x
    }

    /// <summary><c>y (+)= x·Wᵀ</c>, x [rows × W.Cols], y [rows × W.Rows]; W f32 or bf16.</summary>
    public static void MatMulWT(ReadOnlySpan<float> x, Param w, Span<float> y, int rows, bool accumulate)
    {
        if (rows <= Gemv.MaxRows) { Gemv.MatMulWT(x, w, y, rows, accumulate); return; } // decoding: stream the weight once
        if (w.IsBF16) Gemm.MatMulTransB(x, w.BF16, y, rows, w.Cols, w.Rows, accumulate);
        else Gemm.MatMulTransB(x, w.F32, y, rows, w.Cols, w.Rows, accumulate);
    }

    /// <summary><c>dx (+)= dy·W</c>, dy [rows × W.Rows], dx [rows × W.Cols].</summary>
    public static void MatMulW(ReadOnlySpan<float> dy, Param w, Span<float> dx, int rows, bool accumulate)
    {
        if (w.IsBF16) Gemm.MatMul(dy, w.BF16, dx, rows, w.Rows, w.Cols, accumulate);
        else Gemm.MatMul(dy, w.F32, dx, rows, w.Rows, w.Cols, accumulate);
    }
}

/// <summary>Token embedding lookup; LoRA on <c>embed_tokens</c> implements this interface around it.</summary>
public interface IEmbedding
{
    int Vocab { get; }
    int Dim { get; }
    void Forward(ReadOnlySpan<int> ids, Span<float> y);
    /// <summary>Adds dL/dy into the gradients of trainable parameters.</summary>
    void Backward(ReadOnlySpan<int> ids, ReadOnlySpan<float> dy);
    IEnumerable<Param> Parameters { get; }
}

public sealed class TokenEmbedding(Param weight) : IEmbedding
{
    public Param Weight { get; } = weight;
    public int Vocab => Weight.Rows;
    public int Dim => Weight.Cols;
    public IEnumerable<Param> Parameters => [Weight];

    public void Forward(ReadOnlySpan<int> ids, Span<float> y)
    {
        if (!Weight.IsBF16) { Embedding.Gather(Weight.F32, Vocab, Dim, ids, y); return; }
        for (var t = 0; t < ids.Length; t++)
        {
            if ((uint)ids[t] >= (uint)Vocab) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {ids[t]} at position {t} is outside the vocabulary (size {Vocab})");
            Weight.CopyRow(ids[t], y.Slice(t * Dim, Dim));
        }
    }

    public void Backward(ReadOnlySpan<int> ids, ReadOnlySpan<float> dy)
    {
        if (Weight.Grad is { } g) Embedding.ScatterAdd(dy, ids, g, Vocab, Dim);
    }
}
