using System.Text.RegularExpressions;
using ToolTune.Diagnostics;

namespace ToolTune.IO;

/// <summary>
/// Turns the operating system's refusals to write (disk full, read-only file system, access denied) into coded
/// <see cref="ToolTuneException"/>s naming the path and the OS reason, so a full disk reads as <c>error TT2060</c>
/// rather than a stack trace from whichever writer hit it first.
/// </summary>
public static partial class IoFailure
{
    // .NET on Unix puts the raw errno in IOException.HResult for errors without a dedicated exception type;
    // on Windows it is the Win32 error as an HRESULT (0x8007xxxx).
    private const int Enospc = 28, Erofs = 30, Edquot = 122;
    private const int WinDiskFull = unchecked((int)0x80070070), WinHandleDiskFull = unchecked((int)0x80070027), WinWriteProtect = unchecked((int)0x80070013);

    /// <summary>The coded error for <paramref name="ex"/>, or null when it is not a storage refusal (e.g. a missing file).</summary>
    /// <param name="path">The path being written, when the caller knows it (it wins over the path in the OS message,
    /// which may be a temporary file's).</param>
    /// <param name="fallback">What to name when neither is known (e.g. the stage's output folder).</param>
    public static ToolTuneException? Classify(Exception ex, string? path = null, string? fallback = null)
    {
        var (code, reason) = ex switch
        {
            IOException { HResult: Enospc or Edquot or WinDiskFull or WinHandleDiskFull } => (ErrorCodes.DiskFull, "no space left on the device"),
            IOException { HResult: Erofs or WinWriteProtect } => (ErrorCodes.ReadOnlyFileSystem, "the file system is read-only"),
            UnauthorizedAccessException => (ErrorCodes.OutputAccessDenied, "access denied"),
            _ => (null, null),
        };
        if (code is null) return null;
        var file = path ?? (PathInMessage().Match(ex.Message) is { Success: true } m ? m.Groups[1].Value : fallback);
        var verb = code == ErrorCodes.OutputAccessDenied ? "access" : "write";
        return new ToolTuneException(code, $"Cannot {verb} {file ?? "the output"}: {reason} ({ex.Message.Trim()}). " +
            "Nothing was committed: the previous outputs are kept; free space or make the folder writable and build again.", file, inner: ex);
    }

    /// <summary>Runs <paramref name="body"/>, rethrowing storage refusals as coded errors.</summary>
    public static T Guard<T>(Func<T> body)
    {
        try
        {
            return body();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException && Classify(ex) is { } error)
        {
            throw error;
        }
    }

    // .NET's messages end with the path in quotes: "No space left on device : '/x/y'".
    [GeneratedRegex(@"'([^']+)'\s*\.?\s*$")]
    private static partial Regex PathInMessage();
}
