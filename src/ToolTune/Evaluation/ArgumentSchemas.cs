using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace ToolTune.Evaluation;

/// <summary>
/// Checks a call's arguments against its tool's declared <c>parameters</c> JSON Schema (JsonSchema.Net, draft 2020-12):
/// required parameters present, types, enums and nested objects right, and no parameter the tool does not declare.
/// Tool schemas seldom say <c>additionalProperties: false</c>, yet an undeclared argument is a made-up parameter that
/// the tool's code rejects (BFCL's checker fails it too), so a schema that leaves it unsaid is checked as closed.
/// </summary>
public sealed class ArgumentSchemas
{
    private readonly Dictionary<string, JsonObject> _parameters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, JsonSchema?> _compiled = new(StringComparer.Ordinal);

    /// <param name="tools">The prompt's tools (<c>{"type": "function", "function": {...}}</c> or bare functions).</param>
    public ArgumentSchemas(JsonArray? tools)
    {
        foreach (var t in tools ?? [])
        {
            var f = t?["function"] ?? t;
            if (f?["name"] is JsonValue v && v.TryGetValue(out string? name) && f["parameters"] is JsonObject p)
                _parameters.TryAdd(name, p);
        }
    }

    /// <summary>
    /// Whether the call can be checked (its tool is declared with a usable schema and its arguments are an object),
    /// and if so the first violation, or null when the arguments conform.
    /// </summary>
    public (bool Checked, string? Error) Check(ParsedToolCall call)
    {
        if (call.Arguments is not JsonObject args || Schema(call.Name) is not { } schema) return (false, null);
        var parameters = _parameters[call.Name];
        if (!parameters.ContainsKey("additionalProperties") && !parameters.ContainsKey("patternProperties"))
        {
            var declared = parameters["properties"] as JsonObject;
            foreach (var (key, _) in args)
                if (declared is null || !declared.ContainsKey(key))
                    return (true, $"'{key}' is not a parameter of {call.Name}");
        }
        var result = schema.Evaluate(JsonSerializer.SerializeToElement(args), new Json.Schema.EvaluationOptions { OutputFormat = OutputFormat.List });
        if (result.IsValid) return (true, null);
        var first = (result.Details ?? []).Prepend(result).FirstOrDefault(d => d.Errors is { Count: > 0 });
        if (first is null) return (true, $"arguments of {call.Name} do not match its parameters schema");
        var (keyword, message) = first.Errors!.First();
        var at = first.InstanceLocation.ToString();
        return (true, $"{call.Name}{(at.Length > 0 ? " " + at : "")}: {message} ({keyword})");
    }

    private JsonSchema? Schema(string name)
    {
        if (_compiled.TryGetValue(name, out var s)) return s;
        if (!_parameters.TryGetValue(name, out var p)) return null;
        try { s = JsonSchema.FromText(p.ToJsonString()); }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException or JsonSchemaException)
        {
            s = null; // a schema JsonSchema.Net cannot read is left unchecked rather than counted against the model
        }
        _compiled[name] = s;
        return s;
    }
}
