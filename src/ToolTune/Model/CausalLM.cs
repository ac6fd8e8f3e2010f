using System.Numerics.Tensors;
using ToolTune.Diagnostics;
using ToolTune.Lora;
using ToolTune.Tensors;

namespace ToolTune.Model;

/// <summary>One decoder layer's modules (transformers' LlamaDecoderLayer / SmolLM3DecoderLayer). The linear layers are settable so LoRA can wrap them.</summary>
public sealed class DecoderLayer
{
    public required int Index { get; init; }
    /// <summary>SmolLM3 <c>no_rope_layers[i]</c>: true = RoPE, false = NoPE.</summary>
    public required bool UseRope { get; init; }
    public required Param InputNorm { get; init; }
    public required Param PostNorm { get; init; }
    public required ILinear Q { get; set; }
    public required ILinear K { get; set; }
    public required ILinear V { get; set; }
    public required ILinear O { get; set; }
    public required ILinear Gate { get; set; }
    public required ILinear Up { get; set; }
    public required ILinear Down { get; set; }

    public IEnumerable<ILinear> Linears => [Q, K, V, O, Gate, Up, Down];
}

/// <summary>
/// SmolLM3 / Llama decoder, llm.c style: one forward and one manual backward per module, f32 activations,
/// weights f32 or bf16 (mapped). Rows are <c>batch × seq</c> tokens, row-major [rows × hidden].
/// Training: <see cref="ForwardBackward"/> returns the mean cross-entropy over labelled tokens and adds
/// gradients into every trainable <see cref="Param"/> (choose them with <see cref="SetTrainable"/>: the same path
/// serves full fine-tuning and LoRA adapters plugged in through <see cref="ILinear"/>/<see cref="IEmbedding"/>).
/// With <see cref="GradientCheckpointing"/> only each layer's input is kept and the layer is recomputed in backward.
/// </summary>
public sealed class CausalLM
{
    private readonly float _scale;

    public CausalLM(ModelWeights weights)
    {
        Weights = weights;
        var c = Config = weights.Config;
        EmbedWeight = weights["model.embed_tokens.weight"];
        Embed = new TokenEmbedding(EmbedWeight);
        Layers = new DecoderLayer[c.NumLayers];
        for (var l = 0; l < c.NumLayers; l++)
        {
            var p = $"model.layers.{l}.";
            Linear Lin(string n) => new(weights[p + n]);
            Layers[l] = new DecoderLayer
            {
                Index = l, UseRope = c.UseRope[l],
                InputNorm = weights[p + "input_layernorm.weight"], PostNorm = weights[p + "post_attention_layernorm.weight"],
                Q = Lin("self_attn.q_proj.weight"), K = Lin("self_attn.k_proj.weight"), V = Lin("self_attn.v_proj.weight"),
                O = Lin("self_attn.o_proj.weight"), Gate = Lin("mlp.gate_proj.weight"), Up = Lin("mlp.up_proj.weight"),
                Down = Lin("mlp.down_proj.weight"),
            };
        }
        FinalNorm = weights["model.norm.weight"];
        Head = c.TieWordEmbeddings ? EmbedWeight : weights["lm_head.weight"];
        Rope = new Rope(c.HeadDim, c.RopeTheta);
        _scale = 1f / MathF.Sqrt(c.HeadDim);
    }

    public ModelWeights Weights { get; }
    public ModelConfig Config { get; }
    public Param EmbedWeight { get; }
    public IEmbedding Embed { get; set; }
    public DecoderLayer[] Layers { get; }
    public Param FinalNorm { get; }
    /// <summary>LM head weight [vocab × hidden]; the embedding's own Param when tied.</summary>
    public Param Head { get; }
    public Rope Rope { get; }
    public bool GradientCheckpointing { get; set; }

    /// <summary>Charges the time since the previous lap to <paramref name="section"/> when a profile is active.</summary>
    private static void Lap(string section) => StepProfile.Current?.Lap(section);

    /// <summary>
    /// The tied head follows the adapted embedding: with tied embeddings, an embedding LoRA adds
    /// <c>scale·(xn·B)·A</c> to the logits and trainable tokens replace their head rows (the wrappers' order: rows
    /// replaced, then the LoRA delta), i.e. the head is exactly the embedding the input side reads, E' = E + ΔE, which is
    /// what merging into the tied tensor produces. Null when untied or the embedding is not adapted (base path unchanged).
    /// </summary>
    public CrossEntropy.HeadExtra? TiedHeadExtra()
    {
        if (!Config.TieWordEmbeddings) return null;
        CrossEntropy.HeadExtra? e = null;
        for (var m = Embed; m is not null;)
        {
            switch (m)
            {
                case LoraEmbedding le:
                    if (e?.A is not null) throw new NotSupportedException("more than one embedding LoRA on a tied head");
                    e ??= new CrossEntropy.HeadExtra();
                    e.R = le.R; e.Scale = le.Scale; e.A = le.A.OwnedArray; e.B = le.B.OwnedArray; e.GradA = le.A.Grad; e.GradB = le.B.Grad;
                    m = le.Base;
                    break;
                case TrainableTokens tt:
                    if (e?.Ids is not null) throw new NotSupportedException("more than one trainable-token set on a tied head");
                    e ??= new CrossEntropy.HeadExtra();
                    e.Ids = tt.TokenIds.ToArray(); e.Rows = tt.Delta.OwnedArray; e.GradRows = tt.Delta.Grad;
                    m = tt.Base;
                    break;
                default:
                    m = null;
                    break;
            }
        }
        return e;
    }

    /// <summary>Every distinct parameter (base weights and whatever adapters the modules expose).</summary>
    public IEnumerable<Param> Parameters =>
        Embed.Parameters.Concat(Layers.SelectMany(l => new[] { l.InputNorm, l.PostNorm }.Concat(l.Linears.SelectMany(x => x.Parameters))))
            .Append(FinalNorm).Append(Head).Distinct();

    /// <summary>Makes exactly the parameters matching <paramref name="trainable"/> trainable (others frozen).</summary>
    public void SetTrainable(Func<Param, bool> trainable)
    {
        foreach (var p in Parameters)
            if (trainable(p)) p.MakeTrainable(); else p.Freeze();
    }

    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.Grad?.AsSpan().Clear();
    }

    // ---------------------------------------------------------------- activations

    /// <summary>What one layer's forward keeps for its backward (all [rows × …]).</summary>
    private sealed class LayerActs
    {
        public readonly float[] Xn1, Rstd1, Q, K, V, Att, Lse, H1, Xn2, Rstd2, G, U, A;

        public LayerActs(ModelConfig c, int rows, int batch, bool lse)
        {
            int h = c.HiddenSize, qd = c.NumHeads * c.HeadDim, kvd = c.NumKvHeads * c.HeadDim, i = c.IntermediateSize;
            Xn1 = new float[rows * h]; Rstd1 = new float[rows];
            Q = new float[rows * qd]; K = new float[rows * kvd]; V = new float[rows * kvd];
            Att = new float[rows * qd]; Lse = lse ? new float[rows * c.NumHeads] : [];
            H1 = new float[rows * h]; Xn2 = new float[rows * h]; Rstd2 = new float[rows];
            G = new float[rows * i]; U = new float[rows * i]; A = new float[rows * i];
        }
    }

    /// <summary>Keys/values of past positions per layer (after RoPE, as HF caches them); batch 1.</summary>
    public sealed class KvCache
    {
        public KvCache(ModelConfig c, int capacity)
        {
            Capacity = capacity;
            var kvd = c.NumKvHeads * c.HeadDim;
            K = new float[c.NumLayers][];
            V = new float[c.NumLayers][];
            for (var l = 0; l < c.NumLayers; l++) { K[l] = new float[capacity * kvd]; V[l] = new float[capacity * kvd]; }
        }

        public int Capacity { get; }
        public int Length { get; internal set; }
        internal float[][] K { get; }
        internal float[][] V { get; }
        public void Clear() => Length = 0;
    }

    // ---------------------------------------------------------------- one layer, forward

    /// <summary>
    /// out = layer(x). rows = batch·seq. Without a cache, sequence b attends causally within itself; with a cache
    /// (batch 1) the new keys/values are appended and the queries attend to everything cached.
    /// </summary>
    private void LayerForward(DecoderLayer L, ReadOnlySpan<float> x, LayerActs s, Span<float> output, int batch, int seq, int[] positions, KvCache? cache)
    {
        var c = Config;
        int rows = batch * seq, h = c.HiddenSize, hq = c.NumHeads, hkv = c.NumKvHeads, d = c.HeadDim, qd = hq * d, kvd = hkv * d;
        Lap("other");
        // attention block: h1 = x + o_proj(attn(rope(q), rope(k), v)) over xn1 = RMSNorm_in(x)
        RmsNorm.Forward(x, L.InputNorm.F32, s.Xn1, s.Rstd1, rows, h, c.RmsNormEps);
        Lap("norm");
        L.Q.Forward(s.Xn1, s.Q, rows);
        L.K.Forward(s.Xn1, s.K, rows);
        L.V.Forward(s.Xn1, s.V, rows);
        Lap("gemm_fwd");
        if (L.UseRope)
        {
            Rope.Apply(s.Q, rows, hq, positions);
            Rope.Apply(s.K, rows, hkv, positions);
            Lap("rope");
        }
        if (cache is null)
        {
            for (var b = 0; b < batch; b++)
                Attention.Forward(s.Q.AsSpan(b * seq * qd, seq * qd), s.K.AsSpan(b * seq * kvd, seq * kvd), s.V.AsSpan(b * seq * kvd, seq * kvd),
                    s.Att.AsSpan(b * seq * qd, seq * qd), s.Lse.Length == 0 ? [] : s.Lse.AsSpan(b * hq * seq, hq * seq), seq, seq, hq, hkv, d, _scale);
            Lap("attention_fwd");
        }
        else
        {
            var past = cache.Length;
            s.K.AsSpan(0, rows * kvd).CopyTo(cache.K[L.Index].AsSpan(past * kvd));
            s.V.AsSpan(0, rows * kvd).CopyTo(cache.V[L.Index].AsSpan(past * kvd));
            var tk = past + rows;
            Attention.Forward(s.Q, cache.K[L.Index].AsSpan(0, tk * kvd), cache.V[L.Index].AsSpan(0, tk * kvd), s.Att, [], rows, tk, hq, hkv, d, _scale);
            Lap("attention_fwd");
        }
        L.O.Forward(s.Att, s.H1, rows);
        Lap("gemm_fwd");
        TensorPrimitives.Add(s.H1.AsSpan(0, rows * h), x.Slice(0, rows * h), s.H1);
        Lap("residual");
        // MLP block: out = h1 + down(silu(gate(xn2)) · up(xn2)), xn2 = RMSNorm_post(h1)
        RmsNorm.Forward(s.H1, L.PostNorm.F32, s.Xn2, s.Rstd2, rows, h, c.RmsNormEps);
        Lap("norm");
        L.Gate.Forward(s.Xn2, s.G, rows);
        L.Up.Forward(s.Xn2, s.U, rows);
        Lap("gemm_fwd");
        Activations.SiluMul(s.G.AsSpan(0, rows * c.IntermediateSize), s.U.AsSpan(0, rows * c.IntermediateSize), s.A);
        Lap("silu");
        L.Down.Forward(s.A, output, rows);
        Lap("gemm_fwd");
        TensorPrimitives.Add(output.Slice(0, rows * h), s.H1.AsSpan(0, rows * h), output);
        Lap("residual");
    }

    // ---------------------------------------------------------------- one layer, backward

    private sealed class Scratch(ModelConfig c, int rows)
    {
        public readonly float[] DA = new float[rows * c.IntermediateSize], DG = new float[rows * c.IntermediateSize], DU = new float[rows * c.IntermediateSize];
        public readonly float[] DXn = new float[rows * c.HiddenSize];
        public readonly float[] DAtt = new float[rows * c.NumHeads * c.HeadDim], DQ = new float[rows * c.NumHeads * c.HeadDim];
        public readonly float[] DK = new float[rows * c.NumKvHeads * c.HeadDim], DV = new float[rows * c.NumKvHeads * c.HeadDim];
    }

    /// <summary>dX = dL/dx given dOut = dL/d(layer output); adds parameter gradients. dX may not alias dOut.</summary>
    private void LayerBackward(DecoderLayer L, ReadOnlySpan<float> x, LayerActs s, ReadOnlySpan<float> dOut, Span<float> dX, Scratch w, int batch, int seq, int[] positions)
    {
        var c = Config;
        int rows = batch * seq, h = c.HiddenSize, hq = c.NumHeads, hkv = c.NumKvHeads, d = c.HeadDim, qd = hq * d, kvd = hkv * d;
        Lap("other");
        // MLP: out = h1 + down(a); a = silu(g)·u; g, u from xn2 = RMSNorm_post(h1)
        L.Down.Backward(dOut, s.A, w.DA, rows, accumulateDx: false);
        Lap("gemm_bwd");
        var inter = rows * c.IntermediateSize;
        Activations.SiluMulBackward(w.DA.AsSpan(0, inter), s.G.AsSpan(0, inter), s.U.AsSpan(0, inter), w.DG, w.DU);
        Lap("silu");
        L.Gate.Backward(w.DG, s.Xn2, w.DXn, rows, accumulateDx: false);
        L.Up.Backward(w.DU, s.Xn2, w.DXn, rows, accumulateDx: true);
        Lap("gemm_bwd");
        dOut.Slice(0, rows * h).CopyTo(dX);                         // residual: dh1 = dOut + norm backward
        RmsNorm.Backward(w.DXn, s.H1, L.PostNorm.F32, s.Rstd2, dX, L.PostNorm.Grad ?? [], rows, h, accumulateDx: true);
        Lap("norm");
        // attention: h1 = x + o(att)
        L.O.Backward(dX, s.Att, w.DAtt, rows, accumulateDx: false);
        Lap("gemm_bwd");
        for (var b = 0; b < batch; b++)
            Attention.Backward(w.DAtt.AsSpan(b * seq * qd, seq * qd), s.Q.AsSpan(b * seq * qd, seq * qd), s.K.AsSpan(b * seq * kvd, seq * kvd),
                s.V.AsSpan(b * seq * kvd, seq * kvd), s.Att.AsSpan(b * seq * qd, seq * qd), s.Lse.AsSpan(b * hq * seq, hq * seq),
                w.DQ.AsSpan(b * seq * qd, seq * qd), w.DK.AsSpan(b * seq * kvd, seq * kvd), w.DV.AsSpan(b * seq * kvd, seq * kvd),
                seq, seq, hq, hkv, d, _scale);
        Lap("attention_bwd");
        if (L.UseRope)
        {
            Rope.Apply(w.DQ, rows, hq, positions, inverse: true);
            Rope.Apply(w.DK, rows, hkv, positions, inverse: true);
            Lap("rope");
        }
        L.Q.Backward(w.DQ, s.Xn1, w.DXn, rows, accumulateDx: false);
        L.K.Backward(w.DK, s.Xn1, w.DXn, rows, accumulateDx: true);
        L.V.Backward(w.DV, s.Xn1, w.DXn, rows, accumulateDx: true);
        Lap("gemm_bwd");
        RmsNorm.Backward(w.DXn, x, L.InputNorm.F32, s.Rstd1, dX, L.InputNorm.Grad ?? [], rows, h, accumulateDx: true);
        Lap("norm");
    }

    // ---------------------------------------------------------------- whole model

    private int[] Positions(int batch, int seq, int start = 0)
    {
        var pos = new int[batch * seq];
        for (var b = 0; b < batch; b++)
            for (var t = 0; t < seq; t++) pos[b * seq + t] = start + t;
        return pos;
    }

    private void CheckIds(ReadOnlySpan<int> ids, int batch, int seq)
    {
        if (batch <= 0 || seq <= 0 || ids.Length != batch * seq)
            throw new ToolTuneException(ErrorCodes.ModelInputInvalid, $"{ids.Length} token ids for batch {batch} × seq {seq}");
        for (var i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)Config.VocabSize)
                throw new ToolTuneException(ErrorCodes.ModelInputInvalid, $"token id {ids[i]} at index {i} is outside the vocabulary (size {Config.VocabSize})");
    }

    // Workspace sized for the most rows seen so far and reused by every call with as many or fewer: micro-batches packed
    // by length change their row count nearly every step, and buffers sized to each step's rows were ≈ 88 KB a row of fresh,
    // zeroed large-object memory per step at the demo's width. Every kernel below reads and writes only its call's rows.
    private int _wsCapacity = -1;
    private float[][] _wsXs = [];
    private LayerActs?[] _wsActs = [];
    private Scratch? _wsScratch;
    private HeadBuffers? _wsHead;
    private (int Batch, int Seq, int[] Positions) _wsPositions = (0, 0, []);

    /// <summary>Final norm, LM head and residual-gradient buffers of one step ([rows × hidden] unless noted).</summary>
    private sealed class HeadBuffers(int rows, int h)
    {
        public readonly float[] Xn = new float[rows * h], Rstd = new float[rows], DXn = new float[rows * h], Dx = new float[rows * h], DPrev = new float[rows * h];
        public readonly int[] Shifted = new int[rows];
    }

    private void Workspace(int rows)
    {
        if (rows <= _wsCapacity) return;
        _wsCapacity = rows;
        _wsXs = new float[Config.NumLayers + 1][];
        for (var l = 0; l <= Config.NumLayers; l++) _wsXs[l] = new float[rows * Config.HiddenSize];
        _wsActs = new LayerActs?[Config.NumLayers];
        _wsScratch = null;
        _wsHead = null;
    }

    /// <summary>Positions 0..seq−1 per sequence, cached for the last (batch, seq) (read-only for callers).</summary>
    private int[] CachedPositions(int batch, int seq)
    {
        if (_wsPositions.Batch != batch || _wsPositions.Seq != seq) _wsPositions = (batch, seq, Positions(batch, seq));
        return _wsPositions.Positions;
    }

    /// <summary>Activations for layer l (kept per layer when the backward needs them, else one shared set).</summary>
    private LayerActs Acts(int l, bool keep) =>
        keep ? _wsActs[l] ??= new LayerActs(Config, _wsCapacity, 1, lse: true) : _wsActs[0] ??= new LayerActs(Config, _wsCapacity, 1, lse: true);

    /// <summary>Frees the reusable activation buffers (e.g. before a long idle period).</summary>
    public void ReleaseWorkspace()
    {
        _wsCapacity = -1;
        _wsXs = [];
        _wsActs = [];
        _wsScratch = null;
        _wsHead = null;
        _wsPositions = (0, 0, []);
    }

    /// <summary>Runs embedding + layers. Returns the inputs of every layer plus the final pre-norm hidden (L+1 arrays).</summary>
    private float[][] RunLayers(ReadOnlySpan<int> ids, ReadOnlySpan<float> inputEmbeds, int batch, int seq, bool keep)
    {
        var c = Config;
        var rows = batch * seq;
        Workspace(rows);
        var xs = _wsXs;
        if (!inputEmbeds.IsEmpty) inputEmbeds.Slice(0, rows * c.HiddenSize).CopyTo(xs[0]);
        else Embed.Forward(ids, xs[0]);
        Lap("embedding");
        var positions = CachedPositions(batch, seq);
        for (var l = 0; l < c.NumLayers; l++)
            LayerForward(Layers[l], xs[l], Acts(l, keep), xs[l + 1], batch, seq, positions, null);
        return xs;
    }

    /// <summary>Logits [batch·seq × vocab] for every position (f32).</summary>
    public float[] Logits(ReadOnlySpan<int> ids, int batch = 1, int seq = -1)
    {
        if (seq < 0) seq = ids.Length / Math.Max(1, batch);
        CheckIds(ids, batch, seq);
        var c = Config;
        var rows = batch * seq;
        var xs = RunLayers(ids, [], batch, seq, keep: false);
        var xn = new float[rows * c.HiddenSize];
        RmsNorm.Forward(xs[^1], FinalNorm.F32, xn, new float[rows], rows, c.HiddenSize, c.RmsNormEps);
        var logits = new float[(long)rows * c.VocabSize];
        Linear.MatMulWT(xn, Head, logits, rows, accumulate: false);
        if (TiedHeadExtra() is { } extra) CrossEntropy.ApplyHeadExtra(extra, xn, logits, rows, c.HiddenSize, c.VocabSize);
        return logits;
    }

    /// <summary>HF causal-LM labels (aligned with the ids; position t is scored on predicting labels[t+1]) shifted left per sequence.</summary>
    public static int[] ShiftLabels(ReadOnlySpan<int> labels, int batch, int seq)
    {
        var shifted = new int[batch * seq];
        ShiftLabels(labels, batch, seq, shifted);
        return shifted;
    }

    private static void ShiftLabels(ReadOnlySpan<int> labels, int batch, int seq, Span<int> shifted)
    {
        for (var b = 0; b < batch; b++)
            for (var t = 0; t < seq; t++)
                shifted[b * seq + t] = t + 1 < seq ? labels[b * seq + t + 1] : CrossEntropy.IgnoreIndex;
    }

    /// <summary>Mean cross-entropy over labelled tokens (HF <c>ForCausalLMLoss</c>, labels aligned with ids, −100 ignored), no gradients.</summary>
    public double Loss(ReadOnlySpan<int> ids, ReadOnlySpan<int> labels, int batch, int seq) =>
        Run(ids, labels, [], batch, seq, backward: false, dInputEmbeds: []);

    /// <summary>
    /// Forward and backward: returns the loss and adds d loss / d p into every trainable parameter's Grad (call
    /// <see cref="ZeroGrad"/> between steps yourself; accumulation across micro-batches is by design). When
    /// <paramref name="dInputEmbeds"/> is non-empty it receives d loss / d (input embeddings) [rows × hidden].
    /// <paramref name="inputEmbeds"/>, when given, replaces the embedding lookup (HF <c>inputs_embeds</c>).
    /// <paramref name="normalizer"/> replaces the labelled-token count as divisor (gradient accumulation).
    /// </summary>
    public double ForwardBackward(ReadOnlySpan<int> ids, ReadOnlySpan<int> labels, int batch, int seq,
        Span<float> dInputEmbeds = default, ReadOnlySpan<float> inputEmbeds = default, double normalizer = 0) =>
        Run(ids, labels, inputEmbeds, batch, seq, backward: true, dInputEmbeds, normalizer);

    private double Run(ReadOnlySpan<int> ids, ReadOnlySpan<int> labels, ReadOnlySpan<float> inputEmbeds, int batch, int seq, bool backward,
        Span<float> dInputEmbeds, double normalizer = 0)
    {
        var c = Config;
        int rows = batch * seq, h = c.HiddenSize;
        if (inputEmbeds.IsEmpty) CheckIds(ids, batch, seq);
        else if (inputEmbeds.Length < rows * h) throw new ToolTuneException(ErrorCodes.ModelInputInvalid, "inputs_embeds smaller than batch × seq × hidden");
        if (labels.Length != rows) throw new ToolTuneException(ErrorCodes.ModelInputInvalid, $"{labels.Length} labels for batch {batch} × seq {seq}");
        Lap("other");
        var keep = backward && !GradientCheckpointing;
        var xs = RunLayers(ids, inputEmbeds, batch, seq, keep);
        var hb = _wsHead ??= new HeadBuffers(_wsCapacity, h);
        var shifted = hb.Shifted;
        ShiftLabels(labels, batch, seq, shifted);

        // final norm + LM head + cross-entropy (fused, chunked)
        var xn = hb.Xn;
        var rstd = hb.Rstd;
        RmsNorm.Forward(xs[^1], FinalNorm.F32, xn, rstd, rows, h, c.RmsNormEps);
        var dxn = backward ? hb.DXn : [];
        var dHead = backward && Head.Grad is { } hg ? hg.AsSpan() : [];
        var headExtra = TiedHeadExtra();
        if (headExtra is not null && !backward) { headExtra.GradA = headExtra.GradB = headExtra.GradRows = null; }
        double loss = Head.IsBF16
            ? CrossEntropy.LmHeadLoss(xn, Head.BF16, shifted, rows, h, c.VocabSize, dxn, dHead, out _, 1f, 0, normalizer, headExtra)
            : CrossEntropy.LmHeadLoss(xn, Head.F32, shifted, rows, h, c.VocabSize, dxn, dHead, out _, 1f, 0, normalizer, headExtra);
        Lap("lm_head_ce");
        if (!backward) return loss;

        var dx = hb.Dx;
        var dPrev = hb.DPrev;
        RmsNorm.Backward(dxn, xs[^1], FinalNorm.F32, rstd, dx, FinalNorm.Grad ?? [], rows, h);
        var positions = CachedPositions(batch, seq);
        var scratch = _wsScratch ??= new Scratch(c, _wsCapacity);
        for (var l = c.NumLayers - 1; l >= 0; l--)
        {
            var s = Acts(l, keep);
            if (!keep) LayerForward(Layers[l], xs[l], s, xs[l + 1], batch, seq, positions, null); // recompute (output is identical)
            LayerBackward(Layers[l], xs[l], s, dx, dPrev, scratch, batch, seq, positions);
            (dx, dPrev) = (dPrev, dx);
        }
        if (!dInputEmbeds.IsEmpty) dx.AsSpan(0, rows * h).CopyTo(dInputEmbeds);
        Lap("other");
        if (inputEmbeds.IsEmpty) Embed.Backward(ids, dx.AsSpan(0, rows * h));
        Lap("embedding");
        return loss;
    }

    // ---------------------------------------------------------------- incremental (KV cache)

    /// <summary>
    /// Feeds <paramref name="ids"/> (batch 1) after what <paramref name="cache"/> holds, appends their keys/values,
    /// and returns the logits of the last new position [vocab].
    /// </summary>
    public float[] Step(ReadOnlySpan<int> ids, KvCache cache)
    {
        var c = Config;
        var rows = ids.Length;
        CheckIds(ids, 1, rows);
        if (cache.Length + rows > cache.Capacity)
            throw new ToolTuneException(ErrorCodes.ModelInputInvalid, $"KV cache full ({cache.Length} + {rows} > {cache.Capacity})");
        var x = new float[rows * c.HiddenSize];
        var y = new float[rows * c.HiddenSize];
        Embed.Forward(ids, x);
        var positions = Positions(1, rows, cache.Length);
        var s = new LayerActs(c, rows, 1, lse: false);
        foreach (var L in Layers)
        {
            LayerForward(L, x, s, y, 1, rows, positions, cache);
            (x, y) = (y, x);
        }
        cache.Length += rows;
        var last = x.AsSpan((rows - 1) * c.HiddenSize, c.HiddenSize);
        var xn = new float[c.HiddenSize];
        RmsNorm.Forward(last, FinalNorm.F32, xn, new float[1], 1, c.HiddenSize, c.RmsNormEps);
        var logits = new float[c.VocabSize];
        Lap("other");
        Linear.MatMulWT(xn, Head, logits, 1, accumulate: false);
        if (TiedHeadExtra() is { } extra) CrossEntropy.ApplyHeadExtra(extra, xn, logits, 1, c.HiddenSize, c.VocabSize);
        Lap("lm_head");
        return logits;
    }
}
