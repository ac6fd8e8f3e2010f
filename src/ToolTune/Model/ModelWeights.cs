using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Tensors;

namespace ToolTune.Model;

/// <summary>
/// A Hugging Face snapshot folder opened for inference/training: <c>config.json</c> plus <c>model.safetensors</c> or
/// shards + <c>model.safetensors.index.json</c>. F32 and BF16 tensors stay memory-mapped (zero copy); F16 tensors and
/// the small norm vectors are converted to owned f32. Every expected tensor is checked against the config's shapes.
/// Dispose when done (params of mapped tensors point into the mapping).
/// </summary>
public sealed class ModelWeights : IDisposable
{
    private readonly SafetensorsCheckpoint? _checkpoint;

    private ModelWeights(string? directory, ModelConfig config, SafetensorsCheckpoint? checkpoint, Dictionary<string, Param> tensors)
    {
        Directory = directory;
        Config = config;
        _checkpoint = checkpoint;
        Tensors = tensors;
    }

    public string? Directory { get; }
    public ModelConfig Config { get; }
    public IReadOnlyDictionary<string, Param> Tensors { get; }

    public Param this[string name] => Tensors.TryGetValue(name, out var p) ? p
        : throw new ToolTuneException(ErrorCodes.ModelWeightMissing, $"tensor '{name}' is not in the model", Directory);

    public static ModelWeights Open(string directory)
    {
        var config = ModelConfig.Load(directory);
        var ckpt = SafetensorsCheckpoint.Open(directory);
        try
        {
            config.Validate(ckpt);
            var tensors = new Dictionary<string, Param>(StringComparer.Ordinal);
            foreach (var (name, shape) in config.ExpectedTensors())
            {
                var file = ckpt.FileOf(name);
                var e = file.Entry(name);
                var p = e.DType == "F16" ? new Param(name, shape, file.ReadSingle(name)) : new Param(name, shape, e.DType, file.Raw(name));
                if (shape.Length == 1) p.Own();
                tensors[name] = p;
            }
            // Tied checkpoints may still carry lm_head.weight (accept; the tie wins, as transformers does).
            return new ModelWeights(directory, config, ckpt, tensors);
        }
        catch
        {
            ckpt.Dispose();
            throw;
        }
    }

    /// <summary>Random-init weights (owned f32): N(0, std) for matrices, 1 for norms (as HF init), deterministic per seed.</summary>
    public static ModelWeights CreateRandom(ModelConfig config, int seed, float std = 0.02f, float normJitter = 0f)
    {
        var rng = new Random(seed);
        var tensors = new Dictionary<string, Param>(StringComparer.Ordinal);
        foreach (var (name, shape) in config.ExpectedTensors())
        {
            var n = (int)shape.Aggregate(1L, (a, b) => a * b);
            var data = new float[n];
            if (shape.Length == 1)
                for (var i = 0; i < n; i++) data[i] = 1f + (normJitter == 0 ? 0 : normJitter * (float)(rng.NextDouble() * 2 - 1));
            else
                for (var i = 0; i < n; i++) data[i] = std * Gaussian(rng);
            tensors[name] = new Param(name, shape, data);
        }
        return new ModelWeights(null, config, null, tensors);
    }

    internal static float Gaussian(Random rng)
    {
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }

    /// <summary>
    /// Writes a snapshot folder: <c>config.json</c> and <c>model.safetensors</c> (or shards + index above
    /// <paramref name="maxShardBytes"/>), tensors as <paramref name="dtype"/> ("F32", "BF16" or "F16").
    /// </summary>
    public static IReadOnlyList<string> WriteSnapshot(string directory, ModelConfig config, IEnumerable<(string Name, long[] Shape, float[] Data)> tensors,
        string dtype = "F32", long maxShardBytes = 5_000_000_000)
    {
        System.IO.Directory.CreateDirectory(directory);
        var cfg = config with { TorchDtype = dtype switch { "BF16" => "bfloat16", "F16" => "float16", _ => "float32" } };
        File.WriteAllText(Path.Combine(directory, ModelConfig.FileName), cfg.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var list = tensors.Select(t => dtype switch
        {
            "F32" => SafetensorsTensor.FromSingle(t.Name, t.Shape, t.Data),
            "BF16" => SafetensorsTensor.FromSingleAsBF16(t.Name, t.Shape, t.Data),
            "F16" => SafetensorsTensor.FromSingleAsF16(t.Name, t.Shape, t.Data),
            _ => throw new ToolTuneException(ErrorCodes.SafetensorsWriteInvalid, $"cannot write dtype {dtype} (F32, BF16, F16)", directory),
        });
        var files = SafetensorsWriter.WriteModel(directory, list, maxShardBytes);
        return [Path.Combine(directory, ModelConfig.FileName), .. files];
    }

    /// <summary>
    /// Writes a snapshot whose safetensors files have real headers (every tensor of <paramref name="config"/>, contiguous
    /// offsets, <paramref name="dtype"/>) and all-zero data created with <see cref="FileStream.SetLength"/>, so the files are
    /// sparse: a multi-GB checkpoint costs only its headers on disk. <paramref name="shards"/> &gt; 1 splits the tensors
    /// (in order) into that many files of about equal size plus <c>model.safetensors.index.json</c>, as HF does. For
    /// open/memory-mapping benchmarks and tests.
    /// </summary>
    public static IReadOnlyList<string> WriteSparseSnapshot(string directory, ModelConfig config, int shards = 1, string dtype = "BF16")
    {
        var elem = dtype switch { "BF16" or "F16" => 2L, "F32" => 4L, _ => throw new ToolTuneException(ErrorCodes.SafetensorsWriteInvalid, $"cannot write dtype {dtype} (F32, BF16, F16)", directory) };
        System.IO.Directory.CreateDirectory(directory);
        var cfg = config with { TorchDtype = dtype switch { "BF16" => "bfloat16", "F16" => "float16", _ => "float32" } };
        File.WriteAllText(Path.Combine(directory, ModelConfig.FileName), cfg.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var tensors = config.ExpectedTensors().Select(t => (t.Name, t.Shape, Bytes: t.Shape.Aggregate(elem, (a, b) => a * b))).ToArray();
        var total = tensors.Sum(t => t.Bytes);
        shards = Math.Clamp(shards, 1, tensors.Length);
        var groups = new List<List<(string Name, long[] Shape, long Bytes)>> { new() };
        long acc = 0;
        foreach (var t in tensors)
        {
            if (groups.Count < shards && groups[^1].Count > 0 && acc + t.Bytes / 2 > total * groups.Count / shards) groups.Add([]);
            groups[^1].Add(t);
            acc += t.Bytes;
        }
        var files = new List<string> { Path.Combine(directory, ModelConfig.FileName) };
        var weightMap = new JsonObject();
        for (var g = 0; g < groups.Count; g++)
        {
            var fileName = groups.Count == 1 ? SafetensorsCheckpoint.SingleFileName : $"model-{g + 1:D5}-of-{groups.Count:D5}.safetensors";
            var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
            long offset = 0;
            foreach (var (name, shape, bytes) in groups[g])
            {
                header[name] = new JsonObject
                {
                    ["dtype"] = dtype,
                    ["shape"] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray()),
                    ["data_offsets"] = new JsonArray(offset, offset + bytes),
                };
                offset += bytes;
                weightMap[name] = fileName;
            }
            var json = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
            var padded = (json.Length + 7) / 8 * 8;
            var path = Path.Combine(directory, fileName);
            using (var fs = new FileStream(path, FileMode.Create, FileAccess.Write))
            {
                var len = new byte[8];
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
                fs.Write(len);
                fs.Write(json);
                for (var i = json.Length; i < padded; i++) fs.WriteByte((byte)' ');
                fs.SetLength(8 + padded + offset); // sparse: the data section is a hole that reads as zeros
            }
            files.Add(path);
        }
        if (groups.Count > 1)
        {
            var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = weightMap };
            var ip = Path.Combine(directory, SafetensorsCheckpoint.IndexFileName);
            File.WriteAllText(ip, index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            files.Add(ip);
        }
        return files;
    }

    /// <summary>Writes these weights (current values, e.g. after full fine-tuning) as a snapshot.</summary>
    public IReadOnlyList<string> Save(string directory, string dtype = "F32", long maxShardBytes = 5_000_000_000) =>
        WriteSnapshot(directory, Config, Config.ExpectedTensors().Select(t => (t.Name, t.Shape, Tensors[t.Name].ToSingle())), dtype, maxShardBytes);

    public void Dispose() => _checkpoint?.Dispose();
}
