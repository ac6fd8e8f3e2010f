using ToolTune.Tensors;

namespace ToolTune.Model;

/// <summary>
/// A [rows × cols] weight (nn.Linear: [out × in]) kept in its checkpoint dtype: F32 as a float array, BF16/F16
/// straight from the memory-mapped file (widened inside the GEMM's packing, never copied wholesale).
/// </summary>
public sealed class LinearWeight
{
    private readonly float[]? _f32;
    private readonly SafetensorsFile? _file;

    private LinearWeight(string name, int rows, int cols, float[]? f32, SafetensorsFile? file, string dtype)
    {
        Name = name;
        Rows = rows;
        Cols = cols;
        _f32 = f32;
        _file = file;
        DType = dtype;
    }

    public string Name { get; }
    public int Rows { get; }
    public int Cols { get; }
    public string DType { get; }

    /// <summary>An in-memory f32 weight.</summary>
    public static LinearWeight FromArray(string name, int rows, int cols, float[] data)
    {
        if (data.Length != (long)rows * cols) throw new ArgumentException($"weight '{name}': {data.Length} values for [{rows}, {cols}]");
        return new LinearWeight(name, rows, cols, data, null, "F32");
    }

    /// <summary>From a checkpoint: F32 is read into memory, BF16/F16 stay mapped.</summary>
    public static LinearWeight FromCheckpoint(SafetensorsCheckpoint checkpoint, string name)
    {
        var file = checkpoint.FileOf(name);
        var e = file.Entry(name);
        int rows = (int)e.Shape[0], cols = e.Shape.Length > 1 ? (int)e.Shape[1] : 1;
        return e.DType switch
        {
            "BF16" or "F16" => new LinearWeight(name, rows, cols, null, file, e.DType),
            _ => new LinearWeight(name, rows, cols, file.ReadSingle(name), null, "F32"),
        };
    }

    /// <summary>y[n × Rows] (+)= x[n × Cols] · Wᵀ.</summary>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, int n, bool accumulate = false)
    {
        switch (DType)
        {
            case "BF16": Gemm.SgemmBF16B(false, true, n, Rows, Cols, 1f, x, Cols, _file!.BF16(Name), Cols, y, Rows, accumulate); break;
            case "F16": Gemm.SgemmF16B(false, true, n, Rows, Cols, 1f, x, Cols, _file!.F16(Name), Cols, y, Rows, accumulate); break;
            default: Gemm.Sgemm(false, true, n, Rows, Cols, 1f, x, Cols, _f32!, Cols, y, Rows, accumulate); break;
        }
    }

    /// <summary>dx[n × Cols] (+)= dy[n × Rows] · W (the input gradient).</summary>
    public void BackwardInput(ReadOnlySpan<float> dy, Span<float> dx, int n, bool accumulate = false)
    {
        switch (DType)
        {
            case "BF16": Gemm.SgemmBF16B(false, false, n, Cols, Rows, 1f, dy, Rows, _file!.BF16(Name), Cols, dx, Cols, accumulate); break;
            case "F16": Gemm.SgemmF16B(false, false, n, Cols, Rows, 1f, dy, Rows, _file!.F16(Name), Cols, dx, Cols, accumulate); break;
            default: Gemm.Sgemm(false, false, n, Cols, Rows, 1f, dy, Rows, _f32!, Cols, dx, Cols, accumulate); break;
        }
    }

    /// <summary>The bf16 bits when this weight is a mapped BF16 tensor.</summary>
    public bool GetBf16(out ReadOnlySpan<ushort> bits)
    {
        bits = DType == "BF16" ? _file!.BF16(Name) : default;
        return DType == "BF16";
    }

    /// <summary>The weight as f32 (the array itself for F32; a widened copy otherwise).</summary>
    public float[] ToSingle() => _f32 ?? _file!.ReadSingle(Name);

    /// <summary>Rows <paramref name="ids"/> of the matrix as f32 (embedding lookup).</summary>
    public void GatherRows(ReadOnlySpan<int> ids, Span<float> y)
    {
        switch (DType)
        {
            case "BF16": Embedding.Gather(_file!.BF16(Name), Rows, Cols, ids, y); break;
            case "F16":
                var half = _file!.F16(Name);
                for (var t = 0; t < ids.Length; t++)
                {
                    if ((uint)ids[t] >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {ids[t]} at position {t} is outside the vocabulary (size {Rows})");
                    Precision.HalfToSingle(half.Slice(ids[t] * Cols, Cols), y.Slice(t * Cols, Cols));
                }
                break;
            default: Embedding.Gather(_f32!, Rows, Cols, ids, y); break;
        }
    }
}
