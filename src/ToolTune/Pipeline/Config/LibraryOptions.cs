using ToolTune.Evaluation;
using ToolTune.Lora;
using ToolTune.Training;

namespace ToolTune.Pipeline.Config;

/// <summary>
/// Config sections mapped to the options types of the libraries that use them, so that those libraries need not know
/// the config: <c>lora:</c> → <see cref="LoraConfig"/>, <c>train:</c> → <see cref="TrainerOptions"/>, both with
/// <c>data.max_seq_len</c> → <see cref="TrainingSettings"/>, <c>eval:</c> → <see cref="EvaluationOptions"/>. The config holds
/// some library types as they are: <c>train.torch</c> (<see cref="Torch.TorchOptions"/>), <c>eval.gates</c> (<see cref="Gate"/>)
/// and <c>eval.endpoint</c> (<see cref="Evaluation.Endpoint.EndpointOptions"/>).
/// </summary>
public static class LibraryOptions
{
    /// <summary>The <c>lora:</c> section without its trainable tokens (they need a tokenizer:
    /// <see cref="LoraConfig.WithTrainableTokens"/> resolves them and validates the whole).</summary>
    public static LoraConfig ToLoraConfig(this LoraSection section, string? baseModel = null) =>
        new()
        {
            R = section.R, Alpha = section.Alpha, Dropout = section.Dropout,
            TargetModules = section.TargetModules.Distinct().ToArray(), BaseModelNameOrPath = baseModel,
        };

    /// <summary>The <c>train:</c> section as trainer options (seed null → <paramref name="runSeed"/>).</summary>
    public static TrainerOptions ToTrainerOptions(this TrainSection t, long runSeed, string outputDirectory) => new()
    {
        Epochs = t.Epochs, MaxSteps = t.MaxSteps, LearningRate = t.LearningRate, Beta1 = t.Betas[0], Beta2 = t.Betas[1], Eps = t.Eps,
        WeightDecay = t.WeightDecay, Schedule = t.Schedule, WarmupRatio = t.WarmupRatio, BatchSize = t.BatchSize, GradAccum = t.GradAccum,
        MaxTokensPerBatch = t.MaxTokensPerBatch, MaxGradNorm = t.MaxGradNorm, Seed = t.Seed ?? runSeed, EvalEvery = t.EvalEvery,
        SaveEvery = t.SaveEvery, KeepLast = t.KeepLast, OutputDirectory = outputDirectory,
    };

    /// <summary>What a training backend needs of the config, writing to <paramref name="outputDirectory"/>; the adapter
    /// names <c>model.base_model</c> as its base, else <paramref name="snapshotDirectory"/>.</summary>
    public static TrainingSettings ToTrainingSettings(this PipelineConfig c, string snapshotDirectory, string outputDirectory) => new()
    {
        Lora = c.Lora.ToLoraConfig(c.Model.BaseModel ?? snapshotDirectory),
        TrainableTokens = c.Lora.TrainableTokens,
        Trainer = c.Train.ToTrainerOptions(c.Run.Seed, outputDirectory),
        MaxSeqLen = c.Data.MaxSeqLen,
        GradientCheckpointing = c.Train.GradientCheckpointing,
    };

    /// <summary>The <c>eval:</c> section's decoding and gates.</summary>
    public static EvaluationOptions ToEvaluationOptions(this EvalSection e) =>
        new() { MaxNewTokens = e.MaxNewTokens, Temperature = e.Temperature, Gates = e.Gates };

    /// <summary>The backend <c>train.backend</c> names, launched with <c>train.torch</c> when it is torch.</summary>
    public static ITrainingBackend ToTrainingBackend(this TrainSection t) => TrainingBackends.For(t.Backend, t.Torch);
}
