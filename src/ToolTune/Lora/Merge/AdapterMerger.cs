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
public static class AdapterMerger
{
    public const string ServingFileName = "serving.md";
    public const string TemplateFileName = "chat_template.jinja";
    public const string GenerationConfigFileName = "generation_config.json";
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
        var stopIds = StopIds(model, rawConfig, tokDir);
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

    /// <summary>Checks every adapter tensor against the base checkpoint (TT6002/TT6003 naming both), then loads it.</summary>
    internal static LoraAdapter LoadAdapter(string adapterDir, ModelConfig model, SafetensorsCheckpoint ckpt, string baseDir)
    {
        adapterDir = Path.GetFullPath(adapterDir);
        var cfgFile = Path.Combine(adapterDir, PeftAdapterIO.ConfigFileName);
        var wFile = Path.Combine(adapterDir, PeftAdapterIO.WeightsFileName);
        if (!File.Exists(cfgFile)) throw new ToolTuneException(ErrorCodes.MergeAdapterFileMissing, $"adapter has no {PeftAdapterIO.ConfigFileName}", cfgFile);
        if (!File.Exists(wFile)) throw new ToolTuneException(ErrorCodes.MergeAdapterFileMissing, $"adapter has no {PeftAdapterIO.WeightsFileName}", wFile);
        LoraConfig config;
        try { config = PeftAdapterIO.LoadConfig(adapterDir); }
        catch (ToolTuneException ex) { throw new ToolTuneException(ErrorCodes.MergeAdapterConfigInvalid, $"{ex.Message} ({ex.Code})", cfgFile, inner: ex); }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or JsonException)
        {
            throw new ToolTuneException(ErrorCodes.MergeAdapterConfigInvalid, $"a field has the wrong type: {ex.Message}", cfgFile, inner: ex);
        }
        if (config.TargetModules.Count == 0 && config.TrainableTokenIds.Count == 0)
            throw new ToolTuneException(ErrorCodes.MergeAdapterConfigInvalid, "field 'target_modules' is missing or empty", cfgFile);

        using (var st = SafetensorsFile.Open(wFile))
        {
            foreach (var (key, e) in st.Entries.OrderBy(k => k.Key, StringComparer.Ordinal))
            {
                if (!key.StartsWith(LoraAdapter.PeftPrefix, StringComparison.Ordinal))
                    throw new ToolTuneException(ErrorCodes.MergeAdapterInvalid, $"tensor '{key}' does not start with '{LoraAdapter.PeftPrefix}' (not a PEFT LoRA key)", wFile);
                var k = key[LoraAdapter.PeftPrefix.Length..];
                string module; string kind;
                if (k.EndsWith(".lora_A.weight", StringComparison.Ordinal)) { module = k[..^".lora_A.weight".Length]; kind = "A"; }
                else if (k.EndsWith(".lora_B.weight", StringComparison.Ordinal)) { module = k[..^".lora_B.weight".Length]; kind = "B"; }
                else if (k.EndsWith(".lora_embedding_A", StringComparison.Ordinal)) { module = k[..^".lora_embedding_A".Length]; kind = "EA"; }
                else if (k.EndsWith(".lora_embedding_B", StringComparison.Ordinal)) { module = k[..^".lora_embedding_B".Length]; kind = "EB"; }
                else if (k == TrainableTokens.DeltaName) { module = TrainableTokens.ModulePath; kind = "T"; }
                else continue; // base_layer / full-weight copies are ignored by PeftAdapterIO.Load, other keys rejected there
                var baseName = module + ".weight";
                if (baseName == HeadName && model.TieWordEmbeddings && !ckpt.Contains(HeadName)) baseName = EmbedName;
                if (!ckpt.Contains(baseName))
                    throw new ToolTuneException(ErrorCodes.MergeTargetAbsent,
                        $"adapter tensor '{key}' targets '{module + ".weight"}', which the base checkpoint {baseDir} does not have " +
                        $"({model.Architecture}, {model.NumLayers} layers): adapter for another architecture?", wFile);
                var be = ckpt.Entry(baseName);
                if (be.Shape.Length != 2 || e.Shape.Length != 2)
                    throw Mismatch(key, e, baseName, be, "both must be matrices");
                long outF = be.Shape[0], inF = be.Shape[1];
                var ok = kind switch
                {
                    "A" => e.Shape[1] == inF,
                    "B" => e.Shape[0] == outF,
                    "EA" => e.Shape[1] == outF, // [r, vocab]
                    "EB" => e.Shape[0] == inF,  // [hidden, r]
                    _ => e.Shape[1] == inF,     // trainable rows [n, hidden]
                };
                if (!ok)
                    throw Mismatch(key, e, baseName, be, kind switch
                    {
                        "A" => $"lora_A [r, in] needs in = {inF}",
                        "B" => $"lora_B [out, r] needs out = {outF}",
                        "EA" => $"lora_embedding_A [r, vocab] needs vocab = {outF}",
                        "EB" => $"lora_embedding_B [hidden, r] needs hidden = {inF}",
                        _ => $"trainable_tokens_delta [n, hidden] needs hidden = {inF}",
                    });

                ToolTuneException Mismatch(string key_, SafetensorsEntry ae, string bn, SafetensorsEntry b, string why) =>
                    new(ErrorCodes.MergeShapeMismatch,
                        $"adapter tensor '{key_}' [{string.Join(", ", ae.Shape)}] does not fit base tensor '{bn}' [{string.Join(", ", b.Shape)}] " +
                        $"in {ckpt.FileOf(bn).Path}: {why}", wFile);
            }
        }
        foreach (var id in config.TrainableTokenIds)
            if ((uint)id >= (uint)model.VocabSize)
                throw new ToolTuneException(ErrorCodes.MergeAdapterConfigInvalid,
                    $"field 'trainable_token_indices': id {id} is outside the base vocabulary (size {model.VocabSize})", cfgFile);
        try
        {
            return PeftAdapterIO.Load(adapterDir, model);
        }
        catch (ToolTuneException ex) when (ex.Code.StartsWith("TT50", StringComparison.Ordinal))
        {
            var code = ex.Code == ErrorCodes.AdapterShapeMismatch ? ErrorCodes.MergeShapeMismatch : ErrorCodes.MergeAdapterInvalid;
            throw new ToolTuneException(code, $"{ex.Message} ({ex.Code})", ex.File ?? wFile, inner: ex);
        }
    }

    // ------------------------------------------------------------------ plan

    internal sealed class Job
    {
        public LoraLinear? Linear;
        public LoraEmbedding? Embedding;
        public TrainableTokens? Tokens;
    }

    internal sealed record MergePlan(Dictionary<string, Job> Jobs, bool Untie);

    private static bool AllZero(ReadOnlySpan<float> x) => x.IndexOfAnyExcept(0f) < 0;

    internal static MergePlan Plan(LoraAdapter adapter, ModelConfig model, SafetensorsCheckpoint ckpt, TiedHeadMode mode)
    {
        var jobs = new Dictionary<string, Job>(StringComparer.Ordinal);
        foreach (var (path, lin) in adapter.Linears)
        {
            if (AllZero(lin.A.F32) || AllZero(lin.B.F32)) continue; // delta exactly 0: copy the bytes
            var name = path + ".weight";
            jobs[name] = new Job { Linear = lin };
        }
        var embedChanged = false;
        if (adapter.Embedding is { } emb && !AllZero(emb.A.F32) && !AllZero(emb.B.F32))
        {
            jobs[EmbedName] = new Job { Embedding = emb };
            embedChanged = true;
        }
        if (adapter.Tokens is { } tok && tok.TokenIds.Count > 0)
        {
            (jobs.TryGetValue(EmbedName, out var j) ? j : jobs[EmbedName] = new Job()).Tokens = tok;
            embedChanged = true;
        }
        var headLora = jobs.Remove(HeadName, out var headJob);
        var untie = false;
        if (model.TieWordEmbeddings)
        {
            // lm_head LoRA on a tied model can only be represented untied; embedding changes keep the tie (the head follows, as
            // trained) unless PEFT runtime semantics are asked for (--untie-head)
            untie = headLora || (embedChanged && mode == TiedHeadMode.Untie);
            if (headLora) jobs[HeadName] = headJob!;
        }
        else if (headLora) jobs[HeadName] = headJob!;
        return new MergePlan(jobs, untie);
    }

    // ------------------------------------------------------------------ tensor streaming


    private static long DataStart(SafetensorsFile file)
    {
        Span<byte> len = stackalloc byte[8];
        using var h = File.OpenHandle(file.Path);
        RandomAccess.Read(h, len, 0);
        return 8 + (long)BitConverter.ToUInt64(len);
    }

    /// <summary>Work buffers shared by every tensor of one merge (grown, never shrunk), so garbage does not pile up between collections.</summary>
    private sealed class Scratch
    {
        public float[] W = [], D = [];
        public byte[] Raw = [];
        public bool[] Replaced = [];
        public static T[] Grow<T>(ref T[] a, int n) => a.Length >= n ? a : a = new T[n];
    }

    private static void CopyRaw(SafetensorsFile file, SafetensorsEntry e, Stream dst, Scratch scratch, CancellationToken ct)
    {
        var start = DataStart(file) + e.Begin;
        var buf = Scratch.Grow(ref scratch.Raw, 8 << 20);
        using var h = File.OpenHandle(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        for (long done = 0, n = e.End - e.Begin; done < n;)
        {
            ct.ThrowIfCancellationRequested();
            var k = (int)Math.Min(buf.Length, n - done);
            ReadExactly(h, buf.AsSpan(0, k), start + done, file.Path);
            dst.Write(buf, 0, k);
            done += k;
        }
    }

    private static void ReadExactly(SafeFileHandle h, Span<byte> buf, long offset, string path)
    {
        while (!buf.IsEmpty)
        {
            var r = RandomAccess.Read(h, buf, offset);
            if (r <= 0) throw new ToolTuneException(ErrorCodes.SafetensorsTruncated, $"unexpected end of file at byte {offset}", path);
            buf = buf[r..];
            offset += r;
        }
    }

    /// <summary>W' = W + delta, chunk of rows by chunk of rows, stored back in the tensor's dtype.</summary>
    private static void MergeTensor(SafetensorsFile file, SafetensorsEntry e, Job job, Stream dst, int chunkFloats, Scratch scratch, CancellationToken ct)
    {
        var es = e.DType switch
        {
            "F32" => 4, "BF16" or "F16" => 2,
            _ => throw new ToolTuneException(ErrorCodes.MergeDtypeUnsupported, $"tensor '{e.Name}' has dtype {e.DType}; merge writes F32, BF16 or F16", file.Path),
        };
        var rows = (int)e.Shape[0];
        var cols = (int)e.Shape[1];
        var chunkRows = Math.Max(1, Math.Min(rows, chunkFloats / Math.Max(1, cols)));
        var w = Scratch.Grow(ref scratch.W, chunkRows * cols);
        var d = Scratch.Grow(ref scratch.D, chunkRows * cols);
        var raw = Scratch.Grow(ref scratch.Raw, chunkRows * cols * es);
        var start = DataStart(file) + e.Begin;
        using var h = File.OpenHandle(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        for (var r0 = 0; r0 < rows; r0 += chunkRows)
        {
            ct.ThrowIfCancellationRequested();
            var n = Math.Min(chunkRows, rows - r0);
            var count = n * cols;
            var rawChunk = raw.AsSpan(0, count * es);
            ReadExactly(h, rawChunk, start + (long)r0 * cols * es, file.Path);
            var wc = w.AsSpan(0, count);
            var dc = d.AsSpan(0, count);
            switch (e.DType)
            {
                case "F32": MemoryMarshal.Cast<byte, float>(rawChunk).CopyTo(wc); break;
                case "BF16": Precision.BF16ToSingle(MemoryMarshal.Cast<byte, ushort>(rawChunk), wc); break;
                default: Precision.HalfToSingle(MemoryMarshal.Cast<byte, Half>(rawChunk), wc); break;
            }
            dc.Clear();
            var any = false;
            if (job.Linear is { } lin) // s · B[r0:r0+n, :] · A   (B [out × r], A [r × in])
            {
                Gemm.Sgemm(false, false, n, cols, lin.R, lin.Scale, lin.B.F32.Slice(r0 * lin.R, n * lin.R), lin.R, lin.A.F32, cols, dc, cols);
                any = true;
            }
            if (job.Tokens is { } tok) // absolute replacement rows first (the runtime order: tokens inside, LoRA delta on top)
            {
                for (var i = 0; i < tok.TokenIds.Count; i++)
                {
                    var id = tok.TokenIds[i];
                    if (id < r0 || id >= r0 + n) continue;
                    tok.Delta.F32.Slice(i * cols, cols).CopyTo(wc.Slice((id - r0) * cols, cols));
                }
            }
            if (job.Embedding is { } emb) // s · Aᵀ[r0:r0+n, :] · Bᵀ   (A [r × vocab], B [hidden × r])
            {
                Gemm.Sgemm(true, true, n, cols, emb.R, emb.Scale, emb.A.F32[r0..], emb.Vocab, emb.B.F32, emb.R, dc, cols);
                any = true;
            }
            if (any)
                for (var i = 0; i < count; i++)
                    if (dc[i] != 0f) wc[i] += dc[i]; // a zero delta keeps the element (and its bits) as it is

            switch (e.DType)
            {
                case "F32": wc.CopyTo(MemoryMarshal.Cast<byte, float>(rawChunk)); break;
                case "BF16": WriteBack16(wc, rawChunk, dc, job, r0, cols, scratch, isBf16: true); break;
                default: WriteBack16(wc, rawChunk, dc, job, r0, cols, scratch, isBf16: false); break;
            }
            dst.Write(rawChunk);
        }
    }

    /// <summary>Rounds changed elements to the 16-bit dtype; elements with a zero delta and no replaced row keep their original bits.</summary>
    private static void WriteBack16(Span<float> wc, Span<byte> rawChunk, Span<float> dc, Job job, int r0, int cols, Scratch scratch, bool isBf16)
    {
        var bits = MemoryMarshal.Cast<byte, ushort>(rawChunk);
        var n = wc.Length / cols;
        var replaced = Scratch.Grow(ref scratch.Replaced, n);
        Array.Clear(replaced, 0, n);
        if (job.Tokens is { } tok)
            foreach (var id in tok.TokenIds)
                if (id >= r0 && id < r0 + n) replaced[id - r0] = true;
        for (var r = 0; r < n; r++)
        {
            var rowW = wc.Slice(r * cols, cols);
            var rowB = bits.Slice(r * cols, cols);
            var rowD = dc.Slice(r * cols, cols);
            if (replaced[r] || rowD.IndexOfAnyExcept(0f) >= 0)
            {
                for (var j = 0; j < cols; j++)
                {
                    if (!replaced[r] && rowD[j] == 0f) continue;
                    rowB[j] = isBf16 ? Precision.SingleToBF16(rowW[j]) : BitConverter.HalfToUInt16Bits((Half)rowW[j]);
                }
            }
        }
    }

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

    /// <summary>The end-of-turn stop ids: config eos ids, <c>&lt;|im_end|&gt;</c> and the tokenizer's eos token (ordered, distinct).</summary>
    internal static IReadOnlyList<int> StopIds(ModelConfig model, JsonObject rawConfig, string tokDir)
    {
        var ids = new List<int>();
        void Add(int? id) { if (id is { } i && i >= 0 && !ids.Contains(i)) ids.Add(i); }
        var vocab = TokenIds(tokDir);
        Add(vocab.GetValueOrDefault("<|im_end|>", -1));
        var tc = Path.Combine(tokDir, "tokenizer_config.json");
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

    private static Dictionary<string, int> TokenIds(string tokDir)
    {
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        var tj = Path.Combine(tokDir, "tokenizer.json");
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

    /// <summary>vLLM's <c>--max-lora-rank</c> must be one of its supported sizes ≥ r.</summary>
    public static int VllmMaxLoraRank(int r) => new[] { 1, 8, 16, 32, 64, 128, 256, 320, 512 }.FirstOrDefault(x => x >= r, r);

    /// <summary>True when the template has a thinking mode (SmolLM3's <c>enable_thinking</c>, <c>&lt;think&gt;</c> blocks).</summary>
    public static bool TemplateHasThinkingMode(string? template) =>
        template is not null && (template.Contains("enable_thinking", StringComparison.Ordinal) || template.Contains("<think>", StringComparison.Ordinal));

    /// <summary>A folder as serving.md shows it: relative to <paramref name="pathBase"/>, '/' separated, never absolute.</summary>
    internal static string DisplayPath(string path, string pathBase)
    {
        var rel = Path.GetRelativePath(pathBase, Path.GetFullPath(path));
        if (Path.IsPathRooted(rel)) rel = Path.GetFileName(Path.TrimEndingDirectorySeparator(rel));
        rel = rel.Replace('\\', '/');
        return rel.Length == 0 || rel == "." ? "." : rel;
    }

    private static string ServingMarkdown(MergeOptions o, LoraAdapter adapter, MergePlan plan, string? template, IReadOnlyList<int> stopIds, string outDir)
    {
        // Paths as the user will see them (the stage writes into a temp folder that becomes the output), relative to the
        // project root: serving.md is an output, and the same inputs give the same bytes in any checkout folder.
        var pathBase = Path.GetFullPath(o.PathBase ?? Directory.GetCurrentDirectory());
        var final = DisplayPath(o.PublishedDir ?? outDir, pathBase);
        var baseDir = DisplayPath(o.BaseDir, pathBase);
        var adapterDir = DisplayPath(o.AdapterDir, pathBase);
        var hasTemplate = template is not null;
        var thinkingMode = TemplateHasThinkingMode(template);
        var common = new StringBuilder();
        common.Append(" \\\n  --enable-auto-tool-choice --tool-call-parser hermes");
        // Content given as a list of parts is joined into one string before rendering: the template expects strings.
        common.Append(" \\\n  --chat-template-content-format string");
        if (o.Thinking) common.Append(" \\\n  --reasoning-parser deepseek_r1");
        var sb = new StringBuilder();
        sb.AppendLine("# Serving this model");
        sb.AppendLine();
        sb.AppendLine("Written by `tooltune merge` (ToolTune MergeAdapter). Tool calls are emitted as native `<tool_call>…</tool_call>` tokens");
        sb.AppendLine("and parsed by vLLM's Hermes parser; the chat template is the one the model was trained with.");
        sb.AppendLine("Paths are relative to the project root (the folder the pipeline ran in).");
        sb.AppendLine();
        sb.AppendLine("## Merged model (this folder)");
        sb.AppendLine();
        sb.AppendLine("```bash");
        sb.Append($"vllm serve {final}");
        if (hasTemplate) sb.Append($" \\\n  --chat-template {final}/{TemplateFileName}");
        sb.Append(common);
        sb.AppendLine();
        sb.AppendLine("```");
        sb.AppendLine();
        sb.AppendLine("## Base model + adapter (LoRA at runtime)");
        sb.AppendLine();
        sb.AppendLine("```bash");
        sb.Append($"vllm serve {baseDir}");
        if (hasTemplate) sb.Append($" \\\n  --chat-template {final}/{TemplateFileName}");
        sb.Append(common);
        sb.Append($" \\\n  --enable-lora --lora-modules {o.AdapterName}={adapterDir} --max-lora-rank {VllmMaxLoraRank(adapter.Config.R)}");
        sb.AppendLine();
        sb.AppendLine("```");
        sb.AppendLine();
        sb.AppendLine($"Request the adapter with `\"model\": \"{o.AdapterName}\"`.");
        if (adapter.Tokens is not null || adapter.Embedding is not null)
        {
            sb.AppendLine();
            sb.AppendLine("**Caveat:** this adapter changes the embedding (" +
                          (adapter.Tokens is not null
                              ? "`trainable_tokens_delta`, which vLLM's LoRA loader rejects (vllm#36501)"
                              : "`lora_embedding_A/B`; vLLM and PEFT apply them to the input side only, while ToolTune trained the tied " +
                                "head to follow the adapted embedding, so base + adapter there is not the trained model (peft#2864)") +
                          "); serve the merged folder above, which needs no LoRA support and equals the trained model.");
        }
        sb.AppendLine();
        sb.AppendLine("## Notes");
        sb.AppendLine();
        sb.AppendLine($"- Stop ids (`generation_config.json` `eos_token_id`): [{string.Join(", ", stopIds)}].");
        sb.AppendLine($"- LoRA: r = {adapter.Config.R}, alpha = {adapter.Config.Alpha}, targets = {string.Join(", ", adapter.Config.TargetModules)}" +
                      (adapter.Config.TrainableTokenIds.Count > 0 ? $", trainable tokens = [{string.Join(", ", adapter.Config.TrainableTokenIds)}]" : "") + ".");
        if (plan.Untie)
            sb.AppendLine("- Tied head: merged with `--untie-head` (PEFT runtime semantics: only the input embedding adapted), so this snapshot is " +
                          "untied (`tie_word_embeddings: false`, `lm_head.weight` = base embedding). ToolTune-trained adapters expect the tied head to follow.");
        else if (adapter.Model.TieWordEmbeddings && (adapter.Tokens is not null || adapter.Embedding is not null))
            sb.AppendLine("- Tied head: kept tied; the head follows the merged embedding, exactly as ToolTune trained it.");
        if (o.Thinking) sb.AppendLine("- Thinking was used in training: `--reasoning-parser deepseek_r1` splits `<think>…</think>` from the content.");
        else if (thinkingMode)
            sb.AppendLine("- The template has a thinking mode, which training did not use: serve without a reasoning parser and send " +
                          "`\"chat_template_kwargs\": {\"enable_thinking\": false}`; to serve with thinking on, add `--reasoning-parser deepseek_r1`.");
        sb.AppendLine("- transformers: `AutoModelForCausalLM.from_pretrained(dir)` + `AutoTokenizer.from_pretrained(dir)`; ToolTune: `tooltune generate --model dir`.");
        sb.AppendLine();
        sb.AppendLine("## Without a GPU: `tooltune serve`");
        sb.AppendLine();
        sb.AppendLine("The same OpenAI API (chat completions with `tool_calls`, streaming, completions with token ids) on ToolTune's CPU engine, for agent code and CI tests:");
        sb.AppendLine();
        sb.AppendLine("```bash");
        sb.Append($"tooltune serve --model {final} --port 8000");
        if (thinkingMode && !o.Thinking) sb.Append(" --chat-template-kwargs '{\"enable_thinking\": false}'");
        sb.AppendLine();
        sb.AppendLine("```");
        return sb.ToString();
    }

    private static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
