namespace ToolTune.Tests;

/// <summary>
/// Locates <c>../shared</c> (the parity corpus beside the checkout). Tests that need it call
/// <see cref="RequireShared"/>: they are skipped (Inconclusive) with a clear message when it is absent,
/// but fail when <c>CI=true</c>, where it must be present.
/// </summary>
internal static class SharedFixtures
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string? SharedDir
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("TOOLTUNE_SHARED");
            if (!string.IsNullOrEmpty(env) && Directory.Exists(env)) return env;
            var beside = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
            return Directory.Exists(beside) ? beside : null;
        }
    }

    public static string RequireShared(params string[] relative)
    {
        var shared = SharedDir;
        if (shared is null)
        {
            var message = $"../shared not found beside {RepoRoot} (set TOOLTUNE_SHARED to its path).";
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
                Assert.Fail(message + " CI=true requires it.");
            Assert.Inconclusive(message + " Skipping.");
        }
        var path = Path.Combine([shared!, .. relative]);
        if (!File.Exists(path) && !Directory.Exists(path))
            Assert.Fail($"Expected shared fixture is missing: {path}");
        return path;
    }

    /// <summary>Path of a committed fixture under <c>tests/ToolTune.Tests/Fixtures</c>.</summary>
    public static string Fixture(params string[] relative) =>
        Path.Combine([RepoRoot, "tests", "ToolTune.Tests", "Fixtures", .. relative]);

    // The build stamps the repository root into the test assembly (Directory.Build.targets).
    private static string FindRepoRoot() =>
        typeof(SharedFixtures).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>()
            .First(a => a.Key == "RepoRoot").Value!.TrimEnd('/', '\\');
}
