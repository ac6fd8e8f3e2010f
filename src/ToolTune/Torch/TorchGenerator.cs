using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Evaluation;
using ModelConfig = ToolTune.Model.ModelConfig;
using ToolTune.Model;

namespace ToolTune.Torch;

/// <summary>
/// <c>eval.backend: torch</c>: a <c>tooltune_torch.py serve</c> process holding one Hugging Face snapshot (bf16 on CUDA,
/// f32 on CPU) and answering one JSON line per request: greedy (or sampled) KV-cache generation returning ids, which
/// go back to ToolTune's parser and metrics unchanged, and the validation loss. Dispose it to stop the process.
/// </summary>
public sealed class TorchGenerator : IEvaluationModel
{
    private readonly TorchProcess _proc;
    private readonly BlockingCollection<(int Rank, string Line)> _lines = new();
    private readonly string? _configFile;

    public TorchGenerator(string modelDir, TorchOptions settings, string workDirectory, string? name = null, string? configFile = null)
    {
        _configFile = configFile;
        Name = name ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(modelDir));
        Config = ModelConfig.Load(modelDir);
        var script = TorchRuntime.WriteScript(workDirectory);
        var probe = TorchRuntime.Probe(settings.Python, script, configFile);
        Device = TorchRuntime.ResolveDevice(probe, settings.Device, 1, configFile);
        var psi = TorchRuntime.Info(settings.Python, [script, "serve", "--model", Path.GetFullPath(modelDir), "--device", Device,
            "--shape", TorchTrainingBackend.Shape(Config).ToJsonString()], new Dictionary<string, string> { ["OMP_WAIT_POLICY"] = "PASSIVE" });
        _proc = new TorchProcess(0, TorchRuntime.Start(psi, settings.Python, configFile), _lines);
        var ready = Read(TimeSpan.FromMinutes(10));
        if ((string?)ready["event"] != "ready") throw Broken($"unexpected first line {ready.ToJsonString()}");
    }

    public string Name { get; }
    public string Device { get; }
    public ModelConfig Config { get; }

    public GenerationResult Generate(IReadOnlyList<int> promptIds, GenerationOptions options, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        foreach (var id in promptIds)
            if (id < 0 || id >= Config.VocabSize)
                throw new ToolTuneException(ErrorCodes.EvalGenerationFailed, $"prompt token id {id} is outside the vocabulary [0, {Config.VocabSize}) of model '{Name}'.");
        var o = Ask(new JsonObject
        {
            ["ids"] = new JsonArray([.. promptIds.Select(i => (JsonNode)i)]), ["max_new_tokens"] = options.MaxNewTokens,
            ["temperature"] = options.Temperature, ["seed"] = options.Seed, ["stop"] = new JsonArray([.. options.StopIds.Select(i => (JsonNode)i)]),
        }, cancellationToken);
        var ids = o["ids"]!.AsArray().Select(x => (int)x!).ToArray();
        return new GenerationResult(ids, (string?)o["reason"] == "stop" ? FinishReason.Stop : FinishReason.Length,
            TimeSpan.FromSeconds((double)o["prefill_s"]!), TimeSpan.FromSeconds((double)o["decode_s"]!));
    }

    public double? MeanLoss(IEnumerable<(int[] Ids, int[] Labels)> samples, CancellationToken ct)
    {
        double sum = 0;
        long count = 0;
        foreach (var (ids, labels) in samples)
        {
            var o = Ask(new JsonObject { ["ids"] = new JsonArray([.. ids.Select(i => (JsonNode)i)]), ["labels"] = new JsonArray([.. labels.Select(i => (JsonNode)i)]) }, ct);
            sum += (double)o["loss_sum"]!;
            count += (long)o["tokens"]!;
        }
        return count == 0 ? null : sum / count;
    }

    private JsonObject Ask(JsonObject request, CancellationToken ct)
    {
        _proc.Process.StandardInput.WriteLine(request.ToJsonString());
        _proc.Process.StandardInput.Flush();
        return Read(Timeout.InfiniteTimeSpan, ct);
    }

    private JsonObject Read(TimeSpan timeout, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (_lines.TryTake(out var item, 100))
            {
                if (TorchProcess.Event(item.Line) is not { } o) continue;
                if ((string?)o["event"] == "error")
                    throw new ToolTuneException((string?)o["kind"] == "oom" ? ErrorCodes.TorchOutOfMemory : ErrorCodes.TorchBackendFailed,
                        $"torch generation for '{Name}' failed: {o["message"]}. Traceback tail: {TorchRuntime.Tail((string?)o["traceback"] ?? "", 4)}", _configFile);
                return o;
            }
            if (_proc.HasExited && _lines.Count == 0)
            {
                _proc.Process.WaitForExit();
                if (_lines.Count > 0) continue;
                throw Broken($"the generation process exited (code {_proc.ExitCode}): {TorchRuntime.Tail(_proc.StderrTail(20), 4)}");
            }
            if (timeout != Timeout.InfiniteTimeSpan && clock.Elapsed > timeout) throw new ToolTuneException(ErrorCodes.TorchTimeout, $"torch generation for '{Name}' did not start within {timeout}", _configFile);
        }
    }

    private ToolTuneException Broken(string message) => new(ErrorCodes.TorchBackendFailed, $"torch generation for '{Name}': {message}", _configFile);

    public void Dispose()
    {
        try { _proc.Process.StandardInput.Close(); } catch (IOException) { }
        try { _proc.Process.WaitForExit(2000); } catch (InvalidOperationException) { }
        _proc.Dispose();
    }
}
