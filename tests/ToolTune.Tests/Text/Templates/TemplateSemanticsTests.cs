using System.Text.Json.Nodes;
using ToolTune.Text.Templates;

namespace ToolTune.Tests.Text.Templates;

/// <summary>
/// Tricky Python/Jinja2 semantics. Every expected string below was produced by Python Jinja2 in transformers'
/// configuration (../shared/parity/render_chat_template.py) on the same template and <see cref="Context"/>.
/// </summary>
[TestClass]
public sealed class TemplateSemanticsTests
{
    internal const string Context = "{\"d\": {\"q\": \"it's\", \"n\": [1, 2.0, null, true], \"s\": \"say \\\"hi\\\"\", \"both\": \"a'b\\\"c\", \"nested\": {\"k\": [{\"x\": \"y\"}]}}, \"msgs\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\", \"tool_calls\": []}], \"f\": 0.1, \"big\": 100000000000000000000, \"astral\": \"a😀b\"}";

    private static string Render(string template, string contextJson = Context) =>
        ChatTemplate.Parse(template, "unit").Render(JsonNode.Parse(contextJson)!.AsObject(), TemplateParityTests.Pinned).Text;

    [TestMethod]
    [DataRow("{{ d }}", "{'q': \"it's\", 'n': [1, 2.0, None, True], 's': 'say \"hi\"', 'both': 'a\\'b\"c', 'nested': {'k': [{'x': 'y'}]}}", DisplayName = "repr nested dict with quotes")]
    [DataRow("{{ d.n }}|{{ d.q }}|{{ [d.q] }}|{{ [d.s] }}|{{ [d.both] }}", "[1, 2.0, None, True]|it's|[\"it's\"]|['say \"hi\"']|['a\\'b\"c']", DisplayName = "repr strings")]
    [DataRow("{{ d | string }}", "{'q': \"it's\", 'n': [1, 2.0, None, True], 's': 'say \"hi\"', 'both': 'a\\'b\"c', 'nested': {'k': [{'x': 'y'}]}}", DisplayName = "string filter repr")]
    [DataRow("{{ ['\\n\\t\\\\', '\\x01', 'é', '\\u00a0'] }}", "['\\n\\t\\\\', '\\x01', 'é', '\\xa0']", DisplayName = "repr escapes")]
    [DataRow("{{ (1,) }} {{ () }} {{ (1, 'a') }} {{ {'a': (1, 2)} }}", "(1,) () (1, 'a') {'a': (1, 2)}", DisplayName = "tuple repr")]
    [DataRow("{{ 1.0 }} {{ 0.1 }} {{ f * 3 }} {{ 1e16 }} {{ 1e15 }} {{ 1e-4 }} {{ 1e-5 }} {{ 1.5e300 }} {{ -0.0 }} {{ 10 / 4 }} {{ 2 ** 0.5 }} {{ big }} {{ big * 10 }} {{ 2 ** 70 }} {{ 100000000000000000000.0 }}", "1.0 0.1 0.30000000000000004 1e+16 1000000000000000.0 0.0001 1e-05 1.5e+300 -0.0 2.5 1.4142135623730951 100000000000000000000 1000000000000000000000 1180591620717411303424 1e+20", DisplayName = "float formatting")]
    [DataRow("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7.5 // 2 }} {{ 2 ** 3 }} {{ 2 ** -1 }} {{ 3 / 1 }} {{ true + 1 }}", "3 -4 1 2 3.0 8 0.5 3.0 2", DisplayName = "arithmetic")]
    [DataRow("{{ d | tojson }}", "{\"q\": \"it's\", \"n\": [1, 2.0, null, true], \"s\": \"say \\\"hi\\\"\", \"both\": \"a'b\\\"c\", \"nested\": {\"k\": [{\"x\": \"y\"}]}}", DisplayName = "tojson default")]
    [DataRow("{{ d | tojson(indent=2) }}", "{\n  \"q\": \"it's\",\n  \"n\": [\n    1,\n    2.0,\n    null,\n    true\n  ],\n  \"s\": \"say \\\"hi\\\"\",\n  \"both\": \"a'b\\\"c\",\n  \"nested\": {\n    \"k\": [\n      {\n        \"x\": \"y\"\n      }\n    ]\n  }\n}", DisplayName = "tojson indent")]
    [DataRow("{{ d | tojson(indent=2, sort_keys=true) }}", "{\n  \"both\": \"a'b\\\"c\",\n  \"n\": [\n    1,\n    2.0,\n    null,\n    true\n  ],\n  \"nested\": {\n    \"k\": [\n      {\n        \"x\": \"y\"\n      }\n    ]\n  },\n  \"q\": \"it's\",\n  \"s\": \"say \\\"hi\\\"\"\n}", DisplayName = "tojson sort")]
    [DataRow("{{ d | tojson(separators=(',', ':')) }}", "{\"q\":\"it's\",\"n\":[1,2.0,null,true],\"s\":\"say \\\"hi\\\"\",\"both\":\"a'b\\\"c\",\"nested\":{\"k\":[{\"x\":\"y\"}]}}", DisplayName = "tojson separators")]
    [DataRow("{{ astral | tojson }} {{ astral | tojson(ensure_ascii=true) }} {{ 'é<>&\\'' | tojson }}", "\"a😀b\" \"a\\ud83d\\ude00b\" \"é<>&'\"", DisplayName = "tojson unicode")]
    [DataRow("{{ [1.0, 1e-05, 1e16, none, true] | tojson }} {{ {} | tojson(indent=4) }} {{ [] | tojson(indent=4) }}", "[1.0, 1e-05, 1e+16, null, true] {} []", DisplayName = "tojson values")]
    [DataRow("[{{ nope }}][{{ nope | default('x') }}][{{ nope is defined }}][{{ nope or 'd' }}][{{ 'a' in nope }}][{{ nope | length }}][{% for x in nope %}x{% endfor %}][{{ none.y }}][{{ d.missing is defined }}][{{ nope == nope }}]", "[][x][False][d][False][0][][][False][True]", DisplayName = "undefined")]
    [DataRow("{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.cycle('x', 'y') }}{{ loop.previtem }}{{ loop.nextitem }};{% endfor %}", "10TrueFalse332xb;21FalseFalse321yac;32FalseTrue310xb;", DisplayName = "loop vars")]
    [DataRow("{% for x in [1,2,3,4,5] if x is odd %}{{ loop.index }}/{{ loop.length }}:{{ x }} {% else %}none{% endfor %}", "1/3:1 2/3:3 3/3:5 ", DisplayName = "loop filter")]
    [DataRow("{% for x in range(10) %}{% if x == 1 %}{% continue %}{% elif x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", "023", DisplayName = "break continue")]
    [DataRow("{% set ns = namespace(a=1, l=[]) %}{% for i in range(3) %}{% set ns.a = ns.a * 2 %}{% set ns.l = ns.l + [i] %}{% set local = i %}{% endfor %}{{ ns.a }} {{ ns.l }} [{{ local }}]", "8 [0, 1, 2] []", DisplayName = "namespace")]
    [DataRow("{% macro m(a, b=2) %}{{ a }}-{{ b }}-{{ caller() if caller is defined else '' }}{% endmacro %}{{ m(1) }}|{{ m(1, b=3) }}|{% call m('c') %}inside{% endcall %}", "1-2-|1-3-|c-2-inside", DisplayName = "macro caller")]
    [DataRow("{% macro r(n) %}{% if n > 0 %}{{ n }}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(5) }}", "54321", DisplayName = "recursive macro")]
    [DataRow("{{ [1,2,3,4,5][::-1] }} {{ [1,2,3,4,5][::-2] }} {{ [1,2,3,4,5][3:0:-1] }} {{ 'hello'[-3:] }} {{ 'hello'[:-1] }} {{ 'hello'[1:4:2] }} {{ astral[::-1] }} {{ astral[1] }} {{ astral | length }} {{ [1,2,3][-1] }}", "[5, 4, 3, 2, 1] [5, 3, 1] [4, 3, 2] llo hell el b😀a 😀 3 3", DisplayName = "slicing")]
    [DataRow("{{ '\\n\\nx\\n'.lstrip('\\n') }}|{{ 'xyhixy'.strip('xy') }}|{{ '  a  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a b  c '.split() }}|{{ 'a-b-c'.split('-', 1) }}|{{ 'a-b-c'.rsplit('-', 1) }}|{{ 'abc'.startswith(('x', 'a')) }}|{{ 'abc'.endswith('bc') }}|{{ 'aXbXc'.replace('X', '-', 1) }}|{{ ','.join(['a', 'b']) }}|{{ 'hello'.find('l') }}|{{ 'hello'.rfind('l') }}|{{ 'hello'.count('l') }}|{{ 'a\\nb\\n'.splitlines() }}|{{ 'hi there'.title() }}|{{ 'hI'.capitalize() }}|{{ '{}-{x}'.format(1, x=2) }}", "x\n|hi|  a|['a', 'b', '', 'c']|['a', 'b', 'c']|['a', 'b-c']|['a-b', 'c']|True|True|a-bXc|a,b|2|3|2|['a', 'b']|Hi There|Hi|1-2", DisplayName = "string methods")]
    [DataRow("{{ 'ell' in 'hello' }} {{ 'q' in d }} {{ 'zz' in d }} {{ 2 in [1, 2] }} {{ 2.0 in [1, 2] }} {{ 'x' not in ['x'] }} {{ (1, 2) in [(1, 2)] }} {{ 'tool_calls' in msgs[1] }}", "True True False True True False True True", DisplayName = "in operator")]
    [DataRow("{% for k, v in d | items %}{{ k }};{% endfor %} {% for k, v in {'b': 2, 'a': 1, 'C': 3} | dictsort %}{{ k }}={{ v }} {% endfor %}{{ {'b': 2, 'a': 1} | dictsort(by='value', reverse=true) }}", "q;n;s;both;nested; a=1 b=2 C=3 [('b', 2), ('a', 1)]", DisplayName = "items dictsort")]
    [DataRow("{{ '%s|%r|%d|%5.2f|%-4s|%04d|%x|%%' % ('a', 'b', 3, 3.14159, 'z', 42, 255) }} {{ '%(k)s' % {'k': 'v'} }} {{ '%s' % 'solo' }} {{ '%.1e' % 12345.678 }} {{ '%g' % 0.00001 }} {{ '%g' % 123456789.0 }}", "a|'b'|3| 3.14|z   |0042|ff|% v solo 1.2e+04 1e-05 1.23457e+08", DisplayName = "percent formatting")]
    [DataRow("{{ ['b', 'a', 'B'] | sort }} {{ ['b', 'a', 'B'] | unique | list }} {{ [1, 2, 3] | reverse | list }} {{ 'abc' | reverse }} {{ [1,2,3,4,5] | batch(2) | list }} {{ 'a b c' | wordcount }} {{ 'x' | center(5) }}| {{ '<&>' | escape }} {{ msgs | map(attribute='role') | join(',') }} {{ msgs | selectattr('role', 'eq', 'user') | list | length }} {{ [1, -2] | map('abs') | list }} {{ 3.7 | int }} {{ '12' | int }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.567 | round(2) }} {{ 'x' | float }} {{ 'a\\nb' | indent(2, true) }}", "['a', 'b', 'B'] ['b', 'a'] [3, 2, 1] cba [[1, 2], [3, 4], [5]] 3   x  | &lt;&amp;&gt; user,assistant 1 [1, 2] 3 12 2.0 4.0 2.57 0.0   a\n  b", DisplayName = "filters")]
    [DataRow("  {% if true %}\n    X\n  {% endif %}\nY", "    X\nY", DisplayName = "lstrip trim")]
    [DataRow("a  {%- if true -%}  b  {%- endif -%}  c {#- c -#} d {{- ' e ' -}} f", "abcd e f", DisplayName = "whitespace control")]
    [DataRow("{% raw %}{{ x }}{% endraw %}|{# comment #}|{% set x %}block {{ 1 }}{% endset %}{{ x }}", "{{ x }}||block 1", DisplayName = "raw comment set block")]
    [DataRow("{{ 'a' if false else 'b' }}{{ 'c' if true }}{{ 'd' if false }}|{{ 1 if 0 else 2 if 0 else 3 }}", "bc|3", DisplayName = "inline if")]
    [DataRow("{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ not 1 == 2 }} {{ 1 is not none }} {{ none is none }} {{ true is true }} {{ 'x' is string }} {{ 1 is number }} {{ d is mapping }} {{ d.n is sequence }} {{ 1.0 is integer }}", "True False True True True True True True True True False", DisplayName = "comparisons tests")]
    public void MatchesPythonJinja2(string template, string expected)
    {
        var actual = Render(template);
        Assert.AreEqual(expected, actual, TemplateParityTests.DiffMessage(expected, actual));
    }

    [TestMethod]
    public void JsonIntsAndFloatsArePreserved()
    {
        Assert.AreEqual("1 1.0 1.5 -0.0 12345678901234567890 [1, 1.0]", Render("{{ a }} {{ b }} {{ c }} {{ d }} {{ e }} {{ [a, b] }}",
            """{"a": 1, "b": 1.0, "c": 1.5, "d": -0.0, "e": 12345678901234567890}"""));
    }

    [TestMethod]
    public void ProgrammaticJsonValuesKeepTheirNumericKind()
    {
        var ctx = new JsonObject { ["a"] = 1.0, ["b"] = 2, ["c"] = 3L, ["d"] = 2.5f, ["e"] = 1.5m, ["f"] = true, ["g"] = "s", ["h"] = null };
        Assert.AreEqual("1.0 2 3 2.5 1.5 True s None", ChatTemplate.Parse("{{ a }} {{ b }} {{ c }} {{ d }} {{ e }} {{ f }} {{ g }} {{ h }}").Render(ctx).Text);
    }

    [TestMethod]
    public void ObjectKeyOrderIsPreserved()
    {
        Assert.AreEqual("{'z': 1, 'a': 2, 'm': 3} z,a,m", Render("{{ o }} {{ o | list | join(',') }}", """{"o": {"z": 1, "a": 2, "m": 3}}"""));
    }

    [TestMethod]
    public void DictionaryOverloadAcceptsClrValues()
    {
        var tpl = ChatTemplate.Parse("{{ messages[0].content }} {{ n }} {{ x }} {{ flag }} {{ none_value }}");
        var ctx = new Dictionary<string, object?>
        {
            ["messages"] = new List<object?> { new Dictionary<string, object?> { ["content"] = "hi" } },
            ["n"] = 3,
            ["x"] = 2.0,
            ["flag"] = true,
            ["none_value"] = null,
        };
        Assert.AreEqual("hi 3 2.0 True None", tpl.Render(ctx).Text);
    }

    [TestMethod]
    public void GenerationSpansAreUtf16Offsets()
    {
        var tpl = ChatTemplate.Parse("😀{% generation %}a😀b{% endgeneration %}c{% generation %}{% endgeneration %}");
        var r = tpl.Render(new JsonObject());
        Assert.AreEqual("😀a😀bc", r.Text);
        CollectionAssert.AreEqual(new[] { (2, 6), (7, 7) }, r.GenerationSpans.ToArray());
        Assert.IsTrue(tpl.HasGenerationTags);
        Assert.IsFalse(ChatTemplate.Parse("{{ x }}").HasGenerationTags);
    }

    [TestMethod]
    [DataRow("{% generation %}a{% endgeneration %}b{% generation %}c{% endgeneration %}", "abc", "(2, 3)")]
    [DataRow("{% generation %}{% endgeneration %}{% generation %}c{% endgeneration %}", "c", "(0, 1)")]
    [DataRow("{% if true %}{% generation %}a{% endgeneration %}{% endif %}", "a", "")]
    [DataRow("{% for i in [1,2] %}{% generation %}{{ i }}{% endgeneration %}{% endfor %}", "12", "(1, 2)")]
    [DataRow("x{% macro m() %}{% generation %}in{% endgeneration %}{% endmacro %}{{ m() }}{{ m() }}", "xinin", "(1, 3) (3, 5)")]
    [DataRow("{% set x %}{% generation %}cap{% endgeneration %}{% endset %}pre{{ x }}", "precap", "")]
    [DataRow("{{ '' }}{% generation %}a{% endgeneration %}", "a", "(0, 1)")]
    public void GenerationSpans_FollowTransformersAssistantTracker(string template, string text, string spans)
    {
        // Expected values from Python (render_chat_template.py): a span is only recorded once the top-level template
        // has yielded something or a span exists (AssistantTracker.is_active).
        var r = ChatTemplate.Parse(template).Render(new JsonObject());
        Assert.AreEqual(text, r.Text);
        Assert.AreEqual(spans, string.Join(" ", r.GenerationSpans));
    }

    [TestMethod]
    public void StrftimeNowUsesPinnedDate()
    {
        var tpl = ChatTemplate.Parse("{{ strftime_now('%d %B %Y|%d %b %Y|%Y-%m-%d|%A') }}");
        Assert.AreEqual("10 July 2025|10 Jul 2025|2025-07-10|Thursday", tpl.Render(new JsonObject(), TemplateParityTests.Pinned).Text);
        Assert.AreEqual(DateTime.Now.ToString("yyyy", System.Globalization.CultureInfo.InvariantCulture),
            ChatTemplate.Parse("{{ strftime_now('%Y') }}").Render(new JsonObject()).Text);
    }

    [TestMethod]
    public void ParsedTemplateIsReusableAcrossRendersAndThreads()
    {
        var tpl = ChatTemplate.Parse("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}");
        Parallel.For(0, 64, i =>
        {
            var msgs = new JsonArray(Enumerable.Range(0, i).Select(_ => (JsonNode)new JsonObject { ["role"] = "user" }).ToArray());
            Assert.AreEqual(i.ToString(System.Globalization.CultureInfo.InvariantCulture), tpl.Render(new JsonObject { ["messages"] = msgs }).Text);
        });
    }
}

/// <summary>
/// Differential matrices with the output or the error of Python Jinja2: ~6,500 expressions (values × filters, tests,
/// methods, slices, operators, % and str.format; tests/oracles/templates/expression_matrix.py) and 1,000 random
/// statement templates exercising whitespace control (tests/oracles/templates/statement_matrix.py).
/// </summary>
[TestClass]
public sealed class TemplateExpressionMatrixTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow("expression_matrix.json", 5000, DisplayName = "expressions: values x filters/tests/methods/operators")]
    [DataRow("string_matrix.json", 6000, DisplayName = "strings: methods and filters with random arguments on random Unicode strings")]
    [DataRow("feature_cases.json", 175, DisplayName = "features: macros, recursive loops, cycler, namespace, literals, rounding, sandbox")]
    [DataRow("statement_matrix.json", 900, DisplayName = "statements: random if/for/break/set/macro/raw with whitespace control")]
    public void EveryCaseMatchesPythonJinja2(string file, int minimum)
    {
        var root = JsonNode.Parse(File.ReadAllText(SharedFixtures.Fixture("template-expressions", file)))!.AsObject();
        var ctx = root["ctx"]!.AsObject();
        var failures = new List<string>();
        int total = 0;
        foreach (var c in root["cases"]!.AsArray())
        {
            total++;
            var t = c!["t"]!.GetValue<string>();
            string? got = null, err = null;
            RenderResult? result = null;
            try { result = ChatTemplate.Parse(t).Render(ctx, TemplateParityTests.Pinned); got = result.Text; }
            catch (ToolTune.Diagnostics.ToolTuneException e) { err = e.Code; }
            catch (Exception e) { failures.Add($"{t}: crashed with {e.GetType().Name}: {e.Message}"); continue; }
            if (c["ok"]!.GetValue<bool>())
            {
                var expected = c["text"]!.GetValue<string>();
                if (got != expected) failures.Add($"{t}: expected {expected} got {got ?? err}");
                else if (c["spans"] is JsonArray spans)
                {
                    // these matrices are ASCII-only, so Python's code-point spans equal UTF-16 spans
                    var want = string.Join(" ", spans.Select(x => $"({x![0]}, {x[1]})"));
                    var have = string.Join(" ", result!.GenerationSpans);
                    if (want != have) failures.Add($"{t}: spans {want} vs {have}");
                }
            }
            else if (err is null) failures.Add($"{t}: Python raised {c["err"]} but rendered {got}");
        }
        TestContext.WriteLine($"{total - failures.Count}/{total} cases of {file} agree with Python Jinja2");
        Assert.IsGreaterThanOrEqualTo(minimum, total);
        Assert.IsEmpty(failures, string.Join("\n", failures.Take(50)));
    }
}
