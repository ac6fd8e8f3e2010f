using ToolTune.Data.Shards;
using ToolTune.Lora;
using ToolTune.Model;
using ToolTune.Pipeline.Config;

namespace ToolTune.Training;

/// <summary>
/// The entry point the TrainLora stage calls: base snapshot + prepared shards + config → PEFT adapter, train-log.csv,
/// loss.svg and checkpoints in <paramref name="outputDirectory"/> (resuming automatically from the latest checkpoint).
/// </summary>
public static class LoraTraining
{
    /// <param name="config">the whole pipeline config (<c>lora:</c>, <c>train:</c>, <c>run.seed</c>, <c>data.max_seq_len</c>)</param>
    /// <param name="snapshotDirectory">HF snapshot folder of the base model (config.json + safetensors)</param>
    /// <param name="train">training shards; <paramref name="validation"/> optional</param>
    /// <param name="tokenToId">tokenizer lookup for <c>lora.trainable_tokens</c> (single tokens)</param>
    /// <param name="padId">padding id for batches (labels there are −100, so any valid id works)</param>
    public static TrainResult Run(PipelineConfig config, string snapshotDirectory, ShardSet train, ShardSet? validation,
        Func<string, int?> tokenToId, int padId, string outputDirectory, Action<TrainProgress>? onProgress = null,
        Action<string>? onMessage = null, bool resume = true, CancellationToken cancel = default)
    {
        using var weights = ModelWeights.Open(snapshotDirectory);
        var lm = new CausalLM(weights) { GradientCheckpointing = config.Train.GradientCheckpointing };
        var seed = config.Train.Seed ?? config.Run.Seed;
        var lora = LoraConfig.FromSection(config.Lora, tokenToId, config.Model.BaseModel ?? snapshotDirectory);
        var adapter = LoraAdapter.Create(lora, lm.Config, (ulong)seed, id =>
        {
            var row = new float[lm.Config.HiddenSize];
            lm.EmbedWeight.CopyRow(id, row);
            return row;
        });
        var model = new LoraTrainableModel(lm, adapter);
        var maxLen = config.Data.MaxSeqLen;
        static string maxLenKey(PipelineConfig c) => c.Data.MaxSeqLen.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var options = TrainerOptions.FromSection(config.Train, config.Run.Seed, outputDirectory) with
        {
            Resume = resume,
            ExtraFingerprint = string.Join("|", PeftAdapterIO.ConfigJson(lora).ToJsonString(), lm.Config.NumLayers, lm.Config.HiddenSize, lm.Config.VocabSize,
                train.Count, maxLenKey(config)),
        };
        var trainer = new Trainer(model, new ShardTrainingData(train, padId, maxLen),
            validation is null || validation.Count == 0 ? null : new ShardTrainingData(validation, padId, maxLen), options)
        {
            OnProgress = onProgress,
            OnMessage = onMessage,
        };
        return trainer.Run(cancel);
    }
}
