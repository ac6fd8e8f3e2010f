using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Model;
using ToolTune.Tensors;

namespace ToolTune.Lora;

/// <summary>
/// PEFT-format adapter files (as PEFT's <c>save_pretrained</c> writes them): <c>adapter_config.json</c> with the fields
/// PEFT 0.13 writes for a LoraConfig (the set quoted in vllm#9280), and <c>adapter_model.safetensors</c>
/// (F32, <c>{"format": "pt"}</c>) with keys <c>base_model.model.&lt;module&gt;.lora_A.weight</c> / <c>.lora_B.weight</c>,
/// <c>base_model.model.model.embed_tokens.lora_embedding_A</c> / <c>_B</c> and
/// <c>…embed_tokens.token_adapter.trainable_tokens_delta</c>; no adapter name in keys.
/// </summary>
public static class PeftAdapterIO
{
    public const string ConfigFileName = "adapter_config.json";
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>The saved tensor keys, sorted (what PEFT's <c>get_peft_model_state_dict</c> yields with save_embedding_layers=False).</summary>
    public static IReadOnlyList<string> Keys(LoraAdapter adapter) =>
        adapter.Parameters.Select(p => LoraAdapter.PeftPrefix + p.Name).OrderBy(k => k, StringComparer.Ordinal).ToArray();

    public static JsonObject ConfigJson(LoraConfig c)
    {
        var o = new JsonObject
        {
            ["alpha_pattern"] = new JsonObject(),
            ["auto_mapping"] = null,
            ["base_model_name_or_path"] = c.BaseModelNameOrPath,
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["layer_replication"] = null,
            ["layers_pattern"] = null,
            ["layers_to_transform"] = null,
            ["loftq_config"] = new JsonObject(),
            ["lora_alpha"] = c.Alpha == Math.Floor(c.Alpha) && Math.Abs(c.Alpha) < 1e15 ? JsonValue.Create((long)c.Alpha) : JsonValue.Create(c.Alpha),
            ["lora_dropout"] = c.Dropout,
            ["megatron_config"] = null,
            ["megatron_core"] = "megatron.core",
            ["modules_to_save"] = null,
            ["peft_type"] = "LORA",
            ["r"] = c.R,
            ["rank_pattern"] = new JsonObject(),
            ["revision"] = null,
            ["target_modules"] = new JsonArray(c.TargetModules.Order(StringComparer.Ordinal).Select(m => (JsonNode)JsonValue.Create(m)!).ToArray()),
            ["task_type"] = "CAUSAL_LM",
            ["use_dora"] = false,
            ["use_rslora"] = c.UseRslora,
        };
        if (c.TrainableTokenIds.Count > 0)
            o["trainable_token_indices"] = new JsonObject { ["embed_tokens"] = new JsonArray(c.TrainableTokenIds.Select(i => (JsonNode)JsonValue.Create(i)!).ToArray()) };
        return o;
    }

    /// <summary>Writes both files into <paramref name="directory"/> (each atomically: temp file + move).</summary>
    public static void Save(string directory, LoraAdapter adapter)
    {
        Directory.CreateDirectory(directory);
        var json = ConfigJson(adapter.Config).ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.WriteAllText(Path.Combine(directory, ConfigFileName), json + "\n");
        var tensors = adapter.Parameters.Select(p => SafetensorsTensor.FromSingle(LoraAdapter.PeftPrefix + p.Name, p.Shape, p.F32.ToArray()));
        AtomicFile.Write(Path.Combine(directory, WeightsFileName), tmp => SafetensorsWriter.Write(tmp, tensors, new Dictionary<string, string> { ["format"] = "pt" }));
    }

    /// <summary>Reads adapter_config.json (PEFT- or ToolTune-written) into a <see cref="LoraConfig"/>.</summary>
    public static LoraConfig LoadConfig(string directory)
    {
        var file = Path.Combine(directory, ConfigFileName);
        if (!File.Exists(file)) throw new ToolTuneException(ErrorCodes.AdapterFileMissing, $"{ConfigFileName} not found", file);
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(file)); }
        catch (JsonException ex) { throw new ToolTuneException(ErrorCodes.AdapterConfigInvalid, $"not valid JSON: {ex.Message}", file, inner: ex); }
        if (root is not JsonObject o) throw new ToolTuneException(ErrorCodes.AdapterConfigInvalid, "adapter_config.json is not a JSON object", file);
        ToolTuneException Bad(string m) => new(ErrorCodes.AdapterConfigInvalid, m, file);
        if ((string?)o["peft_type"] is { } pt && pt != "LORA") throw Bad($"peft_type '{pt}' is not supported (LORA)");
        if (o["use_dora"] is JsonValue d && d.GetValueKind() == JsonValueKind.True) throw Bad("use_dora: true is not supported");
        if (o["fan_in_fan_out"] is JsonValue f && f.GetValueKind() == JsonValueKind.True) throw Bad("fan_in_fan_out: true is not supported");
        if (o["layers_to_transform"] is { } lt && lt.GetValueKind() != JsonValueKind.Null) throw Bad("layers_to_transform is not supported");
        foreach (var pat in new[] { "rank_pattern", "alpha_pattern" })
            if (o[pat] is JsonObject po && po.Count > 0) throw Bad($"{pat} is not supported");
        try
        {
            return ReadConfig(o, file, Bad);
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException)
        {
            // GetValue<T> on a value of another JSON type ("r": "two", "target_modules": [1]).
            throw Bad($"a field has the wrong JSON type: {ex.Message}");
        }
    }

    private static LoraConfig ReadConfig(JsonObject o, string file, Func<string, ToolTuneException> Bad)
    {
        var r = o["r"]?.GetValue<int>() ?? throw Bad("'r' is missing");
        var alpha = o["lora_alpha"]?.GetValue<double>() ?? r;
        var dropout = o["lora_dropout"]?.GetValue<double>() ?? 0;
        var targets = o["target_modules"] switch
        {
            JsonArray arr => arr.Select(x => x?.GetValue<string>() ?? "").ToArray(),
            JsonValue v when v.GetValueKind() == JsonValueKind.String => throw Bad($"target_modules as a pattern ('{(string?)v}') is not supported; use a list"),
            _ => [],
        };
        var tokens = o["trainable_token_indices"] switch
        {
            JsonArray arr => arr.Select(x => x!.GetValue<int>()).ToArray(),
            JsonObject to when to["embed_tokens"] is JsonArray arr => arr.Select(x => x!.GetValue<int>()).ToArray(),
            JsonObject to when to.Count > 0 => throw Bad("trainable_token_indices for modules other than embed_tokens are not supported"),
            _ => [],
        };
        try
        {
            return new LoraConfig
            {
                R = r, Alpha = alpha, Dropout = dropout, TargetModules = targets, TrainableTokenIds = tokens.Distinct().Order().ToArray(),
                UseRslora = o["use_rslora"] is JsonValue rs && rs.GetValueKind() == JsonValueKind.True,
                BaseModelNameOrPath = (string?)o["base_model_name_or_path"],
            }.Validate(file);
        }
        catch (ToolTuneException ex) when (ex.Code == ErrorCodes.LoraUnknownModule)
        {
            throw new ToolTuneException(ex.Code, ex.Message.Replace("lora.target_modules", "target_modules"), file);
        }
    }

    /// <summary>
    /// Loads an adapter for <paramref name="model"/>, validating every tensor's shape (TT5012 names it), rejecting
    /// unknown keys (TT5013) and requiring all implied ones (TT5014). Full-weight keys PEFT adds with
    /// <c>save_embedding_layers</c> (<c>*.base_layer.weight</c>, <c>*embed_tokens.weight</c>, <c>*lm_head.weight</c>) are ignored
    /// and listed in <paramref name="ignored"/>.
    /// </summary>
    public static LoraAdapter Load(string directory, ModelConfig model, List<string>? ignored = null)
    {
        var config = LoadConfig(directory);
        var file = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(file)) throw new ToolTuneException(ErrorCodes.AdapterFileMissing, $"{WeightsFileName} not found", file);
        var adapter = LoraAdapter.Create(config, model);
        var byName = adapter.Parameters.ToDictionary(p => LoraAdapter.PeftPrefix + p.Name, StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        using var st = SafetensorsFile.Open(file);
        foreach (var (key, entry) in st.Entries.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (!byName.TryGetValue(key, out var p))
            {
                if (key.EndsWith(".base_layer.weight", StringComparison.Ordinal) || key.EndsWith("embed_tokens.weight", StringComparison.Ordinal)
                    || key.EndsWith("lm_head.weight", StringComparison.Ordinal))
                {
                    ignored?.Add(key);
                    continue;
                }
                throw new ToolTuneException(ErrorCodes.AdapterTensorUnexpected,
                    $"tensor '{key}' is not a LoRA weight of this adapter config (targets: {string.Join(", ", config.TargetModules)}; {model.NumLayers} layers)", file);
            }
            if (!entry.Shape.SequenceEqual(p.Shape))
                throw new ToolTuneException(ErrorCodes.AdapterShapeMismatch,
                    $"tensor '{key}' has shape [{string.Join(", ", entry.Shape)}], the model config needs [{string.Join(", ", p.Shape)}]", file);
            st.ReadSingle(key, p.Data);
            seen.Add(key);
        }
        var missing = byName.Keys.Where(k => !seen.Contains(k)).ToArray();
        if (missing.Length > 0)
            throw new ToolTuneException(ErrorCodes.AdapterTensorMissing,
                $"{missing.Length} tensor(s) missing, e.g. '{missing[0]}'", file);
        return adapter;
    }
}

/// <summary>Atomic writes: temp file in the same folder, then move over the target.</summary>
public static class AtomicFile
{
    public static void Write(string path, Action<string> writeTemp)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            writeTemp(tmp);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public static void WriteAllText(string path, string text) => Write(path, tmp => File.WriteAllText(tmp, text));
    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, tmp => File.WriteAllBytes(tmp, bytes));
}
