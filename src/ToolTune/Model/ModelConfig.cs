using System.Text.Json;
using ToolTune.Diagnostics;
using ToolTune.Tensors;

namespace ToolTune.Model;

/// <summary>
/// The decoder shape from a Hugging Face <c>config.json</c> (LlamaForCausalLM, SmolLM3ForCausalLM), with the
/// class defaults transformers applies (formats.md §D.1–D.2). <see cref="UseRope"/>[i] is true when layer i
/// applies RoPE (SmolLM3 <c>no_rope_layers</c>: 1 = RoPE, 0 = NoPE).
/// </summary>
public sealed record ModelConfig
{
    public required string ModelType { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required double RmsNormEps { get; init; }
    public required double RopeTheta { get; init; }
    public required int MaxPositionEmbeddings { get; init; }
    public required bool TieWordEmbeddings { get; init; }
    public required bool[] UseRope { get; init; }
    public string? TorchDtype { get; init; }

    /// <summary>Reads <c>config.json</c> from a snapshot folder (or the file itself).</summary>
    public static ModelConfig Load(string path)
    {
        var file = Directory.Exists(path) ? Path.Combine(path, "config.json") : path;
        if (!File.Exists(file)) throw new ToolTuneException(ErrorCodes.ModelConfigMissing, "config.json not found", file);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
            return Parse(doc.RootElement, file);
        }
        catch (JsonException ex)
        {
            throw new ToolTuneException(ErrorCodes.ModelConfigInvalid, $"config.json is not valid JSON: {ex.Message}", file, inner: ex);
        }
    }

    /// <summary>Parses a config object; <paramref name="file"/> names it in errors.</summary>
    public static ModelConfig Parse(JsonElement root, string file)
    {
        ToolTuneException Invalid(string msg) => new(ErrorCodes.ModelConfigInvalid, msg, file);
        ToolTuneException Unsupported(string msg) => new(ErrorCodes.ModelConfigUnsupported, msg, file);
        if (root.ValueKind != JsonValueKind.Object) throw Invalid("config.json is not a JSON object");

        var modelType = Str(root, "model_type") ?? "";
        var archs = root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray().Select(e => e.GetString() ?? "").ToArray() : [];
        var isSmol = modelType == "smollm3" || archs.Contains("SmolLM3ForCausalLM");
        var isLlama = modelType == "llama" || archs.Contains("LlamaForCausalLM");
        if (!isSmol && !isLlama)
            throw Unsupported($"model_type '{modelType}' / architectures [{string.Join(", ", archs)}] is not supported (llama, smollm3)");

        int Req(string name)
        {
            if (!root.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var i) || i <= 0)
                throw Invalid($"'{name}' must be a positive integer");
            return i;
        }
        int Opt(string name, int fallback)
        {
            if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var i) || i <= 0) throw Invalid($"'{name}' must be a positive integer");
            return i;
        }
        double OptD(string name, double fallback)
        {
            if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
            if (v.ValueKind != JsonValueKind.Number) throw Invalid($"'{name}' must be a number");
            return v.GetDouble();
        }
        bool OptB(string name, bool fallback)
        {
            if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Invalid($"'{name}' must be true or false"),
            };
        }

        var hidden = Req("hidden_size");
        var heads = Req("num_attention_heads");
        var layers = Req("num_hidden_layers");
        var kvHeads = Opt("num_key_value_heads", heads);
        if (heads % kvHeads != 0) throw Invalid($"num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
        var headDim = Opt("head_dim", hidden / heads);
        if (headDim % 2 != 0) throw Invalid($"head_dim {headDim} must be even for RoPE");
        if (OptB("attention_bias", false) || OptB("mlp_bias", false)) throw Unsupported("attention_bias / mlp_bias are not supported");
        var act = Str(root, "hidden_act") ?? "silu";
        if (act != "silu") throw Unsupported($"hidden_act '{act}' is not supported (silu)");
        if (root.TryGetProperty("rope_scaling", out var rs) && rs.ValueKind == JsonValueKind.Object)
        {
            var type = Str(rs, "rope_type") ?? Str(rs, "type") ?? "";
            if (type != "default") throw Unsupported($"rope_scaling type '{type}' is not supported");
        }

        // rope_theta (old kwarg) or rope_parameters.rope_theta (newer transformers); class defaults otherwise.
        var theta = OptD("rope_theta", double.NaN);
        if (double.IsNaN(theta) && root.TryGetProperty("rope_parameters", out var rp) && rp.ValueKind == JsonValueKind.Object
            && rp.TryGetProperty("rope_theta", out var rt) && rt.ValueKind == JsonValueKind.Number)
            theta = rt.GetDouble();
        if (double.IsNaN(theta)) theta = isSmol ? 2_000_000.0 : 10_000.0;

        var useRope = new bool[layers];
        if (isSmol)
        {
            if (root.TryGetProperty("no_rope_layers", out var nr) && nr.ValueKind == JsonValueKind.Array)
            {
                if (nr.GetArrayLength() != layers)
                    throw Invalid($"no_rope_layers has {nr.GetArrayLength()} entries for {layers} layers");
                var i = 0;
                foreach (var e in nr.EnumerateArray())
                {
                    if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out var flag) || flag is not (0 or 1))
                        throw Invalid("no_rope_layers entries must be 0 or 1");
                    useRope[i++] = flag == 1;
                }
            }
            else
            {
                var interval = Opt("no_rope_layer_interval", 4);
                for (var i = 0; i < layers; i++) useRope[i] = (i + 1) % interval != 0;
            }
        }
        else
        {
            Array.Fill(useRope, true);
        }

        return new ModelConfig
        {
            ModelType = isSmol ? "smollm3" : "llama",
            VocabSize = Req("vocab_size"),
            HiddenSize = hidden,
            IntermediateSize = Req("intermediate_size"),
            NumLayers = layers,
            NumHeads = heads,
            NumKvHeads = kvHeads,
            HeadDim = headDim,
            RmsNormEps = OptD("rms_norm_eps", 1e-6),
            RopeTheta = theta,
            MaxPositionEmbeddings = Opt("max_position_embeddings", isSmol ? 32768 : 2048),
            TieWordEmbeddings = OptB("tie_word_embeddings", isSmol),
            UseRope = useRope,
            TorchDtype = Str(root, "torch_dtype") ?? Str(root, "dtype"),
        };
    }

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>Every weight the decoder reads, with its HF name and shape (nn.Linear weight = [out, in]).</summary>
    public IReadOnlyList<(string Name, long[] Shape)> ExpectedTensors(bool includeTiedHead = false)
    {
        var list = new List<(string, long[])> { ("model.embed_tokens.weight", [VocabSize, HiddenSize]) };
        for (var i = 0; i < NumLayers; i++)
        {
            var p = $"model.layers.{i}.";
            list.Add((p + "input_layernorm.weight", [HiddenSize]));
            list.Add((p + "self_attn.q_proj.weight", [NumHeads * HeadDim, HiddenSize]));
            list.Add((p + "self_attn.k_proj.weight", [NumKvHeads * HeadDim, HiddenSize]));
            list.Add((p + "self_attn.v_proj.weight", [NumKvHeads * HeadDim, HiddenSize]));
            list.Add((p + "self_attn.o_proj.weight", [HiddenSize, NumHeads * HeadDim]));
            list.Add((p + "post_attention_layernorm.weight", [HiddenSize]));
            list.Add((p + "mlp.gate_proj.weight", [IntermediateSize, HiddenSize]));
            list.Add((p + "mlp.up_proj.weight", [IntermediateSize, HiddenSize]));
            list.Add((p + "mlp.down_proj.weight", [HiddenSize, IntermediateSize]));
        }
        list.Add(("model.norm.weight", [HiddenSize]));
        if (!TieWordEmbeddings || includeTiedHead) list.Add(("lm_head.weight", [VocabSize, HiddenSize]));
        return list;
    }

    /// <summary>
    /// Checks that <paramref name="checkpoint"/> holds every expected weight with the expected shape and a float
    /// dtype (F32/BF16/F16); a tied checkpoint may or may not carry <c>lm_head.weight</c>. Errors name the file
    /// and the tensor.
    /// </summary>
    public void Validate(SafetensorsCheckpoint checkpoint)
    {
        var expected = ExpectedTensors();
        var checkHead = TieWordEmbeddings && checkpoint.Contains("lm_head.weight");
        foreach (var (name, shape) in checkHead ? expected.Append(("lm_head.weight", [VocabSize, HiddenSize])) : expected)
        {
            if (!checkpoint.Contains(name))
            {
                var where = checkpoint.Files.Count == 1 ? checkpoint.Files[0].Path : null;
                throw new ToolTuneException(ErrorCodes.ModelWeightMissing, $"weight '{name}' (shape [{string.Join(", ", shape)}]) required by config.json is missing", where);
            }
            var file = checkpoint.FileOf(name);
            var e = file.Entry(name);
            if (!e.Shape.SequenceEqual(shape))
                throw new ToolTuneException(ErrorCodes.ModelWeightShapeMismatch,
                    $"weight '{name}' has shape [{string.Join(", ", e.Shape)}] but config.json implies [{string.Join(", ", shape)}]", file.Path);
            if (e.DType is not ("F32" or "BF16" or "F16"))
                throw new ToolTuneException(ErrorCodes.SafetensorsDTypeUnsupported, $"weight '{name}' has dtype {e.DType}; expected F32, BF16 or F16", file.Path);
        }
    }
}
