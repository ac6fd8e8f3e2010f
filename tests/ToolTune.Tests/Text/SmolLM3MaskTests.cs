using System.Text.Json.Nodes;
using ToolTune.Tensors;
using ToolTune.Text.Masks;
using ToolTune.Text.Tokenization;

namespace ToolTune.Tests.Text;

/// <summary>
/// Masks of the fixed SmolLM3 template with the REAL SmolLM3-3B tokenizer (../shared/parity/tokenizers/smollm3-3b):
/// tool-call delimiters 128015/128016 are single trained tokens, tool responses (128013/128014 and content) and user
/// text are masked, every assistant turn's closing &lt;|im_end|&gt; (128012) is trained.
/// </summary>
[TestClass]
public sealed class SmolLM3MaskTests
{
    internal const int ImStart = 128011, ImEnd = 128012, ToolResponseStart = 128013, ToolResponseEnd = 128014, ToolCallStart = 128015, ToolCallEnd = 128016;

    private static readonly Lazy<Tokenizer> LazyTokenizer = new(() => Tokenizer.FromDirectory(SharedFixtures.RequireShared("parity", "tokenizers", "smollm3-3b")));

    internal static Tokenizer SmolTokenizer()
    {
        SharedFixtures.RequireShared("parity", "tokenizers", "smollm3-3b");
        return LazyTokenizer.Value;
    }

    /// <summary>A golden render (Python Jinja2) of the fixed template: text and generation spans, UTF-16.</summary>
    internal static (JsonObject Context, string Text, (int Start, int End)[] Spans) Golden(string name)
    {
        var node = JsonNode.Parse(File.ReadAllText(SharedFixtures.Fixture("templates", name + ".json")))!.AsObject();
        var spans = node["generation_spans"]!.AsArray().Select(s => ((int)s![0]!, (int)s[1]!)).ToArray();
        return (node["context"]!.AsObject(), (string)node["text"]!, spans);
    }

    /// <summary>Every property the issue asks of a tool-calling SmolLM3 sample.</summary>
    internal static void AssertToolMaskProperties(MaskedSequence seq, int expectedCalls, int expectedResponses, int expectedAssistantTurns)
    {
        var ids = seq.InputIds;
        var labels = seq.Labels;
        Assert.HasCount(ids.Length, labels);
        int Count(int id) => ids.Count(x => x == id);
        // Each delimiter is exactly one token: one id per textual occurrence in the rendered conversation
        // (the system prompt's own "<tool_call>" example counts too, and must be masked).
        Assert.AreEqual(Occurrences(seq.Text, "<tool_call>"), Count(ToolCallStart), "<tool_call> must be the single token 128015");
        Assert.AreEqual(Occurrences(seq.Text, "</tool_call>"), Count(ToolCallEnd), "</tool_call> must be the single token 128016");
        Assert.AreEqual(Occurrences(seq.Text, "<tool_response>"), Count(ToolResponseStart), "<tool_response> must be the single token 128013");
        Assert.AreEqual(Occurrences(seq.Text, "</tool_response>"), Count(ToolResponseEnd), "</tool_response> must be the single token 128014");

        var trainedCalls = Enumerable.Range(0, ids.Length).Count(i => ids[i] == ToolCallStart && labels[i] == ToolCallStart);
        var trainedCallEnds = Enumerable.Range(0, ids.Length).Count(i => ids[i] == ToolCallEnd && labels[i] == ToolCallEnd);
        Assert.AreEqual(expectedCalls, trainedCalls, "every assistant <tool_call> is trained");
        Assert.AreEqual(expectedCalls, trainedCallEnds, "every assistant </tool_call> is trained");
        Assert.AreEqual(expectedResponses, Count(ToolResponseStart));
        for (var i = 0; i < ids.Length; i++)
        {
            if (ids[i] is ToolResponseStart or ToolResponseEnd or ImStart)
                Assert.AreEqual(CrossEntropy.IgnoreIndex, labels[i], $"token {ids[i]} at {i} must be masked");
            if (labels[i] != CrossEntropy.IgnoreIndex) Assert.AreEqual(ids[i], labels[i], "a trained label equals its id");
        }
        // Everything inside <tool_response>…</tool_response> is masked.
        var inside = false;
        for (var i = 0; i < ids.Length; i++)
        {
            if (ids[i] == ToolResponseStart) inside = true;
            if (inside) Assert.AreEqual(CrossEntropy.IgnoreIndex, labels[i], $"tool-response token {i} ({ids[i]}) must be masked");
            if (ids[i] == ToolResponseEnd) inside = false;
        }
        // Turn structure: each turn starts at <|im_start|>; user/system/tool turns fully masked; assistant turns have a
        // masked "assistant\n" header and a trained closing <|im_end|>, with the "\n" after it masked.
        var assistantTurns = 0;
        for (var i = 0; i < ids.Length; i++)
        {
            if (ids[i] != ImStart) continue;
            var end = Array.IndexOf(ids, ImEnd, i);
            if (end < 0) break; // trailing generation prompt
            var roleText = seq.Text[seq.Offsets[i + 1].Start..seq.Offsets[i + 1].End];
            if (roleText == "assistant")
            {
                assistantTurns++;
                Assert.AreEqual(ImEnd, labels[end], $"<|im_end|> closing the assistant turn at token {end} must be trained");
                Assert.AreEqual(CrossEntropy.IgnoreIndex, labels[i + 1], "the assistant header is masked");
                Assert.IsTrue(labels[(i + 2)..end].Any(l => l != CrossEntropy.IgnoreIndex), "assistant content is trained");
                if (end + 1 < ids.Length) Assert.AreEqual(CrossEntropy.IgnoreIndex, labels[end + 1], "the newline after <|im_end|> is masked");
            }
            else
            {
                for (var j = i; j <= end; j++)
                    Assert.AreEqual(CrossEntropy.IgnoreIndex, labels[j], $"{roleText} turn token {j} must be masked");
            }
        }
        Assert.AreEqual(expectedAssistantTurns, assistantTurns);
    }

    internal static int Occurrences(string text, string what)
    {
        var n = 0;
        for (var at = text.IndexOf(what, StringComparison.Ordinal); at >= 0; at = text.IndexOf(what, at + what.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    [TestMethod]
    [DataRow("smollm3-fixed-call-response-answer", 1, 1, 2)]
    [DataRow("smollm3-fixed-multi-turn", 3, 3, 4)]
    [DataRow("smollm3-fixed-parallel-calls", 2, 0, 1)]
    [DataRow("smollm3-fixed-unicode-astral", 1, 1, 2)]
    public void GoldenRender_RealTokenizer_ToolMaskProperties(string name, int calls, int responses, int assistantTurns)
    {
        var tokenizer = SmolTokenizer();
        var (_, text, spans) = Golden(name);
        var encoder = new TokenizerEncoder(tokenizer);
        var tokens = encoder.Encode(text);
        var seq = new MaskedSequence(tokens.Select(t => t.Id).ToArray(), ChatMasking.Labels(tokens, spans), MaskMethod.GenerationTags, text, spans)
        {
            Offsets = tokens.Select(t => (t.Start, t.End)).ToArray(),
        };
        AssertToolMaskProperties(seq, calls, responses, assistantTurns);
    }
}
