using System.Diagnostics;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Text.Templates;

namespace ToolTune.Tests.Text.Templates;

[TestClass]
public sealed class TemplateErrorTests
{
    private static ToolTuneException ParseError(string source) =>
        Assert.ThrowsExactly<ToolTuneException>(() => ChatTemplate.Parse(source, "bad.jinja"));

    private static ToolTuneException RenderError(string source, string context = "{}", RenderOptions? options = null) =>
        Assert.ThrowsExactly<ToolTuneException>(() =>
            ChatTemplate.Parse(source, "bad.jinja").Render(JsonNode.Parse(context)!.AsObject(), options));

    private static void AssertAt(ToolTuneException e, string code, int line, int col)
    {
        Assert.AreEqual(code, e.Code, e.ToString());
        Assert.AreEqual("bad.jinja", e.File);
        Assert.AreEqual(line, e.Line, e.ToString());
        Assert.AreEqual(col, e.Column, e.ToString());
    }

    [TestMethod]
    public void UnclosedBlock_ReportsTheOpeningTag()
    {
        var e = ParseError("line one\n  {% for m in messages %}\n{{ m }}\n");
        AssertAt(e, ErrorCodes.TemplateSyntax, 2, 6);
        StringAssert.Contains(e.Message, "'endfor'");
        StringAssert.Contains(e.ToString(), "bad.jinja(2,6): error TT1201:");
    }

    [TestMethod]
    public void UnknownTag_IsLocated()
    {
        var e = ParseError("ok\n\n   {% frobnicate x %}");
        AssertAt(e, ErrorCodes.TemplateSyntax, 3, 7);
        StringAssert.Contains(e.Message, "unknown tag 'frobnicate'");
    }

    [TestMethod]
    public void MismatchedEndTag_NamesTheInnermostBlock()
    {
        var e = ParseError("{% if x %}\n{% endfor %}");
        AssertAt(e, ErrorCodes.TemplateSyntax, 2, 4);
        StringAssert.Contains(e.Message, "'endif'");
    }

    [TestMethod]
    [DataRow("{{ 1 + }}", 1, 8)]
    [DataRow("a\n{{ messages[0 }}", 2, 15)]
    [DataRow("{% set = 1 %}", 1, 8)]
    [DataRow("{{ 'unterminated }}", 1, 4)]
    [DataRow("{{ x ) }}", 1, 6)]
    [DataRow("{# never closed", 1, 1)]
    public void BadExpression_IsLocated(string source, int line, int col) =>
        AssertAt(ParseError(source), ErrorCodes.TemplateSyntax, line, col);

    [TestMethod]
    public void UnknownFilterOrTest_FailsAtParseTimeEvenInDeadCode()
    {
        var e = ParseError("{% if false %}\n  {{ x | no_such_filter }}\n{% endif %}");
        AssertAt(e, ErrorCodes.TemplateUndefinedFilterOrTest, 2, 10);
        StringAssert.Contains(e.Message, "No filter named 'no_such_filter'");
        var t = ParseError("{{ x is no_such_test }}");
        AssertAt(t, ErrorCodes.TemplateUndefinedFilterOrTest, 1, 9);
    }

    [TestMethod]
    public void RaiseException_IsTT1203WithTheMessage()
    {
        var e = RenderError("{% if messages | length == 0 %}\n{{ raise_exception('Conversation roles must alternate!') }}\n{% endif %}", """{"messages": []}""");
        AssertAt(e, ErrorCodes.TemplateRaisedException, 2, 19);
        Assert.AreEqual("Conversation roles must alternate!", e.Message);
    }

    [TestMethod]
    public void RuntimeErrors_AreTT1202AtTheFailingExpression()
    {
        AssertAt(RenderError("ok\n{{ missing.attr }}"), ErrorCodes.TemplateRuntime, 2, 11);
        AssertAt(RenderError("{{ 'a' + 1 }}"), ErrorCodes.TemplateRuntime, 1, 8);
        AssertAt(RenderError("{{ 1 < 'a' }}"), ErrorCodes.TemplateRuntime, 1, 4);
        AssertAt(RenderError("{% for x in 5 %}{% endfor %}"), ErrorCodes.TemplateRuntime, 1, 13);
        AssertAt(RenderError("{% set x = 1 %}{% set x.y = 2 %}"), ErrorCodes.TemplateRuntime, 1, 23);
        AssertAt(RenderError("{{ undefined_thing | tojson }}"), ErrorCodes.TemplateRuntime, 1, 22);
    }

    [TestMethod]
    public void ImmutableSandbox_ForbidsMutatingMethods()
    {
        var e = RenderError("{% set l = [1] %}{{ l.append(2) }}");
        Assert.AreEqual(ErrorCodes.TemplateRuntime, e.Code);
        StringAssert.Contains(e.Message, "access to attribute 'append' of 'list' object is unsafe");
        StringAssert.Contains(RenderError("{% set d = {} %}{{ d.update({'a': 1}) }}").Message, "unsafe");
        StringAssert.Contains(RenderError("{{ ''.__class__() }}").Message, "unsafe");
    }

    [TestMethod]
    [Timeout(10000, CooperativeCancellation = true)]
    public void InfiniteRecursion_IsStoppedByTheDepthLimit()
    {
        var sw = Stopwatch.StartNew();
        var e = RenderError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}\n{{ f(0) }}");
        Assert.AreEqual(ErrorCodes.TemplateLimitExceeded, e.Code, e.ToString());
        StringAssert.Contains(e.Message, "recursion");
        Assert.IsLessThan(5000L, sw.ElapsedMilliseconds);
        var deep = RenderError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", options: new RenderOptions { MaxRecursionDepth = 3000 });
        Assert.AreEqual(ErrorCodes.TemplateLimitExceeded, deep.Code, deep.ToString());
    }

    [TestMethod]
    [Timeout(10000, CooperativeCancellation = true)]
    public void HugeRangesAndLoops_AreStoppedByLimits()
    {
        var e = RenderError("{% for i in range(10**9) %}{{ i }}{% endfor %}");
        AssertAt(e, ErrorCodes.TemplateLimitExceeded, 1, 18);
        StringAssert.Contains(e.Message, "Range too big");
        var nested = RenderError("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
        Assert.AreEqual(ErrorCodes.TemplateLimitExceeded, nested.Code);
        StringAssert.Contains(nested.Message, "Loop iterations");
        var small = RenderError("{% for i in range(50) %}{% endfor %}", options: new RenderOptions { MaxLoopIterations = 10 });
        Assert.AreEqual(ErrorCodes.TemplateLimitExceeded, small.Code);
    }

    [TestMethod]
    [Timeout(10000, CooperativeCancellation = true)]
    public void HugeOutput_IsStoppedByTheOutputLimit()
    {
        var direct = RenderError("{{ 'x' * 10**9 }}");
        AssertAt(direct, ErrorCodes.TemplateLimitExceeded, 1, 8);
        var doubling = RenderError("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}");
        Assert.AreEqual(ErrorCodes.TemplateLimitExceeded, doubling.Code);
        var loop = RenderError("text\n{% for i in range(100000) %}{{ 'abcdefghij' * 100 }}{% endfor %}");
        AssertAt(loop, ErrorCodes.TemplateLimitExceeded, 2, 29);
        var opt = new RenderOptions { MaxOutputChars = 10 };
        Assert.AreEqual(ErrorCodes.TemplateLimitExceeded, RenderError("{{ '12345678901' }}", options: opt).Code);
    }

    [TestMethod]
    [Timeout(20000, CooperativeCancellation = true)]
    public void HermesTemplate_WithArrayParameters_RecursesUntilTheLimit()
    {
        // Python Jinja2 raises RecursionError here: json_to_python_type recurses on the members of a type list forever.
        var path = SharedFixtures.RequireShared("parity", "chat-templates", "NousResearch_Hermes-2-Pro-Llama-3-8B__JSON_Schema_.jinja");
        var ctx = JsonNode.Parse("""
            {"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": true,
             "tools": [{"type": "function", "function": {"name": "f", "description": "d",
               "parameters": {"type": "object", "properties": {"region": {"type": ["string", "null"]}}}}}]}
            """)!.AsObject();
        var e = Assert.ThrowsExactly<ToolTuneException>(() => ChatTemplate.Load(path).Render(ctx));
        Assert.AreEqual(ErrorCodes.TemplateLimitExceeded, e.Code, e.ToString());
        Assert.IsGreaterThan(0, e.Line);
    }

    [TestMethod]
    public void DuplicateContextKeys_AreTT1206()
    {
        var ctx = System.Text.Json.Nodes.JsonNode.Parse("{\"messages\": [{\"role\": \"user\", \"role\": \"x\"}]}")!.AsObject();
        var e = Assert.ThrowsExactly<ToolTuneException>(() => ChatTemplate.Parse("{{ messages }}", "bad.jinja").Render(ctx));
        Assert.AreEqual(ErrorCodes.TemplateContextInvalid, e.Code);
    }

    [TestMethod]
    public void TokenizerConfig_WithoutChatTemplate_IsTT1200()
    {
        var dir = Directory.CreateTempSubdirectory("tt-tpl-");
        try
        {
            var cfg = Path.Combine(dir.FullName, "tokenizer_config.json");
            File.WriteAllText(cfg, """{"bos_token": "<s>", "model_max_length": 2048}""");
            var e = Assert.ThrowsExactly<ToolTuneException>(() => ChatTemplate.Load(cfg));
            Assert.AreEqual(ErrorCodes.TemplateNotFound, e.Code);
            Assert.AreEqual(cfg, e.File);
            Assert.AreEqual(ErrorCodes.TemplateNotFound, Assert.ThrowsExactly<ToolTuneException>(() => ChatTemplate.Load(dir.FullName)).Code);
            Assert.AreEqual(ErrorCodes.TemplateNotFound, Assert.ThrowsExactly<ToolTuneException>(() => ChatTemplate.Load(Path.Combine(dir.FullName, "nope.jinja"))).Code);
        }
        finally { dir.Delete(true); }
    }

    [TestMethod]
    public void Load_TokenizerConfigVariantsAndModelDirectory()
    {
        var dir = Directory.CreateTempSubdirectory("tt-tpl-");
        try
        {
            var cfg = Path.Combine(dir.FullName, "tokenizer_config.json");
            File.WriteAllText(cfg, """{"chat_template": [{"name": "default", "template": "D{{ x }}"}, {"name": "tool_use", "template": "T{{ x }}"}]}""");
            var ctx = new JsonObject { ["x"] = 1 };
            Assert.AreEqual("D1", ChatTemplate.Load(cfg).Render(ctx).Text);
            Assert.AreEqual("T1", ChatTemplate.Load(cfg, "tool_use").Render(ctx).Text);
            Assert.AreEqual(ErrorCodes.TemplateNotFound, Assert.ThrowsExactly<ToolTuneException>(() => ChatTemplate.Load(cfg, "rag")).Code);
            Assert.AreEqual("D1", ChatTemplate.Load(dir.FullName).Render(ctx).Text);
            File.WriteAllText(Path.Combine(dir.FullName, "chat_template.jinja"), "J{{ x }}\n");
            Assert.AreEqual("J1", ChatTemplate.Load(dir.FullName).Render(ctx).Text, "chat_template.jinja wins, one trailing newline dropped");
            File.WriteAllText(cfg, """{"chat_template": "S{{ x }}"}""");
            Assert.AreEqual("S1", ChatTemplate.Load(cfg).Render(ctx).Text);
        }
        finally { dir.Delete(true); }
    }
}

[TestClass]
public sealed class TemplateNestingTests
{
    [TestMethod]
    [DataRow("{{ OPEN1CLOSE }}", "(", ")", 5000)]
    [DataRow("{{ OPEN1 }}", "-", "", 5000)]
    [DataRow("{{ OPEN1 }}", "not ", "", 50000)]
    [DataRow("OPENxCLOSE", "{% if true %}", "{% endif %}", 3000)]
    public void DeepParseNesting_IsASyntaxErrorNotACrash(string shape, string open, string close, int n)
    {
        var src = shape.Replace("OPEN", string.Concat(Enumerable.Repeat(open, n))).Replace("CLOSE", string.Concat(Enumerable.Repeat(close, n)));
        var e = Assert.ThrowsExactly<ToolTune.Diagnostics.ToolTuneException>(() => ChatTemplate.Parse(src, "deep.jinja"));
        Assert.AreEqual(ToolTune.Diagnostics.ErrorCodes.TemplateSyntax, e.Code);
        StringAssert.Contains(e.Message, "nesting");
    }

    [TestMethod]
    [DataRow(" + 1")]
    [DataRow(" * 1")]
    [DataRow("|string")]
    [DataRow(" and 1")]
    [DataRow(".x")]
    public void LongOperatorChains_AreRejectedBeforeTheyCanExhaustTheStack(string link)
    {
        // 1 + 1 + ... builds a left-deep tree; each link counts as one nesting level.
        var src = "{{ 1" + string.Concat(Enumerable.Repeat(link, 300000)) + " }}";
        var e = Assert.ThrowsExactly<ToolTune.Diagnostics.ToolTuneException>(() => ChatTemplate.Parse(src));
        Assert.AreEqual(ToolTune.Diagnostics.ErrorCodes.TemplateSyntax, e.Code);
        ChatTemplate.Parse("{{ 1" + string.Concat(Enumerable.Repeat(link, 300)) + " }}"); // moderate chains are fine
    }

}
