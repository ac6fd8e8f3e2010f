using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Tensors;
using ToolTune.Text.Tokenization;

namespace ToolTune.Model;

/// <summary>
/// A Hugging Face snapshot folder (a base model or a merged one): which of its files decide what a stage computes, and
/// its end-of-turn (stop) ids. Three stop-id rules live here because their callers publish different things:
/// <list type="bullet">
/// <item><see cref="StopIds"/>: what generation stops on (the generate CLI, the server, Evaluate) — config.json and
/// generation_config.json <c>eos_token_id</c>, the tokenizer's eos and <c>&lt;|im_end|&gt;</c>, sorted, within the vocabulary
/// (vLLM reads the same files).</item>
/// <item><see cref="MergedStopIds"/>: the list a merge writes into generation_config.json — <c>&lt;|im_end|&gt;</c> first,
/// then tokenizer_config.json's eos token, then config.json's eos ids, in that order, from the tokenizer files alone.</item>
/// <item><see cref="TokenizerStopIds"/>: the fallback when no snapshot is at hand (an evaluation given only a tokenizer).</item>
/// </list>
/// </summary>
public sealed class ModelSnapshot(string dir)
{
    public const string GenerationConfigFileName = "generation_config.json";

    /// <summary>The folder as given (not normalised: stage fingerprints record these paths).</summary>
    public string Dir { get; } = dir;

    /// <summary>The files that decide the weights: config.json, then *.safetensors (ordinal), then the shard index.</summary>
    public IEnumerable<string> WeightFiles()
    {
        if (!Directory.Exists(Dir)) yield break;
        var cfg = Path.Combine(Dir, ModelConfig.FileName);
        if (File.Exists(cfg)) yield return cfg;
        foreach (var f in Directory.EnumerateFiles(Dir, "*.safetensors").Order(StringComparer.Ordinal)) yield return f;
        var index = Path.Combine(Dir, SafetensorsCheckpoint.IndexFileName);
        if (File.Exists(index)) yield return index;
    }

    /// <summary>
    /// What a merge reads from its base: the weight files and generation_config.json (its eos ids reach the merged
    /// generation_config.json), all in ordinal order of their paths.
    /// </summary>
    public IEnumerable<string> MergeInputFiles()
    {
        if (!Directory.Exists(Dir)) return [];
        return Directory.EnumerateFiles(Dir).Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal)
                                                        || Path.GetFileName(f) is ModelConfig.FileName or SafetensorsCheckpoint.IndexFileName or GenerationConfigFileName)
            .Order(StringComparer.Ordinal);
    }

    /// <summary>
    /// Stop ids as the generate CLI and vLLM use them: config.json and generation_config.json <c>eos_token_id</c>, the
    /// tokenizer's eos token and <c>&lt;|im_end|&gt;</c>, within the vocabulary.
    /// </summary>
    public int[] StopIds(ModelConfig config, Tokenizer? tokenizer)
    {
        var ids = new SortedSet<int>(config.EosTokenIds);
        var gen = Path.Combine(Dir, GenerationConfigFileName);
        if (File.Exists(gen))
        {
            try
            {
                switch (JsonNode.Parse(File.ReadAllText(gen))?["eos_token_id"])
                {
                    case JsonValue v when v.TryGetValue<int>(out var one): ids.Add(one); break;
                    case JsonArray a: foreach (var x in a) if (x is JsonValue xv && xv.TryGetValue<int>(out var i)) ids.Add(i); break;
                }
            }
            catch (JsonException e)
            {
                throw new ToolTuneException(ErrorCodes.ModelInputInvalid, $"invalid JSON: {e.Message}", gen, inner: e);
            }
        }
        if (tokenizer?.EosTokenId is { } eos) ids.Add(eos);
        if (tokenizer?.TokenToId("<|im_end|>") is { } imEnd) ids.Add(imEnd);
        ids.RemoveWhere(i => i < 0 || i >= config.VocabSize);
        return [.. ids];
    }

    /// <summary>
    /// The end-of-turn ids a merge writes: <c>&lt;|im_end|&gt;</c>, the eos token of <paramref name="tokenizerDir"/>'s
    /// tokenizer_config.json and <paramref name="model"/>'s eos ids (ordered, distinct), looked up in tokenizer.json's
    /// vocabulary and added tokens without loading the tokenizer.
    /// </summary>
    public static IReadOnlyList<int> MergedStopIds(ModelConfig model, string tokenizerDir)
    {
        var ids = new List<int>();
        void Add(int? id) { if (id is { } i && i >= 0 && !ids.Contains(i)) ids.Add(i); }
        var vocab = TokenIds(tokenizerDir);
        Add(vocab.GetValueOrDefault("<|im_end|>", -1));
        var tc = Path.Combine(tokenizerDir, "tokenizer_config.json");
        if (File.Exists(tc) && JsonNode.Parse(File.ReadAllText(tc)) is JsonObject tco)
        {
            var eos = tco["eos_token"] switch
            {
                JsonObject o => (string?)o["content"],
                JsonValue v when v.GetValueKind() == JsonValueKind.String => (string?)v,
                _ => null,
            };
            if (eos is not null && vocab.TryGetValue(eos, out var eid)) Add(eid);
        }
        foreach (var e in model.EosTokenIds) Add(e);
        return ids;
    }

    private static Dictionary<string, int> TokenIds(string tokenizerDir)
    {
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        var tj = Path.Combine(tokenizerDir, "tokenizer.json");
        if (!File.Exists(tj)) return map;
        using var doc = JsonDocument.Parse(File.ReadAllBytes(tj));
        if (doc.RootElement.TryGetProperty("model", out var m) && m.TryGetProperty("vocab", out var v) && v.ValueKind == JsonValueKind.Object)
            foreach (var p in v.EnumerateObject())
                if (p.Value.TryGetInt32(out var id)) map[p.Name] = id;
        if (doc.RootElement.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
            foreach (var t in added.EnumerateArray())
                if (t.TryGetProperty("content", out var c) && t.TryGetProperty("id", out var id) && id.TryGetInt32(out var i)) map[c.GetString()!] = i;
        return map;
    }

    /// <summary>
    /// Template kwargs for a snapshot used on its own (<c>tooltune serve</c>, <c>tooltune evaluate</c>): the given kwargs,
    /// plus the tokenizer's <c>bos_token</c>, <c>eos_token</c> and <c>pad_token</c> where they are not given. (A pipeline
    /// run's kwargs come from its config instead: <c>Pipeline/Stages/ModelText</c>.)
    /// </summary>
    public static JsonObject TemplateKwargs(JsonObject given, Tokenizer tokenizer)
    {
        var kwargs = (JsonObject)given.DeepClone();
        void Special(string key, string? value) { if (value is not null && !kwargs.ContainsKey(key)) kwargs[key] = value; }
        Special("bos_token", tokenizer.BosToken);
        Special("eos_token", tokenizer.EosToken);
        Special("pad_token", tokenizer.PadToken);
        return kwargs;
    }

    /// <summary>
    /// End-of-turn ids from a tokenizer alone: its eos plus <c>&lt;|im_end|&gt;</c>, <c>&lt;|end_of_text|&gt;</c>,
    /// <c>&lt;|endoftext|&gt;</c> when present (SmolLM3: 128012, 128001 — its generation eos list). Callers with a snapshot
    /// pass <see cref="StopIds"/> instead.
    /// </summary>
    public static IReadOnlyList<int> TokenizerStopIds(Tokenizer tokenizer)
    {
        var ids = new List<int>();
        if (tokenizer.EosTokenId is { } eos) ids.Add(eos);
        foreach (var t in new[] { "<|im_end|>", "<|end_of_text|>", "<|endoftext|>" })
            if (tokenizer.TokenToId(t) is { } id && !ids.Contains(id)) ids.Add(id);
        return ids;
    }
}
