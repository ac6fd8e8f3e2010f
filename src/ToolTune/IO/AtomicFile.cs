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

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
