using ToolTune.Pipeline.Config;

namespace ToolTune.Pipeline.Stages;

/// <summary>Expands <c>data.sources</c> paths: a file is itself; a folder is its files, recursively, in ordinal order (hidden files skipped).</summary>
public static class SourceFiles
{
    public static IReadOnlyList<string> Expand(LoadedConfig config, DataSource source)
    {
        var full = config.Resolve(source.Path);
        if (File.Exists(full)) return [full];
        if (!Directory.Exists(full)) return [full]; // fingerprinting reports it as missing
        return Directory.EnumerateFiles(full, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetRelativePath(full, f).Split(Path.DirectorySeparatorChar).Any(p => p.StartsWith('.')))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    public static IEnumerable<string> All(LoadedConfig config) =>
        config.Config.Data.Sources.SelectMany(s => Expand(config, s)).Distinct(StringComparer.Ordinal);
}
