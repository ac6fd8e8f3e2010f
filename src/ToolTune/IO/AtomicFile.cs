using System.Text;
using ToolTune.Diagnostics;

namespace ToolTune.IO;

/// <summary>
/// Atomic file writes: the bytes go to a temporary file in the same folder, then a rename replaces the
/// target, so a reader (or a crash) never sees half a file. <see cref="WriteIfChanged(string, string)"/>
/// leaves an identical file untouched, keeping its timestamp for MSBuild's Inputs/Outputs checks.
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, stream => stream.Write(copy));
    }

    /// <summary>Streams the content into a temporary file, then renames it over <paramref name="path"/>.</summary>
    public static void Write(string path, Action<FileStream> write)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(dir);
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw IoFailure.Classify(ex, path) ?? new ToolTuneException(ErrorCodes.ArtifactWriteFailed, $"Cannot write {path}: {ex.Message}", path, inner: ex);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    public static void Write(string path, string text) => Write(path, Encoding.UTF8.GetBytes(text));

    /// <summary>Writes only when the content differs from what is on disk. Returns true when it wrote.</summary>
    public static bool WriteIfChanged(string path, string text) => WriteIfChanged(path, Encoding.UTF8.GetBytes(text));

    public static bool WriteIfChanged(string path, byte[] bytes)
    {
        try
        {
            if (File.Exists(path) && new FileInfo(path).Length == bytes.Length && File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes))
                return false;
        }
        catch (IOException)
        {
            // unreadable: rewrite it
        }
        Write(path, bytes);
        return true;
    }

    /// <summary>
    /// Deletes the temporaries that a writer killed between create and rename left in <paramref name="dir"/>
    /// (<c>.name.pid.guid.tmp</c> whose process is gone; a live writer's are kept). Returns how many it removed.
    /// </summary>
    public static int RemoveOrphans(string dir)
    {
        if (!Directory.Exists(dir)) return 0;
        var removed = 0;
        foreach (var file in Directory.EnumerateFiles(dir, ".*.tmp"))
        {
            var parts = Path.GetFileName(file).Split('.'); // "", name…, pid, guid, "tmp"
            if (parts.Length < 5 || parts[^2].Length != 32 || !int.TryParse(parts[^3], out var pid) || IsRunning(pid)) continue;
            TryDelete(file);
            removed += File.Exists(file) ? 0 : 1;
        }
        return removed;
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
