using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;

namespace ToolTune.Text.Templates;

/// <summary>Limits and clock for one render.</summary>
public sealed record RenderOptions
{
    /// <summary>Date/time seen by <c>strftime_now</c>; null = the current local time (as transformers does).</summary>
    public DateTime? Now { get; init; }
    /// <summary>Maximum characters of output (and of any intermediate string).</summary>
    public int MaxOutputChars { get; init; } = 16 * 1024 * 1024;
    /// <summary>Maximum nesting of macro calls.</summary>
    public int MaxRecursionDepth { get; init; } = 500;
    /// <summary>Maximum total loop iterations of one render.</summary>
    public long MaxLoopIterations { get; init; } = 1_000_000;

    public static RenderOptions Default { get; } = new();
}

/// <summary>Rendered text and the <c>{% generation %}</c> spans as UTF-16 [Start, End) offsets into <see cref="Text"/>.</summary>
public sealed record RenderResult(string Text, IReadOnlyList<(int Start, int End)> GenerationSpans);

/// <summary>
/// A parsed Hugging Face chat template, rendered like transformers' <c>apply_chat_template</c>: Python Jinja2 in an
/// ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks, loopcontrols, <c>tojson</c>, <c>raise_exception</c>,
/// <c>strftime_now</c> and <c>{% generation %}</c> tracking. Parse once, render many times (thread-safe).
/// </summary>
public sealed class ChatTemplate
{
    private readonly List<Stmt> _body;
    private readonly SourceMap _map;

    private ChatTemplate(string source, string? sourceName, List<Stmt> body, SourceMap map)
    {
        Source = source;
        SourceName = sourceName;
        _body = body;
        _map = map;
        HasGenerationTags = ContainsGeneration(body);
    }

    public string Source { get; }
    public string? SourceName { get; }
    /// <summary>True when the template uses <c>{% generation %}</c> (assistant masks can come from it).</summary>
    public bool HasGenerationTags { get; }

    /// <summary>Parses template source; syntax errors are TT1201, unknown filters/tests TT1205.</summary>
    public static ChatTemplate Parse(string source, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        var normalized = Lexer.Normalize(source);
        var map = new SourceMap(normalized, sourceName);
        var tokens = Lexer.Tokenize(normalized, map);
        var body = Parser.Parse(tokens, map);
        return new ChatTemplate(source, sourceName, body, map);
    }

    /// <summary>
    /// Loads a template from a <c>.jinja</c> file, a <c>tokenizer_config.json</c> (string or list of {name, template}),
    /// or a model directory (<c>chat_template.jinja</c> first, then <c>tokenizer_config.json</c>).
    /// </summary>
    public static ChatTemplate Load(string path, string? templateName = null)
    {
        if (Directory.Exists(path))
        {
            var jinja = Path.Combine(path, "chat_template.jinja");
            if (File.Exists(jinja) && templateName is null) return Parse(File.ReadAllText(jinja), jinja);
            var cfg = Path.Combine(path, "tokenizer_config.json");
            if (File.Exists(cfg)) return LoadConfig(cfg, templateName);
            if (File.Exists(jinja)) return Parse(File.ReadAllText(jinja), jinja);
            throw new ToolTuneException(ErrorCodes.TemplateNotFound, "No chat_template.jinja or tokenizer_config.json in the model directory.", path);
        }
        if (!File.Exists(path)) throw new ToolTuneException(ErrorCodes.TemplateNotFound, "Chat template file not found.", path);
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return LoadConfig(path, templateName);
        return Parse(File.ReadAllText(path), path);
    }

    private static ChatTemplate LoadConfig(string path, string? templateName)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e)
        {
            throw new ToolTuneException(ErrorCodes.TemplateNotFound, $"Invalid JSON: {e.Message}", path, (int)(e.LineNumber ?? -1) + 1, (int)(e.BytePositionInLine ?? -1) + 1, e);
        }
        var ct = (root as JsonObject)?["chat_template"];
        switch (ct)
        {
            case null:
                throw new ToolTuneException(ErrorCodes.TemplateNotFound, "tokenizer_config.json has no 'chat_template'.", path);
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                if (templateName is not null && templateName != "default")
                    throw new ToolTuneException(ErrorCodes.TemplateNotFound, $"Chat template '{templateName}' not found (the config has a single template).", path);
                return Parse(v.GetValue<string>(), path);
            case JsonArray arr:
                {
                    var want = templateName ?? "default";
                    var names = new List<string>();
                    foreach (var item in arr)
                    {
                        var name = item?["name"]?.GetValue<string>();
                        if (name is not null) names.Add(name);
                        if (name == want) return Parse(item!["template"]?.GetValue<string>() ?? "", $"{path}:{name}");
                    }
                    throw new ToolTuneException(ErrorCodes.TemplateNotFound,
                        $"Chat template '{want}' not found; available: {string.Join(", ", names)}.", path);
                }
            default:
                throw new ToolTuneException(ErrorCodes.TemplateNotFound, "'chat_template' must be a string or a list of {name, template}.", path);
        }
    }

    /// <summary>Renders with the given context (messages, tools, add_generation_prompt, bos_token, …).</summary>
    public RenderResult Render(JsonObject context, RenderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        var vars = new Dictionary<string, object?>(StringComparer.Ordinal);
        try
        {
            foreach (var kv in context) vars[kv.Key] = PyJson.FromNode(kv.Value);
        }
        catch (ArgumentException e)
        {
            // JsonObject materialises lazily and rejects duplicate property names.
            throw new ToolTuneException(ErrorCodes.TemplateContextInvalid, $"Invalid render context: {e.Message}", SourceName, inner: e);
        }
        return RenderCore(vars, options);
    }

    /// <summary>Renders with CLR values (string, bool, numbers, lists, dictionaries, JsonNode).</summary>
    public RenderResult Render(IReadOnlyDictionary<string, object?> context, RenderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        var vars = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var kv in context) vars[kv.Key] = PyJson.FromClr(kv.Value);
        return RenderCore(vars, options);
    }

    /// <summary>Renders and returns only the text.</summary>
    public string RenderText(JsonObject context, RenderOptions? options = null) => Render(context, options).Text;

    private RenderResult RenderCore(Dictionary<string, object?> vars, RenderOptions? options)
    {
        var r = new Renderer(_map, options ?? RenderOptions.Default);
        var scope = new Scope(SharedGlobals);
        foreach (var kv in vars) scope.SetLocal(kv.Key, kv.Value);
        try
        {
            Block.Run(_body, r, scope);
        }
        catch (PyError e)
        {
            throw r.Locate(e, 0);
        }
        catch (InsufficientExecutionStackException)
        {
            throw _map.Error(ErrorCodes.TemplateLimitExceeded, "Template nesting too deep (execution stack exhausted).", 0);
        }
        return new RenderResult(r.Result, r.Spans.ToArray());
    }

    // Globals are stateless builtins (cycler/joiner create fresh objects per call), so one scope serves all renders.
    private static readonly Scope SharedGlobals = CreateGlobals();

    private static Scope CreateGlobals()
    {
        var g = new Scope(null);
        Globals.Install(g);
        return g;
    }

    private static bool ContainsGeneration(IEnumerable<Stmt> body)
    {
        foreach (var s in body)
        {
            switch (s)
            {
                case GenerationStmt: return true;
                case IfStmt i when i.Branches.Any(b => ContainsGeneration(b.Body)) || (i.Else is not null && ContainsGeneration(i.Else)): return true;
                case ForStmt f when ContainsGeneration(f.Body) || (f.Else is not null && ContainsGeneration(f.Else)): return true;
                case MacroStmt m when ContainsGeneration(m.Body): return true;
                case CallBlockStmt c when ContainsGeneration(c.CallerDef.Body): return true;
                case SetBlockStmt sb when ContainsGeneration(sb.Body): return true;
                case FilterBlockStmt fb when ContainsGeneration(fb.Body): return true;
                case WithStmt w when ContainsGeneration(w.Body): return true;
            }
        }
        return false;
    }
}
