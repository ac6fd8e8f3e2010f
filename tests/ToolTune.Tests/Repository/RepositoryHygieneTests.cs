using System.Diagnostics;
using System.Security.Cryptography;

namespace ToolTune.Tests.Repository;

/// <summary>
/// What the git history must not accumulate (CONTRIBUTING.md, "Large files"): no tracked file over 1 MiB except the
/// listed ones, each under its cap, and the demo base's weights pinned by hash, so rebuilding them is a deliberate,
/// reviewed commit rather than a side effect of an unrelated change. And the Python scripts run as written: every
/// one with a shebang is executable and names the interpreter the oracles need.
/// </summary>
[TestClass]
public sealed class RepositoryHygieneTests
{
    private const long LargeFileBytes = 1 << 20;

    /// <summary>Tracked files allowed over <see cref="LargeFileBytes"/>, with the size each may not exceed.</summary>
    private static readonly Dictionary<string, long> LargeFileAllowList = new(StringComparer.Ordinal)
    {
        // The demo base (tooltune demo make-base, byte-for-byte reproducible); pinned below.
        ["data/demo-model/model.safetensors"] = 14_000_000,
        // The demo data's tool conversations (tooltune demo make-data, deterministic text).
        ["data/demo/hermes_tools.json"] = 4_500_000,
    };

    /// <summary>SHA-256 of the committed demo base. Update it only in the commit that rebuilds the model.</summary>
    private const string DemoModelSha256 = "400726137518325784876c009d7eec56da955f42118a424eb5f9dd77ff364177";

    private const string Interpreter = "#!/usr/bin/python3";

    /// <summary>Scripts that need another interpreter, and why.</summary>
    private static readonly Dictionary<string, string> InterpreterExceptions = new(StringComparer.Ordinal)
    {
        // Its fixture is Jinja2 3.1.6's answer; Debian's 3.1.2 lets list.pop/clear through.
        ["tests/oracles/sandbox/make_sandbox_probes.py"] = "#!/usr/bin/env python3",
    };

    [TestMethod]
    public void NoTrackedFileOverOneMiBUnlessListed()
    {
        var tracked = TrackedFiles();
        Assert.IsTrue(tracked.Count > 100, $"git ls-files listed only {tracked.Count} files");
        var problems = new List<string>();
        foreach (var (_, path) in tracked)
        {
            var full = Path.Combine(SharedFixtures.RepoRoot, path);
            if (!File.Exists(full)) continue; // deleted in the working tree, not yet committed
            var size = new FileInfo(full).Length;
            if (LargeFileAllowList.TryGetValue(path, out var cap))
            {
                if (size > cap) problems.Add($"{path}: {size:N0} bytes, over its cap of {cap:N0}");
            }
            else if (size > LargeFileBytes)
                problems.Add($"{path}: {size:N0} bytes; files over 1 MiB are kept out of git (CONTRIBUTING.md, \"Large files\")");
        }
        Assert.AreEqual(0, problems.Count, string.Join('\n', problems));
    }

    [TestMethod]
    public void DemoModelWeightsArePinned()
    {
        var path = Path.Combine(SharedFixtures.RepoRoot, "data", "demo-model", "model.safetensors");
        using var stream = File.OpenRead(path);
        var actual = Convert.ToHexStringLower(SHA256.HashData(stream));
        Assert.AreEqual(DemoModelSha256, actual,
            "data/demo-model/model.safetensors changed. Rebuild it only with `tooltune demo make-base` when the demo recipe changes, " +
            "commit it on its own and update DemoModelSha256 in that commit (CONTRIBUTING.md, \"Large files\").");
    }

    [TestMethod]
    public void PythonScriptsWithAShebangAreExecutableAndAgreeOnTheInterpreter()
    {
        var problems = new List<string>();
        var scripts = 0;
        foreach (var (mode, path) in TrackedFiles().Where(f => f.Path.EndsWith(".py", StringComparison.Ordinal)))
        {
            var full = Path.Combine(SharedFixtures.RepoRoot, path);
            if (!File.Exists(full)) continue;
            string firstLine;
            using (var reader = new StreamReader(full)) firstLine = reader.ReadLine() ?? "";
            if (!firstLine.StartsWith("#!", StringComparison.Ordinal)) continue;
            scripts++;
            if (mode != "100755") problems.Add($"{path}: mode {mode}, not executable (git update-index --chmod=+x)");
            var expected = InterpreterExceptions.GetValueOrDefault(path, Interpreter);
            if (firstLine.TrimEnd() != expected) problems.Add($"{path}: '{firstLine}', expected '{expected}'");
        }
        Assert.IsTrue(scripts > 10, $"only {scripts} Python scripts with a shebang found");
        Assert.AreEqual(0, problems.Count, string.Join('\n', problems));
    }

    /// <summary>(mode, path) of every file in the git index, from <c>git ls-files -s</c>.</summary>
    private static List<(string Mode, string Path)> TrackedFiles()
    {
        var psi = new ProcessStartInfo("git", ["-C", SharedFixtures.RepoRoot, "ls-files", "-s", "-z"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        string output, error;
        int exitCode;
        try
        {
            using var git = Process.Start(psi)!;
            var stderr = git.StandardError.ReadToEndAsync();
            output = git.StandardOutput.ReadToEnd();
            git.WaitForExit();
            error = stderr.Result;
            exitCode = git.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            (output, error, exitCode) = ("", ex.Message, -1);
        }
        if (exitCode != 0)
        {
            var message = $"'git ls-files' failed in {SharedFixtures.RepoRoot} ({error.Trim()}): not a git checkout.";
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
                Assert.Fail(message + " CI=true runs on a clone.");
            Assert.Inconclusive(message + " Skipping.");
        }
        // Each entry: "<mode> <object> <stage>\t<path>".
        return output.Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(entry => (entry[..6], entry[(entry.IndexOf('\t') + 1)..]))
            .ToList();
    }
}
