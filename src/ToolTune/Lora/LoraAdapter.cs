using ToolTune.Model;

namespace ToolTune.Lora;

/// <summary>
/// All LoRA parameters for one model: a <see cref="LoraLinear"/> per targeted projection and layer, an optional
/// <see cref="LoraEmbedding"/> and optional <see cref="TrainableTokens"/>. Parameter names are the PEFT saved keys
/// without the <c>base_model.model.</c> prefix (PEFT's <c>get_peft_model_state_dict</c>).
/// </summary>
public sealed class LoraAdapter
{
    public const string PeftPrefix = "base_model.model.";

    private readonly SortedDictionary<string, LoraLinear> _linears = new(StringComparer.Ordinal);

    private LoraAdapter(LoraConfig config, ModelConfig model)
    {
        Config = config;
        Model = model;
    }

    public LoraConfig Config { get; }
    public ModelConfig Model { get; }
    /// <summary>Linear adapters by module path (e.g. <c>model.layers.0.self_attn.q_proj</c>).</summary>
    public IReadOnlyDictionary<string, LoraLinear> Linears => _linears;
    public LoraEmbedding? Embedding { get; private set; }
    public TrainableTokens? Tokens { get; private set; }

    /// <summary>
    /// Builds the adapter for <paramref name="model"/>. With <paramref name="seed"/> the PEFT initialisation is applied
    /// (linear A kaiming-uniform / B zero; embedding A zero / B normal); <paramref name="embeddingRow"/> supplies the
    /// original embedding rows that trainable tokens start from. Without a seed all tensors are zero (for loading).
    /// </summary>
    public static LoraAdapter Create(LoraConfig config, ModelConfig model, ulong? seed = null, Func<int, float[]>? embeddingRow = null)
    {
        config.Validate();
        var a = new LoraAdapter(config, model);
        var scale = config.Scale;
        foreach (var m in config.TargetModules)
        {
            var (fin, fout) = LoraConfig.Features(m, model);
            if (m == "embed_tokens")
            {
                a.Embedding = new LoraEmbedding(fin, fout, config.R, scale);
                if (seed is { } s) a.Embedding.Initialize(s);
                continue;
            }
            var layers = LoraConfig.IsPerLayer(m) ? Enumerable.Range(0, model.NumLayers) : [0];
            foreach (var i in layers)
            {
                var path = LoraConfig.ModulePath(m, i);
                var lin = new LoraLinear(path, fin, fout, config.R, scale, config.Dropout);
                if (seed is { } s) lin.Initialize(s);
                a._linears[path] = lin;
            }
        }
        if (config.TrainableTokenIds.Count > 0)
        {
            a.Tokens = new TrainableTokens(config.TrainableTokenIds, model.VocabSize, model.HiddenSize);
            if (embeddingRow is not null) a.Tokens.Initialize(embeddingRow);
        }
        return a;
    }

    /// <summary>Every trainable tensor, ordered by name (the optimizer and checkpoint order).</summary>
    public IReadOnlyList<Param> Parameters
    {
        get
        {
            var list = new List<Param>();
            foreach (var l in _linears.Values) { list.Add(l.A); list.Add(l.B); }
            if (Embedding is not null) { list.Add(Embedding.A); list.Add(Embedding.B); }
            if (Tokens is not null) list.Add(Tokens.Delta);
            list.Sort((x, y) => string.CompareOrdinal(x.Name, y.Name));
            return list;
        }
    }

    /// <summary>Sets (null: clears, for evaluation) the dropout stream of every linear adapter for the next forward/backward.</summary>
    public void SetDropoutKey(ulong? key)
    {
        foreach (var l in _linears.Values) l.DropoutKey = key;
    }

    /// <summary>
    /// Wraps the decoder's projections and embedding in place (q/k/v/o/gate/up/down via <see cref="DecoderLayer"/>,
    /// embed_tokens via <see cref="CausalLM.Embed"/>). An adapted lm_head needs an <c>ILinear</c> head in the decoder (not yet).
    /// </summary>
    public void Attach(CausalLM lm)
    {
        foreach (var layer in lm.Layers)
        {
            ILinear Wrap(ILinear base_, string module)
            {
                if (!_linears.TryGetValue(LoraConfig.ModulePath(module, layer.Index), out var l)) return base_;
                l.Base = base_;
                return l;
            }
            layer.Q = Wrap(layer.Q, "q_proj"); layer.K = Wrap(layer.K, "k_proj"); layer.V = Wrap(layer.V, "v_proj");
            layer.O = Wrap(layer.O, "o_proj"); layer.Gate = Wrap(layer.Gate, "gate_proj"); layer.Up = Wrap(layer.Up, "up_proj");
            layer.Down = Wrap(layer.Down, "down_proj");
        }
        if (_linears.ContainsKey("lm_head"))
            throw new NotSupportedException("LoRA on lm_head needs an ILinear head in CausalLM (integration pending)");
        if (Tokens is not null) { Tokens.Base = lm.Embed; lm.Embed = Tokens; }
        if (Embedding is not null) { Embedding.Base = lm.Embed; lm.Embed = Embedding; }
    }
}
