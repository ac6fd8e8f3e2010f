using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;

namespace ToolTune.Torch;

/// <summary>What <c>tooltune_torch.py probe</c> found in an interpreter.</summary>
public sealed record TorchProbe(string Python, string? PythonVersion, string? TorchVersion, bool TorchSupported, string? NumpyVersion, bool Cuda, int CudaDevices, string? Error);

/// <summary>
/// The Python side of the torch backend: the module shipped inside the library (<c>tooltune_torch.py</c>, written next
/// to each job), the interpreter probe and its located errors, and child processes with their output.
/// </summary>
public static class TorchRuntime
{
    public const string ScriptName = "tooltune_torch.py";
    public const string MinimumTorch = "1.13";
    public const string InstallHint = "install it for that interpreter (Debian/Ubuntu: 'apt-get install python3-torch python3-numpy libopenblas0-pthread'; " +
                                      "elsewhere 'python3 -m pip install torch numpy'), or point 'train.torch.python' at an interpreter that has it";

    /// <summary>The module's source (the embedded copy of <c>src/ToolTune/Torch/tooltune_torch.py</c>).</summary>
    public static string ScriptText()
    {
        using var s = typeof(TorchRuntime).Assembly.GetManifestResourceStream(ScriptName)
                      ?? throw new InvalidOperationException($"embedded resource {ScriptName} missing");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    /// <summary>Writes the module into <paramref name="directory"/> (when its content differs) and returns its path.</summary>
    public static string WriteScript(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, ScriptName);
        IO.AtomicFile.WriteIfChanged(path, ScriptText());
        return path;
    }

    /// <summary>Runs <c>probe</c> in <paramref name="python"/>: TT5600 when it cannot start, TT5601 without torch/numpy or
    /// with a torch older than <see cref="MinimumTorch"/>.</summary>
    public static TorchProbe Probe(string python, string script, string? configFile)
    {
        using var p = Start(Info(python, [script, "probe"]), python, configFile);
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            Kill(p);
            throw new ToolTuneException(ErrorCodes.TorchTimeout, $"'{python} {ScriptName} probe' did not answer within 120 s", configFile);
        }
        var line = stdout.Result.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith('{'));
        if (p.ExitCode != 0 || line is null)
            throw new ToolTuneException(ErrorCodes.TorchInterpreterMissing,
                $"'{python}' could not run the torch backend's probe (exit code {p.ExitCode}): {Tail(stderr.Result, 6)}. 'train.torch.python' must be a Python 3 interpreter.", configFile);
        var o = JsonNode.Parse(line)!.AsObject();
        var probe = new TorchProbe(python, (string?)o["python"], (string?)o["torch"], (bool?)o["torch_ok"] ?? false, (string?)o["numpy"],
            (bool?)o["cuda"] ?? false, (int?)o["cuda_devices"] ?? 0, (string?)o["error"]);
        if (probe.TorchVersion is null)
            throw new ToolTuneException(ErrorCodes.TorchMissing,
                $"torch is not installed for '{python}' (Python {probe.PythonVersion}: {probe.Error}); the torch backend needs torch >= {MinimumTorch} and numpy: {InstallHint}.", configFile);
        if (!probe.TorchSupported)
            throw new ToolTuneException(ErrorCodes.TorchMissing,
                $"'{python}' has torch {probe.TorchVersion}, older than the supported {MinimumTorch}: {InstallHint}.", configFile);
        if (probe.NumpyVersion is null)
            throw new ToolTuneException(ErrorCodes.TorchMissing, $"numpy is not installed for '{python}' (torch {probe.TorchVersion} is): {InstallHint}.", configFile);
        return probe;
    }

    /// <summary>TT5602 when <paramref name="device"/> is <c>cuda</c> and torch sees no GPU or fewer than <paramref name="ranks"/>.</summary>
    public static string ResolveDevice(TorchProbe probe, string device, int ranks, string? configFile)
    {
        if (device == "cuda" && !probe.Cuda)
            throw new ToolTuneException(ErrorCodes.TorchCudaUnavailable,
                $"train.torch.device is 'cuda' but torch {probe.TorchVersion} in '{probe.Python}' sees no CUDA device (a CPU-only build, or no driver); " +
                "use 'device: cpu' or 'auto', or install a CUDA build of torch.", configFile);
        var resolved = device == "auto" ? (probe.Cuda ? "cuda" : "cpu") : device;
        if (resolved == "cuda" && probe.CudaDevices < ranks)
            throw new ToolTuneException(ErrorCodes.TorchCudaUnavailable,
                $"train.torch.nproc_per_node is {ranks} but torch sees {probe.CudaDevices} CUDA device(s) on this machine: one rank per GPU.", configFile);
        return resolved;
    }

    public static ProcessStartInfo Info(string python, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(python)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["PYTHONUNBUFFERED"] = "1";
        psi.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        return psi;
    }

    /// <summary>Starts a child; an interpreter that cannot be started is TT5600.</summary>
    public static Process Start(ProcessStartInfo psi, string python, string? configFile)
    {
        try
        {
            return Process.Start(psi) ?? throw new Win32Exception("Process.Start returned null");
        }
        catch (Win32Exception e)
        {
            throw new ToolTuneException(ErrorCodes.TorchInterpreterMissing,
                $"cannot start the Python interpreter '{python}' ({e.Message}); set 'train.torch.python' to a Python 3 with torch >= {MinimumTorch} " +
                "(e.g. /usr/bin/python3).", configFile);
        }
    }

    public static void Kill(Process p)
    {
        try { if (!p.HasExited) p.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
        catch (Win32Exception) { }
    }

    /// <summary>A free TCP port on this machine for the rendezvous.</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>True when nothing listens on <paramref name="port"/> here (it can be bound).</summary>
    public static bool PortFree(int port)
    {
        try
        {
            var l = new TcpListener(IPAddress.Any, port);
            l.Start();
            l.Stop();
            return true;
        }
        catch (SocketException) { return false; }
    }

    public static string Tail(string text, int lines) =>
        string.Join(" | ", text.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).TakeLast(lines));
}

/// <summary>
/// One child process of the torch backend: stdout lines as they come (JSON events), the tail of stderr (a traceback),
/// the exit time. Its stdin stays open: the module exits when it closes, so the ranks do not outlive ToolTune.
/// </summary>
internal sealed class TorchProcess : IDisposable
{
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly Process _p;

    public TorchProcess(int rank, Process p, BlockingCollection<(int Rank, string Line)> events)
    {
        Rank = rank;
        _p = p;
        p.OutputDataReceived += (_, e) => { if (e.Data is { } l) events.Add((rank, l)); };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not { } l) return;
            _stderr.Enqueue(l);
            while (_stderr.Count > 60 && _stderr.TryDequeue(out string? _)) { }
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
    }

    public int Rank { get; }
    public Process Process => _p;
    public bool HasExited => _p.HasExited;
    public int ExitCode => _p.ExitCode;
    public DateTime ExitTime => _p.ExitTime;
    /// <summary>The last lines of stderr (a traceback ends there).</summary>
    public string StderrTail(int lines) => string.Join("\n", _stderr.ToArray().TakeLast(lines));

    public void Kill() => TorchRuntime.Kill(_p);

    public void Dispose()
    {
        Kill();
        try { _p.WaitForExit(5000); } catch (InvalidOperationException) { }
        _p.Dispose();
    }

    /// <summary>Parses a JSON event line (null when the line is not one).</summary>
    public static JsonObject? Event(string line)
    {
        if (!line.StartsWith('{')) return null;
        try { return JsonNode.Parse(line) as JsonObject; }
        catch (JsonException) { return null; }
    }
}
