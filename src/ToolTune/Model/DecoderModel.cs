using ToolTune.Tensors;

namespace ToolTune.Model;

/// <summary>
/// SmolLM3/Llama decoder read from a Hugging Face snapshot folder (config.json + model.safetensors or shards),
/// weights memory-mapped (BF16/F16 linear weights stay mapped; see <see cref="LinearWeight"/>). This first
/// version is the inference forward (full-sequence logits); training (backward, LoRA, checkpointing) and the
/// KV-cache decoder build on the same kernels (see ModelCompositionTests for the verified backward recipe).
/// </summary>
public sealed class DecoderModel : IDisposable
{
    private sealed record Layer(float[] InNorm, LinearWeight Q, LinearWeight K, LinearWeight V, LinearWeight O,
        float[] PostNorm, LinearWeight Gate, LinearWeight Up, LinearWeight Down);

    private readonly SafetensorsCheckpoint _checkpoint;
    private readonly Layer[] _layers;
    private readonly LinearWeight _embed;
    private readonly LinearWeight _head;
    private readonly float[] _norm;
    private readonly Rope _rope;

    private DecoderModel(ModelConfig config, SafetensorsCheckpoint checkpoint)
    {
        Config = config;
        _checkpoint = checkpoint;
        _embed = LinearWeight.FromCheckpoint(checkpoint, "model.embed_tokens.weight");
        _head = config.TieWordEmbeddings ? _embed : LinearWeight.FromCheckpoint(checkpoint, "lm_head.weight");
        _norm = checkpoint.ReadSingle("model.norm.weight");
        _rope = new Rope(config.HeadDim, config.RopeTheta);
        _layers = new Layer[config.NumLayers];
        for (var i = 0; i < config.NumLayers; i++)
        {
            var p = $"model.layers.{i}.";
            LinearWeight W(string n) => LinearWeight.FromCheckpoint(checkpoint, p + n);
            _layers[i] = new Layer(checkpoint.ReadSingle(p + "input_layernorm.weight"),
                W("self_attn.q_proj.weight"), W("self_attn.k_proj.weight"), W("self_attn.v_proj.weight"), W("self_attn.o_proj.weight"),
                checkpoint.ReadSingle(p + "post_attention_layernorm.weight"),
                W("mlp.gate_proj.weight"), W("mlp.up_proj.weight"), W("mlp.down_proj.weight"));
        }
    }

    public ModelConfig Config { get; }

    /// <summary>Opens and validates a snapshot folder (config and weights must agree: TT41xx/TT40xx otherwise).</summary>
    public static DecoderModel Load(string directory)
    {
        var config = ModelConfig.Load(directory);
        var checkpoint = SafetensorsCheckpoint.Open(directory);
        try
        {
            config.Validate(checkpoint);
            return new DecoderModel(config, checkpoint);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>Final hidden states [T × hidden] (after the last RMSNorm) for positions 0..T−1.</summary>
    public float[] Hidden(ReadOnlySpan<int> ids) => Hidden(ids, null);

    /// <summary>
    /// Final hidden states for <paramref name="ids"/>, which follow the <paramref name="cache"/>'s tokens (positions
    /// cache.Length..); their keys/values (after RoPE) are appended to the cache. A null cache means positions 0..T−1.
    /// </summary>
    public float[] Hidden(ReadOnlySpan<int> ids, KvCache? cache)
    {
        var c = Config;
        int t = ids.Length, dm = c.HiddenSize, h = c.NumHeads, kv = c.NumKvHeads, hd = c.HeadDim, inter = c.IntermediateSize;
        var past = cache?.Length ?? 0;
        if (cache is not null) cache.Reserve(past + t);
        int qd = h * hd, kvd = kv * hd;
        var eps = (float)c.RmsNormEps;
        var scale = 1f / MathF.Sqrt(hd);
        var x = new float[t * dm];
        _embed.GatherRows(ids, x);
        var norm = new float[t * dm];
        var rstd = new float[t];
        float[] q = new float[t * qd], k = new float[t * kvd], v = new float[t * kvd], a = new float[t * qd];
        float[] g = new float[t * inter], u = new float[t * inter], m = new float[t * inter];
        for (var li = 0; li < _layers.Length; li++)
        {
            var L = _layers[li];
            RmsNorm.Forward(x, L.InNorm, norm, rstd, t, dm, eps);
            L.Q.Forward(norm, q, t);
            L.K.Forward(norm, k, t);
            L.V.Forward(norm, v, t);
            if (c.UseRope[li])
            {
                _rope.Apply(q, t, h, past);
                _rope.Apply(k, t, kv, past);
            }
            if (cache is null)
            {
                Attention.Forward(q, k, v, a, [], t, t, h, kv, hd, scale);
            }
            else
            {
                k.CopyTo(cache.Keys[li], past * kvd);
                v.CopyTo(cache.Values[li], past * kvd);
                Attention.Forward(q, cache.Keys[li], cache.Values[li], a, [], t, past + t, h, kv, hd, scale);
            }
            L.O.Forward(a, x, t, accumulate: true);
            RmsNorm.Forward(x, L.PostNorm, norm, rstd, t, dm, eps);
            L.Gate.Forward(norm, g, t);
            L.Up.Forward(norm, u, t);
            Activations.SiluMul(g, u, m);
            L.Down.Forward(m, x, t, accumulate: true);
        }
        var y = new float[t * dm];
        RmsNorm.Forward(x, _norm, y, rstd, t, dm, eps);
        if (cache is not null) cache.Length = past + t;
        return y;
    }

    /// <summary>A new, empty KV cache for this model.</summary>
    public KvCache CreateCache(int capacity = 256) => new(Config.NumLayers, Config.NumKvHeads * Config.HeadDim, capacity);

    /// <summary>Logits [T × vocab] for tokens that follow the cache's tokens (appending them to the cache).</summary>
    public float[] Logits(ReadOnlySpan<int> ids, KvCache cache)
    {
        var hidden = Hidden(ids, cache);
        var logits = new float[ids.Length * Config.VocabSize];
        _head.Forward(hidden, logits, ids.Length);
        return logits;
    }

    /// <summary>Logits [T × vocab] (f32) for every position.</summary>
    public float[] Logits(ReadOnlySpan<int> ids)
    {
        var hidden = Hidden(ids);
        var logits = new float[ids.Length * Config.VocabSize];
        _head.Forward(hidden, logits, ids.Length);
        return logits;
    }

    public void Dispose() => _checkpoint.Dispose();
}

/// <summary>Per-layer keys and values (after RoPE), [tokens × kv_heads·head_dim], grown by doubling.</summary>
public sealed class KvCache
{
    private readonly int _width;

    public KvCache(int layers, int width, int capacity)
    {
        _width = width;
        Keys = new float[layers][];
        Values = new float[layers][];
        for (var i = 0; i < layers; i++)
        {
            Keys[i] = new float[(long)Math.Max(1, capacity) * width];
            Values[i] = new float[(long)Math.Max(1, capacity) * width];
        }
    }

    public float[][] Keys { get; }
    public float[][] Values { get; }

    /// <summary>Tokens held.</summary>
    public int Length { get; internal set; }

    public int Capacity => Keys.Length == 0 ? int.MaxValue : Keys[0].Length / _width;

    internal void Reserve(int tokens)
    {
        if (tokens <= Capacity) return;
        var cap = Math.Max(tokens, Capacity * 2);
        for (var i = 0; i < Keys.Length; i++)
        {
            Array.Resize(ref Keys[i], cap * _width);
            Array.Resize(ref Values[i], cap * _width);
        }
    }

    /// <summary>Forgets every token (keeps the buffers).</summary>
    public void Clear() => Length = 0;
}
