using System.Text.RegularExpressions;

namespace ToolTune.Evaluation;

/// <summary>Where a known tool is called inside code instead of a tool call.</summary>
/// <param name="ToolName">The tool called.</param>
/// <param name="Where"><c>fenced</c>, <c>inline</c>, <c>code-tag</c> or <c>statement</c>.</param>
/// <param name="Snippet">The line with the call.</param>
public sealed record CodeDump(string ToolName, string Where, string Snippet);

/// <summary>
/// Finds the "writes Python instead of calling the tool" failure: a call <c>name(</c> of a declared tool
/// inside a fenced block (<c>```python … ```</c>, also unclosed or <c>~~~</c>), an inline code span
/// (<c>`get_weather(city="Paris")`</c>), a <c>&lt;code&gt;</c> block (SmolLM3's python-tools format), or a line that
/// is itself a call statement (<c>print(get_weather(...))</c>, <c>result = get_weather(...)</c>, <c>get_weather(...)</c>).
/// Prose that merely mentions the name without a parenthesis is not a dump.
/// </summary>
public static partial class CodeDumpDetector
{
    public static CodeDump? Find(string text, IEnumerable<string> toolNames)
    {
        var names = toolNames.Where(n => n.Length > 0).Distinct().ToList();
        if (names.Count == 0 || text.Length == 0) return null;
        var call = CallPattern(names);

        foreach (var where in (string[])["fenced", "code-tag", "inline"])
            foreach (var body in Bodies(text, where))
                if (FindIn(body, call) is { } hit) return new CodeDump(hit.Name, where, hit.Line);
        foreach (var line in Bodies(text, "statement").Single().Split('\n'))
        {
            var s = StatementPrefix().Match(line);
            if (!s.Success) continue;
            var rest = line[s.Length..];
            var m = call.Match(rest);
            if (m.Success && m.Index == 0) return new CodeDump(m.Groups[1].Value, "statement", line.Trim());
        }
        return null;
    }

    /// <summary><c>name(</c> of one of <paramref name="names"/>, optionally behind a module (<c>tools.name(</c>); group 1 is the name.</summary>
    internal static Regex CallPattern(IReadOnlyCollection<string> names) =>
        new(@"(?<![\w.])(?:[A-Za-z_][\w]*\.)?(" + string.Join('|', names.OrderByDescending(n => n.Length).Select(Regex.Escape)) + @")\s*\(",
            RegexOptions.CultureInvariant);

    /// <summary>
    /// The code of the kind a dump was found in (<see cref="CodeDump.Where"/>): every fenced block, every
    /// <c>&lt;code&gt;</c> block, every inline span, or the text outside fences (statement lines).
    /// </summary>
    internal static IEnumerable<string> Bodies(string text, string where) => where switch
    {
        "fenced" => Fenced().Matches(text).Select(m => m.Groups["body"].Value),
        "code-tag" => CodeTag().Matches(text).Select(m => m.Groups["body"].Value),
        "inline" => Inline().Matches(Fenced().Replace(text, "")).Select(m => m.Groups["body"].Value),
        _ => [Fenced().Replace(text, "")],
    };

    /// <summary>True when the text from a line's start up to a call is a statement opening (<c>print(</c>, <c>x = </c>, …).</summary>
    internal static bool IsStatementStart(string linePrefix)
    {
        var m = StatementPrefix().Match(linePrefix);
        return m.Success && m.Length == linePrefix.Length;
    }

    private static (string Name, string Line)? FindIn(string code, Regex call)
    {
        var m = call.Match(code);
        if (!m.Success) return null;
        var start = code.LastIndexOf('\n', Math.Max(0, m.Index - 1)) + 1;
        var end = code.IndexOf('\n', m.Index);
        return (m.Groups[1].Value, code[start..(end < 0 ? code.Length : end)].Trim());
    }

    // ```lang\n ... ``` (or to the end when unclosed); ~~~ likewise.
    [GeneratedRegex(@"(?<fence>```|~~~)[^\n]*\n?(?<body>.*?)(?:\k<fence>|\z)", RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex Fenced();

    [GeneratedRegex(@"<code>(?<body>.*?)(?:</code>|\z)", RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex CodeTag();

    [GeneratedRegex(@"`(?<body>[^`\n]+)`", RegexOptions.CultureInvariant)]
    private static partial Regex Inline();

    // Optional print(, return, await, >>> or an assignment before the call at the start of a line.
    [GeneratedRegex(@"^\s*(?:>>>\s*)?(?:(?:print|return|await)\s*\(?\s*|[A-Za-z_]\w*\s*=\s*(?:await\s+)?)?", RegexOptions.CultureInvariant)]
    private static partial Regex StatementPrefix();
}
