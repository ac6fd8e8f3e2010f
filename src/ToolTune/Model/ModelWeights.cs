using System.Text.Json;
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

    /// <summary>Writes these weights (current values, e.g. after full fine-tuning) as a snapshot.</summary>
    public IReadOnlyList<string> Save(string directory, string dtype = "F32", long maxShardBytes = 5_000_000_000) =>
        WriteSnapshot(directory, Config, Config.ExpectedTensors().Select(t => (t.Name, t.Shape, Tensors[t.Name].ToSingle())), dtype, maxShardBytes);

    public void Dispose() => _checkpoint?.Dispose();
}
