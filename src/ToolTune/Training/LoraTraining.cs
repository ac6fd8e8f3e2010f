using ToolTune.Data.Shards;
using ToolTune.Lora;
using ToolTune.Model;
using ToolTune.Pipeline.Config;

namespace ToolTune.Training;

/// <summary>
/// The managed engine's entry point: base snapshot + prepared shards + config → PEFT adapter, train-log.csv,
/// loss.svg and checkpoints in <paramref name="outputDirectory"/> (resuming automatically from the latest checkpoint).
/// The set-up (LoRA config, initial adapter, options and their fingerprint) is shared with the other backends, so every
/// engine starts from the same tensors and the same batch plan.
/// </summary>
public static class LoraTraining
{
    /// <param name="config">the whole pipeline config (<c>lora:</c>, <c>train:</c>, <c>run.seed</c>, <c>data.max_seq_len</c>)</param>
    /// <param name="snapshotDirectory">HF snapshot folder of the base model (config.json + safetensors)</param>
    /// <param name="train">training shards; <paramref name="validation"/> optional</param>
    /// <param name="tokenToId">tokenizer lookup for <c>lora.trainable_tokens</c> (single tokens)</param>
    /// <param name="padId">padding id for batches (labels there are −100, so any valid id works)</param>
    /// <param name="dataIdentity">content identity of the data and base weights (hashes): a checkpoint written under
    /// another identity is not resumed</param>
    public static TrainResult Run(PipelineConfig config, string snapshotDirectory, ShardSet train, ShardSet? validation,
        Func<string, int?> tokenToId, int padId, string outputDirectory, Action<TrainProgress>? onProgress = null,
        Action<string>? onMessage = null, bool resume = true, CancellationToken cancel = default, string? dataIdentity = null)
    {
        using var weights = ModelWeights.Open(snapshotDirectory);
        var lm = new CausalLM(weights) { GradientCheckpointing = config.Train.GradientCheckpointing };
        var lora = LoraFor(config, tokenToId, snapshotDirectory);
        var adapter = InitialAdapter(config, lora, lm);
        var model = new LoraTrainableModel(lm, adapter);
        var options = OptionsFor(config, lora, lm.Config, train.Count, outputDirectory, resume, dataIdentity);
        var maxLen = config.Data.MaxSeqLen;
        var trainer = new Trainer(model, new ShardTrainingData(train, padId, maxLen),
            validation is null || validation.Count == 0 ? null : new ShardTrainingData(validation, padId, maxLen), options)
        {
            OnProgress = onProgress,
            OnMessage = onMessage,
        };
        return trainer.Run(cancel);
    }

    public static LoraConfig LoraFor(PipelineConfig config, Func<string, int?> tokenToId, string snapshotDirectory) =>
        config.Lora.ToLoraConfig(tokenToId, config.Model.BaseModel ?? snapshotDirectory);

    /// <summary>The PEFT initialisation from the training seed (trainable token rows copied from the base embedding).</summary>
    public static LoraAdapter InitialAdapter(PipelineConfig config, LoraConfig lora, CausalLM lm)
    {
        var seed = config.Train.Seed ?? config.Run.Seed;
        return LoraAdapter.Create(lora, lm.Config, (ulong)seed, id =>
        {
            var row = new float[lm.Config.HiddenSize];
            lm.EmbedWeight.CopyRow(id, row);
            return row;
        });
    }

    /// <summary>Trainer options with the identity a checkpoint must share to be resumed (<paramref name="extraIdentity"/>:
    /// what else decides the arithmetic, e.g. another backend and its device).</summary>
    public static TrainerOptions OptionsFor(PipelineConfig config, LoraConfig lora, ModelConfig model, int trainCount, string outputDirectory,
        bool resume, string? dataIdentity, string? extraIdentity = null) =>
        config.Train.ToTrainerOptions(config.Run.Seed, outputDirectory) with
        {
            Resume = resume,
            ExtraFingerprint = string.Join("|", PeftAdapterIO.ConfigJson(lora).ToJsonString(), model.NumLayers, model.HiddenSize, model.VocabSize,
                trainCount, config.Data.MaxSeqLen.ToString(System.Globalization.CultureInfo.InvariantCulture), dataIdentity ?? "")
                + (extraIdentity is null ? "" : "|" + extraIdentity),
        };
}
