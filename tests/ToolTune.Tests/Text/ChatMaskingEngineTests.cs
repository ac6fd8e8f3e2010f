using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Tensors;
using ToolTune.Text.Masks;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;

namespace ToolTune.Tests.Text;

/// <summary>Masks and template lint with the project's own Jinja engine and tokenizer on real templates.</summary>
[TestClass]
public sealed class ChatMaskingEngineTests
{
    internal static readonly RenderOptions Pinned = new() { Now = new DateTime(2025, 7, 10) };

    internal static ChatTemplate Fixed() => ChatTemplate.Load(Path.Combine(SharedFixtures.RepoRoot, "configs", "templates", "smollm3-tool-fixed.jinja"));
    internal static ChatTemplate Shared(string name) => ChatTemplate.Load(SharedFixtures.RequireShared("parity", "chat-templates", name + ".jinja"));

    /// <summary>System with tools, user, assistant tool_calls, tool response, assistant answer, user, call, two tool results, answer.</summary>
    internal static JsonObject ToolConversation(bool? enableThinking = false) 
    {
        var ctx = JsonNode.Parse("""
        {"messages": [
          {"role": "system", "content": "You are a helpful assistant with tools."},
          {"role": "user", "content": "What's the weather in Paris?"},
          {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
          {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "{\"temperature\": 21, \"condition\": \"sunny\"}"},
          {"role": "assistant", "content": "It is 21 degrees and sunny in Paris."},
          {"role": "user", "content": "And in Tokyo and Oslo?"},
          {"role": "assistant", "content": "Checking both.", "tool_calls": [
            {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}},
            {"id": "c3", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
          {"role": "tool", "tool_call_id": "c2", "name": "get_weather", "content": "{\"temperature\": 25}"},
          {"role": "tool", "tool_call_id": "c3", "name": "get_weather", "content": "{\"temperature\": -3}"},
          {"role": "assistant", "content": "Tokyo: 25 degrees. Oslo: -3 degrees."}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather.",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}}, "required": ["city"]}}}],
        "add_generation_prompt": false, "bos_token": "<|begin_of_text|>", "eos_token": "<|im_end|>"}
        """)!.AsObject();
        if (enableThinking is { } e) ctx["enable_thinking"] = e;
        return ctx;
    }

    [TestMethod]
    public void FixedSmolLM3_RealTokenizer_ToolCallDelimitersTrained_ResponsesAndUserMasked()
    {
        var seq = Fixed().BuildMask(SmolLM3MaskTests.SmolTokenizer(), ToolConversation(), Pinned);
        Assert.AreEqual(MaskMethod.GenerationTags, seq.Method);
        Assert.HasCount(4, seq.AssistantSpans);
        SmolLM3MaskTests.AssertToolMaskProperties(seq, expectedCalls: 3, expectedResponses: 3, expectedAssistantTurns: 4);
        // The trained tokens decode back to exactly the assistant text: calls as Hermes JSON, each turn closed by <|im_end|>.
        var trainedText = string.Concat(Enumerable.Range(0, seq.InputIds.Length).Where(i => seq.Labels[i] >= 0).Select(i => seq.Text[seq.Offsets[i].Start..seq.Offsets[i].End]));
        Assert.AreEqual(
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>" +
            "It is 21 degrees and sunny in Paris.<|im_end|>" +
            "Checking both.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Tokyo\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call><|im_end|>" +
            "Tokyo: 25 degrees. Oslo: -3 degrees.<|im_end|>",
            trainedText);
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    [DataRow(null)]
    public void FixedSmolLM3_RolePrefixDiff_MatchesGenerationTags(bool? enableThinking)
    {
        var tokenizer = SmolLM3MaskTests.SmolTokenizer();
        var ctx = ToolConversation(enableThinking);
        var byTags = Fixed().BuildMask(tokenizer, ctx, Pinned, MaskMethod.GenerationTags);
        var byPrefix = Fixed().BuildMask(tokenizer, ctx, Pinned, MaskMethod.RolePrefixDiff);
        Assert.AreEqual(MaskMethod.RolePrefixDiff, byPrefix.Method);
        CollectionAssert.AreEqual(byTags.AssistantSpans.ToArray(), byPrefix.AssistantSpans.ToArray());
        CollectionAssert.AreEqual(byTags.InputIds, byPrefix.InputIds);
        CollectionAssert.AreEqual(byTags.Labels, byPrefix.Labels);
    }

    [TestMethod]
    public void FixedSmolLM3_RolePrefixDiff_MatchesGenerationTags_OnEveryGoldenCase()
    {
        var renderer = new TemplateRenderer(Fixed(), Pinned);
        var checkedCases = 0;
        foreach (var file in Directory.GetFiles(SharedFixtures.Fixture("templates"), "smollm3-fixed-*.json"))
        {
            var ctx = JsonNode.Parse(File.ReadAllText(file))!["context"]!.AsObject();
            if (ctx["messages"]!.AsArray().Any(m => (string?)m!["role"] == "system" && ((string?)m["content"] ?? "").Contains("/system_override")))
                continue;
            var full = renderer.Render(ctx);
            var byPrefix = ChatMasking.RolePrefixSpans(renderer, ctx, full.Text);
            CollectionAssert.AreEqual(ChatMasking.Normalize(full.GenerationSpans).ToArray(), byPrefix.ToArray(), Path.GetFileName(file));
            checkedCases++;
        }
        Assert.IsGreaterThanOrEqualTo(15, checkedCases);
    }

    [TestMethod]
    public void OriginalSmolLM3_TagSpansContainRolePrefixSpans_PlusHeaderAndNewline()
    {
        var renderer = new TemplateRenderer(Shared("HuggingFaceTB_SmolLM3-3B"), Pinned);
        var ctx = ToolConversation();
        var full = renderer.Render(ctx);
        var tags = ChatMasking.Normalize(full.GenerationSpans);
        var prefix = ChatMasking.RolePrefixSpans(renderer, ctx, full.Text);
        Assert.HasCount(tags.Count, prefix);
        foreach (var (t, p) in tags.Zip(prefix))
        {
            Assert.AreEqual("<|im_start|>assistant\n<think>\n\n</think>\n", full.Text[t.Start..p.Start]);
            Assert.AreEqual("\n", full.Text[p.End..t.End]);
            StringAssert.EndsWith(full.Text[p.Start..p.End], "<|im_end|>");
        }
        // The original drops tool calls: the first assistant turn trains only "<|im_end|>".
        Assert.AreEqual("<|im_end|>", full.Text[prefix[0].Start..prefix[0].End]);
    }

    [TestMethod]
    [DataRow("Qwen_Qwen2.5-7B-Instruct", "qwen2.5", "<|im_end|>", "<tool_call>")]
    [DataRow("NousResearch_Hermes-2-Pro-Llama-3-8B__JSON_Schema_", "smollm3-3b", "<|im_end|>", "<tool_call>")]
    [DataRow("meta-llama_Llama-3.1-8B-Instruct", "smollm3-3b", "<|eot_id|>", "{\"name\": \"get_weather\"")]
    public void RolePrefixDiff_WorksOnTemplatesWithoutGenerationTags(string template, string tokenizerDir, string endOfTurn, string callMarker)
    {
        var tpl = Shared(template);
        Assert.IsFalse(tpl.HasGenerationTags);
        var tokenizer = Tokenizer.FromDirectory(SharedFixtures.RequireShared("parity", "tokenizers", tokenizerDir));
        var ctx = ToolConversation(enableThinking: null);
        if (template.StartsWith("meta-llama", StringComparison.Ordinal))
        {
            // Llama 3.1 allows one call per assistant message: keep the first of the parallel pair.
            var calls = ctx["messages"]![6]!["tool_calls"]!.AsArray();
            calls.RemoveAt(1);
            ctx["messages"]!.AsArray().RemoveAt(8);
        }
        var seq = tpl.BuildMask(tokenizer, ctx, Pinned);
        Assert.AreEqual(MaskMethod.RolePrefixDiff, seq.Method);
        Assert.HasCount(4, seq.AssistantSpans);
        var spanTexts = seq.AssistantSpans.Select(s => seq.Text[s.Start..s.End]).ToArray();
        foreach (var s in spanTexts)
        {
            StringAssert.EndsWith(s, endOfTurn);
            Assert.DoesNotContain("assistant", s.Replace("assistant with", ""), $"assistant header must not be in the span: {s}");
            Assert.DoesNotContain("temperature", s, "tool responses are not in spans");
        }
        StringAssert.StartsWith(spanTexts[0], callMarker);
        StringAssert.Contains(spanTexts[1], "It is 21 degrees and sunny in Paris.");
        // Token level: the end-of-turn token closing each assistant turn is trained; user text is not.
        var eotId = tokenizer.TokenToId(endOfTurn)!.Value;
        var trainedEot = Enumerable.Range(0, seq.InputIds.Length).Count(i => seq.InputIds[i] == eotId && seq.Labels[i] == eotId);
        Assert.AreEqual(4, trainedEot);
        var userAt = seq.Text.IndexOf("And in Tokyo and Oslo?", StringComparison.Ordinal);
        for (var i = 0; i < seq.InputIds.Length; i++)
            if (seq.Offsets[i].Start >= userAt && seq.Offsets[i].End <= userAt + 22)
                Assert.AreEqual(CrossEntropy.IgnoreIndex, seq.Labels[i]);
    }

    [TestMethod]
    public void RolePrefixDiff_Qwen3RewritesHistory_TT1300()
    {
        var tpl = Shared("Qwen_Qwen3-0.6B");
        var ctx = ToolConversation(enableThinking: false);
        ctx["messages"]![2]!["content"] = ""; // Qwen3 (like Python) fails on `'</think>' in none`
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => tpl.BuildMask(SmolLM3MaskTests.SmolTokenizer(), ctx, Pinned));
        Assert.AreEqual(ErrorCodes.MaskSpansUnavailable, ex.Code);
        StringAssert.Contains(ex.Message, "{% generation %}");
    }

    [TestMethod]
    public void RolePrefixDiff_GenerationPromptNotPrefixOfHistory_TT1300()
    {
        // The generation prompt pre-fills "<think>\n" but history turns do not have it.
        var tpl = ChatTemplate.Parse("""
            {%- for m in messages -%}{{ '<|im_start|>' + m.role + '\n' + (m.content or '') + '<|im_end|>\n' }}{%- endfor -%}
            {%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n<think>\n' }}{%- endif -%}
            """, "violating.jinja");
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => tpl.BuildMask(SmolLM3MaskTests.SmolTokenizer(), ToolConversation(), Pinned));
        Assert.AreEqual(ErrorCodes.MaskSpansUnavailable, ex.Code);
        StringAssert.Contains(ex.Message, "not a prefix");
        StringAssert.Contains(ex.Message, "assistant message 2");
    }

    [TestMethod]
    public void Lint_OriginalSmolLM3Fails_FixedPasses()
    {
        var original = TemplateLint.Run(new TemplateRenderer(Shared("HuggingFaceTB_SmolLM3-3B"), Pinned));
        var codes = original.Select(f => f.Code).ToHashSet();
        Assert.IsFalse(TemplateLint.Passes(original));
        Assert.Contains(ErrorCodes.LintToolCallLost, codes, string.Join("\n", original));
        Assert.Contains(ErrorCodes.LintToolResponseNotWrapped, codes, string.Join("\n", original));
        Assert.Contains(ErrorCodes.LintThinkDirection, codes, string.Join("\n", original));
        Assert.Contains(ErrorCodes.LintSpansDisagree, codes, string.Join("\n", original));

        var fixedFindings = Fixed().Lint(renderOptions: Pinned);
        Assert.IsEmpty(fixedFindings, string.Join("\n", fixedFindings));
    }

    [TestMethod]
    public void Lint_Qwen25Passes_Qwen3BreaksPrefixProperty()
    {
        var qwen25 = TemplateLint.Run(new TemplateRenderer(Shared("Qwen_Qwen2.5-7B-Instruct"), Pinned));
        Assert.IsTrue(TemplateLint.Passes(qwen25), string.Join("\n", qwen25));
        var qwen3 = TemplateLint.Run(new TemplateRenderer(Shared("Qwen_Qwen3-0.6B"), Pinned),
            new TemplateLintOptions { Kwargs = new JsonObject { ["enable_thinking"] = false } });
        Assert.IsTrue(qwen3.Any(f => f.Code == ErrorCodes.LintPrefixProperty), string.Join("\n", qwen3));
    }

    [TestMethod]
    public void Lint_WithTokenizer_FixedTemplateHasCleanBoundaries_OldThinkBlockStraddles()
    {
        var encoder = new TokenizerEncoder(SmolLM3MaskTests.SmolTokenizer());
        var fixedFindings = TemplateLint.Run(new TemplateRenderer(Fixed(), Pinned), encoder: encoder);
        Assert.IsEmpty(fixedFindings, string.Join("\n", fixedFindings));
        foreach (var thinking in new[] { true, false })
        {
            var seq = Fixed().BuildMask(encoder.Tokenizer, ToolConversation(thinking), Pinned);
            Assert.IsEmpty(seq.StraddlingTokens, $"enable_thinking={thinking}");
        }

        // Prompt "<think>\n" + history "<think>\n\n</think>\n": the "\n\n" token crosses the prompt/completion boundary.
        var old = ChatTemplate.Parse("""
            {%- for m in messages -%}
            {%- if m.role == 'assistant' -%}{{ '<|im_start|>assistant\n<think>\n' }}{% generation %}{{ '\n</think>\n' + (m.content or '') + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}
            {%- else -%}{{ '<|im_start|>' + m.role + '\n' + (m.content or '') + '<|im_end|>\n' }}{%- endif -%}
            {%- endfor -%}
            {%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n<think>\n' }}{%- endif -%}
            """, "old-think.jinja");
        var oldSeq = old.BuildMask(encoder.Tokenizer, ToolConversation(), Pinned);
        Assert.HasCount(4, oldSeq.StraddlingTokens);
        Assert.AreEqual("\n\n", oldSeq.Text[oldSeq.Offsets[oldSeq.StraddlingTokens[0]].Start..oldSeq.Offsets[oldSeq.StraddlingTokens[0]].End]);
        var findings = TemplateLint.Run(new TemplateRenderer(old, Pinned), new TemplateLintOptions { ToolCallStart = null, ToolResponseStart = null }, encoder);
        Assert.IsTrue(findings.Any(f => f.Code == ErrorCodes.LintTokenStraddlesBoundary && f.Severity == LintSeverity.Warning), string.Join("\n", findings));
    }

    [TestMethod]
    public void RolePrefixDiff_PrefixRenderFails_TT1300NamesTheMessage()
    {
        // The original SmolLM3 template reads messages[0].role, so rendering the empty prefix of a conversation that
        // starts with an assistant message fails (as in Python).
        var ctx = new JsonObject { ["messages"] = new JsonArray { new JsonObject { ["role"] = "assistant", ["content"] = "Hi" } } };
        var renderer = new TemplateRenderer(Shared("HuggingFaceTB_SmolLM3-3B"), Pinned);
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => ChatMasking.RolePrefixSpans(renderer, ctx));
        Assert.AreEqual(ErrorCodes.MaskSpansUnavailable, ex.Code);
        StringAssert.Contains(ex.Message, "assistant message 0");
    }

    [TestMethod]
    public void UntrainedAssistantTurn_StaysInTextButIsMasked_BothMethods()
    {
        var tokenizer = SmolLM3MaskTests.SmolTokenizer();
        var ctx = ToolConversation();
        ctx["messages"]![4]!["train"] = false; // "It is 21 degrees and sunny in Paris."
        ctx["messages"]![9]!["weight"] = 0;    // "Tokyo: 25 degrees. Oslo: -3 degrees."
        foreach (var method in new[] { MaskMethod.GenerationTags, MaskMethod.RolePrefixDiff })
        {
            var seq = Fixed().BuildMask(tokenizer, ctx, Pinned, method);
            Assert.HasCount(2, seq.AssistantSpans, method.ToString());
            StringAssert.Contains(seq.Text, "It is 21 degrees and sunny in Paris.");
            Assert.IsTrue(seq.AssistantSpans.All(s => !seq.Text[s.Start..s.End].Contains("degrees")), method.ToString());
            Assert.AreEqual(2, Enumerable.Range(0, seq.InputIds.Length).Count(i => seq.Labels[i] == SmolLM3MaskTests.ImEnd));
        }
    }

    [TestMethod]
    public void Lint_Hermes2ProAndLlama31_PassWithTheirDelimiters()
    {
        var kwargs = new JsonObject { ["bos_token"] = "<|begin_of_text|>", ["eos_token"] = "<|im_end|>" };
        var hermes = TemplateLint.Run(new TemplateRenderer(Shared("NousResearch_Hermes-2-Pro-Llama-3-8B__JSON_Schema_"), Pinned),
            new TemplateLintOptions { Kwargs = kwargs });
        Assert.IsTrue(TemplateLint.Passes(hermes), string.Join("\n", hermes));
        // Llama 3.1: calls are bare JSON, results go to the ipython role, turns end with <|eot_id|>.
        var llama = TemplateLint.Run(new TemplateRenderer(Shared("meta-llama_Llama-3.1-8B-Instruct"), Pinned),
            new TemplateLintOptions { Kwargs = kwargs, ToolCallStart = null, ToolResponseStart = null, EndOfTurn = "<|eot_id|>" });
        Assert.IsTrue(TemplateLint.Passes(llama), string.Join("\n", llama));
        // With SmolLM3/Hermes delimiters, Llama 3.1's unwrapped tool results are reported.
        var strict = TemplateLint.Run(new TemplateRenderer(Shared("meta-llama_Llama-3.1-8B-Instruct"), Pinned),
            new TemplateLintOptions { Kwargs = kwargs, EndOfTurn = "<|eot_id|>" });
        Assert.IsTrue(strict.Any(f => f.Code == ErrorCodes.LintToolResponseNotWrapped), string.Join("\n", strict));
    }
}
