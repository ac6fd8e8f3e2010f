using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Data.Shards;
using ToolTune.Diagnostics;
using ToolTune.Lora;
using ToolTune.Model;
using ToolTune.Tensors;
using ToolTune.Training;

namespace ToolTune.Torch;

/// <summary>
/// <c>train.backend: torch</c>. ToolTune does the set-up exactly as for the managed engine (LoRA config, the initial
/// adapter from the seed, the epoch plans, the lr schedule, the checkpoint fingerprint) and writes it as a job
/// (<c>torch-job/job.json</c> + <c>init.safetensors</c>); <c>tooltune_torch.py</c> ranks train it data-parallel (rank r
/// takes rows r, r+W, … of every micro-batch; gradients summed over ranks and divided by the step's global
/// trained-token count) and checkpoint in ToolTune's layout; rank 0's JSON events become progress lines and
/// <c>train-log.csv</c>; the final checkpoint's tensors become the PEFT adapter through <see cref="PeftAdapterIO"/>,
/// so MergeAdapter and Evaluate read it unchanged.
/// </summary>
public sealed class TorchTrainingBackend(TorchOptions settings) : ITrainingBackend
{
    public const string JobFolder = "torch-job";

    public string Name => "torch";
    public TorchOptions Settings { get; } = settings;
    /// <summary>How long the ranks get to stop at a step boundary and checkpoint after Ctrl+C before they are killed.</summary>
    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(3.5);
    /// <summary>Extra environment for the ranks (tests inject a rank failure with <c>TOOLTUNE_TORCH_KILL_AT=rank:step</c>).</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(5);

    public TrainResult Train(TrainingRequest r, Action<TrainProgress>? onProgress, Action<string>? onMessage, CancellationToken cancel)
    {
        var s = Settings;
        var file = r.ConfigFile;
        if (s.NodeRank >= s.Nnodes)
            throw new ToolTuneException(ErrorCodes.TorchBackendFailed, $"train.torch.node_rank {s.NodeRank} must be below train.torch.nnodes {s.Nnodes}.", file);
        var jobDir = Path.Combine(r.OutputDirectory, JobFolder);
        var script = TorchRuntime.WriteScript(jobDir);
        var probe = TorchRuntime.Probe(s.Python, script, file);
        var device = TorchRuntime.ResolveDevice(probe, s.Device, s.NprocPerNode, file);
        var world = s.Nnodes * s.NprocPerNode;

        using var weights = ModelWeights.Open(r.SnapshotDirectory);
        var lm = new CausalLM(weights);
        var lora = LoraTraining.LoraFor(r);
        var adapter = LoraTraining.InitialAdapter(r.Settings, lora, lm);
        if (adapter.Linears.ContainsKey("lm_head"))
            throw new ToolTuneException(ErrorCodes.LoraUnknownModule, "lora.target_modules: lm_head is not supported by either backend yet.", file);
        // bf16 on CUDA is other arithmetic: its checkpoints are not resumed by a CPU run and vice versa
        var options = LoraTraining.OptionsFor(r, lora, lm.Config, "torch|" + device);
        var maxLen = r.Settings.MaxSeqLen;
        var trainData = new ShardTrainingData(r.Train, r.PadId, maxLen);
        var plans = Trainer.PlanEpochs(trainData, options);
        var total = Trainer.CountSteps(plans, options);
        var schedule = LrSchedule.Create(options.Schedule, options.LearningRate, total, options.WarmupRatio);
        var hasVal = r.Validation is { Count: > 0 };
        IReadOnlyList<int[]> valPlan = hasVal
            ? BatchPlanner.Plan(new ShardTrainingData(r.Validation!, r.PadId, maxLen), options.Seed, 0, options.BatchSize, options.MaxTokensPerBatch, shuffle: false)
            : [];

        Directory.CreateDirectory(r.OutputDirectory);
        var fingerprint = options.Fingerprint();
        if (options.Resume && Checkpoint.Latest(options.CheckpointDirectory) is { } stale && Checkpoint.ReadState(stale).Fingerprint != fingerprint)
        {
            var aside = options.CheckpointDirectory + "-stale";
            if (Directory.Exists(aside)) Directory.Delete(aside, recursive: true);
            Directory.Move(options.CheckpointDirectory, aside);
            onMessage?.Invoke($"checkpoints were written with other options; moved to {aside}, starting fresh");
        }
        var resumeFrom = options.Resume ? Checkpoint.Latest(options.CheckpointDirectory) : null;
        var startStep = resumeFrom is null ? 0 : Checkpoint.ReadState(resumeFrom).Step;
        var log = resumeFrom is null ? new List<TrainLogRow>() : TrainLog.Read(options.LogPath).Where(x => x.Step <= startStep).ToList();
        if (resumeFrom is not null) onMessage?.Invoke($"resumed from {resumeFrom} (step {startStep}/{total})");
        TrainLog.Write(options.LogPath, log);

        var names = adapter.Parameters.Select(p => p.Name).ToArray();
        var init = Path.Combine(jobDir, "init.safetensors");
        SafetensorsWriter.Write(init, adapter.Parameters.Select(p => SafetensorsTensor.FromSingle(p.Name, p.Shape, p.F32.ToArray())));
        var job = Job(r, options, lm.Config, lora, names, init, plans, total, schedule, hasVal, valPlan, device, fingerprint, resumeFrom);
        IO.AtomicFile.Write(Path.Combine(jobDir, "job.json"), job.ToJsonString());
        var stopFile = Path.Combine(jobDir, "stop");
        if (File.Exists(stopFile)) File.Delete(stopFile);

        string? lastCheckpoint = resumeFrom;
        var canceled = false;
        if (startStep < total)
        {
            onMessage?.Invoke($"torch {probe.TorchVersion} ({s.Python}), device {device}, {world} rank(s) ({s.NprocPerNode} on this node, " +
                              $"{(s.Launcher == "torchrun" ? "torchrun" : "started directly")}), steps {startStep + 1}..{total}");
            (canceled, lastCheckpoint) = RunRanks(jobDir, script, stopFile, device, log, options, total, startStep, lastCheckpoint, onProgress, onMessage, file, cancel);
        }
        if (canceled)
        {
            onMessage?.Invoke($"canceled at step {log.LastOrDefault()?.Step ?? startStep}/{total}");
            return new TrainResult(log.LastOrDefault()?.Step ?? startStep, total, true, resumeFrom is not null, lastCheckpoint, log);
        }
        if (s.NodeRank > 0)
        {
            onMessage?.Invoke($"node {s.NodeRank}: training done; node 0 writes the adapter");
            return new TrainResult(total, total, false, resumeFrom is not null, null, log);
        }

        // The adapter is the final checkpoint's tensors, written by the same code as the managed engine's.
        var final = Checkpoint.List(options.CheckpointDirectory).LastOrDefault();
        if (final.Step != total || final.Dir is null)
            throw new ToolTuneException(ErrorCodes.TorchBackendFailed, $"the torch ranks finished but no checkpoint of step {total} exists in {options.CheckpointDirectory}", file);
        using (var ck = SafetensorsFile.Open(Path.Combine(final.Dir, Checkpoint.ParamsFile)))
            foreach (var p in adapter.Parameters) ck.ReadSingle(p.Name, p.Data);
        PeftAdapterIO.Save(r.OutputDirectory, adapter);
        TrainLog.Write(options.LogPath, log);
        TrainLog.WriteLossSvg(options.LossSvgPath, log);
        return new TrainResult(total, total, false, resumeFrom is not null, final.Dir, log);
    }

    private JsonObject Job(TrainingRequest r, TrainerOptions o, ModelConfig mc, LoraConfig lora, string[] names, string init,
        IReadOnlyList<int[]>[] plans, int total, LrSchedule schedule, bool hasVal, IReadOnlyList<int[]> valPlan, string device, string fingerprint, string? resumeFrom)
    {
        var steps = new JsonArray();
        int step = 0, epoch = 0, micro = 0;
        while (step < total)
        {
            if (micro >= plans[epoch].Count) { epoch++; micro = 0; continue; }
            var plan = plans[epoch];
            var count = Math.Min(o.GradAccum, plan.Count - micro);
            var lr = schedule.At(step);
            step++;
            var end = micro + count;
            var epochEnd = end >= plan.Count;
            steps.Add(new JsonObject
            {
                ["micro"] = new JsonArray([.. Enumerable.Range(micro, count).Select(i => (JsonNode)new JsonArray([.. plan[i].Select(x => (JsonNode)x)]))]),
                ["lr"] = lr,
                ["epoch"] = epoch, ["micro_start"] = micro, ["epoch_end"] = epoch, ["micro_end"] = end,
                ["epoch_pos"] = epoch + (double)end / plan.Count,
                ["eval"] = hasVal && (o.EvalEvery > 0 ? step % o.EvalEvery == 0 : epochEnd),
                ["save"] = step == total || (o.SaveEvery > 0 ? step % o.SaveEvery == 0 : epochEnd),
            });
            micro = end;
        }
        return new JsonObject
        {
            ["model_dir"] = Path.GetFullPath(r.SnapshotDirectory),
            ["model"] = Shape(mc),
            ["lora"] = new JsonObject
            {
                ["scale"] = lora.Scale, ["dropout"] = lora.Dropout, ["trainable_token_ids"] = new JsonArray([.. lora.TrainableTokenIds.Select(i => (JsonNode)i)]),
            },
            ["adapter_config"] = PeftAdapterIO.ConfigJson(lora).ToJsonString(new JsonSerializerOptions { WriteIndented = true }),
            ["param_names"] = new JsonArray([.. names.Select(n => (JsonNode)n)]),
            ["init"] = Path.GetFullPath(init),
            ["shards"] = Path.GetFullPath(r.PreparedDirectory),
            ["pad_id"] = r.PadId,
            ["max_len"] = r.Settings.MaxSeqLen,
            ["betas"] = new JsonArray(o.Beta1, o.Beta2),
            ["eps"] = o.Eps, ["weight_decay"] = o.WeightDecay, ["max_grad_norm"] = o.MaxGradNorm,
            ["steps"] = steps,
            ["val_plan"] = hasVal ? new JsonArray([.. valPlan.Select(b => (JsonNode)new JsonArray([.. b.Select(x => (JsonNode)x)]))]) : null,
            ["total_steps"] = total,
            ["seed"] = o.Seed,
            ["fingerprint"] = fingerprint,
            ["checkpoint_dir"] = Path.GetFullPath(o.CheckpointDirectory),
            ["keep_last"] = o.KeepLast,
            ["device"] = device,
            ["gradient_checkpointing"] = r.Settings.GradientCheckpointing && device == "cuda",
            ["resume_from"] = resumeFrom is null ? null : Path.GetFullPath(resumeFrom),
        };
    }

    /// <summary>The decoder shape as ToolTune read it (the module uses exactly this, not its own reading of config.json).</summary>
    public static JsonObject Shape(ModelConfig c) => new()
    {
        ["vocab_size"] = c.VocabSize, ["hidden_size"] = c.HiddenSize, ["intermediate_size"] = c.IntermediateSize, ["num_layers"] = c.NumLayers,
        ["num_heads"] = c.NumHeads, ["num_kv_heads"] = c.NumKvHeads, ["head_dim"] = c.HeadDim, ["rope_theta"] = c.RopeTheta,
        ["rms_norm_eps"] = (double)c.RmsNormEps, ["tie_word_embeddings"] = c.TieWordEmbeddings,
        ["use_rope"] = new JsonArray([.. c.UseRope.Select(u => (JsonNode)u)]),
    };

    private (bool Canceled, string? LastCheckpoint) RunRanks(string jobDir, string script, string stopFile, string device, List<TrainLogRow> log,
        TrainerOptions options, int total, int startStep, string? lastCheckpoint, Action<TrainProgress>? onProgress, Action<string>? onMessage,
        string? file, CancellationToken cancel)
    {
        var s = Settings;
        var port = s.MasterPort;
        if (s.Nnodes == 1 && s.Launcher == "direct")
        {
            if (port == 0) port = TorchRuntime.FreePort();
            else if (!TorchRuntime.PortFree(port))
                throw new ToolTuneException(ErrorCodes.TorchPortInUse,
                    $"train.torch.master_port {port} is in use on this machine; choose another port or 0 (a free one).", file);
        }
        else if (port == 0) port = 29500;
        var jobPath = Path.Combine(jobDir, "job.json");
        var events = new BlockingCollection<(int Rank, string Line)>();
        var procs = new List<TorchProcess>();
        var threads = Math.Max(1, System.Environment.ProcessorCount / s.NprocPerNode).ToString(CultureInfo.InvariantCulture);
        Dictionary<string, string> Env(int localRank) => new(Environment ?? new Dictionary<string, string>())
        {
            ["RANK"] = (s.NodeRank * s.NprocPerNode + localRank).ToString(CultureInfo.InvariantCulture),
            ["LOCAL_RANK"] = localRank.ToString(CultureInfo.InvariantCulture),
            ["WORLD_SIZE"] = (s.Nnodes * s.NprocPerNode).ToString(CultureInfo.InvariantCulture),
            ["LOCAL_WORLD_SIZE"] = s.NprocPerNode.ToString(CultureInfo.InvariantCulture),
            ["MASTER_ADDR"] = s.MasterAddr,
            ["MASTER_PORT"] = port.ToString(CultureInfo.InvariantCulture),
            ["OMP_NUM_THREADS"] = threads,
            // spinning OpenMP workers of several ranks (or other jobs) on few cores made CPU steps 4x slower
            ["OMP_WAIT_POLICY"] = "PASSIVE",
        };
        var errors = new Dictionary<int, JsonObject>();
        var canceled = false;
        var done = false;
        try
        {
            if (s.Launcher == "torchrun")
            {
                var env = new Dictionary<string, string>(Environment ?? new Dictionary<string, string>()) { ["OMP_NUM_THREADS"] = threads, ["OMP_WAIT_POLICY"] = "PASSIVE" };
                string[] args = ["-m", "torch.distributed.run", "--nnodes", s.Nnodes.ToString(CultureInfo.InvariantCulture),
                    "--nproc_per_node", s.NprocPerNode.ToString(CultureInfo.InvariantCulture), "--node_rank", s.NodeRank.ToString(CultureInfo.InvariantCulture),
                    "--master_addr", s.MasterAddr, "--master_port", port.ToString(CultureInfo.InvariantCulture), script, "train", "--job", jobPath];
                procs.Add(new TorchProcess(-1, TorchRuntime.Start(TorchRuntime.Info(s.Python, args, env), s.Python, file), events));
            }
            else
                for (var lr = 0; lr < s.NprocPerNode; lr++)
                    procs.Add(new TorchProcess(s.NodeRank * s.NprocPerNode + lr,
                        TorchRuntime.Start(TorchRuntime.Info(s.Python, [script, "train", "--job", jobPath], Env(lr)), s.Python, file), events));

            var clock = Stopwatch.StartNew();
            var lastReport = TimeSpan.MinValue;
            long sessionTokens = 0;
            var baseElapsed = log.Count > 0 ? log[^1].Elapsed : 0;
            DateTime? killAt = null;
            void Handle(int rank, string line)
            {
                var e = TorchProcess.Event(line);
                if (e is null) return;
                switch ((string?)e["event"])
                {
                    case "ready":
                        onMessage?.Invoke($"torch ranks ready: {e["world_size"]} rank(s) on {e["device"]} ({e["dtype"]})");
                        break;
                    case "step":
                    {
                        var step = (int)e["step"]!;
                        var n = (long)e["tokens"]!;
                        sessionTokens += n;
                        var elapsed = clock.Elapsed;
                        var tps = sessionTokens / Math.Max(1e-9, elapsed.TotalSeconds);
                        var row = new TrainLogRow
                        {
                            Step = step, Epoch = (double)e["epoch"]!, Loss = (double)e["loss"]!, Lr = (double)e["lr"]!, GradNorm = (double)e["grad_norm"]!,
                            Tokens = n, TokensPerSecond = tps, Elapsed = baseElapsed + elapsed.TotalSeconds, ValLoss = (double?)e["val_loss"],
                        };
                        log.Add(row);
                        TrainLog.Append(options.LogPath, row);
                        if (row.ValLoss is { } v)
                            onMessage?.Invoke(string.Create(CultureInfo.InvariantCulture, $"eval: loss {v:0.0000} perplexity {Math.Exp(v):0.###}"));
                        if (onProgress is not null && (step == startStep + 1 || step == total || elapsed - lastReport >= ProgressInterval))
                        {
                            lastReport = elapsed;
                            var doneSteps = step - startStep;
                            onProgress(new TrainProgress(step, total, row.Epoch, row.Loss, row.Lr, row.GradNorm, tps, elapsed,
                                TimeSpan.FromSeconds(elapsed.TotalSeconds / doneSteps * (total - step))));
                            if (e["max_memory_mb"] is { } mem) onMessage?.Invoke(string.Create(CultureInfo.InvariantCulture, $"rank 0 peak GPU memory {(double)mem:0} MiB"));
                        }
                        break;
                    }
                    case "checkpoint":
                        lastCheckpoint = (string?)e["path"];
                        onMessage?.Invoke($"saved {lastCheckpoint}");
                        break;
                    case "canceled":
                        canceled = true;
                        break;
                    case "done":
                        done = true;
                        break;
                    case "error":
                        errors[rank] = e;
                        break;
                }
            }

            while (true)
            {
                if (cancel.IsCancellationRequested && killAt is null)
                {
                    File.WriteAllText(stopFile, "stop\n");
                    killAt = DateTime.UtcNow + StopGrace;
                }
                if (killAt is { } k && DateTime.UtcNow > k)
                {
                    foreach (var p in procs) p.Kill();
                    canceled = true;
                    break;
                }
                if (events.TryTake(out var item, 100))
                {
                    Handle(item.Rank, item.Line);
                    continue;
                }
                if (procs.All(p => p.HasExited)) break;
                if (procs.Any(p => p.HasExited && p.ExitCode != 0)) break;
            }
            // let the others notice a dead peer, then stop whoever is left; read what is left of their output
            if (!canceled && procs.Any(p => p.HasExited && p.ExitCode != 0))
            {
                var until = DateTime.UtcNow.AddSeconds(1.5);
                while (DateTime.UtcNow < until && !procs.All(p => p.HasExited)) Thread.Sleep(50);
            }
            foreach (var p in procs) p.Kill();
            foreach (var p in procs) p.Process.WaitForExit();
            while (events.TryTake(out var rest)) Handle(rest.Rank, rest.Line);
            if (cancel.IsCancellationRequested) canceled = true;
            if (canceled) return (true, lastCheckpoint);
            var failed = procs.Where(p => p.ExitCode != 0).ToList();
            if (failed.Count > 0) throw Failure(failed, errors, lastCheckpoint, file);
            if (!done && s.NodeRank == 0) // rank 0 (node 0) reports; the other nodes only see their ranks exit cleanly
                throw new ToolTuneException(ErrorCodes.TorchBackendFailed,
                    $"the torch ranks exited without finishing (no 'done' event); rank 0 stderr: {procs[0].StderrTail(8)}", file);
            return (false, lastCheckpoint);
        }
        finally
        {
            foreach (var p in procs) p.Dispose();
            if (File.Exists(stopFile)) File.Delete(stopFile);
        }
    }

    /// <summary>The first rank to fail (a rank that only lost its peer is a consequence), as a located TT error.</summary>
    private static ToolTuneException Failure(List<TorchProcess> failed, Dictionary<int, JsonObject> errors, string? lastCheckpoint, string? file)
    {
        static bool Consequence(TorchProcess p, Dictionary<int, JsonObject> errors) =>
            (errors.TryGetValue(p.Rank, out var e) ? (string?)e["message"] ?? "" : p.StderrTail(20)) is var m &&
            (m.Contains("Connection closed by peer", StringComparison.OrdinalIgnoreCase) || m.Contains("Connection reset", StringComparison.OrdinalIgnoreCase)
             || m.Contains("NCCL communicator was aborted", StringComparison.OrdinalIgnoreCase));
        var first = failed.OrderBy(p => Consequence(p, errors) ? 1 : 0).ThenBy(p => p.ExitTime).First();
        var who = first.Rank < 0 ? "torchrun" : $"rank {first.Rank}";
        var code = first.ExitCode;
        var how = code > 128 ? $"exit code {code}: killed by signal {code - 128}{(code - 128 == 9 ? " (SIGKILL; out of host memory?)" : "")}" : $"exit code {code}";
        var resume = $" Last checkpoint: {lastCheckpoint ?? "none"}{(lastCheckpoint is null ? "" : " (the next run resumes there)")}.";
        if (errors.TryGetValue(first.Rank, out var ev))
        {
            var kind = (string?)ev["kind"];
            var msg = (string?)ev["message"] ?? "";
            var tb = TorchRuntime.Tail((string?)ev["traceback"] ?? "", 4);
            return kind switch
            {
                "oom" => new ToolTuneException(ErrorCodes.TorchOutOfMemory,
                    $"{who} ran out of memory ({msg}); lower train.max_tokens_per_batch (or batch_size), keep train.gradient_checkpointing on, or use more GPUs.{resume}", file),
                "port_in_use" => new ToolTuneException(ErrorCodes.TorchPortInUse,
                    $"{who}: the rendezvous port is in use ({msg}); set train.torch.master_port to a free port.", file),
                "timeout" => new ToolTuneException(ErrorCodes.TorchTimeout,
                    $"{who}: a collective or the rendezvous timed out ({msg}): are all {failed.Count} node(s) started with the same master_addr/port and reachable?{resume}", file),
                "cuda_unavailable" => new ToolTuneException(ErrorCodes.TorchCudaUnavailable, $"{who}: {msg}", file),
                "non_finite" => new ToolTuneException(ErrorCodes.TrainNonFinite, $"{msg}; last good checkpoint: {lastCheckpoint ?? "none"} (lower the learning rate or check the data)", file),
                _ => new ToolTuneException(ErrorCodes.TorchRankFailed, $"{who} failed ({how}): {msg}. Traceback tail: {tb}.{resume}", file),
            };
        }
        var stderr = TorchRuntime.Tail(first.StderrTail(20), 4);
        return new ToolTuneException(ErrorCodes.TorchRankFailed,
            $"{who} died ({how}){(stderr.Length > 0 ? $". Last lines of its stderr: {stderr}" : ", nothing on its stderr")}.{resume}", file);
    }
}
