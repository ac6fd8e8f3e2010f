using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ToolTune.Tensors;

namespace ToolTune.Model;

/// <summary>
/// One weight tensor: either an owned f32 array, or a view of a memory-mapped checkpoint (f32 or bf16 bits, never
/// widened wholesale: the GEMM widens bf16 while packing). <see cref="Grad"/> is non-null exactly when the
/// tensor is trainable; making a mapped tensor trainable copies it to an owned f32 master.
/// </summary>
public sealed unsafe class Param
{
    private float[]? _owned;
    private readonly float* _mappedF32;
    private readonly ushort* _bf16;

    public Param(string name, long[] shape, float[] data)
    {
        Name = name;
        Shape = shape;
        Count = checked((int)shape.Aggregate(1L, (a, b) => a * b));
        if (data.Length != Count) throw new ArgumentException($"{name}: {data.Length} values for shape [{string.Join(", ", shape)}]");
        _owned = data;
    }

    /// <summary>A view of mapped memory (kept alive by the owner of the mapping). dtype "F32" or "BF16".</summary>
    internal Param(string name, long[] shape, string dtype, ReadOnlySpan<byte> raw)
    {
        Name = name;
        Shape = shape;
        Count = checked((int)shape.Aggregate(1L, (a, b) => a * b));
        var p = Unsafe.AsPointer(ref MemoryMarshal.GetReference(raw));
        if (dtype == "F32") _mappedF32 = (float*)p;
        else if (dtype == "BF16") _bf16 = (ushort*)p;
        else throw new ArgumentException($"{name}: mapped dtype {dtype}");
    }

    public string Name { get; }
    public long[] Shape { get; }
    public int Count { get; }
    /// <summary>Rows of a 2-D weight ([out, in] for a linear layer).</summary>
    public int Rows => Shape.Length == 2 ? (int)Shape[0] : 1;
    public int Cols => Shape.Length == 2 ? (int)Shape[1] : Count;

    /// <summary>True when the values are bf16 bits (read through <see cref="BF16"/>).</summary>
    public bool IsBF16 => _owned is null && _bf16 != null;
    public bool IsOwned => _owned is not null;

    public ReadOnlySpan<float> F32 =>
        _owned is not null ? _owned
        : _mappedF32 != null ? new ReadOnlySpan<float>(_mappedF32, Count)
        : throw new InvalidOperationException($"{Name} is bf16; use BF16 or ToSingle()");

    public ReadOnlySpan<ushort> BF16 => _bf16 != null && _owned is null ? new ReadOnlySpan<ushort>(_bf16, Count)
        : throw new InvalidOperationException($"{Name} is not bf16");

    /// <summary>Writable values (owned tensors only: trainable or random-init).</summary>
    public Span<float> Data => _owned ?? throw new InvalidOperationException($"{Name} is read-only (memory-mapped); call MakeTrainable first");

    /// <summary>The owned f32 array (adapter tensors are always owned).</summary>
    public float[] OwnedArray => _owned ?? throw new InvalidOperationException($"{Name} is not owned");

    /// <summary>Gradient (same layout), null when frozen.</summary>
    public float[]? Grad { get; private set; }
    public bool Trainable => Grad is not null;

    /// <summary>Copies the values to a new f32 array.</summary>
    public float[] ToSingle()
    {
        var r = new float[Count];
        CopyTo(r);
        return r;
    }

    public void CopyTo(Span<float> dst)
    {
        if (IsBF16) Precision.BF16ToSingle(BF16, dst);
        else F32.CopyTo(dst);
    }

    /// <summary>Rows [row0, row0+n) as f32 (embedding gather on any storage).</summary>
    public void CopyRow(int row, Span<float> dst)
    {
        var c = Cols;
        if (IsBF16) Precision.BF16ToSingle(BF16.Slice(row * c, c), dst.Slice(0, c));
        else F32.Slice(row * c, c).CopyTo(dst);
    }

    /// <summary>Makes the tensor trainable: owned f32 master (copied from the mapping when needed) and a zero gradient.</summary>
    public void MakeTrainable()
    {
        _owned ??= ToSingle();
        Grad ??= new float[Count];
    }

    /// <summary>Freezes (drops the gradient; values stay as they are).</summary>
    public void Freeze() => Grad = null;

    /// <summary>An owned f32 copy of the values (e.g. small norm weights read often).</summary>
    public void Own() => _owned ??= ToSingle();

    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]{(IsBF16 ? " bf16" : "")}{(Trainable ? " trainable" : "")}";
}
