using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace ToolTune.Tests.Pipeline.Integration;

/// <summary>
/// A started child process whose stdout and stderr are collected as they arrive, so a test can wait for a line
/// (e.g. <c>Stage TrainLora: running</c>) and then signal it: SIGKILL (the process or its whole tree) or SIGINT (the
/// process, or its process group like a terminal's Ctrl+C when it was started under <c>setsid</c>).
/// </summary>
internal sealed partial class RunningProcess : IDisposable
{
    public const int SigInt = 2, SigKill = 9;

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private RunningProcess(ProcessStartInfo psi)
    {
        _process = new Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public static RunningProcess Start(ProcessStartInfo psi) => new(psi);

    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public TimeSpan Elapsed => _clock.Elapsed;

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    /// <summary>Waits until the output contains <paramref name="text"/>; false if the process exits or the time runs out first.</summary>
    public bool WaitForOutput(string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (Output.Contains(text, StringComparison.Ordinal)) return true;
            if (_process.HasExited)
            {
                _process.WaitForExit(); // drain the output
                return Output.Contains(text, StringComparison.Ordinal);
            }
            Thread.Sleep(2);
        }
        return false;
    }

    /// <summary>Waits for the exit and the end of its output.</summary>
    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout)) return false;
        _process.WaitForExit();
        return true;
    }

    /// <summary>SIGKILL to the process and every descendant (a <c>dotnet build</c> and its TaskHost nodes).</summary>
    public void KillTree() => _process.Kill(entireProcessTree: true);

    /// <summary>Sends <paramref name="signal"/> to the process, or to its process group (the process must lead one: <c>setsid</c>).
    /// False when it had already exited (ESRCH).</summary>
    public bool Signal(int signal, bool processGroup = false)
    {
        const int esrch = 3;
        var target = processGroup ? -_process.Id : _process.Id;
        if (kill(target, signal) == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        return errno == esrch ? false : throw new InvalidOperationException($"kill({target}, {signal}) failed: errno {errno}");
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    public void Dispose()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _process.Dispose();
    }
}
