using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Win32.SafeHandles;
using ToolTune.Diagnostics;
using ToolTune.Model;
using ToolTune.Tensors;

namespace ToolTune.Lora.Merge;

// The merge plan: the adapter checked against the base, and which tensor gets which delta.
public static partial class AdapterMerger
{

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
}
