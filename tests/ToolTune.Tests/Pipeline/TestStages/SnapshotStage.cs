using System.Security.Cryptography;
using System.Text.Json;
using ToolTune.Pipeline.Config;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Tests.Pipeline.TestStages;

/// <summary>
/// A small real stage: copies the configured data sources into <c>snapshot/</c> with a JSON manifest of
/// their hashes and line counts. It exercises the whole stage machinery without the text layer and is what
/// the pipeline integration tests run (through their own targets file); it is not part of the default build.
/// </summary>
public sealed class SnapshotStage : IStage
{
    public string Name => "Snapshot";
    public string Version => "1";
    public string OutputFolder => "snapshot";
    public IReadOnlyList<string> Upstream => [];
    public IReadOnlyList<string> ConfigKeys => ["data.sources"];

    public IEnumerable<string> InputFiles(LoadedConfig config) => SourceFiles.All(config);

    public void Run(StageContext context)
    {
        var entries = new List<object>();
        var files = InputFiles(context.Config).ToList();
        Directory.CreateDirectory(Path.Combine(context.OutputDir, "files"));
        for (var i = 0; i < files.Count; i++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var source = files[i];
            var target = Path.Combine(context.OutputDir, "files", $"{i:D3}-{Path.GetFileName(source)}");
            File.Copy(source, target);
            var bytes = File.ReadAllBytes(target);
            entries.Add(new
            {
                source = Path.GetRelativePath(context.Config.RootDir, source).Replace('\\', '/'),
                copy = Path.GetRelativePath(context.OutputDir, target).Replace('\\', '/'),
                sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)),
                lines = bytes.Count(b => b == (byte)'\n'),
            });
        }
        File.WriteAllText(Path.Combine(context.OutputDir, "manifest.json"),
            JsonSerializer.Serialize(new { files = entries }, new JsonSerializerOptions { WriteIndented = true }));
        context.Log.Message($"Snapshot: {files.Count} file(s) copied.", important: true);
    }
}
