using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Tests.Reliability;

/// <summary>What "the same outputs" means for the reliability tests: file hashes of the stage output folders, with run records
/// (<see cref="IStage.RunRecordOutputs"/>, e.g. train-log.csv) and timing-only values left out.</summary>
internal static partial class RunOutputs
{
    /// <summary>SHA-256 of every file in the output folders of <paramref name="stages"/> (run-relative path), run records excepted.</summary>
    public static Dictionary<string, string> Hashes(string runDir, IEnumerable<string> stages)
    {
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var stage in stages.Select(StageRegistry.Get))
        {
            var dir = Path.Combine(runDir, stage.OutputFolder);
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(dir, file).Replace('\\', '/');
                if (stage.RunRecordOutputs.Contains(relative)) continue;
                hashes[stage.OutputFolder + "/" + relative] = Convert.ToHexStringLower(SHA256.HashData(WithoutTimings(file)));
            }
        }
        return hashes;
    }

    /// <summary>SHA-256 of every file under <paramref name="dir"/>, byte for byte (the whole state a failed run must not touch).</summary>
    public static Dictionary<string, string> Everything(string dir, params string[] except) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Where(f => !except.Contains(f))
            .ToDictionary(f => Path.GetRelativePath(dir, f), f => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f))), StringComparer.Ordinal);

    /// <summary>Temporary outputs a run leaves when it does not clean up: stage folders (<c>.tmp-*</c>, <c>.old-*</c>) and
    /// <see cref="IO.AtomicFile"/> temporaries (<c>.name.pid.guid.tmp</c>).</summary>
    public static List<string> Litter(string runDir) =>
        Directory.EnumerateDirectories(runDir, ".tmp-*").Concat(Directory.EnumerateDirectories(runDir, ".old-*"))
            .Concat(Directory.EnumerateFiles(runDir, ".*.tmp", SearchOption.AllDirectories)).ToList();

    /// <summary>
    /// A file's bytes without what only measures how fast this run went: JSON properties named <c>*_seconds</c> or
    /// <c>*_per_second</c> (metrics.json's <c>speed</c>) and a Markdown report's <c>## Speed</c> section. Everything else
    /// must be byte-identical to the uninterrupted build.
    /// </summary>
    private static byte[] WithoutTimings(string file)
    {
        var bytes = File.ReadAllBytes(file);
        if (file.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            var node = JsonNode.Parse(bytes);
            Strip(node);
            return System.Text.Encoding.UTF8.GetBytes(node?.ToJsonString() ?? "null");
        }
        if (file.EndsWith(".md", StringComparison.OrdinalIgnoreCase))
        {
            var text = System.Text.Encoding.UTF8.GetString(bytes);
            return System.Text.Encoding.UTF8.GetBytes(SpeedSection().Replace(text, "## Speed (timings, not compared)\n"));
        }
        return bytes;

        static void Strip(JsonNode? node)
        {
            if (node is JsonObject obj)
            {
                foreach (var key in obj.Select(kv => kv.Key).Where(k => k.EndsWith("_seconds", StringComparison.Ordinal) || k.EndsWith("_per_second", StringComparison.Ordinal)).ToList())
                    obj.Remove(key);
                foreach (var (_, child) in obj) Strip(child);
            }
            else if (node is JsonArray array)
            {
                foreach (var child in array) Strip(child);
            }
        }
    }

    [GeneratedRegex(@"^## Speed\n.*?(?=^## |\z)", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex SpeedSection();

}
