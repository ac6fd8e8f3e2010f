using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ToolTune.Python;

namespace ToolTune.Evaluation;

/// <summary>The calls a code dump makes, or why they could not be read.</summary>
/// <param name="Calls">The calls in order (arguments always a JSON object); empty when <see cref="Error"/> is set.</param>
/// <param name="Error">Why the code does not parse into calls (a variable as argument, a syntax error, …).</param>
public sealed record CodeCalls(IReadOnlyList<ParsedToolCall> Calls, string? Error)
{
    public bool Parsed => Error is null && Calls.Count > 0;
}

/// <summary>
/// Reads the calls out of the Python a base model writes instead of a tool call, so they can be compared with the gold
/// calls and with the tuned model's <c>&lt;tool_call&gt;</c> calls:
/// <c>name(a=1, b='x')</c>, positional arguments (mapped to the tool's <c>parameters.properties</c> order),
/// <c>name(**{"a": 1})</c> (a dict literal, JSON's <c>true/false/null</c> accepted), several calls
/// (<c>result_1 = a(…)</c>, <c>result_2 = b(…)</c>), a module prefix (<c>tools.a(…)</c>); imports, <c>print</c> and
/// definitions (<c>def a(…)</c>) are not calls. Values are literals only (<see cref="PyLiteral"/>): any call whose
/// arguments are not literal makes the whole dump unparsed, never an exception.
/// </summary>
public static partial class CodeDumpCalls
{
    /// <summary>The calls in the code of the kind <paramref name="dump"/> was found in (fenced, inline, …).</summary>
    /// <param name="tools">The prompt's <c>tools</c> (OpenAI function specs), for declared names and parameter order.</param>
    public static CodeCalls Parse(string text, CodeDump dump, JsonArray? tools) =>
        ParseBodies(CodeDumpDetector.Bodies(text, dump.Where), tools, statementsOnly: dump.Where == "statement");

    /// <summary>The calls in one piece of code (a fenced block's body, or bare code).</summary>
    public static CodeCalls ParseCode(string code, JsonArray? tools) => ParseBodies([code], tools, statementsOnly: false);

    private static CodeCalls ParseBodies(IEnumerable<string> bodies, JsonArray? tools, bool statementsOnly)
    {
        var specs = Specs(tools);
        if (specs.Count == 0) return new CodeCalls([], "no tools declared");
        var pattern = CodeDumpDetector.CallPattern(specs.Keys);
        var calls = new List<ParsedToolCall>();
        foreach (var code in bodies)
        {
            var pos = 0;
            while (pattern.Match(code, pos) is { Success: true } m)
            {
                pos = m.Index + m.Length;
                var lineStart = code.LastIndexOf('\n', Math.Max(0, m.Index - 1)) + 1;
                if (m.Index == 0) lineStart = 0;
                var prefix = code[lineStart..m.Index];
                // A definition, a comment or (outside code blocks) prose is not a call.
                if (DefPrefix().IsMatch(prefix) || prefix.Contains('#') || (statementsOnly && !CodeDumpDetector.IsStatementStart(prefix))) continue;
                var name = m.Groups[1].Value;
                if (!TryArguments(code, ref pos, specs[name], out var args, out var error))
                    return new CodeCalls([], $"{name}(…): {error}");
                calls.Add(new ParsedToolCall(name, args, PythonJson.Dumps(args)));
            }
        }
        return calls.Count == 0 ? new CodeCalls([], "no call of a declared tool") : new CodeCalls(calls, null);
    }

    /// <summary>Declared tool names → parameter names in schema order (empty when the schema has no <c>properties</c>).</summary>
    private static Dictionary<string, IReadOnlyList<string>> Specs(JsonArray? tools)
    {
        var specs = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var t in tools ?? [])
        {
            var f = t?["function"] ?? t;
            if (f?["name"] is not JsonValue v || !v.TryGetValue(out string? name) || name.Length == 0) continue;
            specs.TryAdd(name, f["parameters"]?["properties"] is JsonObject props ? props.Select(kv => kv.Key).ToList() : []);
        }
        return specs;
    }

    /// <summary>Reads <c>arg, key=value, **{…})</c> from just after the opening parenthesis; <paramref name="pos"/> ends after <c>)</c>.</summary>
    private static bool TryArguments(string s, ref int pos, IReadOnlyList<string> parameters, out JsonObject args, out string error)
    {
        args = [];
        var positional = 0;
        var sawKeyword = false;
        while (true)
        {
            Skip(s, ref pos);
            if (pos >= s.Length) { error = "unclosed argument list"; return false; }
            if (s[pos] == ')') { pos++; error = ""; return true; }
            if (string.CompareOrdinal(s, pos, "**", 0, 2) == 0)
            {
                if (!PyLiteral.TryParsePrefix(s, pos + 2, out var node, out pos, out error)) return false;
                if (node is not JsonObject dict) { error = "** needs a dict literal"; return false; }
                foreach (var (k, v) in dict)
                    if (!Add(args, k, v, out error)) return false;
                sawKeyword = true;
            }
            else if (Keyword().Match(s, pos) is { Success: true } kw && kw.Index == pos)
            {
                if (!PyLiteral.TryParsePrefix(s, pos + kw.Length, out var node, out pos, out error)) return false;
                if (!Add(args, kw.Groups[1].Value, node, out error)) return false;
                sawKeyword = true;
            }
            else
            {
                if (sawKeyword) { error = "positional argument after a keyword argument"; return false; }
                if (positional >= parameters.Count)
                {
                    error = parameters.Count == 0 ? "positional argument, but the tool declares no parameter order" : $"more than {parameters.Count} positional argument(s)";
                    return false;
                }
                if (!PyLiteral.TryParsePrefix(s, pos, out var node, out pos, out error)) return false;
                if (!Add(args, parameters[positional++], node, out error)) return false;
            }
            Skip(s, ref pos);
            if (pos < s.Length && s[pos] == ',') { pos++; continue; }
            if (pos < s.Length && s[pos] == ')') { pos++; error = ""; return true; }
            error = pos < s.Length ? $"unexpected '{s[pos]}' in the arguments" : "unclosed argument list";
            return false;
        }
    }

    private static bool Add(JsonObject args, string key, JsonNode? value, out string error)
    {
        error = args.ContainsKey(key) ? $"argument '{key}' given twice" : "";
        if (error.Length > 0) return false;
        args[key] = value?.DeepClone();
        return true;
    }

    /// <summary>Skips whitespace, newlines and <c>#</c> comments.</summary>
    private static void Skip(string s, ref int pos)
    {
        while (pos < s.Length)
        {
            if (char.IsWhiteSpace(s[pos])) pos++;
            else if (s[pos] == '#') { while (pos < s.Length && s[pos] != '\n') pos++; }
            else return;
        }
    }

    // key= (not key==).
    [GeneratedRegex(@"([A-Za-z_]\w*)\s*=(?!=)", RegexOptions.CultureInvariant)]
    private static partial Regex Keyword();

    [GeneratedRegex(@"\bdef\s+(?:[A-Za-z_]\w*\.)?$", RegexOptions.CultureInvariant)]
    private static partial Regex DefPrefix();
}
