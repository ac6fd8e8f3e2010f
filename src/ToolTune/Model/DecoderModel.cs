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

    private readonly SafetensorsCheckpoint? _checkpoint;
    private readonly Layer[] _layers;
    private readonly LinearWeight _embed;
    private readonly LinearWeight _head;
    private readonly float[] _norm;
    private readonly Rope _rope;

    private DecoderModel(ModelConfig config, SafetensorsCheckpoint? checkpoint, Func<string, LinearWeight> linear, Func<string, float[]> vector)
    {
        Config = config;
        _checkpoint = checkpoint;
        _embed = linear("model.embed_tokens.weight");
        _head = config.TieWordEmbeddings ? _embed : linear("lm_head.weight");
        _norm = vector("model.norm.weight");
        _rope = new Rope(config.HeadDim, config.RopeTheta);
        _layers = new Layer[config.NumLayers];
        for (var i = 0; i < config.NumLayers; i++)
        {
            var p = $"model.layers.{i}.";
            _layers[i] = new Layer(vector(p + "input_layernorm.weight"),
                linear(p + "self_attn.q_proj.weight"), linear(p + "self_attn.k_proj.weight"), linear(p + "self_attn.v_proj.weight"),
                linear(p + "self_attn.o_proj.weight"), vector(p + "post_attention_layernorm.weight"),
                linear(p + "mlp.gate_proj.weight"), linear(p + "mlp.up_proj.weight"), linear(p + "mlp.down_proj.weight"));
        }
    }

    private DecoderModel(ModelConfig config, SafetensorsCheckpoint checkpoint)
        : this(config, checkpoint, n => LinearWeight.FromCheckpoint(checkpoint, n), checkpoint.ReadSingle)
    {
    }

    /// <summary>A model over in-memory f32 weights (HF names; see <see cref="ModelConfig.ExpectedTensors"/>).</summary>
    public static DecoderModel FromWeights(ModelConfig config, IReadOnlyDictionary<string, float[]> weights)
    {
        var shapes = config.ExpectedTensors().ToDictionary(x => x.Name, x => x.Shape);
        float[] Get(string n) => weights.TryGetValue(n, out var w) ? w
            : throw new Diagnostics.ToolTuneException(Diagnostics.ErrorCodes.ModelWeightMissing, $"weight '{n}' is missing");
        return new DecoderModel(config, null,
            n => LinearWeight.FromArray(n, (int)shapes[n][0], (int)shapes[n][1], Get(n)), Get);
    }

    /// <summary>
    /// A random-init model with PyTorch-like scales (normal(0, 0.02) linears/embeddings, unit norms), for benchmarks.
    /// </summary>
    public static DecoderModel Random(ModelConfig config, int seed)
    {
        var rng = new Random(seed);
        var weights = new Dictionary<string, float[]>();
        foreach (var (name, shape) in config.ExpectedTensors())
        {
            var w = new float[shape.Aggregate(1L, (a, b) => a * b)];
            if (shape.Length == 1) Array.Fill(w, 1f);
            else for (var i = 0; i < w.Length; i++) w[i] = (float)(0.02 * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
            weights[name] = w;
        }
        return FromWeights(config, weights);
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

    /// <summary>Activations of one layer, kept only while that layer's backward runs (gradient checkpointing).</summary>
    private sealed class LayerState(int t, int dm, int qd, int kvd, int h, int inter)
    {
        public readonly float[] H1 = new float[t * dm], Rstd1 = new float[t], Q = new float[t * qd], K = new float[t * kvd],
            V = new float[t * kvd], A = new float[t * qd], Lse = new float[h * t], X2 = new float[t * dm], H2 = new float[t * dm],
            Rstd2 = new float[t], G = new float[t * inter], U = new float[t * inter], M = new float[t * inter];
    }

    /// <summary>Runs layer <paramref name="li"/> on x (positions 0..T−1) into y, keeping what its backward needs.</summary>
    private void LayerForward(int li, float[] x, float[] y, LayerState s, int t)
    {
        var c = Config;
        int dm = c.HiddenSize, h = c.NumHeads, kv = c.NumKvHeads, hd = c.HeadDim, inter = c.IntermediateSize;
        var eps = (float)c.RmsNormEps;
        var L = _layers[li];
        RmsNorm.Forward(x, L.InNorm, s.H1, s.Rstd1, t, dm, eps);
        L.Q.Forward(s.H1, s.Q, t);
        L.K.Forward(s.H1, s.K, t);
        L.V.Forward(s.H1, s.V, t);
        if (c.UseRope[li])
        {
            _rope.Apply(s.Q, t, h, 0);
            _rope.Apply(s.K, t, kv, 0);
        }
        Attention.Forward(s.Q, s.K, s.V, s.A, s.Lse, t, t, h, kv, hd, 1f / MathF.Sqrt(hd));
        x.CopyTo(s.X2, 0);
        L.O.Forward(s.A, s.X2, t, accumulate: true);
        RmsNorm.Forward(s.X2, L.PostNorm, s.H2, s.Rstd2, t, dm, eps);
        L.Gate.Forward(s.H2, s.G, t);
        L.Up.Forward(s.H2, s.U, t);
        Activations.SiluMul(s.G, s.U, s.M);
        s.X2.CopyTo(y, 0);
        L.Down.Forward(s.M, y, t, accumulate: true);
    }

    /// <summary>
    /// Causal-LM loss (HF ForCausalLMLoss: position t predicts labels[t+1], −100 ignored, mean) and gradients:
    /// for every weight named in <paramref name="trainable"/> (all when null) a gradient of its shape is
    /// accumulated into <paramref name="grads"/> (created on demand), and the input-embedding gradient [T × hidden]
    /// is returned in <paramref name="inputEmbedsGrad"/>. Layers keep only their inputs during the forward and
    /// recompute their activations in the backward (per-layer gradient checkpointing).
    /// </summary>
    public double LossAndGradients(ReadOnlySpan<int> ids, ReadOnlySpan<int> labels, IReadOnlySet<string>? trainable,
        Dictionary<string, float[]> grads, out float[] inputEmbedsGrad, float gradScale = 1f)
    {
        var c = Config;
        int t = ids.Length, dm = c.HiddenSize, h = c.NumHeads, kv = c.NumKvHeads, hd = c.HeadDim, inter = c.IntermediateSize, vocab = c.VocabSize;
        int qd = h * hd, kvd = kv * hd;
        if (labels.Length != t) throw new ArgumentException($"{labels.Length} labels for {t} tokens");
        var eps = (float)c.RmsNormEps;
        bool Wants(string name) => trainable is null || trainable.Contains(name);
        float[] Grad(string name, long size)
        {
            if (!grads.TryGetValue(name, out var g)) grads[name] = g = new float[size];
            return g;
        }

        // Forward: keep each layer's input only.
        var inputs = new float[_layers.Length + 1][];
        inputs[0] = new float[t * dm];
        _embed.GatherRows(ids, inputs[0]);
        var state = new LayerState(t, dm, qd, kvd, h, inter);
        for (var li = 0; li < _layers.Length; li++)
        {
            inputs[li + 1] = new float[t * dm];
            LayerForward(li, inputs[li], inputs[li + 1], state, t);
        }
        var last = inputs[^1];
        var hf = new float[t * dm];
        var rstdF = new float[t];
        RmsNorm.Forward(last, _norm, hf, rstdF, t, dm, eps);

        var shifted = new int[t];
        for (var i = 0; i < t; i++) shifted[i] = i + 1 < t ? labels[i + 1] : CrossEntropy.IgnoreIndex;
        var headName = c.TieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
        var dHf = new float[t * dm];
        var dHead = Wants(headName) ? Grad(headName, (long)vocab * dm) : [];
        double loss;
        if (_head.DType == "BF16" && _head.GetBf16(out var headBits))
            loss = CrossEntropy.LmHeadLoss(hf, headBits, shifted, t, dm, vocab, dHf, dHead, out _, gradScale);
        else
            loss = CrossEntropy.LmHeadLoss(hf, _head.ToSingle(), shifted, t, dm, vocab, dHf, dHead, out _, gradScale);

        // Backward
        var dh = new float[t * dm];
        RmsNorm.Backward(dHf, last, _norm, rstdF, dh, Wants("model.norm.weight") ? Grad("model.norm.weight", dm) : [], t, dm);
        var dmid = new float[t * inter];
        float[] dg = new float[t * inter], du = new float[t * inter], dh2 = new float[t * dm], da = new float[t * qd];
        float[] dq = new float[t * qd], dk = new float[t * kvd], dv = new float[t * kvd], dh1 = new float[t * dm];
        var scratch = new float[t * dm];
        for (var li = _layers.Length - 1; li >= 0; li--)
        {
            var L = _layers[li];
            var p = $"model.layers.{li}.";
            LayerForward(li, inputs[li], scratch, state, t); // recompute (checkpointing)
            var s = state;
            // MLP
            if (Wants(p + "mlp.down_proj.weight")) Gemm.MatMulTransA(dh, s.M, Grad(p + "mlp.down_proj.weight", (long)dm * inter), dm, t, inter, accumulate: true);
            L.Down.BackwardInput(dh, dmid, t);
            Activations.SiluMulBackward(dmid, s.G, s.U, dg, du);
            if (Wants(p + "mlp.gate_proj.weight")) Gemm.MatMulTransA(dg, s.H2, Grad(p + "mlp.gate_proj.weight", (long)inter * dm), inter, t, dm, accumulate: true);
            if (Wants(p + "mlp.up_proj.weight")) Gemm.MatMulTransA(du, s.H2, Grad(p + "mlp.up_proj.weight", (long)inter * dm), inter, t, dm, accumulate: true);
            L.Gate.BackwardInput(dg, dh2, t);
            L.Up.BackwardInput(du, dh2, t, accumulate: true);
            RmsNorm.Backward(dh2, s.X2, L.PostNorm, s.Rstd2, dh, Wants(p + "post_attention_layernorm.weight") ? Grad(p + "post_attention_layernorm.weight", dm) : [], t, dm, accumulateDx: true);
            // Attention
            if (Wants(p + "self_attn.o_proj.weight")) Gemm.MatMulTransA(dh, s.A, Grad(p + "self_attn.o_proj.weight", (long)dm * qd), dm, t, qd, accumulate: true);
            L.O.BackwardInput(dh, da, t);
            Attention.Backward(da, s.Q, s.K, s.V, s.A, s.Lse, dq, dk, dv, t, t, h, kv, hd, 1f / MathF.Sqrt(hd));
            if (c.UseRope[li])
            {
                _rope.Apply(dq, t, h, 0, inverse: true);
                _rope.Apply(dk, t, kv, 0, inverse: true);
            }
            if (Wants(p + "self_attn.q_proj.weight")) Gemm.MatMulTransA(dq, s.H1, Grad(p + "self_attn.q_proj.weight", (long)qd * dm), qd, t, dm, accumulate: true);
            if (Wants(p + "self_attn.k_proj.weight")) Gemm.MatMulTransA(dk, s.H1, Grad(p + "self_attn.k_proj.weight", (long)kvd * dm), kvd, t, dm, accumulate: true);
            if (Wants(p + "self_attn.v_proj.weight")) Gemm.MatMulTransA(dv, s.H1, Grad(p + "self_attn.v_proj.weight", (long)kvd * dm), kvd, t, dm, accumulate: true);
            L.Q.BackwardInput(dq, dh1, t);
            L.K.BackwardInput(dk, dh1, t, accumulate: true);
            L.V.BackwardInput(dv, dh1, t, accumulate: true);
            RmsNorm.Backward(dh1, inputs[li], L.InNorm, s.Rstd1, dh, Wants(p + "input_layernorm.weight") ? Grad(p + "input_layernorm.weight", dm) : [], t, dm, accumulateDx: true);
        }
        if (Wants("model.embed_tokens.weight"))
            Embedding.ScatterAdd(dh, ids, Grad("model.embed_tokens.weight", (long)vocab * dm), vocab, dm);
        inputEmbedsGrad = dh;
        return loss;
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

    public void Dispose() => _checkpoint?.Dispose();
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
