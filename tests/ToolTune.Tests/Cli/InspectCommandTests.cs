using System.CommandLine;
using ToolTune.Cli.Commands;
using ToolTune.Diagnostics;
using ToolTune.Text.Masks;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;

namespace ToolTune.Tests.Cli;

[TestClass]
public sealed class InspectCommandTests
{
    private static InspectCommand.InspectArgs Args(string caseName, string method = "auto", bool lint = false, string? template = null) => new(
        SharedFixtures.RequireShared("parity", "tokenizers", "smollm3-3b"),
        template ?? Path.Combine(SharedFixtures.RepoRoot, "configs", "templates", "smollm3-tool-fixed.jinja"),
        Path.Combine(SharedFixtures.RepoRoot, "tests", "oracles", "templates", "cases", caseName + ".json"),
        "2025-07-10", method, lint);

    [TestMethod]
    public void Inspect_RowsMarkToolCallTrainedAndToolResponseMasked()
    {
        var r = InspectCommand.Inspect(Args("smollm3-fixed-call-response-answer"));
        Assert.AreEqual(MaskMethod.GenerationTags, r.Sequence.Method);
        var call = r.Rows.Where(x => x.Id == 128015).ToList();
        Assert.HasCount(3, call); // two in the system prompt's format description (masked), one call (trained)
        Assert.AreEqual(1, call.Count(x => x.Trained));
        Assert.IsTrue(call.All(x => x.Special && x.Display == "\"<tool_call>\""));
        Assert.IsTrue(r.Rows.Where(x => x.Id is 128013 or 128014).All(x => !x.Trained && x.Special));
        Assert.IsTrue(r.Rows.Any(x => x.Id == 198 && x.Display == "\"\\n\""), "newlines are shown escaped");
        Assert.AreEqual(r.Sequence.TrainedCount, r.Rows.Count(x => x.Trained));
    }

    [TestMethod]
    public void Run_PrintsTableTotalsAndLint_NoAnsiWhenNotATerminal()
    {
        var sw = new StringWriter();
        var rc = InspectCommand.Run(Args("smollm3-fixed-multi-turn", lint: true), sw, ansi: false);
        var text = sw.ToString();
        Assert.AreEqual(0, rc, text);
        StringAssert.Contains(text, "TRAIN  [\"<tool_call>\"]");
        StringAssert.Contains(text, "mask   [\"<tool_response>\"]");
        StringAssert.Contains(text, "\"{\\\"\""); // the token {" shown with its quote escaped
        StringAssert.Contains(text, "method: GenerationTags");
        StringAssert.Contains(text, "lint: passed");
        Assert.DoesNotContain("\u001b[", text);
        var ansi = new StringWriter();
        InspectCommand.Run(Args("smollm3-fixed-multi-turn"), ansi, ansi: true);
        StringAssert.Contains(ansi.ToString(), "\u001b[1;35m[\"<tool_call>\"]\u001b[0m");
    }

    [TestMethod]
    public void Run_PrefixMethodGivesSameLabels_OriginalTemplateFailsLint()
    {
        var tags = InspectCommand.Inspect(Args("smollm3-fixed-multi-turn"));
        var prefix = InspectCommand.Inspect(Args("smollm3-fixed-multi-turn", method: "prefix"));
        Assert.AreEqual(MaskMethod.RolePrefixDiff, prefix.Sequence.Method);
        CollectionAssert.AreEqual(tags.Sequence.Labels, prefix.Sequence.Labels);

        var sw = new StringWriter();
        var rc = InspectCommand.Run(Args("smollm3-fixed-multi-turn", lint: true,
            template: SharedFixtures.RequireShared("parity", "chat-templates", "HuggingFaceTB_SmolLM3-3B.jinja")), sw, ansi: false);
        Assert.AreEqual(2, rc);
        StringAssert.Contains(sw.ToString(), ErrorCodes.LintToolResponseNotWrapped);
    }

    [TestMethod]
    public void Command_ParsesAndReportsBadInput()
    {
        var cmd = InspectCommand.Create();
        var parse = cmd.Parse(["--tokenizer", "x", "--data", "y.json", "--method", "bogus"]);
        Assert.IsNotEmpty(parse.Errors);
        var missing = Path.Combine(Path.GetTempPath(), "tooltune-missing-" + Guid.NewGuid().ToString("N") + ".json");
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => InspectCommand.LoadContext(missing));
        Assert.AreEqual(ErrorCodes.TemplateContextInvalid, ex.Code);
        Assert.ThrowsExactly<ToolTuneException>(() => InspectCommand.ParseDate("10/07/2025"));
        Assert.AreEqual(new DateTime(2025, 7, 10), InspectCommand.ParseDate("2025-07-10"));
        // A located TT error from the action is an exit code of 1, not an unhandled exception.
        var tokenizerDir = SharedFixtures.RequireShared("parity", "tokenizers", "smollm3-3b");
        var rc = cmd.Parse(["--tokenizer", tokenizerDir, "--data", Path.Combine(SharedFixtures.RepoRoot, "tests", "oracles", "templates", "cases", "smollm3-fixed-single-call.json")]).Invoke();
        Assert.AreEqual(1, rc, "the tokenizer folder has no chat template: TT1200");
    }
}

[TestClass]
public sealed class BenchRenderCommandTests
{
    [TestMethod]
    public void BenchConversation_FixedTemplate_MaskPropertiesHold_AndBenchPrintsOneJsonLine()
    {
        var tokenizerDir = SharedFixtures.RequireShared("parity", "tokenizers", "smollm3-3b");
        var template = ChatTemplate.Load(Path.Combine(SharedFixtures.RepoRoot, "configs", "templates", "smollm3-tool-fixed.jinja"));
        var seq = template.BuildMask(Tokenizer.FromDirectory(tokenizerDir), BenchRenderCommand.Conversation(), new RenderOptions { Now = new DateTime(2025, 7, 10) });
        ToolTune.Tests.Text.SmolLM3MaskTests.AssertToolMaskProperties(seq, expectedCalls: 4, expectedResponses: 4, expectedAssistantTurns: 6);

        var sw = new StringWriter();
        Assert.AreEqual(0, BenchRenderCommand.Run(tokenizerDir, Path.Combine(SharedFixtures.RepoRoot, "configs", "templates", "smollm3-tool-fixed.jinja"), 0.2, sw));
        var json = System.Text.Json.Nodes.JsonNode.Parse(sw.ToString())!;
        Assert.AreEqual(6, (int)json["assistant_turns"]!);
        Assert.IsGreaterThan(0.0, (double)json["render_mask_tags_conv_per_s"]!);
    }
}
