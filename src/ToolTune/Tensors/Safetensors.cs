using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using ToolTune.Diagnostics;
using ToolTune.IO;

namespace ToolTune.Tensors;

/// <summary>One tensor entry of a safetensors header.</summary>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A memory-mapped safetensors file (huggingface/safetensors format): u64 LE header length N, N bytes of JSON
/// header, then the byte buffer. Validated like the reference <c>read_metadata</c>/<c>validate</c>: header size
/// limit, known dtypes, byte lengths matching shapes, offsets contiguous from 0 without holes or overlaps,
/// and the buffer ending exactly at the end of the file. Nothing is copied until a tensor is read.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    public const long MaxHeaderSize = 100_000_000;

    /// <summary>Bytes per element of the dtypes with whole-byte elements.</summary>
    public static readonly IReadOnlyDictionary<string, int> DTypeSizes = new Dictionary<string, int>
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E5M2"] = 1, ["F8_E4M3"] = 1, ["F8_E8M0"] = 1,
        ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4, ["F64"] = 8, ["I64"] = 8, ["U64"] = 8, ["C64"] = 8,
    };

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;
    private readonly long _dataStart;
    private bool _disposed;

    private SafetensorsFile(string path, Dictionary<string, SafetensorsEntry> entries, Dictionary<string, string> metadata,
        MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* basePtr, long dataStart)
    {
        Path = path;
        Entries = entries;
        Metadata = metadata;
        _map = map;
        _view = view;
        _base = basePtr;
        _dataStart = dataStart;
    }

    public string Path { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens and validates <paramref name="path"/>; throws <see cref="ToolTuneException"/> (TT40xx) naming the file and tensor.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new ToolTuneException(ErrorCodes.SafetensorsFileMissing, "safetensors file not found", path);
        var length = new FileInfo(path).Length;
        if (length < 8) throw new ToolTuneException(ErrorCodes.SafetensorsTruncated, $"file is {length} bytes, shorter than the 8-byte header length", path);
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        var acquired = false;
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* ptr = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref ptr);
            acquired = true;
            ptr += view.PointerOffset;
            var n = (long)BitConverter.ToUInt64(new ReadOnlySpan<byte>(ptr, 8));
            if (n > MaxHeaderSize || n < 2)
                throw new ToolTuneException(ErrorCodes.SafetensorsHeaderInvalid, $"header length {n} is out of range (2..{MaxHeaderSize})", path);
            if (8 + n > length)
                throw new ToolTuneException(ErrorCodes.SafetensorsTruncated, $"header length {n} runs past the end of the {length}-byte file", path);
            var (entries, metadata) = ParseHeader(path, new ReadOnlySpan<byte>(ptr + 8, (int)n));
            var bufferLength = length - 8 - n;
            long expected = 0;
            foreach (var e in entries.Values.OrderBy(e => e.Begin).ThenBy(e => e.End))
            {
                if (e.Begin != expected)
                    throw new ToolTuneException(ErrorCodes.SafetensorsOffsetMismatch,
                        e.Begin > expected ? $"tensor '{e.Name}' starts at byte {e.Begin} but the previous tensor ends at {expected} (hole in the buffer)"
                                           : $"tensor '{e.Name}' starts at byte {e.Begin}, overlapping the previous tensor (ends at {expected})", path);
                expected = e.End;
            }
            if (expected > bufferLength)
            {
                var last = entries.Values.First(e => e.End == expected);
                throw new ToolTuneException(ErrorCodes.SafetensorsTruncated,
                    $"tensor '{last.Name}' ends at buffer byte {expected} but the file holds only {bufferLength} bytes of data (truncated)", path);
            }
            if (expected != bufferLength)
                throw new ToolTuneException(ErrorCodes.SafetensorsOffsetMismatch,
                    $"tensors end at buffer byte {expected} but the data section is {bufferLength} bytes (trailing bytes)", path);
            return new SafetensorsFile(path, entries, metadata, map, view, ptr, 8 + n);
        }
        catch
        {
            if (acquired) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    private static (Dictionary<string, SafetensorsEntry>, Dictionary<string, string>) ParseHeader(string path, ReadOnlySpan<byte> header)
    {
        var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        // JsonDocument defers UTF-8 validation of strings to GetString: check up front so a corrupt name is TT4002, not a crash.
        if (!System.Text.Unicode.Utf8.IsValid(header))
        {
            throw new ToolTuneException(ErrorCodes.SafetensorsHeaderInvalid, $"header is not valid UTF-8 (first bad byte at header offset {Data.Loaders.JsonRecordReader.FirstInvalidUtf8(header)})", path);
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header.ToArray(), new JsonDocumentOptions { AllowDuplicateProperties = false });
        }
        catch (JsonException ex)
        {
            throw new ToolTuneException(ErrorCodes.SafetensorsHeaderInvalid, $"header is not valid JSON: {ex.Message}", path, inner: ex);
        }
        catch (InvalidOperationException ex) when (Data.JsonNodeChecks.IsDeferredJsonError(ex))
        {
            // The duplicate-name check unescapes names: an escaped unpaired surrogate ("\ud800") fails there.
            throw new ToolTuneException(ErrorCodes.SafetensorsHeaderInvalid, $"header holds a name that is not valid Unicode: {ex.Message}", path, inner: ex);
        }
        using (doc)
        try
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ToolTuneException(ErrorCodes.SafetensorsHeaderInvalid, "header is not a JSON object", path);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object)
                        throw new ToolTuneException(ErrorCodes.SafetensorsHeaderInvalid, "__metadata__ is not an object", path);
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                            throw new ToolTuneException(ErrorCodes.SafetensorsHeaderInvalid, $"__metadata__ value '{m.Name}' is not a string", path);
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                entries.Add(prop.Name, ParseEntry(path, prop.Name, prop.Value));
            }
        }
        catch (InvalidOperationException ex) when (Data.JsonNodeChecks.IsDeferredJsonError(ex))
        {
            // An escaped unpaired surrogate ("\ud800") parses but cannot become a .NET string.
            throw new ToolTuneException(ErrorCodes.SafetensorsHeaderInvalid, $"header holds a string that is not valid Unicode: {ex.Message}", path, inner: ex);
        }
        return (entries, metadata);
    }

    private static SafetensorsEntry ParseEntry(string path, string name, JsonElement v)
    {
        ToolTuneException Bad(string what) => new(ErrorCodes.SafetensorsHeaderInvalid, $"tensor '{name}': {what}", path);
        if (v.ValueKind != JsonValueKind.Object) throw Bad("entry is not an object");
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw Bad("missing dtype");
        var dtype = dt.GetString()!;
        if (!DTypeSizes.TryGetValue(dtype, out var size))
            throw new ToolTuneException(ErrorCodes.SafetensorsUnknownDType, $"tensor '{name}': unknown or unsupported dtype '{dtype}'", path);
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw Bad("missing shape");
        var shape = new List<long>();
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var dim) || dim < 0) throw Bad("shape holds a non-natural number");
            shape.Add(dim);
        }
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw Bad("missing data_offsets [begin, end]");
        if (!off[0].TryGetInt64(out var begin) || !off[1].TryGetInt64(out var end) || begin < 0 || end < begin)
            throw new ToolTuneException(ErrorCodes.SafetensorsOffsetMismatch, $"tensor '{name}': invalid data_offsets", path);
        long numel, bytes;
        try
        {
            numel = shape.Aggregate(1L, (a, b) => checked(a * b));
            bytes = checked(numel * size);
        }
        catch (OverflowException)
        {
            throw Bad($"shape [{string.Join(", ", shape)}] has more elements than a file can hold");
        }
        if (end - begin != bytes)
            throw new ToolTuneException(ErrorCodes.SafetensorsOffsetMismatch,
                $"tensor '{name}': data_offsets [{begin}, {end}] span {end - begin} bytes but shape [{string.Join(", ", shape)}] of {dtype} needs {bytes}", path);
        return new SafetensorsEntry(name, dtype, shape.ToArray(), begin, end);
    }

    /// <summary>The tensor's entry; TT4005 naming file and tensor when absent.</summary>
    public SafetensorsEntry Entry(string name) =>
        Entries.TryGetValue(name, out var e) ? e
            : throw new ToolTuneException(ErrorCodes.SafetensorsTensorMissing, $"tensor '{name}' is not in the file", Path);

    /// <summary>The tensor's raw bytes, straight from the mapping (valid until disposed).</summary>
    public ReadOnlySpan<byte> Raw(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var e = Entry(name);
        if (e.End - e.Begin > int.MaxValue)
            throw new ToolTuneException(ErrorCodes.SafetensorsDTypeUnsupported, $"tensor '{name}' is larger than 2 GB; read it in slices", Path);
        return new ReadOnlySpan<byte>(_base + _dataStart + e.Begin, (int)(e.End - e.Begin));
    }

    /// <summary>A BF16 tensor's elements as raw bf16 bits, zero-copy from the mapping (for <see cref="Gemm.SgemmBF16B"/>).</summary>
    public ReadOnlySpan<ushort> BF16(string name)
    {
        var e = Entry(name);
        if (e.DType != "BF16")
            throw new ToolTuneException(ErrorCodes.SafetensorsDTypeUnsupported, $"tensor '{name}' has dtype {e.DType}; expected BF16", Path);
        return MemoryMarshal.Cast<byte, ushort>(Raw(name));
    }

    /// <summary>An F16 tensor's elements, zero-copy from the mapping (for <see cref="Gemm.SgemmF16B"/>).</summary>
    public ReadOnlySpan<Half> F16(string name)
    {
        var e = Entry(name);
        if (e.DType != "F16")
            throw new ToolTuneException(ErrorCodes.SafetensorsDTypeUnsupported, $"tensor '{name}' has dtype {e.DType}; expected F16", Path);
        return MemoryMarshal.Cast<byte, Half>(Raw(name));
    }

    /// <summary>An F32 tensor's elements, zero-copy from the mapping.</summary>
    public ReadOnlySpan<float> F32(string name)
    {
        var e = Entry(name);
        if (e.DType != "F32")
            throw new ToolTuneException(ErrorCodes.SafetensorsDTypeUnsupported, $"tensor '{name}' has dtype {e.DType}; expected F32", Path);
        return MemoryMarshal.Cast<byte, float>(Raw(name));
    }

    /// <summary>Converts a BF16/F16/F32 tensor into <paramref name="destination"/> (f32).</summary>
    public void ReadSingle(string name, Span<float> destination)
    {
        var e = Entry(name);
        if (destination.Length < e.ElementCount)
            throw new ArgumentException($"destination holds {destination.Length} floats, tensor '{name}' has {e.ElementCount}");
        var raw = Raw(name);
        var dst = destination.Slice(0, (int)e.ElementCount);
        switch (e.DType)
        {
            case "F32": MemoryMarshal.Cast<byte, float>(raw).CopyTo(dst); break;
            case "BF16": Precision.BF16ToSingle(MemoryMarshal.Cast<byte, ushort>(raw), dst); break;
            case "F16": Precision.HalfToSingle(MemoryMarshal.Cast<byte, Half>(raw), dst); break;
            default:
                throw new ToolTuneException(ErrorCodes.SafetensorsDTypeUnsupported, $"tensor '{name}' has dtype {e.DType}; expected F32, BF16 or F16", Path);
        }
    }

    /// <summary>Reads a BF16/F16/F32 tensor as a new f32 array.</summary>
    public float[] ReadSingle(string name)
    {
        var result = new float[Entry(name).ElementCount];
        ReadSingle(name, result);
        return result;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view?.SafeMemoryMappedViewHandle.ReleasePointer();
        _view?.Dispose();
        _map?.Dispose();
    }
}

/// <summary>A tensor to write: name, dtype (e.g. "F32", "BF16"), shape and little-endian bytes.</summary>
/// <summary>A tensor whose <paramref name="Bytes"/> bytes are written by <paramref name="WriteData"/> when the file reaches it.</summary>
public sealed record SafetensorsStreamTensor(string Name, string DType, long[] Shape, long Bytes, Action<Stream> WriteData);

public sealed record SafetensorsTensor(string Name, string DType, long[] Shape, ReadOnlyMemory<byte> Data)
{
    public static SafetensorsTensor FromSingle(string name, long[] shape, float[] data) =>
        new(name, "F32", shape, MemoryMarshal.AsBytes(data.AsSpan()).ToArray());

    public static SafetensorsTensor FromSingleAsBF16(string name, long[] shape, ReadOnlySpan<float> data)
    {
        var bits = new ushort[data.Length];
        Precision.SingleToBF16(data, bits);
        return new(name, "BF16", shape, MemoryMarshal.AsBytes(bits.AsSpan()).ToArray());
    }

    public static SafetensorsTensor FromSingleAsF16(string name, long[] shape, ReadOnlySpan<float> data)
    {
        var h = new Half[data.Length];
        Precision.SingleToHalf(data, h);
        return new(name, "F16", shape, MemoryMarshal.AsBytes(h.AsSpan()).ToArray());
    }
}

/// <summary>safetensors writer (single file or HF-style shards with <c>model.safetensors.index.json</c>).</summary>
public static class SafetensorsWriter
{
    /// <summary>Writes one file. Tensors are laid out by dtype alignment descending, then name (as the reference writer).</summary>
    public static void Write(string path, IEnumerable<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        WriteStreaming(path, tensors.Select(t => new SafetensorsStreamTensor(t.Name, t.DType, t.Shape, t.Data.Length, s => s.Write(t.Data.Span))), metadata);

    /// <summary>Writes one file whose tensor bytes are produced one tensor at a time (so a merge never holds a whole
    /// checkpoint), with the same layout as <see cref="Write"/>; atomic (temp file + rename).</summary>
    public static void WriteStreaming(string path, IEnumerable<SafetensorsStreamTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in list)
        {
            if (!names.Add(t.Name)) throw new ToolTuneException(ErrorCodes.SafetensorsWriteInvalid, $"duplicate tensor name '{t.Name}'", path);
            if (!SafetensorsFile.DTypeSizes.TryGetValue(t.DType, out var size))
                throw new ToolTuneException(ErrorCodes.SafetensorsUnknownDType, $"tensor '{t.Name}': unknown dtype '{t.DType}'", path);
            var numel = t.Shape.Aggregate(1L, (a, b) => a * b);
            if (numel * size != t.Bytes)
                throw new ToolTuneException(ErrorCodes.SafetensorsWriteInvalid, $"tensor '{t.Name}': {t.Bytes} bytes but shape needs {numel * size}", path);
        }
        list.Sort((a, b) =>
        {
            var c = SafetensorsFile.DTypeSizes[b.DType].CompareTo(SafetensorsFile.DTypeSizes[a.DType]);
            return c != 0 ? c : string.CompareOrdinal(a.Name, b.Name);
        });
        using var headerStream = new MemoryStream();
        using (var w = new Utf8JsonWriter(headerStream))
        {
            w.WriteStartObject();
            if (metadata is not null && metadata.Count > 0)
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in list)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DType);
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + t.Bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += t.Bytes;
            }
            w.WriteEndObject();
        }
        var header = headerStream.ToArray();
        var padded = (header.Length + 7) / 8 * 8;
        AtomicFile.Write(path, fs =>
        {
            Span<byte> len = stackalloc byte[8];
            BitConverter.TryWriteBytes(len, (ulong)padded);
            fs.Write(len);
            fs.Write(header);
            for (var i = header.Length; i < padded; i++) fs.WriteByte((byte)' ');
            foreach (var t in list)
            {
                var before = fs.Position;
                t.WriteData(fs);
                if (fs.Position - before != t.Bytes)
                    throw new InvalidOperationException($"{t.Name}: wrote {fs.Position - before} bytes, expected {t.Bytes}");
            }
        });
    }

    /// <summary>
    /// Writes <c>model.safetensors</c> when everything fits in <paramref name="maxShardBytes"/>, else
    /// <c>model-0000i-of-0000n.safetensors</c> shards (in the given order; an oversized tensor gets its own shard)
    /// plus <c>model.safetensors.index.json</c>. Returns the files written.
    /// </summary>
    public static IReadOnlyList<string> WriteModel(string directory, IEnumerable<SafetensorsTensor> tensors, long maxShardBytes = 5_000_000_000,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(directory);
        metadata ??= new Dictionary<string, string> { ["format"] = "pt" };
        var list = tensors.ToList();
        var shards = new List<List<SafetensorsTensor>> { new() };
        long current = 0;
        foreach (var t in list)
        {
            if (current > 0 && current + t.Data.Length > maxShardBytes)
            {
                shards.Add([]);
                current = 0;
            }
            shards[^1].Add(t);
            current += t.Data.Length;
        }
        if (shards.Count == 1)
        {
            var single = System.IO.Path.Combine(directory, "model.safetensors");
            Write(single, list, metadata);
            return [single];
        }
        var files = new List<string>();
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < shards.Count; i++)
        {
            var name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            var file = System.IO.Path.Combine(directory, name);
            Write(file, shards[i], metadata);
            files.Add(file);
            foreach (var t in shards[i]) weightMap[t.Name] = name;
        }
        var index = System.IO.Path.Combine(directory, SafetensorsCheckpoint.IndexFileName);
        using (var fs = File.Create(index))
        using (var w = new Utf8JsonWriter(fs, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("metadata");
            w.WriteNumber("total_size", list.Sum(t => (long)t.Data.Length));
            w.WriteEndObject();
            w.WriteStartObject("weight_map");
            foreach (var (k, v) in weightMap) w.WriteString(k, v);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        files.Add(index);
        return files;
    }
}

/// <summary>
/// A model's weights in a Hugging Face snapshot folder: <c>model.safetensors</c>, or the shards listed in
/// <c>model.safetensors.index.json</c>. All files memory-mapped; tensors resolved by name.
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    public const string IndexFileName = "model.safetensors.index.json";
    public const string SingleFileName = "model.safetensors";

    private readonly Dictionary<string, SafetensorsFile> _byTensor;
    private readonly List<SafetensorsFile> _files;

    private SafetensorsCheckpoint(List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> byTensor)
    {
        _files = files;
        _byTensor = byTensor;
    }

    public IReadOnlyCollection<string> TensorNames => _byTensor.Keys;
    public IReadOnlyList<SafetensorsFile> Files => _files;

    public static SafetensorsCheckpoint Open(string directory)
    {
        var index = System.IO.Path.Combine(directory, IndexFileName);
        var files = new List<SafetensorsFile>();
        var byTensor = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            if (File.Exists(index))
            {
                Dictionary<string, string> weightMap;
                try
                {
                    using var doc = JsonDocument.Parse(File.ReadAllBytes(index));
                    weightMap = doc.RootElement.GetProperty("weight_map").EnumerateObject()
                        .ToDictionary(p => p.Name, p => p.Value.GetString() ?? throw new InvalidOperationException($"weight_map['{p.Name}'] is not a string"), StringComparer.Ordinal);
                }
                catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    throw new ToolTuneException(ErrorCodes.SafetensorsIndexInvalid, $"invalid shard index: {ex.Message}", index, inner: ex);
                }
                var opened = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
                foreach (var (tensor, shard) in weightMap)
                {
                    if (shard.Contains('/') || shard.Contains('\\') || shard.Contains(".."))
                        throw new ToolTuneException(ErrorCodes.SafetensorsIndexInvalid, $"tensor '{tensor}': shard name '{shard}' is not a plain file name", index);
                    if (!opened.TryGetValue(shard, out var file))
                    {
                        var shardPath = System.IO.Path.Combine(directory, shard);
                        if (!File.Exists(shardPath))
                            throw new ToolTuneException(ErrorCodes.SafetensorsShardMissing, $"shard '{shard}' (holding tensor '{tensor}') listed in the index is missing", shardPath);
                        file = SafetensorsFile.Open(shardPath);
                        opened[shard] = file;
                        files.Add(file);
                    }
                    if (!file.Entries.ContainsKey(tensor))
                        throw new ToolTuneException(ErrorCodes.SafetensorsTensorMissing, $"tensor '{tensor}' is listed in {IndexFileName} but not present in the shard", file.Path);
                    byTensor[tensor] = file;
                }
            }
            else
            {
                var single = System.IO.Path.Combine(directory, SingleFileName);
                if (!File.Exists(single))
                    throw new ToolTuneException(ErrorCodes.SafetensorsFileMissing, $"neither {SingleFileName} nor {IndexFileName} found", directory);
                var file = SafetensorsFile.Open(single);
                files.Add(file);
                foreach (var name in file.Entries.Keys) byTensor[name] = file;
            }
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
        return new SafetensorsCheckpoint(files, byTensor);
    }

    public bool Contains(string name) => _byTensor.ContainsKey(name);

    public SafetensorsFile FileOf(string name) =>
        _byTensor.TryGetValue(name, out var f) ? f
            : throw new ToolTuneException(ErrorCodes.SafetensorsTensorMissing, $"tensor '{name}' is not in the checkpoint", _files.Count == 1 ? _files[0].Path : null);

    public SafetensorsEntry Entry(string name) => FileOf(name).Entry(name);
    public float[] ReadSingle(string name) => FileOf(name).ReadSingle(name);
    public void ReadSingle(string name, Span<float> destination) => FileOf(name).ReadSingle(name, destination);

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
