using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace ToolTune.Tests.Text.Templates;

/// <summary><c>tooltune render</c> end to end (the CLI assembly is copied beside the tests).</summary>
[TestClass]
public sealed class RenderCommandTests
{
    private static (int Code, byte[] Stdout, string Stderr) Run(params string[] args)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "ToolTune.Cli.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(cli);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        using var ms = new MemoryStream();
        var errTask = p.StandardError.ReadToEndAsync();
        p.StandardOutput.BaseStream.CopyTo(ms);
        p.WaitForExit();
        return (p.ExitCode, ms.ToArray(), errTask.Result);
    }

    [TestMethod]
    public void Render_PrintsExactTextAndSpans()
    {
        var dir = SharedFixtures.RequireShared("parity", "chat-templates");
        var tpl = Path.Combine(dir, "HuggingFaceTB_SmolLM3-3B.jinja");
        var data = Path.Combine(dir, "HuggingFaceTB_SmolLM3-3B.data.json");
        var target = File.ReadAllBytes(Path.Combine(dir, "HuggingFaceTB_SmolLM3-3B.target.txt"));

        var (code, stdout, stderr) = Run("render", "--template", tpl, "--data", data, "--date", "2025-07-10");
        Assert.AreEqual(0, code, stderr);
        CollectionAssert.AreEqual(target, stdout, "byte-identical output, no added newline");

        (code, stdout, stderr) = Run("render", "--template", tpl, "--data", data, "--date", "2025-07-10", "--spans");
        Assert.AreEqual(0, code, stderr);
        var obj = JsonNode.Parse(Encoding.UTF8.GetString(stdout))!.AsObject();
        Assert.AreEqual(Encoding.UTF8.GetString(target), obj["text"]!.GetValue<string>());
        Assert.AreEqual("[[226,403]]", obj["generation_spans"]!.ToJsonString());
    }

    [TestMethod]
    public void Render_ErrorsAreLocatedOnStderr()
    {
        var dir = Directory.CreateTempSubdirectory("tt-render-");
        try
        {
            var tpl = Path.Combine(dir.FullName, "bad.jinja");
            var data = Path.Combine(dir.FullName, "data.json");
            File.WriteAllText(tpl, "hello\n{% if x %}\n");
            File.WriteAllText(data, "{\"x\": 1}");
            var (code, stdout, stderr) = Run("render", "--template", tpl, "--data", data);
            Assert.AreEqual(1, code);
            Assert.IsEmpty(stdout);
            StringAssert.Contains(stderr, $"{tpl}(2,4): error TT1201:");

            File.WriteAllText(tpl, "{{ raise_exception('no system message allowed') }}");
            (code, _, stderr) = Run("render", "--template", tpl, "--data", data);
            Assert.AreEqual(1, code);
            StringAssert.Contains(stderr, "error TT1203: no system message allowed");

            var cfg = Path.Combine(dir.FullName, "tokenizer_config.json");
            File.WriteAllText(cfg, "{\"eos_token\": \"</s>\"}");
            (code, _, stderr) = Run("render", "--template", cfg, "--data", data);
            Assert.AreEqual(1, code);
            StringAssert.Contains(stderr, "error TT1200:");
        }
        finally { dir.Delete(true); }
    }
}
