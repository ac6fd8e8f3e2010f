using ToolTune.Data.Shards;
using ToolTune.Lora;
using ToolTune.Model;

namespace ToolTune.Training;

/// <summary>
/// The managed engine's entry point: base snapshot + prepared shards + settings → PEFT adapter, train-log.csv,
/// loss.svg and checkpoints in the request's output folder (resuming automatically from the latest checkpoint).
/// The set-up (LoRA config, initial adapter, options and their fingerprint) is shared with the other backends, so every
/// engine starts from the same tensors and the same batch plan.
/// </summary>
public static class LoraTraining
{
    /// <param name="r">settings (<see cref="TrainingSettings"/>), the base snapshot (config.json + safetensors), training and
    /// optional validation shards, the tokenizer lookup for the trainable tokens, the padding id (labels there are −100, so
    /// any valid id works) and the data identity (a checkpoint written under another identity is not resumed)</param>
    public static TrainResult Run(TrainingRequest r, Action<TrainProgress>? onProgress = null, Action<string>? onMessage = null,
        CancellationToken cancel = default)
    {
        using var weights = ModelWeights.Open(r.SnapshotDirectory);
        var lm = new CausalLM(weights) { GradientCheckpointing = r.Settings.GradientCheckpointing };
        var lora = LoraFor(r);
        var adapter = InitialAdapter(r.Settings, lora, lm);
        var model = new LoraTrainableModel(lm, adapter);
        var options = OptionsFor(r, lora, lm.Config);
        var maxLen = r.Settings.MaxSeqLen;
        var trainer = new Trainer(model, new ShardTrainingData(r.Train, r.PadId, maxLen),
            r.Validation is null || r.Validation.Count == 0 ? null : new ShardTrainingData(r.Validation, r.PadId, maxLen), options)
        {
            OnProgress = onProgress,
            OnMessage = onMessage,
        };
        return trainer.Run(cancel);
    }

    /// <summary>The LoRA config with the trainable tokens resolved through the request's tokenizer, validated.</summary>
    public static LoraConfig LoraFor(TrainingRequest r) => r.Settings.Lora.WithTrainableTokens(r.Settings.TrainableTokens, r.TokenToId);

    /// <summary>The PEFT initialisation from the training seed (trainable token rows copied from the base embedding).</summary>
    public static LoraAdapter InitialAdapter(TrainingSettings settings, LoraConfig lora, CausalLM lm) =>
        LoraAdapter.Create(lora, lm.Config, (ulong)settings.Trainer.Seed, id =>
        {
            var row = new float[lm.Config.HiddenSize];
            lm.EmbedWeight.CopyRow(id, row);
            return row;
        });

    /// <summary>Trainer options with the identity a checkpoint must share to be resumed (<paramref name="extraIdentity"/>:
    /// what else decides the arithmetic, e.g. another backend and its device).</summary>
    public static TrainerOptions OptionsFor(TrainingRequest r, LoraConfig lora, ModelConfig model, string? extraIdentity = null) =>
        r.Settings.Trainer with
        {
            Resume = r.Resume,
            ExtraFingerprint = string.Join("|", PeftAdapterIO.ConfigJson(lora).ToJsonString(), model.NumLayers, model.HiddenSize, model.VocabSize,
                r.Train.Count, r.Settings.MaxSeqLen.ToString(System.Globalization.CultureInfo.InvariantCulture), r.DataIdentity ?? "")
                + (extraIdentity is null ? "" : "|" + extraIdentity),
        };
}
