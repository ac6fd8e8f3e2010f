using ToolTune.Lora;
using ToolTune.Training;

namespace ToolTune.Pipeline.Config;

/// <summary>
/// Config sections mapped to the options types of the libraries that use them, so that those libraries need not know
/// the config: <c>lora:</c> → <see cref="LoraConfig"/>, <c>train:</c> → <see cref="TrainerOptions"/>.
/// </summary>
public static class LibraryOptions
{
    /// <summary>The <c>lora:</c> section resolved for one tokenizer (<see cref="LoraConfig.WithTrainableTokens"/>) and validated.</summary>
    public static LoraConfig ToLoraConfig(this LoraSection section, Func<string, int?> tokenToId, string? baseModel = null, string? file = null) =>
        new LoraConfig
        {
            R = section.R, Alpha = section.Alpha, Dropout = section.Dropout,
            TargetModules = section.TargetModules.Distinct().ToArray(), BaseModelNameOrPath = baseModel,
        }.WithTrainableTokens(section.TrainableTokens, tokenToId, file);

    /// <summary>The <c>train:</c> section as trainer options (seed null → <paramref name="runSeed"/>).</summary>
    public static TrainerOptions ToTrainerOptions(this TrainSection t, long runSeed, string outputDirectory) => new()
    {
        Epochs = t.Epochs, MaxSteps = t.MaxSteps, LearningRate = t.LearningRate, Beta1 = t.Betas[0], Beta2 = t.Betas[1], Eps = t.Eps,
        WeightDecay = t.WeightDecay, Schedule = t.Schedule, WarmupRatio = t.WarmupRatio, BatchSize = t.BatchSize, GradAccum = t.GradAccum,
        MaxTokensPerBatch = t.MaxTokensPerBatch, MaxGradNorm = t.MaxGradNorm, Seed = t.Seed ?? runSeed, EvalEvery = t.EvalEvery,
        SaveEvery = t.SaveEvery, KeepLast = t.KeepLast, OutputDirectory = outputDirectory,
    };
}
