using System.Text;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Tensors;
using ToolTune.Text.Masks;

namespace ToolTune.Tests.Text;

/// <summary>A hand-written ChatML renderer (no Jinja) with switchable behaviours, for engine-independent mask tests.</summary>
internal sealed class FakeChatMl : IChatRenderer
{
    public bool Tags { get; init; }
    public bool WrapToolResponses { get; init; } = true;
    public bool RenderToolCalls { get; init; } = true;
    /// <summary>Generation prompt pre-fills "&lt;think&gt;\n" that history turns lack: violates the prefix property.</summary>
    public bool PrefillThinkOnlyInPrompt { get; init; }
    /// <summary>History assistant turns lose their content once a later user turn exists (like Qwen3's think stripping).</summary>
    public bool RewriteHistory { get; init; }

    public bool HasGenerationTags => Tags;

    public RenderedChat Render(JsonObject context)
    {
        var sb = new StringBuilder();
        var spans = new List<(int, int)>();
        var messages = (JsonArray)context["messages"]!;
        for (var i = 0; i < messages.Count; i++)
        {
            var m = (JsonObject)messages[i]!;
            var role = (string)m["role"]!;
            var content = m["content"] is JsonValue v && v.TryGetValue<string>(out var c) ? c : "";
            switch (role)
            {
                case "system":
                case "user":
                    sb.Append("<|im_start|>").Append(role).Append('\n').Append(content).Append("<|im_end|>\n");
                    break;
                case "assistant":
                    sb.Append("<|im_start|>assistant\n");
                    var start = sb.Length;
                    var laterUser = false;
                    for (var j = i + 1; j < messages.Count; j++) laterUser |= (string)messages[j]!["role"]! == "user";
                    sb.Append(RewriteHistory && laterUser ? "" : content);
                    if (RenderToolCalls && m["tool_calls"] is JsonArray calls)
                        foreach (var call in calls)
                            sb.Append("<tool_call>\n{\"name\": \"").Append((string)call!["function"]!["name"]!).Append("\", \"arguments\": ")
                              .Append(call["function"]!["arguments"]!.ToJsonString()).Append("}\n</tool_call>");
                    sb.Append("<|im_end|>");
                    spans.Add((start, sb.Length));
                    sb.Append('\n');
                    break;
                case "tool":
                    sb.Append("<|im_start|>user\n");
                    sb.Append(WrapToolResponses ? "<tool_response>\n" + content + "\n</tool_response>" : content);
                    sb.Append("<|im_end|>\n");
                    break;
            }
        }
        if (context["add_generation_prompt"] is JsonValue g && g.GetValue<bool>())
            sb.Append("<|im_start|>assistant\n").Append(PrefillThinkOnlyInPrompt ? "<think>\n" : "");
        return new RenderedChat(sb.ToString(), Tags ? spans : []);
    }
}

/// <summary>Splits text into special tokens (&lt;...&gt;), runs of letters/digits, and single other characters.</summary>
internal sealed class FakeEncoder : ITokenOffsetEncoder
{
    public IReadOnlyList<TokenWithOffset> Encode(string text)
    {
        var list = new List<TokenWithOffset>();
        var i = 0;
        while (i < text.Length)
        {
            var j = i + 1;
            if (text[i] == '<' && text.IndexOf('>', i) is var close and > 0 && close - i < 20 && !text[i..close].Contains(' ')) j = close + 1;
            else if (char.IsLetterOrDigit(text[i])) while (j < text.Length && char.IsLetterOrDigit(text[j])) j++;
            list.Add(new TokenWithOffset(Id(text[i..j]), i, j));
            i = j;
        }
        return list;
    }

    public static int Id(string piece) => piece switch
    {
        "<|im_start|>" => 128011, "<|im_end|>" => 128012, "<tool_response>" => 128013, "</tool_response>" => 128014,
        "<tool_call>" => 128015, "</tool_call>" => 128016,
        _ => Math.Abs(piece.GetHashCode(StringComparison.Ordinal) % 100000),
    };
}

[TestClass]
public sealed class ChatMaskingUnitTests
{
    internal static JsonObject ToolConversation() => JsonNode.Parse("""
        {"messages": [
          {"role": "system", "content": "You are helpful."},
          {"role": "user", "content": "Weather in Paris?"},
          {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
          {"role": "tool", "content": "{\"temp\": 21}"},
          {"role": "assistant", "content": "It is 21 degrees."},
          {"role": "user", "content": "Thanks"},
          {"role": "assistant", "content": "You are welcome."}
        ], "add_generation_prompt": false}
        """)!.AsObject();

    [TestMethod]
    public void Labels_TrainExactlyTheTokensOverlappingSpans()
    {
        TokenWithOffset[] tokens = [new(1, 0, 2), new(2, 2, 5), new(3, 5, 6), new(4, 6, 6), new(5, 6, 9), new(6, 9, 12)];
        var labels = ChatMasking.Labels(tokens, [(3, 5), (8, 9)]);
        CollectionAssert.AreEqual(new[] { CrossEntropy.IgnoreIndex, 2, CrossEntropy.IgnoreIndex, CrossEntropy.IgnoreIndex, 5, CrossEntropy.IgnoreIndex }, labels);
    }

    [TestMethod]
    public void StraddlingTokens_AreThoseCrossingASpanEdge()
    {
        TokenWithOffset[] tokens = [new(1, 0, 2), new(2, 2, 5), new(3, 5, 6), new(4, 6, 9), new(5, 9, 12)];
        CollectionAssert.AreEqual(new[] { 1, 3 }, ChatMasking.StraddlingTokens(tokens, [(3, 7)]));
        Assert.IsEmpty(ChatMasking.StraddlingTokens(tokens, [(2, 6)]));
    }

    [TestMethod]
    public void Normalize_SortsMergesAndDropsEmpty()
    {
        var n = ChatMasking.Normalize([(10, 12), (0, 3), (2, 5), (7, 7)]);
        CollectionAssert.AreEqual(new[] { (0, 5), (10, 12) }, n.ToArray());
    }

    [TestMethod]
    public void RolePrefixDiff_GivesContentToolCallsAndEndOfTurn_NotHeaderNorNewline()
    {
        var seq = ChatMasking.Build(new FakeChatMl(), new FakeEncoder(), ToolConversation());
        Assert.AreEqual(MaskMethod.RolePrefixDiff, seq.Method);
        Assert.HasCount(3, seq.AssistantSpans);
        var texts = seq.AssistantSpans.Select(s => seq.Text[s.Start..s.End]).ToArray();
        Assert.AreEqual("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}\n</tool_call><|im_end|>", texts[0]);
        Assert.AreEqual("It is 21 degrees.<|im_end|>", texts[1]);
        Assert.AreEqual("You are welcome.<|im_end|>", texts[2]);
    }

    [TestMethod]
    public void RolePrefixDiff_AgreesWithGenerationTags()
    {
        var byTags = ChatMasking.Build(new FakeChatMl { Tags = true }, new FakeEncoder(), ToolConversation());
        var byPrefix = ChatMasking.Build(new FakeChatMl { Tags = true }, new FakeEncoder(), ToolConversation(), MaskMethod.RolePrefixDiff);
        Assert.AreEqual(MaskMethod.GenerationTags, byTags.Method);
        CollectionAssert.AreEqual(byTags.AssistantSpans.ToArray(), byPrefix.AssistantSpans.ToArray());
        CollectionAssert.AreEqual(byTags.Labels, byPrefix.Labels);
    }

    [TestMethod]
    public void Labels_DelimitersAndEndOfTurnTrained_ToolResponseAndUserMasked()
    {
        var seq = ChatMasking.Build(new FakeChatMl(), new FakeEncoder(), ToolConversation());
        for (var i = 0; i < seq.InputIds.Length; i++)
        {
            var id = seq.InputIds[i];
            if (id is 128015 or 128016) Assert.AreEqual(id, seq.Labels[i], $"tool-call delimiter at {i} must be trained");
            if (id is 128013 or 128014 or 128011) Assert.AreEqual(CrossEntropy.IgnoreIndex, seq.Labels[i], $"token {id} at {i} must be masked");
        }
        var imEnds = Enumerable.Range(0, seq.InputIds.Length).Where(i => seq.InputIds[i] == 128012 && seq.Labels[i] == 128012).Count();
        Assert.AreEqual(3, imEnds, "each assistant turn's <|im_end|> is trained");
    }

    [TestMethod]
    public void RolePrefixDiff_PromptDiffersFromHistory_TT1300()
    {
        var ex = Assert.ThrowsExactly<ToolTuneException>(() =>
            ChatMasking.Build(new FakeChatMl { PrefillThinkOnlyInPrompt = true }, new FakeEncoder(), ToolConversation()));
        Assert.AreEqual(ErrorCodes.MaskSpansUnavailable, ex.Code);
        StringAssert.Contains(ex.Message, "{% generation %}");
        StringAssert.Contains(ex.Message, "not a prefix");
    }

    [TestMethod]
    public void RolePrefixDiff_TemplateRewritesHistory_TT1300()
    {
        var ex = Assert.ThrowsExactly<ToolTuneException>(() =>
            ChatMasking.Build(new FakeChatMl { RewriteHistory = true }, new FakeEncoder(), ToolConversation()));
        Assert.AreEqual(ErrorCodes.MaskSpansUnavailable, ex.Code);
        StringAssert.Contains(ex.Message, "whole conversation");
    }

    [TestMethod]
    public void GenerationTagsForcedWithoutTags_TT1300()
    {
        var ex = Assert.ThrowsExactly<ToolTuneException>(() =>
            ChatMasking.Build(new FakeChatMl(), new FakeEncoder(), ToolConversation(), MaskMethod.GenerationTags));
        Assert.AreEqual(ErrorCodes.MaskSpansUnavailable, ex.Code);
    }

    [TestMethod]
    public void Lint_FlagsDroppedCallsAndUnwrappedResponses_PassesGoodTemplate()
    {
        Assert.IsTrue(TemplateLint.Passes(TemplateLint.Run(new FakeChatMl { Tags = true })),
            string.Join("\n", TemplateLint.Run(new FakeChatMl { Tags = true })));
        var bad = TemplateLint.Run(new FakeChatMl { RenderToolCalls = false, WrapToolResponses = false });
        Assert.IsTrue(bad.Any(f => f.Code == ErrorCodes.LintToolCallLost), string.Join("\n", bad));
        Assert.IsTrue(bad.Any(f => f.Code == ErrorCodes.LintToolResponseNotWrapped), string.Join("\n", bad));
        var prefix = TemplateLint.Run(new FakeChatMl { PrefillThinkOnlyInPrompt = true });
        Assert.IsTrue(prefix.Any(f => f.Code == ErrorCodes.LintPrefixProperty), string.Join("\n", prefix));
    }

    [TestMethod]
    public void Inspection_RowsEscapeWhitespaceAndCountTotals()
    {
        var seq = ChatMasking.Build(new FakeChatMl(), new FakeEncoder(), ToolConversation());
        var rows = TokenInspection.Rows(seq, id => id >= 128000);
        Assert.HasCount(seq.InputIds.Length, rows);
        Assert.IsTrue(rows.Any(r => r.Display == "\"\\n\""));
        Assert.IsTrue(rows.Where(r => r.Id == 128015).All(r => r.Special && r.Trained));
        var sw = new StringWriter();
        TokenInspection.Write(sw, seq, rows, ansi: false);
        var output = sw.ToString();
        StringAssert.Contains(output, "[\"<tool_call>\"]");
        StringAssert.Contains(output, $"tokens: {seq.InputIds.Length}  trained: {seq.TrainedCount}");
        StringAssert.Contains(output, "method: RolePrefixDiff");
        Assert.DoesNotContain("\u001b[", output);
    }
}
