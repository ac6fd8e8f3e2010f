using ToolTune.Diagnostics;
using ToolTune.Model;

namespace ToolTune.Lora;

/// <summary>
/// LoRA hyper-parameters resolved for one model (PEFT <c>LoraConfig</c> subset): rank, alpha, dropout, the
/// wrapped modules and the embedding rows trained directly (PEFT <c>trainable_token_indices</c>).
/// </summary>
public sealed record LoraConfig
{
    /// <summary>Module names LoRA can wrap (the SmolLM3/Llama projections, the input embedding and an untied head).</summary>
    public static IReadOnlyList<string> KnownModules { get; } =
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "embed_tokens", "lm_head"];
    public static IReadOnlyList<string> AttentionModules { get; } = ["q_proj", "k_proj", "v_proj", "o_proj"];
    public static IReadOnlyList<string> MlpModules { get; } = ["gate_proj", "up_proj", "down_proj"];

    public int R { get; init; } = 16;
    public double Alpha { get; init; } = 32;
    public double Dropout { get; init; }
    public IReadOnlyList<string> TargetModules { get; init; } = AttentionModules;
    /// <summary>Embedding rows trained as absolute replacement rows (sorted, distinct).</summary>
    public IReadOnlyList<int> TrainableTokenIds { get; init; } = [];
    public bool UseRslora { get; init; }
    /// <summary>Written as <c>base_model_name_or_path</c>.</summary>
    public string? BaseModelNameOrPath { get; init; }

    /// <summary>PEFT scaling: alpha / r (alpha / √r with rsLoRA).</summary>
    public float Scale => (float)(UseRslora ? Alpha / Math.Sqrt(R) : Alpha / R);

    public bool TargetsEmbedding => TargetModules.Contains("embed_tokens");

    /// <summary>Checks module names, rank, alpha and dropout; unknown modules → TT5000 listing the real ones.</summary>
    public LoraConfig Validate(string? file = null)
    {
        foreach (var m in TargetModules)
            if (!KnownModules.Contains(m))
                throw new ToolTuneException(ErrorCodes.LoraUnknownModule,
                    $"lora.target_modules: unknown module '{m}'; known modules: {string.Join(", ", KnownModules)}", file);
        if (TargetModules.Count == 0 && TrainableTokenIds.Count == 0)
            throw new ToolTuneException(ErrorCodes.LoraConfigInvalid, "lora: no target_modules and no trainable_tokens: nothing would train", file);
        if (R <= 0) throw new ToolTuneException(ErrorCodes.LoraConfigInvalid, $"lora.r must be positive (got {R})", file);
        if (!(Alpha > 0)) throw new ToolTuneException(ErrorCodes.LoraConfigInvalid, $"lora.alpha must be positive (got {Alpha})", file);
        if (!(Dropout >= 0 && Dropout < 1)) throw new ToolTuneException(ErrorCodes.LoraConfigInvalid, $"lora.dropout must be in [0, 1) (got {Dropout})", file);
        return this;
    }

    /// <summary>
    /// This config with the embedding rows of <paramref name="tokens"/> (<c>lora.trainable_tokens</c>) trained, then
    /// validated: <paramref name="tokenToId"/> maps each string to its single token id (null when it is not one token → TT5001).
    /// </summary>
    public LoraConfig WithTrainableTokens(IEnumerable<string> tokens, Func<string, int?> tokenToId, string? file = null)
    {
        var ids = new SortedSet<int>();
        foreach (var t in tokens)
        {
            var id = tokenToId(t) ?? throw new ToolTuneException(ErrorCodes.LoraTrainableTokenUnknown,
                $"lora.trainable_tokens: '{t}' is not a single token of the tokenizer", file);
            ids.Add(id);
        }
        return (this with { TrainableTokenIds = ids.ToArray() }).Validate(file);
    }

    /// <summary>Module path (HF state-dict prefix, without <c>.weight</c>) of a target in layer <paramref name="layer"/>.</summary>
    public static string ModulePath(string module, int layer) => module switch
    {
        "q_proj" or "k_proj" or "v_proj" or "o_proj" => $"model.layers.{layer}.self_attn.{module}",
        "gate_proj" or "up_proj" or "down_proj" => $"model.layers.{layer}.mlp.{module}",
        "embed_tokens" => "model.embed_tokens",
        "lm_head" => "lm_head",
        _ => throw new ArgumentOutOfRangeException(nameof(module), module, null),
    };

    /// <summary>(in, out) features of a linear module for a model shape (nn.Linear's in/out as transformers builds it); embed_tokens: (vocab, hidden).</summary>
    public static (int In, int Out) Features(string module, ModelConfig c) => module switch
    {
        "q_proj" => (c.HiddenSize, c.NumHeads * c.HeadDim),
        "k_proj" or "v_proj" => (c.HiddenSize, c.NumKvHeads * c.HeadDim),
        "o_proj" => (c.NumHeads * c.HeadDim, c.HiddenSize),
        "gate_proj" or "up_proj" => (c.HiddenSize, c.IntermediateSize),
        "down_proj" => (c.IntermediateSize, c.HiddenSize),
        "embed_tokens" => (c.VocabSize, c.HiddenSize),
        "lm_head" => (c.HiddenSize, c.VocabSize),
        _ => throw new ArgumentOutOfRangeException(nameof(module), module, null),
    };

    public static bool IsPerLayer(string module) => module is not ("embed_tokens" or "lm_head");
}
