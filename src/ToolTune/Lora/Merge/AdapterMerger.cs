using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Win32.SafeHandles;
using ToolTune.Diagnostics;
using ToolTune.Model;
using ToolTune.Tensors;

namespace ToolTune.Lora.Merge;

/// <summary>How a tied head (<c>tie_word_embeddings: true</c>) is treated when the adapter changes <c>embed_tokens</c>.</summary>
public enum TiedHeadMode
{
    /// <summary>
    /// Default. Keep the tie: the embedding delta is merged into the one tied tensor and the head follows it. This is what
    /// ToolTune trains (the tied head follows the adapted embedding), so the merged logits equal base + adapter.
    /// </summary>
    KeepTied,
    /// <summary>
    /// Opt-in (<c>--untie-head</c>): PEFT's runtime semantics, for adapters trained by PEFT itself, which adapts only the input
    /// side of a tied embedding. The snapshot is untied: <c>embed_tokens</c> merged, <c>lm_head.weight</c> = the base
    /// embedding (byte copy), <c>tie_word_embeddings: false</c>. Not what ToolTune trained.
    /// </summary>
    Untie,
}

/// <summary>What to merge and where.</summary>
public sealed record MergeOptions
{
    public required string BaseDir { get; init; }
    public required string AdapterDir { get; init; }
    public required string OutputDir { get; init; }
    /// <summary>Folder with tokenizer.json / tokenizer_config.json / special_tokens_map.json (default: <see cref="BaseDir"/>).</summary>
    public string? TokenizerDir { get; init; }
    /// <summary>The chat template the model was trained with (a .jinja file); default: the tokenizer folder's own.</summary>
    public string? ChatTemplateFile { get; init; }
    /// <summary>Template text (wins over <see cref="ChatTemplateFile"/>; the stage passes the rendered run's template).</summary>
    public string? ChatTemplateText { get; init; }
    /// <summary>Thinking used in training: serving.md adds the reasoning parser.</summary>
    public bool Thinking { get; init; }
    public TiedHeadMode TiedHead { get; init; } = TiedHeadMode.KeepTied;
    /// <summary>LoRA module name in the base + adapter serving command.</summary>
    public string AdapterName { get; init; } = "tooltune";
    /// <summary>Rows per f32 work chunk are chosen so one chunk holds about this many floats.</summary>
    public int ChunkFloats { get; init; } = 4 << 20;
    public Action<string>? Log { get; init; }
    /// <summary>The folder as it will be served (serving.md); default <see cref="OutputDir"/> (the stage writes into a temp folder).</summary>
    public string? PublishedDir { get; init; }
    /// <summary>serving.md names folders relative to this one (the project root for the stage; default: the current
    /// directory), so the same inputs give the same bytes in any checkout folder.</summary>
    public string? PathBase { get; init; }
}

public sealed record MergeResult(string OutputDir, int MergedTensors, int CopiedTensors, bool Untied, IReadOnlyList<int> StopIds,
    long LargestTensorBytes, IReadOnlyList<string> Files, IReadOnlyList<string> Warnings);

/// <summary>
/// Folds a PEFT LoRA adapter into its base and writes a complete Hugging Face snapshot:
/// <c>W' = W + scale·B·A</c> (<c>scale</c> = alpha/r, alpha/√r with rsLoRA) in f32 via SGEMM, stored back in the tensor's
/// own dtype (BF16 round-to-nearest-even, F16, F32); embedding LoRA <c>+ scale·(B·A)ᵀ</c> into <c>embed_tokens</c>;
/// trainable-token rows written in (replaced first, then the embedding delta added, the order of the runtime wrappers).
/// Streams: tensors are processed in row chunks of about <see cref="MergeOptions.ChunkFloats"/> floats read with
/// positioned reads (no mapping of the data, so the resident set does not grow with the checkpoint); unchanged tensors
/// are copied byte for byte; where a module's delta element is exactly 0 the original bits are kept (an all-zero
/// adapter reproduces the base bit for bit, -0 included). Shards keep the base's names and boundaries.
/// </summary>
public static partial class AdapterMerger
{
    public const string ServingFileName = "serving.md";
    public const string TemplateFileName = "chat_template.jinja";
    public const string GenerationConfigFileName = ModelSnapshot.GenerationConfigFileName;
    public static readonly string[] TokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];
    private const string EmbedName = "model.embed_tokens.weight";
    private const string HeadName = "lm_head.weight";

    /// <summary>Merges into a temporary sibling of <see cref="MergeOptions.OutputDir"/> and moves it into place (old output removed only after).</summary>
    public static MergeResult Merge(MergeOptions options, CancellationToken cancellation = default)
    {
        var outDir = Path.GetFullPath(options.OutputDir);
        var parent = Path.GetDirectoryName(outDir) ?? throw new ToolTuneException(ErrorCodes.MergeOutputNotWritable, "output folder has no parent", outDir);
        var temp = Path.Combine(parent, $".{Path.GetFileName(outDir)}.merge-{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(parent);
            Directory.CreateDirectory(temp);
            using (File.Create(Path.Combine(temp, ".probe"), 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new ToolTuneException(ErrorCodes.MergeOutputNotWritable, $"cannot write the output folder: {ex.Message}", outDir, inner: ex);
        }
        MergeResult result;
        try
        {
            result = MergeInto(options with { OutputDir = temp, PublishedDir = options.PublishedDir ?? outDir }, cancellation);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
        string? old = null;
        try
        {
            if (Directory.Exists(outDir))
            {
                old = Path.Combine(parent, $".{Path.GetFileName(outDir)}.old-{Guid.NewGuid():N}");
                Directory.Move(outDir, old);
            }
            Directory.Move(temp, outDir);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            if (old is not null && !Directory.Exists(outDir)) { try { Directory.Move(old, outDir); old = null; } catch (IOException) { } }
            TryDelete(temp);
            throw new ToolTuneException(ErrorCodes.MergeOutputNotWritable, $"cannot move the merged snapshot into place: {ex.Message}", outDir, inner: ex);
        }
        if (old is not null) TryDelete(old);
        return result with { OutputDir = outDir, Files = result.Files.Select(f => Path.Combine(outDir, Path.GetRelativePath(temp, f))).ToArray() };
    }

    /// <summary>Writes the merged snapshot into an existing, empty folder (the pipeline stage's temporary output folder).</summary>
    public static MergeResult MergeInto(MergeOptions options, CancellationToken cancellation = default)
    {
        var baseDir = Path.GetFullPath(options.BaseDir);
        var outDir = Path.GetFullPath(options.OutputDir);
        var warnings = new List<string>();
        void Warn(string m) { warnings.Add(m); options.Log?.Invoke("warning: " + m); }

        var configPath = Path.Combine(baseDir, ModelConfig.FileName);
        if (!File.Exists(configPath)) throw new ToolTuneException(ErrorCodes.MergeBaseInvalid, $"base model has no {ModelConfig.FileName}", configPath);
        var model = ModelConfig.Load(baseDir);
        var rawConfig = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject
                        ?? throw new ToolTuneException(ErrorCodes.MergeBaseInvalid, "config.json is not a JSON object", configPath);
        using var ckpt = SafetensorsCheckpoint.Open(baseDir);
        model.Validate(ckpt);

        var adapter = LoadAdapter(options.AdapterDir, model, ckpt, baseDir);
        var plan = Plan(adapter, model, ckpt, options.TiedHead);
        if (plan.Untie) options.Log?.Invoke($"tied head: the adapter changes {EmbedName}; writing {HeadName} = base embedding and tie_word_embeddings: false (PEFT runtime semantics, --untie-head)");

        // ---- weights, shard by shard, tensor by tensor ----
        var scratch = new Scratch();
        var files = new List<string>();
        var isIndexed = File.Exists(Path.Combine(baseDir, SafetensorsCheckpoint.IndexFileName));
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        long totalSize = 0, largest = 0;
        int merged = 0, copied = 0;
        foreach (var file in ckpt.Files)
        {
            var shardName = Path.GetFileName(file.Path);
            var names = file.Entries.Keys.Where(n => ckpt.FileOf(n) == file).ToList();
            if (plan.Untie)
            {
                // the untied head goes beside the embedding; a tied checkpoint's own (ignored) lm_head.weight is replaced by it
                names.Remove(HeadName);
                if (file == ckpt.FileOf(EmbedName)) names.Add(HeadName);
            }
            var outputs = new List<SafetensorsStreamTensor>();
            foreach (var name in names)
            {
                var src = name == HeadName && plan.Untie ? EmbedName : name;
                var e = ckpt.Entry(src);
                var bytes = e.End - e.Begin;
                largest = Math.Max(largest, bytes);
                var job = plan.Jobs.GetValueOrDefault(name);
                if (job is null) copied++; else merged++;
                var srcFile = ckpt.FileOf(src);
                outputs.Add(new SafetensorsStreamTensor(name, e.DType, e.Shape, bytes,
                    s => { if (job is null) CopyRaw(srcFile, e, s, scratch, cancellation); else MergeTensor(srcFile, e, job, s, options.ChunkFloats, scratch, cancellation); }));
                weightMap[name] = shardName;
                totalSize += bytes;
            }
            var outPath = Path.Combine(outDir, shardName);
            SafetensorsWriter.WriteStreaming(outPath, outputs, new Dictionary<string, string> { ["format"] = "pt" });
            files.Add(outPath);
        }
        if (isIndexed)
        {
            var index = Path.Combine(outDir, SafetensorsCheckpoint.IndexFileName);
            var o = new JsonObject
            {
                ["metadata"] = new JsonObject { ["total_size"] = totalSize },
                ["weight_map"] = new JsonObject(weightMap.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            };
            File.WriteAllText(index, o.ToJsonString(Indented) + "\n");
            files.Add(index);
        }

        // ---- config.json: unchanged architecture, dtype recorded, untied when needed ----
        var dtype = ckpt.Entry(EmbedName).DType switch { "BF16" => "bfloat16", "F16" => "float16", "F32" => "float32", var d => d.ToLowerInvariant() };
        rawConfig["torch_dtype"] = dtype;
        if (rawConfig.ContainsKey("dtype")) rawConfig["dtype"] = dtype;
        if (plan.Untie) rawConfig["tie_word_embeddings"] = false;
        var cfgOut = Path.Combine(outDir, ModelConfig.FileName);
        File.WriteAllText(cfgOut, rawConfig.ToJsonString(Indented) + "\n");
        files.Add(cfgOut);

        // ---- tokenizer files, chat template ----
        var tokDir = Path.GetFullPath(options.TokenizerDir ?? baseDir);
        foreach (var name in TokenizerFiles)
        {
            var p = Path.Combine(tokDir, name);
            if (!File.Exists(p)) continue;
            var dst = Path.Combine(outDir, name);
            File.Copy(p, dst, overwrite: true);
            files.Add(dst);
        }
        if (!File.Exists(Path.Combine(tokDir, "tokenizer.json"))) Warn($"no tokenizer.json in {tokDir}: the merged folder has no tokenizer");
        var template = ResolveTemplate(options, tokDir);
        if (template is not null)
        {
            var tplPath = Path.Combine(outDir, TemplateFileName);
            File.WriteAllText(tplPath, template);
            files.Add(tplPath);
            var tc = Path.Combine(outDir, "tokenizer_config.json");
            if (File.Exists(tc) && JsonNode.Parse(File.ReadAllText(tc)) is JsonObject tco)
            {
                tco["chat_template"] = template;
                File.WriteAllText(tc, tco.ToJsonString(Indented) + "\n");
            }
        }
        else Warn("no chat template found (tokenizer folder or --chat-template): chat_template.jinja not written");

        // ---- generation_config.json: end-of-turn stop ids ----
        var stopIds = ModelSnapshot.MergedStopIds(model, tokDir);
        var gen = File.Exists(Path.Combine(baseDir, GenerationConfigFileName))
            ? JsonNode.Parse(File.ReadAllText(Path.Combine(baseDir, GenerationConfigFileName))) as JsonObject ?? new JsonObject()
            : new JsonObject();
        if (model.BosTokenId is { } bos) gen["bos_token_id"] = bos;
        if (stopIds.Count > 0) gen["eos_token_id"] = new JsonArray(stopIds.Select(i => (JsonNode)JsonValue.Create(i)!).ToArray());
        if (model.PadTokenId is { } pad) gen["pad_token_id"] = pad;
        var genPath = Path.Combine(outDir, GenerationConfigFileName);
        File.WriteAllText(genPath, gen.ToJsonString(Indented) + "\n");
        files.Add(genPath);
        if (stopIds.Count == 0) Warn("no end-of-turn id found (config eos_token_id, <|im_end|> in tokenizer.json): generation_config.json has no eos_token_id");

        // ---- serving.md ----
        var serving = Path.Combine(outDir, ServingFileName);
        File.WriteAllText(serving, ServingMarkdown(options, adapter, plan, template, stopIds, outDir));
        files.Add(serving);

        options.Log?.Invoke($"merged {merged} tensor(s), copied {copied} unchanged; largest tensor {largest:N0} bytes");
        return new MergeResult(outDir, merged, copied, plan.Untie, stopIds, largest, files, warnings);
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    // ------------------------------------------------------------------ adapter loading and validation
    // ------------------------------------------------------------------ text side

    private static string? ResolveTemplate(MergeOptions options, string tokDir)
    {
        if (options.ChatTemplateText is { } t) return t;
        if (options.ChatTemplateFile is { } f)
        {
            var full = Path.GetFullPath(f);
            if (!File.Exists(full)) throw new ToolTuneException(ErrorCodes.MergeBaseInvalid, "chat template file not found", full);
            if (full.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
                return JsonNode.Parse(File.ReadAllText(full))?["chat_template"] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? (string?)v : null;
            return File.ReadAllText(full);
        }
        var jinja = Path.Combine(tokDir, TemplateFileName);
        if (File.Exists(jinja)) return File.ReadAllText(jinja);
        var tc = Path.Combine(tokDir, "tokenizer_config.json");
        if (File.Exists(tc) && JsonNode.Parse(File.ReadAllText(tc))?["chat_template"] is JsonValue tv && tv.GetValueKind() == JsonValueKind.String)
            return (string?)tv;
        return null;
    }


    private static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
