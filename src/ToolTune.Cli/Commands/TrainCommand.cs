using System.CommandLine;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune train --config … [--set k=v] [--no-resume]</c>: the TrainLora stage (<see cref="StageVerb"/>; resumes from
/// <c>artifacts/&lt;run&gt;/training/checkpoints/</c> when compatible checkpoints exist).</summary>
internal static class TrainCommand
{
    public static Command Create() => StageVerb.Create("train", "TrainLora",
        "Run the TrainLora stage: LoRA fine-tuning of model.base_model on the prepared shards into artifacts/<run>/adapter/ (PEFT format); " +
        "resumes automatically from compatible checkpoints.", withResume: true);
}
