using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using ToolTune.Data.Shards;
using ToolTune.Diagnostics;
using ToolTune.Model;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Fingerprints;
using ToolTune.Training;
using ToolTune.Text.Tokenization;

namespace ToolTune.Pipeline.Stages;

/// <summary>
/// TrainLora: the base model (<c>model.base_model</c>) + PrepareData's shards → a PEFT LoRA adapter
/// (<see cref="LoraTraining.Run"/>). Writes <c>adapter/</c>: <c>adapter_config.json</c>, <c>adapter_model.safetensors</c>,
/// <c>train-log.csv</c>, <c>loss.svg</c>.
/// </summary>
/// <remarks>
/// The trainer works in <c>artifacts/&lt;run&gt;/training/</c>, which lives OUTSIDE the stage's temp-and-swap output
/// folder: its <c>checkpoints/</c> survive a kill or Ctrl+C, and the next run resumes from the latest compatible one
/// (same train options, LoRA config, model shape, base weights and prepared data; anything else is moved to
/// <c>checkpoints-stale/</c> and training starts fresh). <see cref="StageOptions.Resume"/> = false
/// (<c>-p:Resume=false</c>, <c>tooltune train --no-resume</c>) sets existing checkpoints aside and starts fresh.
/// Ctrl+C: the trainer saves a checkpoint at the last completed step, the stage throws, the runner deletes the temp
/// folder, so the previous <c>adapter/</c> stays in place.
/// </remarks>
public sealed class TrainLoraStage : IStage
{
    /// <summary>Under <c>artifacts/&lt;run&gt;/</c>: the trainer's working folder (checkpoints, running log).</summary>
    public const string WorkFolder = "training";

    /// <summary>Files copied from the working folder into <c>adapter/</c> when training completes.</summary>
    public static IReadOnlyList<string> OutputFiles { get; } = ["adapter_config.json", "adapter_model.safetensors", "train-log.csv", "loss.svg"];

    public string Name => "TrainLora";
    public string Version => "1";
    public string OutputFolder => "adapter";

    /// <summary>train-log.csv holds timings (tokens/s, elapsed): it must not defeat the early cutoff of MergeAdapter.</summary>
    public IReadOnlyCollection<string> RunRecordOutputs => ["train-log.csv"];
    public IReadOnlyList<string> Upstream => ["PrepareData", "VerifyTokens"];

    /// <summary><c>model</c> (base weights, tokenizer for trainable tokens), <c>lora</c>, <c>train</c>, <c>run.seed</c> and
    /// <c>data.max_seq_len</c> (batch truncation). Not <c>eval</c>, not the rest of <c>data</c> (it reaches training only
    /// through the shards, i.e. PrepareData's output stamp).</summary>
    public IReadOnlyList<string> ConfigKeys => ["model", "lora", "train", "run.seed", "data.max_seq_len"];

    public IEnumerable<string> InputFiles(LoadedConfig config) => BaseModelFiles(config).Concat(ModelText.InputFiles(config)).Distinct(StringComparer.Ordinal);

    /// <summary>The base snapshot's files that decide the weights: config.json, *.safetensors, the shard index.</summary>
    public static IEnumerable<string> BaseModelFiles(LoadedConfig config)
    {
        var b = config.Config.Model.BaseModel;
        if (string.IsNullOrEmpty(b)) yield break;
        foreach (var f in new ModelSnapshot(config.Resolve(b)).WeightFiles()) yield return f;
    }

    public static string BaseModelDir(LoadedConfig config)
    {
        var b = config.Config.Model.BaseModel;
        if (string.IsNullOrEmpty(b))
            throw new ToolTuneException(ErrorCodes.TrainBaseModelMissing,
                "TrainLora needs a base model: set 'model.base_model' (a Hugging Face snapshot folder with config.json and *.safetensors).", config.File);
        var dir = config.Resolve(b);
        if (!File.Exists(Path.Combine(dir, ModelConfig.FileName)) || !Directory.EnumerateFiles(dir, "*.safetensors").Any())
            throw new ToolTuneException(ErrorCodes.TrainBaseModelMissing,
                $"'model.base_model' = '{b}' ({dir}) has no config.json or no *.safetensors weights.", config.File);
        return dir;
    }

    public void Run(StageContext context)
    {
        var config = context.Config;
        var baseDir = BaseModelDir(config);
        var prepared = context.UpstreamOutput("PrepareData");
        var work = Path.Combine(context.Layout.RunDir, WorkFolder);
        Directory.CreateDirectory(work);
        var checkpoints = Path.Combine(work, "checkpoints");
        if (!context.Options.Resume && Directory.Exists(checkpoints))
        {
            var aside = checkpoints + "-stale";
            if (Directory.Exists(aside)) Directory.Delete(aside, recursive: true);
            Directory.Move(checkpoints, aside);
            context.Log.Message($"TrainLora: resume disabled; existing checkpoints moved to {aside}.", important: true);
        }

        var tokenizer = Tokenizer.FromDirectory(ModelText.TokenizerDir(config));
        var padId = tokenizer.PadTokenId ?? tokenizer.EosTokenId ?? 0;
        var manifest = ShardManifest.Read(prepared);
        using var train = ShardSet.Open(prepared, "train");
        using var val = manifest.Splits.ContainsKey("val") ? ShardSet.Open(prepared, "val") : null;

        // What a checkpoint must agree with besides the options: the prepared data and the base weights' contents.
        var hashes = ContentHashCache.Open(context.Layout.HashCachePath);
        var identity = new StringBuilder();
        identity.Append(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(prepared, ShardManifest.FileName)))));
        foreach (var f in BaseModelFiles(config)) identity.Append('|').Append(Path.GetFileName(f)).Append('=').Append(hashes.TryGetHash(f));
        hashes.Save();

        var log = context.Log;
        log.Message($"TrainLora: {config.Config.Train.Backend} backend, base {config.Config.Model.BaseModel}, {train.Count} train / {val?.Count ?? 0} val samples, LoRA r={config.Config.Lora.R} alpha={config.Config.Lora.Alpha.ToString(CultureInfo.InvariantCulture)} " +
                    $"on {string.Join(",", config.Config.Lora.TargetModules)}; checkpoints in {checkpoints}", important: true);
        var backend = config.Config.Train.ToTrainingBackend();
        var request = new TrainingRequest
        {
            Settings = config.Config.ToTrainingSettings(baseDir, work), ConfigFile = config.File, SnapshotDirectory = baseDir, PreparedDirectory = prepared,
            Train = train, Validation = val, TokenToId = tokenizer.TokenToId, PadId = padId, Resume = context.Options.Resume, DataIdentity = identity.ToString(),
        };
        var result = backend.Train(request,
            p => log.Message("TrainLora: " + p, important: true),
            m => log.Message("TrainLora: " + m, important: true),
            context.Cancellation);
        if (result.Canceled)
        {
            log.Message($"TrainLora: canceled at step {result.Steps}/{result.TotalSteps}; checkpoint {result.LastCheckpoint} (the next run resumes there); previous adapter kept.", important: true);
            context.Cancellation.ThrowIfCancellationRequested();
            throw new OperationCanceledException();
        }
        foreach (var name in OutputFiles)
        {
            var src = Path.Combine(work, name);
            if (File.Exists(src)) File.Copy(src, Path.Combine(context.OutputDir, name), overwrite: true);
        }
        var last = result.Log.Count > 0 ? result.Log[^1] : null;
        log.Message(string.Create(CultureInfo.InvariantCulture,
            $"TrainLora: {result.Steps} steps{(result.Resumed ? " (resumed)" : "")}, final loss {last?.Loss:0.0000}{(last?.ValLoss is { } v ? $", val loss {v:0.0000}" : "")}"), important: true);
    }
}
