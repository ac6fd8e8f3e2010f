namespace ToolTune.Model;

/// <summary>Benchmark model shapes (random init): SmolLM3-architecture smol135m and a tiny one.</summary>
public static class Presets
{
    public static ModelConfig Get(string name) => name switch
    {
        "smol135m" => Make(vocab: 49152, hidden: 576, inter: 1536, layers: 30, heads: 9, kv: 3),
        "tiny" => Make(vocab: 4096, hidden: 128, inter: 384, layers: 4, heads: 4, kv: 2),
        _ => throw new Diagnostics.ToolTuneException(Diagnostics.ErrorCodes.ModelConfigUnsupported, $"unknown preset '{name}' (smol135m, tiny)"),
    };

    private static ModelConfig Make(int vocab, int hidden, int inter, int layers, int heads, int kv) => new()
    {
        ModelType = "smollm3",
        VocabSize = vocab,
        HiddenSize = hidden,
        IntermediateSize = inter,
        NumLayers = layers,
        NumHeads = heads,
        NumKvHeads = kv,
        HeadDim = hidden / heads,
        RmsNormEps = 1e-6,
        RopeTheta = 2_000_000,
        MaxPositionEmbeddings = 8192,
        TieWordEmbeddings = true,
        UseRope = Enumerable.Range(0, layers).Select(i => (i + 1) % 4 != 0).ToArray(),
    };
}
