using System.Text.Json;
using ToolTune.Diagnostics;

namespace ToolTune.Cli.Commands;

/// <summary>Shared parsing for the model verbs.</summary>
internal static class ModelCommandHelpers
{
    /// <summary>Parses a JSON array of token ids (inline JSON, or @file / a path to a JSON file).</summary>
    public static int[] ParseIds(string text, string option)
    {
        var json = text.StartsWith('@') ? File.ReadAllText(text[1..]) : !text.TrimStart().StartsWith('[') && File.Exists(text) ? File.ReadAllText(text) : text;
        try
        {
            var ids = JsonSerializer.Deserialize<int[]>(json);
            if (ids is null || ids.Length == 0) throw new ToolTuneException(ErrorCodes.ModelInputInvalid, $"{option}: expected a non-empty JSON array of token ids");
            return ids;
        }
        catch (JsonException ex)
        {
            throw new ToolTuneException(ErrorCodes.ModelInputInvalid, $"{option}: not a JSON array of integers ({ex.Message})", inner: ex);
        }
    }

    /// <summary>Peak resident set size of this process in MB (Linux VmHWM; elsewhere the peak working set).</summary>
    public static double PeakRssMb()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return double.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return System.Diagnostics.Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
    }
}
