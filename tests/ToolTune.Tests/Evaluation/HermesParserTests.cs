using System.Text.Json.Nodes;
using ToolTune.Evaluation;
using static ToolTune.Tests.Evaluation.EvalTestUtil;
using ToolTune.Model;

namespace ToolTune.Tests.Evaluation;

[TestClass]
public sealed class HermesParserTests
{
    private static readonly GoldCall Paris = G("get_weather", """{"city": "Paris"}""");

    [TestMethod]
    public void DelimitersAreSingleSmolLM3Tokens()
    {
        var p = HermesToolCallParser.FromTokenizer(Tok);
        Assert.AreEqual(128015, p.StartId);
        Assert.AreEqual(128016, p.EndId);
    }

    [TestMethod]
    public void ExactCall()
    {
        var s = Score(Item("a", "Weather in Paris?", Paris), Call("get_weather", """{"city": "Paris"}"""));
        Assert.AreEqual(Verdict.ExactMatch, s.Verdict);
        Assert.IsTrue(s.Parse.ToolsCalled);
        Assert.IsNull(s.Parse.Content, "no text before the call → vLLM content None");
        Assert.AreEqual("get_weather", s.Parse.Calls[0].Name);
        Assert.AreEqual("""{"city": "Paris"}""", s.Parse.Calls[0].ArgumentsJson, "json.dumps default separators");
        Assert.IsTrue(s.StoppedAfterCall);
        Assert.IsTrue(s.EndedTurn);
        Assert.IsTrue(s.Text.EndsWith("</tool_call><|im_end|>", StringComparison.Ordinal), s.Text);
    }

    [TestMethod]
    public void ParallelCallsAreAMultiset()
    {
        var item = Item("p", "Weather and time in Paris?", Paris, G("get_time", """{"timezone": "Europe/Paris"}"""));
        // Reverse order, key order swapped, whitespace between blocks: still exact.
        var s = Score(item, Call("get_time", """{"timezone": "Europe/Paris"}""") + "\n" + Call("get_weather", """{"city":"Paris"}"""));
        Assert.AreEqual(Verdict.ExactMatch, s.Verdict);
        Assert.AreEqual(2, s.Parse.Calls.Count);
        Assert.AreEqual(2, s.CallTruePositives);
        Assert.IsTrue(s.StoppedAfterCall);

        var twice = Score(item, Call("get_weather", """{"city": "Paris"}""") + Call("get_weather", """{"city": "Paris"}"""));
        Assert.AreEqual(Verdict.WrongName, twice.Verdict, "two get_weather ≠ get_weather + get_time");
        Assert.AreEqual(1, twice.NameTruePositives);

        var one = Score(item, Call("get_weather", """{"city": "Paris"}"""));
        Assert.AreEqual(Verdict.WrongCallCount, one.Verdict);
    }

    [TestMethod]
    public void WrongName()
    {
        var s = Score(Item("n", "Weather in Paris?", Paris), Call("get_time", """{"timezone": "Paris"}"""));
        Assert.AreEqual(Verdict.WrongName, s.Verdict);
        Assert.AreEqual(0, s.NameTruePositives);
    }

    [TestMethod]
    public void WrongArgumentsAndPerKeyMatch()
    {
        var item = Item("w", "Weather in Paris in celsius?", G("get_weather", """{"city": "Paris", "unit": "celsius"}"""));
        var s = Score(item, Call("get_weather", """{"unit": "celsius", "city": "London"}"""));
        Assert.AreEqual(Verdict.WrongArguments, s.Verdict);
        Assert.AreEqual(1, s.NamePairs);
        Assert.AreEqual(0, s.ExactPairs);
        Assert.AreEqual(1, s.KeyMatches);
        Assert.AreEqual(2, s.KeyTotal);

        // Numbers compare as values; key order is irrelevant.
        var num = Item("num", "n?", G("get_weather", """{"city": "Paris", "unit": 1}"""));
        Assert.AreEqual(Verdict.ExactMatch, Score(num, Call("get_weather", """{"unit": 1.0, "city": "Paris"}""")).Verdict);
        Assert.AreEqual(Verdict.ExactMatch, Score(num, Call("get_weather", """{"unit": 10e-1, "city": "Paris"}""")).Verdict);
        Assert.AreEqual(Verdict.WrongArguments, Score(num, Call("get_weather", """{"unit": "1", "city": "Paris"}""")).Verdict);
        Assert.AreEqual(Verdict.WrongArguments, Score(num, Call("get_weather", """{"unit": true, "city": "Paris"}""")).Verdict);
    }

    [TestMethod]
    public void ArgumentsAsAStringAreServedButWrong()
    {
        // vLLM json.dumps the value, so a string stays a JSON string (the PR#25729 double-encoding).
        var s = Score(Item("s", "Weather in Paris?", Paris), Call("get_weather", "\"{\\\"city\\\": \\\"Paris\\\"}\""));
        Assert.IsTrue(s.Parse.ToolsCalled);
        Assert.AreEqual("\"{\\\"city\\\": \\\"Paris\\\"}\"", s.Parse.Calls[0].ArgumentsJson);
        Assert.AreEqual(Verdict.WrongArguments, s.Verdict);
        StringAssert.Contains(s.Detail, "string");
        Assert.AreEqual(0, s.BlocksWithObjectArguments);
    }

    [TestMethod]
    public void BrokenJsonMakesTheWholeOutputPlainText()
    {
        var text = "Sure.\n" + Call("get_time", """{"timezone": "UTC"}""") + Call("get_weather", """{"city": "Paris",}""");
        var s = Score(Item("b", "Weather in Paris?", Paris, G("get_time", """{"timezone": "UTC"}""")), text);
        Assert.AreEqual(Verdict.BrokenJson, s.Verdict);
        Assert.IsFalse(s.Parse.ToolsCalled, "one bad call loses all of them");
        Assert.AreEqual(0, s.Parse.Calls.Count);
        Assert.AreEqual(text, s.Parse.Content, "content = the whole text");
        StringAssert.Contains(s.Parse.Error, "json.loads");
        Assert.AreEqual(2, s.Blocks);
        Assert.AreEqual(1, s.BlocksWithObjectArguments, "the first block alone was fine");
        Assert.AreEqual(0, s.NameTruePositives);

        // Python dict syntax (old Hermes data) fails json.loads too.
        Assert.AreEqual(Verdict.BrokenJson, Score(Item("b2", "Weather?", Paris), "<tool_call>\n{'name': 'get_weather', 'arguments': {'city': 'Paris'}}\n</tool_call>").Verdict);
    }

    [TestMethod]
    public void MissingFieldsAreInvalidCalls()
    {
        Assert.AreEqual(Verdict.InvalidCall, Score(Item("i1", "Weather?", Paris), "<tool_call>\n{\"name\": \"get_weather\"}\n</tool_call>").Verdict);
        Assert.AreEqual(Verdict.InvalidCall, Score(Item("i2", "Weather?", Paris), "<tool_call>\n{\"arguments\": {}}\n</tool_call>").Verdict);
        Assert.AreEqual(Verdict.InvalidCall, Score(Item("i3", "Weather?", Paris), "<tool_call>\n[{\"name\": \"get_weather\", \"arguments\": {}}]\n</tool_call>").Verdict);
        Assert.AreEqual(Verdict.InvalidCall, Score(Item("i4", "Weather?", Paris), "<tool_call>\n{\"name\": 7, \"arguments\": {}}\n</tool_call>").Verdict);
        Assert.AreEqual(Verdict.BrokenJson, Score(Item("i5", "Weather?", Paris), "<tool_call></tool_call>").Verdict);
    }

    [TestMethod]
    public void CallInPythonCodeIsACodeDump()
    {
        var item = Item("c", "Weather in Paris?", Paris);
        var fenced = Score(item, "I'll check the weather:\n```python\nresult = get_weather(city=\"Paris\")\nprint(result)\n```");
        Assert.AreEqual(Verdict.CodeDump, fenced.Verdict);
        Assert.AreEqual("fenced", fenced.CodeDump!.Where);
        Assert.AreEqual("get_weather", fenced.CodeDump.ToolName);

        Assert.AreEqual(Verdict.CodeDump, Score(item, "print(get_weather(\"Paris\"))").Verdict);
        Assert.AreEqual("inline", Score(item, "You can run `get_weather(city='Paris')` to find out.").CodeDump!.Where);
        Assert.AreEqual(Verdict.CodeDump, Score(item, "<code>\nget_weather(city=\"Paris\")\n</code>").Verdict);
        // Prose mentioning the tool, or code calling something else, is just a missing call.
        Assert.AreEqual(Verdict.MissingCall, Score(item, "I would use get_weather for that, but I cannot.").Verdict);
        Assert.AreEqual(Verdict.MissingCall, Score(item, "```python\nrequests.get(url)\n```").Verdict);
    }

    [TestMethod]
    public void CallWhenNoneExpectedIsHallucinated()
    {
        var item = Item("h", "Thanks, that's all!");
        Assert.IsFalse(item.ExpectCall);
        var s = Score(item, Call("search", """{"query": "thanks"}"""));
        Assert.AreEqual(Verdict.HallucinatedCall, s.Verdict);
        Assert.AreEqual(1, s.PredCount);
        Assert.AreEqual(Verdict.CorrectNoCall, Score(item, "You're welcome!").Verdict);
        // Even a broken call counts: the start token was emitted.
        Assert.AreEqual(Verdict.HallucinatedCall, Score(item, "<tool_call>\n{oops\n</tool_call>").Verdict);
    }

    [TestMethod]
    public void MissingEndDelimiterIsAcceptedLikeVllmButFlagged()
    {
        var item = Item("m", "Weather in Paris?", Paris);
        var s = Score(item, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n");
        Assert.IsTrue(s.Parse.ToolsCalled, "vLLM's (.*) branch accepts an unclosed final block");
        Assert.AreEqual(Verdict.MissingEndDelimiter, s.Verdict);
        Assert.AreEqual(1, s.CallTruePositives);
        Assert.IsFalse(s.StoppedAfterCall);
        Assert.IsFalse(s.Parse.AllBlocksClosed);

        // Cut by max_new_tokens inside the JSON: plain text, still MissingEndDelimiter (not BrokenJson).
        var cut = Score(item, "<tool_call>\n{\"name\": \"get_weather\", \"argu", stop: false);
        Assert.IsFalse(cut.Parse.ToolsCalled);
        Assert.AreEqual(Verdict.MissingEndDelimiter, cut.Verdict);
        Assert.IsFalse(cut.EndedTurn);

        // <tool_call>A<tool_call>B (unclosed): the (.*) branch swallows the second start → one block → json fails.
        var two = Score(item, "<tool_call>{\"name\": \"get_weather\", \"arguments\": {}}<tool_call>{\"name\": \"get_time\", \"arguments\": {}}");
        Assert.AreEqual(1, two.Blocks);
        Assert.IsFalse(two.Parse.ToolsCalled);
    }

    [TestMethod]
    public void TextBeforeTheCallIsKeptAsContent()
    {
        var s = Score(Item("t", "Weather in Paris?", Paris), "Let me check that for you.\n" + Call("get_weather", """{"city": "Paris"}""") + "\nDone!");
        Assert.AreEqual(Verdict.ExactMatch, s.Verdict);
        Assert.AreEqual("Let me check that for you.\n", s.Parse.Content);
        Assert.IsFalse(s.StoppedAfterCall, "text after </tool_call> before the end of turn");
    }

    [TestMethod]
    public void UnknownTool()
    {
        var s = Score(Item("u", "Weather in Paris?", Paris), Call("get_forecast", """{"city": "Paris"}"""));
        Assert.AreEqual(Verdict.UnknownTool, s.Verdict);
        StringAssert.Contains(s.Detail, "get_forecast");
    }

    [TestMethod]
    public void DelimiterWrittenAsOrdinaryTokensIsNotACall()
    {
        // "<tool_call>" spelled with sub-word tokens decodes to the same text but is not the special id.
        var ids = Tok.EncodeToIds("<tool").Concat(Tok.EncodeToIds("_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool")).Concat(Tok.EncodeToIds("_call>")).ToList();
        CollectionAssert.DoesNotContain(ids, 128015);
        var parser = HermesToolCallParser.FromTokenizer(Tok);
        var r = parser.Parse(ids);
        StringAssert.StartsWith(r.Text, "<tool_call>");
        Assert.IsFalse(r.ToolsCalled);
        Assert.AreEqual(0, r.Blocks.Count);
        var s = Scorer().Score("tuned", Item("x", "Weather?", Paris), [1], new GenerationResult([.. ids, ImEnd], FinishReason.Stop, default, default));
        Assert.AreEqual(Verdict.MissingCall, s.Verdict);
    }

    [TestMethod]
    public void EndDelimiterWithoutStartIsIgnoredAndStopIdsEndTheParse()
    {
        var p = HermesToolCallParser.FromTokenizer(Tok);
        var r = p.Parse(Tok.EncodeToIds("hello</tool_call> world"));
        Assert.IsFalse(r.ToolsCalled);
        Assert.AreEqual("hello</tool_call> world", r.Content);
        // Anything after the stop id is not parsed (vLLM never sees it).
        var s = Score(Item("z", "Weather?", Paris), Call("get_weather", """{"city": "Paris"}""") + "<|im_end|>" + Call("get_time", "{}"), stop: false);
        Assert.AreEqual(Verdict.ExactMatch, s.Verdict);
        Assert.IsTrue(s.EndedTurn);
        Assert.IsTrue(s.StoppedAfterCall);
    }

    [TestMethod]
    public void EmissionPrompts()
    {
        var e = Emission("e1", "Save the config", "write_file");
        Assert.AreEqual(Verdict.ExactMatch, Score(e, Call("write_file", """{"path": "a.yaml", "content": "x: 1"}""")).Verdict);
        Assert.AreEqual(Verdict.WrongName, Score(e, Call("search", """{"query": "config"}""")).Verdict);
        Assert.AreEqual(Verdict.CallEmitted, Score(Emission("e2", "Do it"), Call("search", """{"query": "q"}""")).Verdict);
        Assert.AreEqual(Verdict.CodeDump, Score(e, "```python\nwrite_file('a.yaml', 'x: 1')\n```").Verdict);
    }

    [TestMethod]
    public void ParseBlockJsonShapes()
    {
        var ok = HermesToolCallParser.ParseBlock(0, 1, " \n{\"name\": \"f\", \"arguments\": null}\n ");
        Assert.IsNotNull(ok.Call, ok.Error);
        Assert.AreEqual("null", ok.Call.ArgumentsJson);
        var nan = HermesToolCallParser.ParseBlock(0, 1, "{\"name\": \"f\", \"arguments\": {\"x\": NaN}}");
        Assert.IsNotNull(nan.Call, "Python json.loads accepts NaN");
        Assert.AreEqual("{\"x\": NaN}", nan.Call.ArgumentsJson);
        var extra = HermesToolCallParser.ParseBlock(0, 1, "{\"name\": \"f\", \"arguments\": {}}\n{\"name\": \"g\", \"arguments\": {}}");
        Assert.IsNull(extra.Call);
        StringAssert.Contains(extra.Error, "Extra data");
        var uni = HermesToolCallParser.ParseBlock(0, 1, "{\"name\": \"f\", \"arguments\": {\"city\": \"Z\\u00fcrich\", \"emoji\": \"\\ud83d\\ude00\"}}");
        Assert.AreEqual("{\"city\": \"Zürich\", \"emoji\": \"😀\"}", uni.Call!.ArgumentsJson, "ensure_ascii=False");
    }
}
