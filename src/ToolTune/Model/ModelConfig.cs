using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Tensors;

namespace ToolTune.Model;

/// <summary>
/// CausalLM shape read from a Hugging Face <c>config.json</c> (LlamaForCausalLM, SmolLM3ForCausalLM).
/// <see cref="UseRope"/>[i] is SmolLM3's <c>no_rope_layers[i]</c>: 1 (true) = the layer applies RoPE, 0 = NoPE.
/// </summary>
public sealed record ModelConfig
{
    public const string FileName = "config.json";

    public string Architecture { get; init; } = "SmolLM3ForCausalLM";
    public string ModelType { get; init; } = "smollm3";
    public int VocabSize { get; init; }
    public int HiddenSize { get; init; }
    public int IntermediateSize { get; init; }
    public int NumLayers { get; init; }
    public int NumHeads { get; init; }
    public int NumKvHeads { get; init; }
    public int HeadDim { get; init; }
    public double RopeTheta { get; init; } = 10000;
    public float RmsNormEps { get; init; } = 1e-6f;
    public bool TieWordEmbeddings { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public string TorchDtype { get; init; } = "float32";
    /// <summary>Per layer: true = RoPE, false = NoPE (SmolLM3 <c>no_rope_layers</c>; Llama: all true).</summary>
    public bool[] UseRope { get; init; } = [];
    public int? NoRopeLayerInterval { get; init; }
    public int? BosTokenId { get; init; }
    public int[] EosTokenIds { get; init; } = [];
    public int? PadTokenId { get; init; }

    public bool IsSmolLM3 => Architecture == "SmolLM3ForCausalLM";

    /// <summary>SmolLM3's default <c>no_rope_layers</c>: <c>[int((i + 1) % interval != 0) for i in range(layers)]</c>.</summary>
    public static bool[] DefaultUseRope(int layers, int interval) =>
        Enumerable.Range(0, layers).Select(i => interval <= 0 || (i + 1) % interval != 0).ToArray();

    /// <summary>Reads <c>config.json</c> in <paramref name="directory"/> (or the file itself).</summary>
    public static ModelConfig Load(string directoryOrFile)
    {
        var path = Directory.Exists(directoryOrFile) ? Path.Combine(directoryOrFile, FileName) : directoryOrFile;
        if (!File.Exists(path)) throw new ToolTuneException(ErrorCodes.ModelConfigMissing, "config.json not found", path);
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException ex) { throw new ToolTuneException(ErrorCodes.ModelConfigInvalid, $"config.json is not valid JSON: {ex.Message}", path, inner: ex); }
        if (root is not JsonObject obj) throw new ToolTuneException(ErrorCodes.ModelConfigInvalid, "config.json is not a JSON object", path);
        return Parse(obj, path);
    }

    public static ModelConfig Parse(JsonObject o, string? path = null)
    {
        ToolTuneException Bad(string message) => new(ErrorCodes.ModelConfigInvalid, message, path);
        var archs = o["architectures"] is JsonArray a ? a.Select(x => x?.GetValue<string>() ?? "").ToArray() : [];
        var modelType = o["model_type"]?.GetValue<string>() ?? "";
        var arch = archs.FirstOrDefault() ?? modelType switch { "llama" => "LlamaForCausalLM", "smollm3" => "SmolLM3ForCausalLM", _ => "" };
        if (arch is not ("LlamaForCausalLM" or "SmolLM3ForCausalLM"))
            throw new ToolTuneException(ErrorCodes.ModelConfigUnsupported,
                $"architecture '{(arch == "" ? modelType : arch)}' is not supported (LlamaForCausalLM, SmolLM3ForCausalLM)", path);
        var smol = arch == "SmolLM3ForCausalLM";

        int Int(string key, int? dflt = null)
        {
            var n = o[key];
            if (n is null) return dflt ?? throw Bad($"'{key}' is missing");
            int v;
            try { v = n.GetValue<int>(); } catch (Exception ex) when (ex is FormatException or InvalidOperationException) { throw Bad($"'{key}' must be a positive integer"); }
            return v > 0 ? v : throw Bad($"'{key}' must be a positive integer");
        }
        double Num(string key, double dflt)
        {
            var n = o[key];
            if (n is null) return dflt;
            try { return n.GetValue<double>(); } catch (Exception ex) when (ex is FormatException or InvalidOperationException) { throw Bad($"'{key}' is not a number"); }
        }

        var hidden = Int("hidden_size");
        var heads = Int("num_attention_heads");
        var layers = Int("num_hidden_layers");
        var kv = Int("num_key_value_heads", heads);
        var headDim = o["head_dim"] is null ? (heads > 0 ? hidden / heads : 0) : Int("head_dim");
        if (hidden <= 0 || heads <= 0 || layers <= 0 || kv <= 0 || headDim <= 0) throw Bad("sizes must be positive");
        if (heads % kv != 0) throw Bad($"num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}");
        if (headDim % 2 != 0) throw Bad($"head_dim {headDim} must be even");
        if (o["attention_bias"]?.GetValue<bool>() == true || o["mlp_bias"]?.GetValue<bool>() == true)
            throw new ToolTuneException(ErrorCodes.ModelConfigUnsupported, "attention_bias / mlp_bias are not supported", path);
        if (o["hidden_act"] is { } act && act.GetValue<string>() != "silu")
            throw new ToolTuneException(ErrorCodes.ModelConfigUnsupported, $"hidden_act '{act.GetValue<string>()}' is not supported (silu)", path);
        if (o["rope_scaling"] is JsonObject rs && (rs["rope_type"] ?? rs["type"])?.GetValue<string>() is { } rt && rt != "default")
            throw new ToolTuneException(ErrorCodes.ModelConfigUnsupported, $"rope_scaling type '{rt}' is not supported", path);
        if (smol && o["use_sliding_window"]?.GetValue<bool>() == true && o["sliding_window"] is not null)
            throw new ToolTuneException(ErrorCodes.ModelConfigUnsupported, "sliding-window attention is not supported", path);

        var theta = o["rope_theta"] is not null ? Num("rope_theta", 0)
            : o["rope_parameters"] is JsonObject rp && rp["rope_theta"] is { } t2 ? t2.GetValue<double>()
            : smol ? 2_000_000 : 10_000;

        int? interval = o["no_rope_layer_interval"] is null ? null : Int("no_rope_layer_interval");
        bool[] useRope;
        if (smol && o["no_rope_layers"] is JsonArray nrl)
        {
            if (nrl.Count != layers) throw Bad($"no_rope_layers has {nrl.Count} entries for {layers} layers");
            useRope = nrl.Select(x => x is JsonValue jv && jv.TryGetValue<int>(out var flag) && flag is 0 or 1 ? flag == 1
                : throw Bad("no_rope_layers entries must be 0 or 1")).ToArray();
        }
        else if (smol) useRope = DefaultUseRope(layers, interval ?? 4);
        else useRope = Enumerable.Repeat(true, layers).ToArray();

        int[] eos = o["eos_token_id"] switch
        {
            JsonArray arr => arr.Select(x => x!.GetValue<int>()).ToArray(),
            JsonValue v => [v.GetValue<int>()],
            _ => [],
        };
        return new ModelConfig
        {
            Architecture = arch,
            ModelType = smol ? "smollm3" : "llama",
            VocabSize = Int("vocab_size"),
            HiddenSize = hidden,
            IntermediateSize = Int("intermediate_size"),
            NumLayers = layers,
            NumHeads = heads,
            NumKvHeads = kv,
            HeadDim = headDim,
            RopeTheta = theta,
            RmsNormEps = (float)Num("rms_norm_eps", 1e-6),
            TieWordEmbeddings = o["tie_word_embeddings"]?.GetValue<bool>() ?? smol,
            MaxPositionEmbeddings = Int("max_position_embeddings", 2048),
            TorchDtype = o["torch_dtype"]?.GetValue<string>() ?? o["dtype"]?.GetValue<string>() ?? "float32",
            UseRope = useRope,
            NoRopeLayerInterval = interval,
            BosTokenId = o["bos_token_id"] is JsonValue b ? b.GetValue<int>() : null,
            EosTokenIds = eos,
            PadTokenId = o["pad_token_id"] is JsonValue p ? p.GetValue<int>() : null,
        };
    }

    /// <summary>The HF <c>config.json</c> for this shape (enough for transformers to load it).</summary>
    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(Architecture),
            ["model_type"] = ModelType,
            ["vocab_size"] = VocabSize,
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = NumLayers,
            ["num_attention_heads"] = NumHeads,
            ["num_key_value_heads"] = NumKvHeads,
            ["head_dim"] = HeadDim,
            ["hidden_act"] = "silu",
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta,
            ["rope_scaling"] = null,
            ["attention_bias"] = false,
            ["mlp_bias"] = false,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["torch_dtype"] = TorchDtype,
        };
        if (IsSmolLM3)
        {
            o["no_rope_layers"] = new JsonArray(UseRope.Select(u => (JsonNode)(u ? 1 : 0)).ToArray());
            o["no_rope_layer_interval"] = NoRopeLayerInterval ?? 4;
            o["use_sliding_window"] = false;
        }
        if (BosTokenId is { } bos) o["bos_token_id"] = bos;
        if (EosTokenIds.Length == 1) o["eos_token_id"] = EosTokenIds[0];
        else if (EosTokenIds.Length > 1) o["eos_token_id"] = new JsonArray(EosTokenIds.Select(e => (JsonNode)e).ToArray());
        if (PadTokenId is { } pad) o["pad_token_id"] = pad;
        return o;
    }

    /// <summary>Every weight the decoder reads, with its HF name and shape (nn.Linear weight = [out, in]).</summary>
    public IReadOnlyList<(string Name, long[] Shape)> ExpectedTensors(bool includeTiedHead = false)
    {
        long h = HiddenSize, q = (long)NumHeads * HeadDim, kv = (long)NumKvHeads * HeadDim, i = IntermediateSize;
        var list = new List<(string, long[])> { ("model.embed_tokens.weight", [VocabSize, h]) };
        for (var l = 0; l < NumLayers; l++)
        {
            var p = $"model.layers.{l}.";
            list.Add((p + "input_layernorm.weight", [h]));
            list.Add((p + "self_attn.q_proj.weight", [q, h]));
            list.Add((p + "self_attn.k_proj.weight", [kv, h]));
            list.Add((p + "self_attn.v_proj.weight", [kv, h]));
            list.Add((p + "self_attn.o_proj.weight", [h, q]));
            list.Add((p + "post_attention_layernorm.weight", [h]));
            list.Add((p + "mlp.gate_proj.weight", [i, h]));
            list.Add((p + "mlp.up_proj.weight", [i, h]));
            list.Add((p + "mlp.down_proj.weight", [h, i]));
        }
        list.Add(("model.norm.weight", [h]));
        if (!TieWordEmbeddings || includeTiedHead) list.Add(("lm_head.weight", [VocabSize, h]));
        return list;
    }

    /// <summary>
    /// Checks that <paramref name="checkpoint"/> holds every expected weight with the expected shape and a float dtype
    /// (F32/BF16/F16); a tied checkpoint may or may not carry <c>lm_head.weight</c> (checked when present). Errors
    /// (TT4103 missing, TT4104 shape, TT4008 dtype) name the file and the tensor.
    /// </summary>
    public void Validate(SafetensorsCheckpoint checkpoint)
    {
        var checkHead = TieWordEmbeddings && checkpoint.Contains("lm_head.weight");
        foreach (var (name, shape) in ExpectedTensors(includeTiedHead: checkHead))
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

    /// <summary>Benchmark presets (random init): <c>smol135m</c> (SmolLM3 architecture at SmolLM2-135M size) and <c>tiny</c>.</summary>
    public static ModelConfig Preset(string name) => name switch
    {
        "smol135m" => new ModelConfig
        {
            VocabSize = 49152, HiddenSize = 576, IntermediateSize = 1536, NumLayers = 30, NumHeads = 9, NumKvHeads = 3, HeadDim = 64,
            RopeTheta = 100000, RmsNormEps = 1e-5f, TieWordEmbeddings = true, MaxPositionEmbeddings = 8192,
            UseRope = DefaultUseRope(30, 4), NoRopeLayerInterval = 4,
        },
        "tiny" => new ModelConfig
        {
            VocabSize = 4096, HiddenSize = 128, IntermediateSize = 384, NumLayers = 4, NumHeads = 4, NumKvHeads = 2, HeadDim = 32,
            RopeTheta = 100000, RmsNormEps = 1e-5f, TieWordEmbeddings = true, MaxPositionEmbeddings = 8192,
            UseRope = DefaultUseRope(4, 4), NoRopeLayerInterval = 4,
        },
        // SmolLM3-3B's shape (its config.json): for open/mmap benchmarks with sparse header-only checkpoints.
        "smol3b" => new ModelConfig
        {
            VocabSize = 128256, HiddenSize = 2048, IntermediateSize = 11008, NumLayers = 36, NumHeads = 16, NumKvHeads = 4, HeadDim = 128,
            RopeTheta = 5_000_000, RmsNormEps = 1e-6f, TieWordEmbeddings = true, MaxPositionEmbeddings = 65536,
            UseRope = DefaultUseRope(36, 4), NoRopeLayerInterval = 4, EosTokenIds = [128012],
        },
        _ => throw new ToolTuneException(ErrorCodes.ModelInputInvalid, $"unknown preset '{name}' (smol135m, tiny, smol3b)"),
    };
}
