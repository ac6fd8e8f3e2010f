using System.Diagnostics;
using System.Text.RegularExpressions;
using ToolTune.Data.Shards;
using ToolTune.Pipeline;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Stages;
using ToolTune.Tensors;
using ToolTune.Tests.Pipeline;
using ToolTune.Training;
using ToolTune.Text.Tokenization;

namespace ToolTune.Tests.Torch;

/// <summary>
/// The interpreter the torch-backend tests use: <c>TOOLTUNE_TEST_PYTHON</c>, else <c>/usr/bin/python3</c> (Debian's
/// python3-torch), else <c>python3</c>. Without torch the tests are skipped with a message, except under <c>CI=true</c>
/// (<c>.ci/run</c> installs python3-torch), where they fail.
/// </summary>
internal static class TorchTestEnvironment
{
    private static readonly Lazy<(string Python, string? Missing)> Found = new(() =>
    {
        var candidates = new[] { Environment.GetEnvironmentVariable("TOOLTUNE_TEST_PYTHON"), "/usr/bin/python3", "python3" }
            .Where(c => !string.IsNullOrEmpty(c) && (!c!.StartsWith('/') || File.Exists(c))).Cast<string>().ToArray();
        string? why = null;
        foreach (var py in candidates)
        {
            try
            {
                using var p = Process.Start(new ProcessStartInfo(py, ["-c", "import torch, numpy; print(torch.__version__)"])
                {
                    RedirectStandardOutput = true, RedirectStandardError = true,
                })!;
                var err = p.StandardError.ReadToEndAsync();
                p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode == 0) return (py, null);
                why = $"{py}: {err.Result.Trim().Split('\n').LastOrDefault()}";
            }
            catch (System.ComponentModel.Win32Exception e) { why = $"{py}: {e.Message}"; }
        }
        return ("python3", why ?? "no python3");
    });

    public static string Python => Found.Value.Python;

    public static void Require()
    {
        if (Found.Value.Missing is not { } why) return;
        var message = $"The torch backend tests need a Python with torch >= 1.13 and numpy ({why}); Debian: apt-get install python3-torch libopenblas0-pthread.";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            Assert.Fail(message + " CI=true requires it.");
        Assert.Inconclusive(message + " Skipping.");
    }

    /// <summary>Overrides that point the torch backend at the test interpreter.</summary>
    public static string PythonOverride => $"train.torch.python={Python}";

    /// <summary>Per-tensor relative Frobenius distance between two adapters (the largest), plus the key sets' equality.</summary>
    public static (double MaxRelative, string Worst) AdapterDistance(string dirA, string dirB)
    {
        using var a = SafetensorsFile.Open(Path.Combine(dirA, "adapter_model.safetensors"));
        using var b = SafetensorsFile.Open(Path.Combine(dirB, "adapter_model.safetensors"));
        CollectionAssert.AreEquivalent(a.Entries.Keys.ToList(), b.Entries.Keys.ToList(), "adapter keys differ");
        double worst = 0;
        var name = "";
        foreach (var k in a.Entries.Keys)
        {
            var x = a.ReadSingle(k);
            var y = b.ReadSingle(k);
            double diff = 0, norm = 0;
            for (var i = 0; i < x.Length; i++) { diff += (double)(x[i] - y[i]) * (x[i] - y[i]); norm += (double)y[i] * y[i]; }
            var rel = Math.Sqrt(diff) / Math.Max(1e-30, Math.Sqrt(norm));
            if (rel > worst) (worst, name) = (rel, k);
        }
        return (worst, name);
    }

    public static double MaxRelativeLossDifference(IReadOnlyList<TrainLogRow> a, IReadOnlyList<TrainLogRow> b)
    {
        Assert.AreEqual(a.Count, b.Count, "step counts differ");
        double worst = 0;
        for (var i = 0; i < a.Count; i++)
        {
            Assert.AreEqual(a[i].Step, b[i].Step);
            worst = Math.Max(worst, Math.Abs(a[i].Loss - b[i].Loss) / Math.Abs(b[i].Loss));
        }
        return worst;
    }
}

/// <summary>
/// A temporary project whose config is one of the repository's (configs/demo.yaml, configs/sample.yaml) with its paths
/// made absolute, prepared once (PrepareData + VerifyTokens); backends then train on the same shards into separate folders.
/// </summary>
internal sealed class RepoConfigProject : IDisposable
{
    private readonly TempDir _dir = new("tt-torch-");

    public RepoConfigProject(string repoConfig)
    {
        _dir.File("Pipeline.proj", "<Project />");
        var text = File.ReadAllText(Path.Combine(SharedFixtures.RepoRoot, repoConfig));
        text = Regex.Replace(text, @"(?<=:\s*)(data/|configs/templates/)", m => SharedFixtures.RepoRoot + "/" + m.Value);
        ConfigFile = _dir.File(repoConfig, text);
    }

    public string Root => _dir.Path;
    public string ConfigFile { get; }
    public string Dir(string name) => Path.Combine(Root, name);

    public void Prepare()
    {
        PipelineApi.RunStage(ConfigFile, Root, null, "PrepareData", NullPipelineLog.Instance, default);
        PipelineApi.RunStage(ConfigFile, Root, null, "VerifyTokens", NullPipelineLog.Instance, default);
    }

    public string Prepared => Path.Combine(PipelineApi.RunDir(ConfigFile, Root, null), "prepared");

    /// <summary>Trains with <paramref name="backend"/> (null: the one the overrides select) into <c>Root/out</c>.</summary>
    public TrainResult Train(string overrides, string outName, ITrainingBackend? backend = null, List<string>? messages = null, bool resume = true,
        CancellationToken cancel = default, Action<string>? onMessage = null)
    {
        var cfg = PipelineApi.LoadConfig(ConfigFile, Root, overrides);
        var tok = Tokenizer.FromDirectory(ModelText.TokenizerDir(cfg));
        using var train = ShardSet.Open(Prepared, "train");
        using var val = ShardSet.Open(Prepared, "val");
        var request = new TrainingRequest
        {
            Settings = cfg.Config.ToTrainingSettings(TrainLoraStage.BaseModelDir(cfg), Dir(outName)), ConfigFile = cfg.File,
            SnapshotDirectory = TrainLoraStage.BaseModelDir(cfg), PreparedDirectory = Prepared, Train = train, Validation = val,
            TokenToId = tok.TokenToId, PadId = tok.PadTokenId ?? tok.EosTokenId ?? 0, Resume = resume,
        };
        return (backend ?? cfg.Config.Train.ToTrainingBackend()).Train(request, null, m =>
        {
            if (messages is not null) lock (messages) messages.Add(m);
            onMessage?.Invoke(m);
        }, cancel);
    }

    public void Dispose() => _dir.Dispose();
}
