using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Text.Templates;

namespace ToolTune.Tests.Reliability;

/// <summary>
/// Chat templates come with downloaded models, so they are untrusted code. transformers renders them in Jinja2's
/// ImmutableSandboxedEnvironment; these tests hold ToolTune's renderer to the same line: no Python internals, no
/// CLR reflection, no files (no loader), no mutation of shared values, and a coded TT1204 for each resource limit.
/// </summary>
[TestClass]
public sealed class TemplateSandboxTests
{
    private static readonly JsonObject Context = new()
    {
        ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hi" }),
        ["add_generation_prompt"] = true,
    };

    /// <summary>Probe templates and what Jinja2's sandbox did with each (tests/oracles/sandbox/make_sandbox_probes.py).</summary>
    public static IEnumerable<object?[]> Probes()
    {
        var path = Path.Combine(SharedFixtures.RepoRoot, "tests", "ToolTune.Tests", "Fixtures", "sandbox", "probes.json");
        foreach (var p in JsonNode.Parse(File.ReadAllText(path))!["probes"]!.AsArray())
            yield return new object?[] { (string)p!["template"]!, (string?)p["text"], (string?)p["error"] };
    }

    // Jinja2 3.1.6 also forbids list.pop/list.clear; the template parity fixtures (and earlier Jinja2) allow them and
    // ToolTune follows the fixtures: it mutates only the render's own copy of the context.
    private static readonly HashSet<string> ListPopAllowed = ["{% set l = [1] %}{{ l.pop() }}{{ l }}", "{{ messages.pop.__self__ }}"];

    // Where Jinja2 renders nothing (or a harmless tuple) and ToolTune refuses with TT1202 or renders nothing: names
    // ToolTune does not define (lipsum, self, str.format_map, Cycler.items) and attribute fields in str.format.
    private static readonly HashSet<string> Stricter =
    [
        "{{ lipsum.__globals__ }}", "{{ self._TemplateReference__context }}", "{{ ''|attr('__class__')|attr('__mro__') }}",
        "{{ '{0.__class__}'.format('') }}", "{{ 'x'.format_map({}) }}", "{{ cycler('a', 'b').items }}",
    ];

    [TestMethod]
    [DynamicData(nameof(Probes))]
    public void ProbeIsRefusedLikeJinja2sSandbox(string template, string? jinjaText, string? jinjaError)
    {
        string? text = null;
        ToolTuneException? error = null;
        try
        {
            text = ChatTemplate.Parse(template, "probe.jinja").RenderText(Context, new RenderOptions { Now = new DateTime(2025, 7, 10) });
        }
        catch (ToolTuneException e)
        {
            error = e;
        }
        if (text is not null) AssertNoInternals(template, text);
        if (ListPopAllowed.Contains(template)) return;
        if (jinjaError is not null)
        {
            Assert.IsNotNull(error, $"Jinja2 raised {jinjaError} for {template}; ToolTune rendered '{text}'");
            CollectionAssert.Contains(new[] { ErrorCodes.TemplateSyntax, ErrorCodes.TemplateRuntime, ErrorCodes.TemplateUndefinedFilterOrTest }, error.Code, error.ToString());
            Assert.AreEqual("probe.jinja", error.File);
            Assert.IsGreaterThan(0, error.Line, error.ToString());
        }
        else if (Stricter.Contains(template))
            Assert.IsTrue(text == "" || error?.Code == ErrorCodes.TemplateRuntime, $"{template}: '{text}' {error}");
        else Assert.AreEqual(jinjaText, text, $"{template}: {error}");
    }

    /// <summary>Nothing a template renders may describe an object of the host: Python or .NET type names, addresses.</summary>
    private static void AssertNoInternals(string template, string text)
    {
        foreach (var leak in new[] { "<class", "<built-in", "<function", "<bound", "<module", "object at 0x", "System.", "ToolTune.", "__", "Type" })
            Assert.IsFalse(text.Contains(leak, StringComparison.Ordinal), $"{template} rendered '{text}'");
    }

    /// <summary>Structural guarantee behind the probes: the template engine's source uses no file, network, process or
    /// reflection API, so no template construct can reach one.</summary>
    [TestMethod]
    public void TemplateEngineSourceUsesNoFileNetworkProcessOrReflectionApi()
    {
        var dir = Path.Combine(SharedFixtures.RepoRoot, "src", "ToolTune", "Text", "Templates");
        string[] forbidden = ["System.IO", "File.", "Directory.", "System.Net", "HttpClient", "Socket", "System.Reflection", "Activator",
            "Type.GetType", "GetMethod(", "GetProperty(", "MethodInfo", "BindingFlags", "System.Diagnostics.Process", "Process.Start",
            "Environment.GetEnvironmentVariable", "Assembly", "dynamic "];
        // ChatTemplate.Load reads the template source for the caller before anything renders: the only file access.
        string[] loaderOnly = ["File.", "Directory."];
        var files = Directory.GetFiles(dir, "*.cs");
        Assert.IsGreaterThan(5, files.Length);
        foreach (var file in files)
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                var code = lines[i].TrimStart();
                if (code.StartsWith("//", StringComparison.Ordinal) || code.StartsWith("///", StringComparison.Ordinal)) continue;
                foreach (var api in forbidden)
                    if (!(Path.GetFileName(file) == "ChatTemplate.cs" && loaderOnly.Contains(api) && IsInLoader(lines, i)))
                        Assert.IsFalse(code.Contains(api, StringComparison.Ordinal), $"{Path.GetFileName(file)}({i + 1}) uses {api}: {code}");
            }
        }
    }

    /// <summary>True when line <paramref name="i"/> is inside ChatTemplate.Load/LoadConfig (before Render exists).</summary>
    private static bool IsInLoader(string[] lines, int i)
    {
        for (var k = i; k >= 0; k--)
        {
            if (lines[k].Contains("public static ChatTemplate Load(", StringComparison.Ordinal) || lines[k].Contains("private static ChatTemplate LoadConfig(", StringComparison.Ordinal)) return true;
            if (lines[k].Contains(" Render", StringComparison.Ordinal) && lines[k].Contains('(')) return false;
        }
        return false;
    }

    private static ToolTuneException RenderFails(string template, RenderOptions options) =>
        Assert.ThrowsExactly<ToolTuneException>(() => ChatTemplate.Parse(template, "limit.jinja").Render(Context, options));

    /// <summary>The template fails with TT1204 at <paramref name="line"/> (0: any line), the message naming the limit.</summary>
    private static void AssertLimit(string template, RenderOptions options, int line, string message)
    {
        var e = RenderFails(template, options);
        Assert.AreEqual(ErrorCodes.TemplateLimitExceeded, e.Code, e.ToString());
        if (line > 0) Assert.AreEqual(line, e.Line, e.ToString());
        else Assert.IsGreaterThan(0, e.Line, e.ToString());
        StringAssert.Contains(e.Message, message);
    }

    [TestMethod]
    public void LoopIterationLimitIsACodedLocatedError()
    {
        AssertLimit("ok\n{% for i in range(50) %}{% for j in range(50) %}{% endfor %}{% endfor %}", new RenderOptions { MaxLoopIterations = 1000 },
            2, "Loop iterations exceed the limit of 1000");
        // The same loops fit the default limit.
        ChatTemplate.Parse("{% for i in range(50) %}{% for j in range(50) %}{% endfor %}{% endfor %}").Render(Context);
    }

    [TestMethod]
    public void RecursionDepthLimitIsACodedLocatedError()
    {
        const string template = "{% macro down(n) %}{% if n > 0 %}{{ down(n - 1) }}{% endif %}{% endmacro %}\n{{ down(60) }}";
        AssertLimit(template, new RenderOptions { MaxRecursionDepth = 50 }, 0, "recursion depth exceeds the limit of 50");
        ChatTemplate.Parse(template).Render(Context, new RenderOptions { MaxRecursionDepth = 61 });
    }

    [TestMethod]
    public void OutputSizeLimitIsACodedLocatedError()
    {
        AssertLimit("a\n{% for i in range(100) %}{{ 'x' * 100 }}{% endfor %}", new RenderOptions { MaxOutputChars = 5000 },
            2, "exceeds the limit of 5000 characters");
        // One oversized intermediate string is caught before it is built.
        AssertLimit("{% set s = 'x' * 100000 %}done", new RenderOptions { MaxOutputChars = 5000 }, 1, "exceeds the output limit of 5000");
    }

    [TestMethod]
    public void LimitsStopRunawayTemplatesQuicklyAtTheDefaults()
    {
        // Each would run for minutes or exhaust memory without its limit; the defaults stop each with TT1204.
        foreach (var template in new[]
                 {
                     "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                     "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
                     "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
                     "{{ 'ab' * 1000000000 }}",
                     "{{ messages | tojson(indent=100000000000) }}",
                     "{{ '%*d' % (100000000000, 1) }}",
                 })
        {
            var e = RenderFails(template, RenderOptions.Default);
            Assert.AreEqual(ErrorCodes.TemplateLimitExceeded, e.Code, $"{template}: {e}");
        }
    }
}
