using System.Globalization;
using System.Text.Json;
using ToolTune.Diagnostics;
using ToolTune.Lora;
using ToolTune.Model;
using ToolTune.Tensors;

namespace ToolTune.Training;

/// <summary>Trainer position saved in <c>trainer_state.json</c>.</summary>
public sealed record TrainerState
{
    /// <summary>Optimizer steps completed.</summary>
    public int Step { get; init; }
    /// <summary>Data position: the next micro-batch is <c>plan[Epoch][Micro]</c>.</summary>
    public int Epoch { get; init; }
    public int Micro { get; init; }
    /// <summary>SplitMix64 state of the trainer RNG (dropout keys), as a decimal string.</summary>
    public string RngState { get; init; } = "0";
    public long OptimizerStep { get; init; }
    /// <summary>Scheduler position (the index of the next optimizer step's lr).</summary>
    public int SchedulerStep { get; init; }
    public int TotalSteps { get; init; }
    public long Seed { get; init; }
    /// <summary>Hash of the options that must not change across a resume.</summary>
    public string Fingerprint { get; init; } = "";
    public long TokensSeen { get; init; }
}

/// <summary>
/// <c>checkpoint-&lt;step&gt;/</c>: <c>trainable.safetensors</c> (every trainable tensor, F32, by parameter name),
/// <c>optimizer.safetensors</c> (<c>exp_avg.&lt;name&gt;</c>, <c>exp_avg_sq.&lt;name&gt;</c>), the model's adapter files
/// (PEFT format for LoRA) and <c>trainer_state.json</c>. Written into <c>checkpoint-&lt;step&gt;.tmp</c> then renamed, so
/// a checkpoint folder without the suffix is always complete.
/// </summary>
public static class Checkpoint
{
    public const string Prefix = "checkpoint-";
    public const string StateFile = "trainer_state.json";
    public const string ParamsFile = "trainable.safetensors";
    public const string OptimizerFile = "optimizer.safetensors";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static string Save(string root, TrainerState state, IReadOnlyList<Param> parameters, AdamW optimizer, Action<string>? saveAdapter, int keepLast)
    {
        Directory.CreateDirectory(root);
        var final = Path.Combine(root, Prefix + state.Step.ToString(CultureInfo.InvariantCulture));
        var tmp = final + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        Directory.CreateDirectory(tmp);
        SafetensorsWriter.Write(Path.Combine(tmp, ParamsFile),
            parameters.Select(p => SafetensorsTensor.FromSingle(p.Name, p.Shape, p.F32.ToArray())));
        var opt = new List<SafetensorsTensor>();
        for (var i = 0; i < parameters.Count; i++)
        {
            opt.Add(SafetensorsTensor.FromSingle("exp_avg." + parameters[i].Name, parameters[i].Shape, optimizer.ExpAvg[i]));
            opt.Add(SafetensorsTensor.FromSingle("exp_avg_sq." + parameters[i].Name, parameters[i].Shape, optimizer.ExpAvgSq[i]));
        }
        SafetensorsWriter.Write(Path.Combine(tmp, OptimizerFile), opt);
        saveAdapter?.Invoke(tmp);
        File.WriteAllText(Path.Combine(tmp, StateFile), JsonSerializer.Serialize(state, Json));
        if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
        Directory.Move(tmp, final);
        foreach (var (_, dir) in List(root).SkipLast(keepLast)) Directory.Delete(dir, recursive: true);
        return final;
    }

    /// <summary>Complete checkpoints under <paramref name="root"/>, oldest first.</summary>
    public static IReadOnlyList<(int Step, string Dir)> List(string root)
    {
        if (!Directory.Exists(root)) return [];
        return Directory.GetDirectories(root, Prefix + "*")
            .Select(d => (Name: Path.GetFileName(d), Dir: d))
            .Where(x => int.TryParse(x.Name.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out _)
                        && File.Exists(Path.Combine(x.Dir, StateFile)))
            .Select(x => (int.Parse(x.Name.AsSpan(Prefix.Length), CultureInfo.InvariantCulture), x.Dir))
            .OrderBy(x => x.Item1).ToList();
    }

    public static string? Latest(string root) => List(root) is { Count: > 0 } l ? l[^1].Dir : null;

    public static TrainerState ReadState(string dir)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(Path.Combine(dir, StateFile)), Json)
                   ?? throw new ToolTuneException(ErrorCodes.CheckpointInvalid, "empty trainer_state.json", dir);
        }
        catch (JsonException ex) { throw new ToolTuneException(ErrorCodes.CheckpointInvalid, $"trainer_state.json: {ex.Message}", dir); }
    }

    /// <summary>Restores parameters and optimizer moments in place; returns the trainer state.</summary>
    public static TrainerState Load(string dir, IReadOnlyList<Param> parameters, AdamW optimizer)
    {
        ToolTuneException Bad(string m) => new(ErrorCodes.CheckpointInvalid, m, dir);
        var state = ReadState(dir);
        using (var ps = SafetensorsFile.Open(Path.Combine(dir, ParamsFile)))
        using (var os = SafetensorsFile.Open(Path.Combine(dir, OptimizerFile)))
        {
            if (ps.Entries.Count != parameters.Count) throw Bad($"checkpoint has {ps.Entries.Count} trainable tensors, the run has {parameters.Count}");
            for (var i = 0; i < parameters.Count; i++)
            {
                var p = parameters[i];
                if (!ps.Entries.TryGetValue(p.Name, out var e)) throw Bad($"tensor '{p.Name}' missing");
                if (!e.Shape.SequenceEqual(p.Shape)) throw Bad($"tensor '{p.Name}' has shape [{string.Join(", ", e.Shape)}], the run needs [{string.Join(", ", p.Shape)}]");
                ps.ReadSingle(p.Name, p.Data);
                os.ReadSingle("exp_avg." + p.Name, optimizer.ExpAvg[i]);
                os.ReadSingle("exp_avg_sq." + p.Name, optimizer.ExpAvgSq[i]);
            }
        }
        optimizer.Step = state.OptimizerStep;
        return state;
    }
}
