using ToolTune.Model;

namespace ToolTune.Lora;

/// <summary>
/// PEFT <c>trainable_token_indices</c> (utils/other.py <c>TrainableTokensWrapper</c>, tuners/trainable_tokens):
/// only the listed embedding rows train. Stored as <c>trainable_tokens_delta</c> [n × hidden] holding the
/// <b>absolute</b> replacement rows (initialised as copies of the original rows; merge = index_copy), saved as
/// <c>base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta</c>. A tied head reads the same rows
/// (<see cref="RowFor"/>; in the decoder via <c>CausalLM.TiedHeadExtra</c>); PEFT does not save the tied head separately.
/// </summary>
public sealed class TrainableTokens : IEmbedding
{
    public const string ModulePath = "model.embed_tokens";
    public const string DeltaName = "model.embed_tokens.token_adapter.trainable_tokens_delta";

    private readonly Dictionary<int, int> _slot = new();

    public TrainableTokens(IReadOnlyList<int> tokenIds, int vocab, int dim)
    {
        TokenIds = tokenIds.ToArray();
        Vocab = vocab;
        Dim = dim;
        for (var i = 0; i < TokenIds.Count; i++)
        {
            if ((uint)TokenIds[i] >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(tokenIds), $"trainable token id {TokenIds[i]} is outside the vocabulary (size {vocab})");
            _slot[TokenIds[i]] = i;
        }
        Delta = new Param(DeltaName, [TokenIds.Count, dim], new float[TokenIds.Count * dim]);
        Delta.MakeTrainable();
    }

    public IReadOnlyList<int> TokenIds { get; }
    public int Vocab { get; }
    public int Dim { get; }
    /// <summary>trainable_tokens_delta [n × hidden]: the replacement rows.</summary>
    public Param Delta { get; }
    public IEmbedding? Base { get; set; }
    public IEnumerable<Param> Parameters => Base is null ? [Delta] : Base.Parameters.Concat([Delta]);

    /// <summary>PEFT init: copies of the original embedding rows.</summary>
    public void Initialize(Func<int, float[]> originalRow)
    {
        for (var i = 0; i < TokenIds.Count; i++) originalRow(TokenIds[i]).AsSpan(0, Dim).CopyTo(Delta.Data.Slice(i * Dim, Dim));
    }

    /// <summary>The trained row for <paramref name="id"/>, or empty when the id is not trainable.</summary>
    public ReadOnlySpan<float> RowFor(int id) => _slot.TryGetValue(id, out var s) ? Delta.F32.Slice(s * Dim, Dim) : default;

    public void Forward(ReadOnlySpan<int> ids, Span<float> y)
    {
        Base?.Forward(ids, y);
        ForwardReplace(ids, y);
    }

    /// <summary>Rows of trainable ids are replaced by their delta rows.</summary>
    public void ForwardReplace(ReadOnlySpan<int> ids, Span<float> y)
    {
        for (var t = 0; t < ids.Length; t++)
            if (_slot.TryGetValue(ids[t], out var s)) Delta.F32.Slice(s * Dim, Dim).CopyTo(y.Slice(t * Dim, Dim));
    }

    /// <summary>dDelta[slot(id)] += dy[t]; the base receives dy with the trainable positions zeroed.</summary>
    public void Backward(ReadOnlySpan<int> ids, ReadOnlySpan<float> dy)
    {
        var g = Delta.Grad!;
        float[]? rest = null;
        for (var t = 0; t < ids.Length; t++)
        {
            if (!_slot.TryGetValue(ids[t], out var s)) continue;
            var row = dy.Slice(t * Dim, Dim);
            for (var j = 0; j < Dim; j++) g[s * Dim + j] += row[j];
            if (Base is not null) { rest ??= dy.ToArray(); Array.Clear(rest, t * Dim, Dim); }
        }
        Base?.Backward(ids, rest ?? dy);
    }
}
