using System.Text.Json;
using System.Text.Json.Nodes;

namespace ToolTune.Data;

/// <summary>
/// JsonNode defers two checks until a value is read: duplicate property names (ArgumentException when an object
/// materialises) and unpaired surrogate escapes like <c>"\ud800"</c> (InvalidOperationException when the string is
/// read). Touching every node once right after parsing turns both into a reported bad record instead of a crash
/// somewhere in conversion, rendering or shard writing.
/// </summary>
public static class JsonNodeChecks
{
    public enum Problem { None, DuplicateKey, UnpairedSurrogate }

    /// <summary>The first deferred problem in <paramref name="node"/>, with the runtime's message.</summary>
    public static (Problem Problem, string Message) Find(JsonNode? node)
    {
        try
        {
            TouchAll(node);
            return (Problem.None, "");
        }
        catch (ArgumentException ex)
        {
            return (Problem.DuplicateKey, $"duplicate property name ({ex.Message})");
        }
        catch (InvalidOperationException ex)
        {
            return (Problem.UnpairedSurrogate, $"a string holds an unpaired UTF-16 surrogate escape (\\uD800-\\uDFFF): {ex.Message}");
        }
    }

    /// <summary>True for an exception System.Text.Json throws when a parsed string or number cannot become the .NET
    /// value asked for (invalid UTF-8, unpaired surrogate escape, number out of range): bad input, not a bug.</summary>
    public static bool IsDeferredJsonError(Exception ex) =>
        ex is InvalidOperationException or FormatException && ex.TargetSite?.DeclaringType?.Assembly == typeof(JsonElement).Assembly;

    public static bool HasUnpairedSurrogate(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) i++;
            else if (char.IsSurrogate(s[i])) return true;
        }
        return false;
    }

    private static void TouchAll(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var kv in o)
                {
                    if (HasUnpairedSurrogate(kv.Key)) throw new InvalidOperationException($"property name '{kv.Key}' holds an unpaired surrogate");
                    TouchAll(kv.Value);
                }
                break;
            case JsonArray a:
                foreach (var item in a) TouchAll(item);
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                // Strings built by the Python-literal parser can hold a lone surrogate; JSON writers reject it later.
                if (HasUnpairedSurrogate(v.GetValue<string>())) throw new InvalidOperationException("a string holds an unpaired surrogate");
                break;
        }
    }
}
