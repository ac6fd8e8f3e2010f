using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using ToolTune.Evaluation;
using ToolTune.Model;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;

namespace ToolTune.Tests.Serving;

/// <summary>
/// The official <c>openai</c> npm client (tests/clients, installed by .ci/run with <c>npm ci</c>) drives a real
/// <c>tooltune serve</c> process on the embedded default's merged model: every emission prompt answered with the calls the
/// managed engine + Hermes parser give in-process, <c>tool_calls</c> with JSON arguments, streams reassembled (by hand and
/// by the SDK's own accumulator) to exactly the non-streaming answer, <c>tool_choice: "none"</c> content only, malformed
/// requests 4xx error objects; then a wrong API key is 401 and Ctrl+C stops the server within 5 s.
/// </summary>
[TestClass]
public sealed class OpenAiClientTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task OfficialOpenAiClientDrivesServe()
    {
        var clientDir = Path.Combine(SharedFixtures.RepoRoot, "tests", "clients");
        var node = FindOnPath("node");
        if (node is null || !File.Exists(Path.Combine(clientDir, "node_modules", "openai", "package.json")))
        {
            var message = "node or the openai npm package is missing (install: npm ci --prefix tests/clients).";
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)) Assert.Fail(message + " CI=true requires it.");
            Assert.Inconclusive(message);
        }
        var model = QuickDemoModel.Get();
        var prompts = Path.Combine(SharedFixtures.RepoRoot, "data", "eval", "emission_prompts.jsonl");
        var expectedFile = Path.Combine(model.Root, "expected-calls.json");
        File.WriteAllText(expectedFile, InProcessCalls(model.MergedDir, prompts).ToJsonString());

        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "ToolTune.Cli.dll"), "serve", "--model", model.MergedDir, "--port", "0",
                     "--served-model-name", "tuned", "--api-key", "test-key", "--concurrency", "2",
                     "--template-date", QuickDemoModel.TemplateDate, "--chat-template-kwargs", "{\"enable_thinking\": false}" })
            psi.ArgumentList.Add(a);
        using var server = Process.Start(psi)!;
        var stderr = new StringBuilder();
        server.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
        server.BeginErrorReadLine();
        try
        {
            var readLine = server.StandardOutput.ReadLineAsync();
            Assert.IsTrue(readLine.Wait(TimeSpan.FromSeconds(60)), "serve did not start within 60 s: " + stderr);
            var line = readLine.Result ?? "";
            TestContext.WriteLine(line);
            var address = line.Split(' ').First(w => w.StartsWith("http://127.0.0.1:", StringComparison.Ordinal));

            var (exit, output) = RunNode(node, clientDir, new()
            {
                ["TOOLTUNE_BASE_URL"] = address + "/v1",
                ["TOOLTUNE_MODEL"] = "tuned",
                ["TOOLTUNE_API_KEY"] = "test-key",
                ["TOOLTUNE_PROMPTS"] = prompts,
                ["TOOLTUNE_EXPECTED"] = expectedFile,
            });
            TestContext.WriteLine(output);
            var summary = JsonNode.Parse(output.Trim().Split('\n')[^1])!;
            Assert.AreEqual(0, exit, "openai client checks failed: " + summary["failures"]);
            Assert.AreEqual(20, summary["prompts"]!.GetValue<int>());
            Assert.AreEqual(20, summary["matches_in_process"]!.GetValue<int>(), "served calls = in-process engine + Hermes parser");
            Assert.IsTrue(summary["with_calls"]!.GetValue<int>() >= 14, $"emission prompts answered with tool_calls (measured 15): {summary["with_calls"]}");
            Assert.IsTrue(summary["declared_calls"]!.GetValue<int>() >= 10, $"answers whose calls all name a declared tool: {summary["declared_calls"]}");
            Assert.AreEqual(20, summary["streams_equal"]!.GetValue<int>());
            Assert.AreEqual(3, summary["none_content_only"]!.GetValue<int>());
            var malformed = summary["malformed"]!.AsArray();
            Assert.AreEqual(4, malformed.Count);
            foreach (var m in malformed) Assert.AreEqual(400, m!["status"]!.GetValue<int>(), m.ToJsonString());

            using var http = new HttpClient();
            using (var noKey = await http.GetAsync(address + "/v1/models")) Assert.AreEqual(HttpStatusCode.Unauthorized, noKey.StatusCode);
            using (var req = new HttpRequestMessage(HttpMethod.Get, address + "/v1/models"))
            {
                req.Headers.Authorization = new("Bearer", "wrong-key");
                using var wrong = await http.SendAsync(req);
                Assert.AreEqual(HttpStatusCode.Unauthorized, wrong.StatusCode);
                StringAssert.Contains(await wrong.Content.ReadAsStringAsync(), "\"error\"");
            }
            using (var health = await http.GetAsync(address + "/health")) Assert.AreEqual(HttpStatusCode.OK, health.StatusCode);

            // Ctrl+C with a generation in flight: the server drains or cancels it and exits within 5 s. The signal is SIGTERM,
            // which the CLI handles exactly as SIGINT (Program.cs: one handler for both): a test host started in the background
            // by a non-interactive shell ignores SIGINT, and a child inherits that, so SIGINT could not reach the server here.
            var inflight = new HttpRequestMessage(HttpMethod.Post, address + "/v1/completions")
            {
                Content = new StringContent("{\"model\": \"tuned\", \"prompt\": \"Write a long story about a lighthouse.\", \"max_tokens\": 6000, \"ignore_eos\": true, \"stream\": true}", Encoding.UTF8, "application/json"),
            };
            inflight.Headers.Authorization = new("Bearer", "test-key");
            using var pending = await http.SendAsync(inflight, HttpCompletionOption.ResponseHeadersRead);
            Assert.AreEqual(HttpStatusCode.OK, pending.StatusCode);
            var events = new StreamReader(await pending.Content.ReadAsStreamAsync());
            for (var n = 0; n < 20; n++) await events.ReadLineAsync(); // generation is under way
            var clock = Stopwatch.StartNew();
            using (var kill = Process.Start("kill", ["-TERM", server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!) kill.WaitForExit();
            Assert.IsTrue(server.WaitForExit(5000), "serve did not exit within 5 s of the signal: " + stderr);
            TestContext.WriteLine($"exited {server.ExitCode} after {clock.Elapsed.TotalSeconds:0.00} s; stderr:\n{stderr}");
            StringAssert.Contains(stderr.ToString(), "stopping");
            Assert.AreEqual(0, server.ExitCode);
        }
        finally
        {
            if (!server.HasExited) server.Kill(entireProcessTree: true);
        }
    }

    /// <summary>Per emission prompt, what the managed engine + Hermes parser give in-process: the calls (name, json.dumps
    /// arguments) and the content, rendered exactly as the server renders (template, thinking off, pinned date).</summary>
    private static JsonObject InProcessCalls(string modelDir, string promptsFile)
    {
        var tokenizer = Tokenizer.FromDirectory(modelDir);
        var template = ChatTemplate.Load(modelDir);
        var parser = HermesToolCallParser.FromTokenizer(tokenizer);
        using var generator = new ModelGenerator(modelDir);
        var stops = new ModelSnapshot(modelDir).StopIds(generator.Config, tokenizer);
        var result = new JsonObject();
        foreach (var item in EvalItem.ReadFile(promptsFile, EvalItemKind.Emission))
        {
            var ctx = (JsonObject)item.RenderContext.DeepClone();
            ctx["add_generation_prompt"] = true;
            ctx["enable_thinking"] = false;
            ctx["eos_token"] = tokenizer.EosToken;
            var ids = tokenizer.EncodeToIds(template.Render(ctx, RenderOptions.Default with { Now = DateTime.ParseExact(QuickDemoModel.TemplateDate, "yyyy-MM-dd", null) }).Text, addSpecialTokens: false);
            var gen = generator.Generate(ids, new GenerationOptions(96, 0, stops), CancellationToken.None);
            var body = gen.Ids.Count > 0 && stops.Contains(gen.Ids[^1]) ? gen.Ids.Take(gen.Ids.Count - 1).ToArray() : gen.Ids.ToArray();
            var parse = parser.Parse(body);
            result[item.Id] = new JsonObject
            {
                ["calls"] = new JsonArray(parse.Calls.Select(c => (JsonNode)new JsonObject { ["name"] = c.Name, ["arguments"] = c.ArgumentsJson }).ToArray()),
                ["content"] = parse.ToolsCalled ? parse.Content : parse.Text,
            };
        }
        return result;
    }

    private static (int Exit, string Output) RunNode(string node, string clientDir, Dictionary<string, string> env)
    {
        var psi = new ProcessStartInfo(node) { WorkingDirectory = clientDir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("openai-client-check.mjs");
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(300_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("the openai client checks did not finish within 300 s");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}
