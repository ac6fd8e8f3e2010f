using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using ToolTune.Data.Shards;
using ToolTune.Diagnostics;
using ToolTune.Model;

namespace ToolTune.Training;

/// <summary>Sum of token losses and trained-token count of one micro-batch.</summary>
public readonly record struct MicroResult(double LossSum, long Tokens);

/// <summary>
/// What the trainer needs from a model (the LoRA-wrapped decoder, or a toy in tests).
/// </summary>
public interface ITrainableModel
{
    /// <summary>Trainable tensors, in a fixed order (optimizer state and checkpoints follow it).</summary>
    IReadOnlyList<Param> Parameters { get; }

    /// <summary>Trained tokens of a micro-batch (default: HF causal shift, labels[t≥1] ≠ −100).</summary>
    long TrainedTokens(Batch batch) => BatchPlanner.TrainedTokens(batch);

    /// <summary>
    /// Forward + backward on one micro-batch: ADDS <c>∂(Σ token NLL)/∂θ / normalizer</c> into every <c>Param.Grad</c> and
    /// returns the unnormalised Σ token NLL and the trained-token count. <paramref name="normalizer"/> is the number of
    /// trained tokens in the whole optimizer step (≥ 1). <paramref name="dropoutKey"/> seeds dropout.
    /// </summary>
    MicroResult ForwardBackward(Batch batch, long normalizer, ulong dropoutKey);

    /// <summary>Forward only (no dropout): Σ token NLL and trained tokens.</summary>
    MicroResult Evaluate(Batch batch);

    /// <summary>Writes the model's adapter files (PEFT for LoRA) into <paramref name="directory"/>; may be a no-op.</summary>
    void SaveAdapter(string directory);
}

public sealed record TrainerOptions
{
    public int Epochs { get; init; } = 1;
    public int? MaxSteps { get; init; }
    public double LearningRate { get; init; } = 2e-4;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    public double WeightDecay { get; init; }
    public string Schedule { get; init; } = "cosine";
    public double WarmupRatio { get; init; }
    public int BatchSize { get; init; } = 1;
    public int GradAccum { get; init; } = 1;
    public int? MaxTokensPerBatch { get; init; }
    /// <summary>Clip threshold; 0 or less: no clipping (the norm is still computed and logged).</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    public long Seed { get; init; }
    /// <summary>Evaluate every N steps (0: at the end of each epoch).</summary>
    public int EvalEvery { get; init; }
    /// <summary>Checkpoint every N steps (0: at the end of each epoch).</summary>
    public int SaveEvery { get; init; }
    public int KeepLast { get; init; } = 2;
    /// <summary>Shuffle the sample order per epoch (off: file order, for oracle comparisons).</summary>
    public bool Shuffle { get; init; } = true;
    /// <summary>Folder for the adapter, <c>train-log.csv</c>, <c>loss.svg</c> and <c>checkpoints/</c>.</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>Resume from the latest complete checkpoint when one exists.</summary>
    public bool Resume { get; init; } = true;
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Extra identity folded into <see cref="Fingerprint"/> (LoRA config, base model, data stamp): a checkpoint
    /// written under another identity is not resumed.</summary>
    public string ExtraFingerprint { get; init; } = "";

    public string CheckpointDirectory => Path.Combine(OutputDirectory, "checkpoints");
    public string LogPath => Path.Combine(OutputDirectory, "train-log.csv");
    public string LossSvgPath => Path.Combine(OutputDirectory, "loss.svg");

    /// <summary>Hash of everything that fixes the trajectory (a checkpoint from other options is not resumed).</summary>
    public string Fingerprint()
    {
        var s = string.Join("|", Epochs, MaxSteps, LearningRate.ToString("R", CultureInfo.InvariantCulture), Beta1.ToString("R", CultureInfo.InvariantCulture),
            Beta2.ToString("R", CultureInfo.InvariantCulture), Eps.ToString("R", CultureInfo.InvariantCulture), WeightDecay.ToString("R", CultureInfo.InvariantCulture),
            Schedule, WarmupRatio.ToString("R", CultureInfo.InvariantCulture), BatchSize, GradAccum, MaxTokensPerBatch, MaxGradNorm.ToString("R", CultureInfo.InvariantCulture), Seed, Shuffle, ExtraFingerprint);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)))[..16];
    }
}

/// <summary>A progress report (throttled to <see cref="TrainerOptions.ProgressInterval"/>, plus the first and last step).</summary>
public sealed record TrainProgress(int Step, int TotalSteps, double Epoch, double Loss, double Lr, double GradNorm, double TokensPerSecond, TimeSpan Elapsed, TimeSpan? Eta)
{
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"step {Step}/{TotalSteps} epoch {Epoch:0.00} loss {Loss:0.0000} lr {Lr:0.###e+0} grad_norm {GradNorm:0.000} {TokensPerSecond:0} tok/s ETA {(Eta is { } e ? e.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture) : "?")}");
}

public sealed record TrainResult(int Steps, int TotalSteps, bool Canceled, bool Resumed, string? LastCheckpoint, IReadOnlyList<TrainLogRow> Log);

/// <summary>
/// The training loop. One optimizer step = <see cref="TrainerOptions.GradAccum"/> micro-batches from the epoch plan
/// (<see cref="BatchPlanner"/>); loss normalisation as TRL/transformers by default (<c>num_items_in_batch</c>):
/// <c>loss = Σ token NLL over all micro-batches of the step / number of trained tokens in them</c>, gradients of
/// exactly that (each micro-batch's backward divides by the step's N). Then clip (global norm), NaN/Inf guard (TT5100),
/// AdamW with the scheduled lr, log, evaluate, checkpoint.
/// </summary>
public sealed class Trainer
{
    private readonly ITrainableModel _model;
    private readonly ITrainingData _train;
    private readonly ITrainingData? _val;
    private readonly TrainerOptions _o;

    public Trainer(ITrainableModel model, ITrainingData train, ITrainingData? validation, TrainerOptions options)
    {
        _model = model;
        _train = train;
        _val = validation;
        _o = options;
        if (train.Count == 0) throw new ToolTuneException(ErrorCodes.TrainOptionsInvalid, "no training samples");
        if (options.BatchSize <= 0 || options.GradAccum <= 0 || options.Epochs <= 0)
            throw new ToolTuneException(ErrorCodes.TrainOptionsInvalid, "batch_size, grad_accum and epochs must be positive");
        Plans = PlanEpochs(train, options);
        TotalSteps = CountSteps(Plans, options);
        Schedule = LrSchedule.Create(options.Schedule, options.LearningRate, TotalSteps, options.WarmupRatio);
    }

    /// <summary>Every epoch's micro-batches (sample indices), deterministic from the options' seed.</summary>
    public static IReadOnlyList<int[]>[] PlanEpochs(ITrainingData train, TrainerOptions options) =>
        Enumerable.Range(0, options.Epochs)
            .Select(e => BatchPlanner.Plan(train, options.Seed, e, options.BatchSize, options.MaxTokensPerBatch, options.Shuffle)).ToArray();

    /// <summary>Optimizer steps of a plan: ⌈micro-batches / grad_accum⌉ per epoch, capped by max_steps.</summary>
    public static int CountSteps(IReadOnlyList<int[]>[] plans, TrainerOptions options)
    {
        var total = plans.Sum(p => (p.Count + options.GradAccum - 1) / options.GradAccum);
        return options.MaxSteps is { } m ? Math.Min(m, total) : total;
    }

    public IReadOnlyList<int[]>[] Plans { get; }
    public int TotalSteps { get; }
    public LrSchedule Schedule { get; }
    /// <summary>Receives progress (throttled).</summary>
    public Action<TrainProgress>? OnProgress { get; init; }
    /// <summary>Receives one-line messages (checkpoint saved, evaluation, resume).</summary>
    public Action<string>? OnMessage { get; init; }

    public TrainResult Run(CancellationToken cancel = default)
    {
        var ps = _model.Parameters;
        var opt = new AdamW(ps, _o.Beta1, _o.Beta2, _o.Eps, _o.WeightDecay);
        Directory.CreateDirectory(_o.OutputDirectory);
        var fingerprint = _o.Fingerprint();
        int step = 0, epoch = 0, micro = 0;
        ulong rng = (ulong)_o.Seed ^ 0x5DEECE66DUL;
        long tokensSeen = 0;
        var log = new List<TrainLogRow>();
        string? lastCheckpoint = null;
        var resumed = false;
        if (_o.Resume && Checkpoint.Latest(_o.CheckpointDirectory) is { } stale && Checkpoint.ReadState(stale).Fingerprint != fingerprint)
        {
            // another configuration's run state: set aside (not deleted), start fresh
            var aside = _o.CheckpointDirectory + "-stale";
            if (Directory.Exists(aside)) Directory.Delete(aside, recursive: true);
            Directory.Move(_o.CheckpointDirectory, aside);
            OnMessage?.Invoke($"checkpoints were written with other options; moved to {aside}, starting fresh");
        }
        if (_o.Resume && Checkpoint.Latest(_o.CheckpointDirectory) is { } latest)
        {
            var st = Checkpoint.Load(latest, ps, opt);
            (step, epoch, micro, tokensSeen) = (st.Step, st.Epoch, st.Micro, st.TokensSeen);
            rng = ulong.Parse(st.RngState, CultureInfo.InvariantCulture);
            log = TrainLog.Read(_o.LogPath).Where(r => r.Step <= step).ToList();
            lastCheckpoint = latest;
            resumed = true;
            OnMessage?.Invoke($"resumed from {latest} (step {step}/{TotalSteps})");
        }

        TrainerState State() => new()
        {
            Step = step, Epoch = epoch, Micro = micro, RngState = rng.ToString(CultureInfo.InvariantCulture), OptimizerStep = opt.Step,
            SchedulerStep = step, TotalSteps = TotalSteps, Seed = _o.Seed, Fingerprint = fingerprint, TokensSeen = tokensSeen,
        };
        void Save()
        {
            lastCheckpoint = Checkpoint.Save(_o.CheckpointDirectory, State(), ps, opt, _model.SaveAdapter, _o.KeepLast);
            OnMessage?.Invoke($"saved {lastCheckpoint}");
        }

        TrainLog.Write(_o.LogPath, log); // fresh header, or the rows up to the resumed checkpoint
        TrainResult Canceled()
        {
            if (lastCheckpoint is null || Checkpoint.List(_o.CheckpointDirectory).LastOrDefault().Step != step) Save();
            OnMessage?.Invoke($"canceled at step {step}/{TotalSteps}");
            return new TrainResult(step, TotalSteps, true, resumed, lastCheckpoint, log);
        }

        var clock = Stopwatch.StartNew();
        var startStep = step;
        long sessionTokens = 0;
        var lastReport = TimeSpan.MinValue;
        var baseElapsed = log.Count > 0 ? log[^1].Elapsed : 0;

        while (step < TotalSteps)
        {
            if (micro >= Plans[epoch].Count) { epoch++; micro = 0; continue; }
            if (cancel.IsCancellationRequested) return Canceled();
            var plan = Plans[epoch];
            var count = Math.Min(_o.GradAccum, plan.Count - micro);
            var batches = new Batch[count];
            long n = 0;
            for (var i = 0; i < count; i++)
            {
                batches[i] = _train.Materialize(plan[micro + i]);
                n += _model.TrainedTokens(batches[i]);
            }
            foreach (var p in ps) p.Grad!.AsSpan().Clear();
            double lossSum = 0;
            var rngAtStepStart = rng;
            for (var i = 0; i < count; i++)
            {
                if (i > 0 && cancel.IsCancellationRequested)
                {
                    rng = rngAtStepStart; // drop the partial step: parameters, position and RNG are still those after the last step
                    return Canceled();
                }
                rng += 0x9E3779B97F4A7C15UL;
                var key = Lora.LoraRandom.Mix(rng);
                lossSum += _model.ForwardBackward(batches[i], Math.Max(1, n), key).LossSum;
            }
            var loss = n > 0 ? lossSum / n : 0;
            var gradNorm = _o.MaxGradNorm > 0 ? GradClip.Clip(ps, _o.MaxGradNorm) : GradClip.GlobalNorm(ps);
            if (!double.IsFinite(loss) || !double.IsFinite(gradNorm))
                throw new ToolTuneException(ErrorCodes.TrainNonFinite,
                    $"step {step + 1}: {(double.IsFinite(loss) ? "gradient norm" : "loss")} is {(double.IsFinite(loss) ? gradNorm : loss)}; " +
                    $"last good checkpoint: {lastCheckpoint ?? "none"} (lower the learning rate or check the data)");
            var lr = Schedule.At(step);
            opt.Update(lr);
            step++;
            micro += count;
            tokensSeen += n;
            sessionTokens += n;
            var elapsed = clock.Elapsed;
            var tps = sessionTokens / Math.Max(1e-9, elapsed.TotalSeconds);
            var epochPos = epoch + (double)micro / plan.Count;
            double? valLoss = null;
            var epochEnd = micro >= plan.Count;
            if (_val is not null && (_o.EvalEvery > 0 ? step % _o.EvalEvery == 0 : epochEnd)) valLoss = Evaluate();
            var row = new TrainLogRow
            {
                Step = step, Epoch = epochPos, Loss = loss, Lr = lr, GradNorm = gradNorm, Tokens = n, TokensPerSecond = tps,
                Elapsed = baseElapsed + elapsed.TotalSeconds, ValLoss = valLoss,
            };
            log.Add(row);
            TrainLog.Append(_o.LogPath, row);
            if (OnProgress is not null && (step == startStep + 1 || step == TotalSteps || elapsed - lastReport >= _o.ProgressInterval))
            {
                lastReport = elapsed;
                var done = step - startStep;
                TimeSpan? eta = done > 0 ? TimeSpan.FromSeconds(elapsed.TotalSeconds / done * (TotalSteps - step)) : null;
                OnProgress(new TrainProgress(step, TotalSteps, epochPos, loss, lr, gradNorm, tps, elapsed, eta));
            }
            if (step == TotalSteps || (_o.SaveEvery > 0 ? step % _o.SaveEvery == 0 : epochEnd)) Save();
        }

        _model.SaveAdapter(_o.OutputDirectory);
        TrainLog.Write(_o.LogPath, log);
        TrainLog.WriteLossSvg(_o.LossSvgPath, log);
        return new TrainResult(step, TotalSteps, false, resumed, lastCheckpoint, log);
    }

    /// <summary>Validation loss: Σ token NLL / Σ trained tokens over the whole set (perplexity = exp of it).</summary>
    public double Evaluate()
    {
        if (_val is null) return double.NaN;
        double sum = 0;
        long n = 0;
        foreach (var idx in BatchPlanner.Plan(_val, _o.Seed, 0, _o.BatchSize, _o.MaxTokensPerBatch, shuffle: false))
        {
            var r = _model.Evaluate(_val.Materialize(idx));
            sum += r.LossSum;
            n += r.Tokens;
        }
        var loss = n > 0 ? sum / n : double.NaN;
        OnMessage?.Invoke(string.Create(CultureInfo.InvariantCulture, $"eval: loss {loss:0.0000} perplexity {Math.Exp(loss):0.###}"));
        return loss;
    }
}
