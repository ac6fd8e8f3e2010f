using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Model;
using ToolTune.Text.Tokenization;

namespace ToolTune.Demo;

/// <summary>
/// Random-init SmolLM3-architecture base models sized to a tokenizer (<c>tooltune make-model</c>), and the shapes
/// <see cref="DemoBase"/> starts from before training (<c>demo192</c> for <c>data/demo-model/</c>). Deterministic from the seed
/// (<see cref="ModelWeights.CreateRandom"/>, F32 <see cref="ModelWeights.WriteSnapshot"/>).
/// </summary>
public static class DemoModel
{
    /// <summary>Shape of a preset for a vocabulary of <paramref name="vocab"/> ids.</summary>
    public static ModelConfig Shape(string preset, int vocab) => preset switch
    {
        // 4 layers, the 4th NoPE (SmolLM3's no_rope_layer_interval 4), GQA 4:2, tied embeddings: ≈ 0.38 M parameters.
        "demo" => new ModelConfig
        {
            VocabSize = vocab, HiddenSize = 64, IntermediateSize = 192, NumLayers = 4, NumHeads = 4, NumKvHeads = 2, HeadDim = 16,
            RopeTheta = 100000, RmsNormEps = 1e-6f, TieWordEmbeddings = true, MaxPositionEmbeddings = 8192,
            UseRope = ModelConfig.DefaultUseRope(4, 4), NoRopeLayerInterval = 4,
        },
        // The previous trained demo base's shape: the same layout at hidden 128, 4 heads of 32, 2 KV heads: ≈ 1.2 M parameters.
        "demo128" => new ModelConfig
        {
            VocabSize = vocab, HiddenSize = 128, IntermediateSize = 384, NumLayers = 4, NumHeads = 4, NumKvHeads = 2, HeadDim = 32,
            RopeTheta = 100000, RmsNormEps = 1e-6f, TieWordEmbeddings = true, MaxPositionEmbeddings = 8192,
            UseRope = ModelConfig.DefaultUseRope(4, 4), NoRopeLayerInterval = 4,
        },
        // The trained demo base's shape (DemoBase's default), wider and deeper (6 layers, the 4th NoPE, 6 heads of 32, 3 KV heads): ≈ 3.2 M parameters.
        "demo192" => new ModelConfig
        {
            VocabSize = vocab, HiddenSize = 192, IntermediateSize = 576, NumLayers = 6, NumHeads = 6, NumKvHeads = 3, HeadDim = 32,
            RopeTheta = 100000, RmsNormEps = 1e-6f, TieWordEmbeddings = true, MaxPositionEmbeddings = 8192,
            UseRope = ModelConfig.DefaultUseRope(6, 4), NoRopeLayerInterval = 4,
        },
        "tiny" => ModelConfig.Preset("tiny") with { VocabSize = vocab },
        _ => throw new ToolTuneException(ErrorCodes.ModelInputInvalid, $"unknown model preset '{preset}' (demo, demo128, demo192, tiny)"),
    };

    /// <summary>Writes config.json, model.safetensors (F32) and generation_config.json into <paramref name="outDir"/>.</summary>
    public static IReadOnlyList<string> Write(string preset, string tokenizerDir, string outDir, int seed)
    {
        var config = ConfigFor(preset, Tokenizer.FromDirectory(tokenizerDir));
        using var weights = ModelWeights.CreateRandom(config, seed);
        return WriteWeights(weights, config, outDir);
    }

    /// <summary>The preset's shape sized to the tokenizer (added tokens included), bos/eos/pad from it.</summary>
    public static ModelConfig ConfigFor(string preset, Tokenizer tok)
    {
        var vocab = tok.VocabularySize;
        foreach (var t in tok.AddedTokens) vocab = Math.Max(vocab, t.Id + 1);
        var eos = tok.EosTokenId;
        return Shape(preset, vocab) with
        {
            BosTokenId = tok.BosTokenId,
            EosTokenIds = eos is { } e ? [e] : [],
            PadTokenId = tok.PadTokenId,
        };
    }

    /// <summary>config.json + model.safetensors (F32) of <paramref name="weights"/>, and generation_config.json.</summary>
    public static IReadOnlyList<string> WriteWeights(ModelWeights weights, ModelConfig config, string outDir)
    {
        var files = weights.Save(outDir).ToList();
        var gen = new JsonObject { ["_from_model_config"] = true };
        if (config.BosTokenId is { } b) gen["bos_token_id"] = b;
        if (config.EosTokenIds.Length > 0) gen["eos_token_id"] = config.EosTokenIds[0];
        if (config.PadTokenId is { } p) gen["pad_token_id"] = p;
        var genPath = Path.Combine(outDir, "generation_config.json");
        File.WriteAllText(genPath, gen.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        files.Add(genPath);
        return files;
    }
}
