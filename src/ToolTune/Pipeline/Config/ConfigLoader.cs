using System.Text.RegularExpressions;
using ToolTune.Diagnostics;
using ToolTune.Evaluation;
using ToolTune.Evaluation.Endpoint;
using ToolTune.Torch;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ToolTune.Pipeline.Config;

/// <summary>A validated config with where it came from.</summary>
public sealed class LoadedConfig
{
    internal LoadedConfig(PipelineConfig config, string file, string rootDir, IReadOnlyList<string> overrides)
    {
        Config = config;
        File = file;
        RootDir = rootDir;
        Overrides = overrides;
    }

    public PipelineConfig Config { get; }
    /// <summary>Full path of the YAML file.</summary>
    public string File { get; }
    /// <summary>The project root: relative paths in the config resolve against it.</summary>
    public string RootDir { get; }
    /// <summary>The <c>key.path=value</c> overrides applied on top of the file, in order.</summary>
    public IReadOnlyList<string> Overrides { get; }

    public string Resolve(string path) => System.IO.Path.GetFullPath(System.IO.Path.Combine(RootDir, path));

    /// <summary><c>&lt;root&gt;/&lt;run.artifacts_dir&gt;/&lt;run.name&gt;</c>.</summary>
    public string RunDir => Resolve(System.IO.Path.Combine(Config.Run.ArtifactsDir, Config.Run.Name));
}

/// <summary>
/// Loads a run config: YAML (YamlDotNet representation model, so every node keeps its line and column),
/// overrides applied on top, then bound to <see cref="PipelineConfig"/> with validation. Every problem is a
/// <see cref="ToolTuneException"/> (TT20xx) pointing at the file, line and column.
/// </summary>
public static partial class ConfigLoader
{
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex RunNamePattern();

    /// <param name="file">The YAML file.</param>
    /// <param name="rootDir">Project root for relative paths (null: the current directory).</param>
    /// <param name="overrides"><c>key.path=value</c> items; the value is YAML (<c>1e-4</c>, <c>[a, b]</c>, <c>true</c>).</param>
    /// <param name="checkPaths">Check that configured files and folders exist.</param>
    public static LoadedConfig Load(string file, string? rootDir = null, IEnumerable<string>? overrides = null, bool checkPaths = true)
    {
        rootDir = Path.GetFullPath(rootDir ?? Directory.GetCurrentDirectory());
        var fullPath = Path.GetFullPath(Path.Combine(rootDir, file));
        if (!File.Exists(fullPath))
            throw new ToolTuneException(ErrorCodes.ConfigNotFound, $"Config file not found: {fullPath} (choose a run config with -p:Config=<file> or --config <file>).", fullPath);
        string text;
        try { text = File.ReadAllText(fullPath); }
        catch (IOException ex) { throw new ToolTuneException(ErrorCodes.ConfigNotFound, $"Cannot read config: {ex.Message}", fullPath); }
        return Parse(text, fullPath, rootDir, overrides, checkPaths);
    }

    /// <summary>Parses YAML text (the file name is only used in messages).</summary>
    public static LoadedConfig Parse(string yaml, string file, string rootDir, IEnumerable<string>? overrides = null, bool checkPaths = true)
    {
        var errors = new ConfigErrors(file);
        var root = ParseYaml(yaml, file);
        var overrideList = (overrides ?? []).Where(o => !string.IsNullOrWhiteSpace(o)).Select(o => o.Trim()).ToList();
        foreach (var o in overrideList)
            ApplyOverride(root, o, errors);
        var config = Bind(root, errors);
        var loaded = new LoadedConfig(config, file, Path.GetFullPath(rootDir), overrideList);
        if (checkPaths)
            CheckPaths(loaded, root, errors);
        return loaded;
    }

    /// <summary>Splits an MSBuild-style override list (<c>a.b=1;c.d=[x, y]</c>); semicolons inside brackets/quotes are kept.</summary>
    public static IReadOnlyList<string> SplitOverrides(string? text)
    {
        var result = new List<string>();
        if (string.IsNullOrWhiteSpace(text)) return result;
        var depth = 0;
        char? quote = null;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quote is not null) { if (c == quote) quote = null; continue; }
            switch (c)
            {
                case '"' or '\'': quote = c; break;
                case '[' or '{': depth++; break;
                case ']' or '}': depth--; break;
                case ';' when depth == 0:
                    result.Add(text[start..i]);
                    start = i + 1;
                    break;
            }
        }
        result.Add(text[start..]);
        return result.Select(s => s.Trim()).Where(s => s.Length > 0).ToList();
    }

    private static YamlMappingNode ParseYaml(string yaml, string file)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            var inner = ex.InnerException is YamlException i ? $" ({i.Message})" : "";
            var (line, column) = SyntaxErrorLocation(ex, yaml);
            throw new ToolTuneException(ErrorCodes.ConfigSyntax, $"Invalid YAML: {ex.Message}{inner}", file, line, column, ex);
        }
        catch (InvalidOperationException ex) // YamlDotNet 16 throws this on some malformed input
        {
            throw new ToolTuneException(ErrorCodes.ConfigSyntax, $"Invalid YAML: {ex.Message}", file, 0, 0, ex);
        }
        if (stream.Documents.Count == 0 || MappingReader.IsNull(stream.Documents[0].RootNode))
            throw new ToolTuneException(ErrorCodes.ConfigSyntax, "The config is empty.", file, 1, 1);
        if (stream.Documents.Count > 1)
            throw new ToolTuneException(ErrorCodes.ConfigSyntax, "The config holds several YAML documents ('---'); use one.", file,
                (int)stream.Documents[1].RootNode.Start.Line, (int)stream.Documents[1].RootNode.Start.Column);
        if (stream.Documents[0].RootNode is not YamlMappingNode map)
            throw new ToolTuneException(ErrorCodes.ConfigWrongType, "The config must be a mapping of sections (run:, model:, data:, …).", file,
                (int)stream.Documents[0].RootNode.Start.Line, (int)stream.Documents[0].RootNode.Start.Column);
        return map;
    }

    private static void ApplyOverride(YamlMappingNode root, string text, ConfigErrors errors)
    {
        var eq = text.IndexOf('=');
        if (eq <= 0)
            throw new ToolTuneException(ErrorCodes.ConfigOverrideInvalid, $"Override '{text}' must look like section.key=value.", errors.File);
        var path = text[..eq].Trim().Split('.');
        if (path.Any(p => p.Length == 0))
            throw new ToolTuneException(ErrorCodes.ConfigOverrideInvalid, $"Override '{text}' has an empty key segment.", errors.File);
        YamlNode value;
        var valueText = text[(eq + 1)..].Trim();
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader("v: " + valueText));
            value = ((YamlMappingNode)stream.Documents[0].RootNode).Children[new YamlScalarNode("v")];
        }
        catch (Exception ex) when (ex is YamlException or InvalidOperationException)
        {
            throw new ToolTuneException(ErrorCodes.ConfigOverrideInvalid, $"Override '{text}': the value is not valid YAML ({ex.Message}).", errors.File);
        }
        errors.MarkOverride(value, text);

        YamlNode current = root;
        for (var i = 0; i < path.Length; i++)
        {
            var last = i == path.Length - 1;
            var segment = path[i];
            switch (current)
            {
                case YamlMappingNode map:
                {
                    var key = map.Children.Keys.OfType<YamlScalarNode>().FirstOrDefault(k => k.Value == segment);
                    if (key is null)
                    {
                        key = new YamlScalarNode(segment);
                        errors.MarkOverride(key, text);
                        map.Children[key] = last ? value : new YamlMappingNode();
                        if (!last) errors.MarkOverride(map.Children[key], text);
                    }
                    else if (last) map.Children[key] = value;
                    else if (MappingReader.IsNull(map.Children[key]))
                    {
                        map.Children[key] = new YamlMappingNode();
                        errors.MarkOverride(map.Children[key], text);
                    }
                    current = map.Children[key];
                    break;
                }
                case YamlSequenceNode seq when int.TryParse(segment, out var index) && index >= 0 && index < seq.Children.Count:
                    if (last) seq.Children[index] = value;
                    current = seq.Children[index];
                    break;
                default:
                    throw new ToolTuneException(ErrorCodes.ConfigOverrideInvalid,
                        $"Override '{text}': '{string.Join('.', path[..i])}' is {MappingReader.Describe(current)}, so '{segment}' cannot be set in it.", errors.File);
            }
        }
    }

    private static PipelineConfig Bind(YamlMappingNode root, ConfigErrors errors)
    {
        var top = new MappingReader(root, "", errors);
        var config = new PipelineConfig
        {
            Run = BindRun(new MappingReader(top.Value("run"), "run", errors)),
            Model = BindModel(new MappingReader(top.Value("model"), "model", errors), errors),
            Data = BindData(new MappingReader(top.Value("data"), "data", errors), errors),
            Tokens = BindTokens(new MappingReader(top.Value("tokens"), "tokens", errors), errors),
            Lora = BindLora(new MappingReader(top.Value("lora"), "lora", errors)),
            Train = BindTrain(new MappingReader(top.Value("train"), "train", errors), errors),
            Eval = BindEval(new MappingReader(top.Value("eval"), "eval", errors), errors),
        };
        top.Finish();
        return config;
    }

    private static RunSection BindRun(MappingReader r)
    {
        var d = new RunSection();
        var s = new RunSection
        {
            Name = r.String("name", d.Name, pattern: RunNamePattern(), patternHint: "must be a folder name (letters, digits, '.', '_', '-'; not starting with '.' or '-')"),
            Description = r.OptionalString("description"),
            Seed = r.Int("seed", d.Seed, 0),
            // Stages replace folders under it: a path escaping the project root (absolute, '..') could clobber anything.
            ArtifactsDir = r.String("artifacts_dir", d.ArtifactsDir, pattern: InsideRootPattern(),
                patternHint: "must be a relative folder inside the project root (no leading '/', drive letter or '..' segment)"),
        };
        r.Finish();
        return s;
    }

    private static ModelSection BindModel(MappingReader r, ConfigErrors errors)
    {
        var d = new ModelSection();
        var s = new ModelSection
        {
            BaseModel = r.OptionalString("base_model"),
            Tokenizer = r.OptionalString("tokenizer"),
            ChatTemplate = r.OptionalString("chat_template"),
            Dtype = r.String("dtype", d.Dtype, ModelSection.Dtypes),
            TemplateDate = r.String("template_date", d.TemplateDate, pattern: IsoDatePattern(), patternHint: "must be a date written yyyy-MM-dd"),
            TemplateKwargs = TemplateKwargs(r.Value("template_kwargs"), errors),
        };
        r.Finish();
        return s;
    }

    /// <summary>Where a YAML syntax error is. YamlDotNet reports a tab used as indentation at the enclosing mapping's
    /// start (1,1): point at the first line indented with a tab instead.</summary>
    private static (int Line, int Column) SyntaxErrorLocation(YamlException ex, string yaml)
    {
        if (ex.Message.Contains("tab", StringComparison.OrdinalIgnoreCase))
        {
            var lines = yaml.Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                var indent = lines[i].Length - lines[i].TrimStart(' ', '\t').Length;
                var tab = lines[i].IndexOf('\t', StringComparison.Ordinal);
                if (tab >= 0 && tab < indent) return (i + 1, tab + 1);
            }
        }
        return ((int)ex.Start.Line, (int)ex.Start.Column);
    }

    [GeneratedRegex(@"^(?![/\\])(?![A-Za-z]:)(?!(.*[/\\])?\.\.([/\\]|$)).+$")]
    private static partial Regex InsideRootPattern();

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}$")]
    private static partial Regex IsoDatePattern();

    /// <summary><c>model.template_kwargs</c>: a mapping of scalars; plain true/false/numbers keep their type, anything quoted is a string.</summary>
    private static SortedDictionary<string, System.Text.Json.Nodes.JsonNode?> TemplateKwargs(YamlNode? node, ConfigErrors errors)
    {
        var result = new SortedDictionary<string, System.Text.Json.Nodes.JsonNode?>(StringComparer.Ordinal);
        if (node is null || MappingReader.IsNull(node)) return result;
        if (node is not YamlMappingNode map)
            throw errors.At(node, ErrorCodes.ConfigWrongType, $"'model.template_kwargs' must be a mapping (name: value lines), got {MappingReader.Describe(node)}.");
        foreach (var (k, v) in map.Children)
        {
            if (k is not YamlScalarNode { Value: { Length: > 0 } key })
                throw errors.At(k, ErrorCodes.ConfigWrongType, "'model.template_kwargs' has a key that is not a plain name.");
            if (key is "messages" or "tools" or "add_generation_prompt")
                throw errors.At(k, ErrorCodes.ConfigInvalidValue, $"'model.template_kwargs.{key}' is set by the pipeline itself and cannot be configured.");
            if (v is not YamlScalarNode sv)
                throw errors.At(v, ErrorCodes.ConfigWrongType, $"'model.template_kwargs.{key}' must be a string, number or true/false, got {MappingReader.Describe(v)}.");
            var text = sv.Value ?? "";
            System.Text.Json.Nodes.JsonNode? value;
            if (sv.Style is YamlDotNet.Core.ScalarStyle.SingleQuoted or YamlDotNet.Core.ScalarStyle.DoubleQuoted) value = text;
            else if (MappingReader.IsNull(sv)) value = null;
            else if (text is "true" or "True" or "TRUE") value = true;
            else if (text is "false" or "False" or "FALSE") value = false;
            else if (long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var l)) value = l;
            else if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var dbl) && double.IsFinite(dbl)) value = dbl;
            else value = text;
            result[key] = value;
        }
        return result;
    }

    private static DataSection BindData(MappingReader r, ConfigErrors errors)
    {
        var d = new DataSection();
        var sources = new List<DataSource>();
        var items = r.Sequence("sources") ?? [];
        for (var i = 0; i < items.Count; i++)
        {
            var sr = new MappingReader(items[i], $"data.sources[{i}]", errors);
            var path = sr.String("path", "");
            if (path.Length == 0)
                throw errors.At(items[i], ErrorCodes.ConfigMissingKey, $"'data.sources[{i}]' needs a 'path'.");
            sources.Add(new DataSource
            {
                Path = path,
                Format = sr.String("format", "hermes", DataSection.Formats),
                Kind = sr.String("kind", "tool", DataSection.Kinds),
                Limit = sr.OptionalInt("limit", 1),
            });
            sr.Finish();
        }
        var s = new DataSection
        {
            Sources = sources,
            ToolRatio = r.Double("tool_ratio", d.ToolRatio, 0, 1),
            ValFraction = r.Double("val_fraction", d.ValFraction, 0, 0.5),
            ToolEvalCount = r.Int("tool_eval_count", d.ToolEvalCount, 0, 1_000_000),
            MaxSeqLen = r.Int("max_seq_len", d.MaxSeqLen, 16, 1 << 20),
            Strict = r.Bool("strict", d.Strict),
            Decontaminate = r.Bool("decontaminate", d.Decontaminate),
            PreviewCount = r.Int("preview_count", d.PreviewCount, 0, 1000),
            KeepNoCall = r.Bool("keep_no_call", d.KeepNoCall),
        };
        r.Finish();
        return s;
    }

    private static TokensSection BindTokens(MappingReader r, ConfigErrors errors)
    {
        var d = new TokensSection();
        var toolCall = r.StringList("tool_call", 2) ?? d.ToolCall;
        var toolResponse = r.StringList("tool_response", 2) ?? d.ToolResponse;
        var er = new MappingReader(r.Value("expect_ids"), "tokens.expect_ids", errors);
        var expect = new ExpectIds
        {
            ToolCall = er.IntList("tool_call", 2, 0),
            ToolResponse = er.IntList("tool_response", 2, 0),
        };
        er.Finish();
        var s = new TokensSection
        {
            ToolCall = toolCall,
            ToolResponse = toolResponse,
            ExpectIds = expect,
            EndOfTurn = r.OptionalString("end_of_turn"),
        };
        r.Finish();
        return s;
    }

    private static LoraSection BindLora(MappingReader r)
    {
        var d = new LoraSection();
        var s = new LoraSection
        {
            R = r.Int("r", d.R, 1, 4096),
            Alpha = r.Double("alpha", d.Alpha, 0, 1e6, minExclusive: true),
            Dropout = r.Double("dropout", d.Dropout, 0, 1, maxExclusive: true),
            TargetModules = r.StringList("target_modules", allowed: Lora.LoraConfig.KnownModules) ?? d.TargetModules,
            TrainableTokens = r.StringList("trainable_tokens") ?? d.TrainableTokens,
        };
        r.Finish();
        return s;
    }

    private static TrainSection BindTrain(MappingReader r, ConfigErrors errors)
    {
        var d = new TrainSection();
        var s = new TrainSection
        {
            Epochs = r.Int("epochs", d.Epochs, 1, 10_000),
            MaxSteps = r.OptionalInt("max_steps", 1),
            LearningRate = r.Double("learning_rate", d.LearningRate, 0, 1, minExclusive: true),
            Betas = r.DoubleList("betas", 2, 0, 1, maxExclusive: true) ?? d.Betas,
            Eps = r.Double("eps", d.Eps, 0, 1, minExclusive: true),
            WeightDecay = r.Double("weight_decay", d.WeightDecay, 0, 10),
            Schedule = r.String("schedule", d.Schedule, TrainSection.Schedules),
            WarmupRatio = r.Double("warmup_ratio", d.WarmupRatio, 0, 1),
            BatchSize = r.Int("batch_size", d.BatchSize, 1, 65_536),
            GradAccum = r.Int("grad_accum", d.GradAccum, 1, 65_536),
            MaxTokensPerBatch = r.OptionalInt("max_tokens_per_batch", 1),
            MaxGradNorm = r.Double("max_grad_norm", d.MaxGradNorm, 0, 1e6, minExclusive: true),
            GradientCheckpointing = r.Bool("gradient_checkpointing", d.GradientCheckpointing),
            Seed = r.OptionalInt("seed", 0),
            EvalEvery = r.Int("eval_every", d.EvalEvery, 0),
            SaveEvery = r.Int("save_every", d.SaveEvery, 0),
            KeepLast = r.Int("keep_last", d.KeepLast, 1, 1000),
            Backend = r.String("backend", d.Backend, TrainSection.Backends),
            Torch = BindTorch(new MappingReader(r.Value("torch"), "train.torch", errors)),
        };
        r.Finish();
        return s;
    }

    private static TorchOptions BindTorch(MappingReader r)
    {
        var d = new TorchOptions();
        var s = new TorchOptions
        {
            Python = r.String("python", d.Python),
            NprocPerNode = r.Int("nproc_per_node", d.NprocPerNode, 1, 1024),
            Device = r.String("device", d.Device, TorchOptions.Devices),
            Nnodes = r.Int("nnodes", d.Nnodes, 1, 4096),
            NodeRank = r.Int("node_rank", d.NodeRank, 0, 4095),
            MasterAddr = r.String("master_addr", d.MasterAddr),
            MasterPort = r.Int("master_port", d.MasterPort, 0, 65535),
            Launcher = r.String("launcher", d.Launcher, TorchOptions.Launchers),
        };
        r.Finish();
        return s;
    }

    private static EvalSection BindEval(MappingReader r, ConfigErrors errors)
    {
        var d = new EvalSection();
        var gates = new List<Gate>();
        foreach (var node in r.Sequence("gates") ?? [])
        {
            // "tool_call_f1 >= 0.9"  or  { gate: "stop_rate >= 0.8", warn: true }
            string text;
            YamlNode at;
            var warn = false;
            if (node is YamlMappingNode)
            {
                var gr = new MappingReader(node, "eval.gates[]", errors);
                at = gr.Value("gate") ?? node;
                text = gr.String("gate", "");
                warn = gr.Bool("warn", false);
                gr.Finish();
            }
            else
            {
                at = node;
                text = r.ScalarText(node, "eval.gates[]", "a gate like 'tool_call_f1 >= 0.9'");
            }
            var m = Evaluation.GateEvaluator.GatePattern().Match(text);
            if (!m.Success || !double.TryParse(m.Groups[3].Value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value))
                throw errors.At(at, ErrorCodes.ConfigInvalidValue, $"Gate '{text}' must look like 'metric >= number' (operators: >=, <=, >, <, ==).");
            var metric = m.Groups[1].Value;
            if (Evaluation.MetricCatalog.ResolveGate(metric) is null)
                throw errors.At(at, ErrorCodes.ConfigInvalidValue,
                    $"Gate metric '{metric}' is unknown.{MappingReader.Suggest(metric, Evaluation.MetricCatalog.GateNames)} Known metrics: {string.Join(", ", EvalSection.Metrics)} " +
                    $"(prefix '{Evaluation.MetricCatalog.BasePrefix}' to read one from the base model).");
            gates.Add(new Gate { Metric = metric, Op = m.Groups[2].Value, Value = value, Warn = warn, Line = (int)at.Start.Line, Column = (int)at.Start.Column });
        }
        var s = new EvalSection
        {
            Gates = gates,
            MaxNewTokens = r.Int("max_new_tokens", d.MaxNewTokens, 1, 65_536),
            Temperature = r.Double("temperature", d.Temperature, 0, 5),
            Prompts = r.OptionalString("prompts"),
            CompareBase = r.Bool("compare_base", d.CompareBase),
            Backend = r.String("backend", d.Backend, TrainSection.Backends),
            Endpoint = r.Value("endpoint") is { } ep ? BindEndpoint(new MappingReader(ep, "eval.endpoint", errors), errors) : null,
        };
        r.Finish();
        return s;
    }

    private static EndpointOptions BindEndpoint(MappingReader r, ConfigErrors errors)
    {
        var d = new EndpointOptions();
        var url = r.String("url", "");
        if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || (u.Scheme != "http" && u.Scheme != "https"))
            throw errors.At(r.Value("url") ?? r.Node, ErrorCodes.ConfigInvalidValue, $"eval.endpoint.url must be an http(s) URL such as http://127.0.0.1:8000/v1, got '{url}'.");
        var baseUrl = r.OptionalString("base_url");
        if (baseUrl is not null && (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var bu) || (bu.Scheme != "http" && bu.Scheme != "https")))
            throw errors.At(r.Value("base_url")!, ErrorCodes.ConfigInvalidValue, $"eval.endpoint.base_url must be an http(s) URL, got '{baseUrl}'.");
        var model = r.String("model", "");
        if (model.Length == 0) throw errors.At(r.Value("model") ?? r.Node, ErrorCodes.ConfigInvalidValue, "eval.endpoint.model is required: the tuned model's name on the server.");
        var s = new EndpointOptions
        {
            Url = url,
            Model = model,
            BaseUrl = baseUrl,
            BaseModel = r.OptionalString("base_model"),
            ApiKeyEnv = r.OptionalString("api_key_env"),
            Concurrency = r.Int("concurrency", d.Concurrency, 1, 256),
            TimeoutS = r.Double("timeout_s", d.TimeoutS, 0, 86_400, minExclusive: true),
            Raw = r.Bool("raw", d.Raw),
        };
        r.Finish();
        return s;
    }

    private static void CheckPaths(LoadedConfig loaded, YamlMappingNode root, ConfigErrors errors)
    {
        var c = loaded.Config;
        void Check(string? path, bool directory, string[] keyPath, string what)
        {
            if (string.IsNullOrEmpty(path)) return;
            var full = loaded.Resolve(path);
            var ok = directory ? Directory.Exists(full) : File.Exists(full) || Directory.Exists(full);
            if (!ok)
                throw errors.At(Find(root, keyPath), ErrorCodes.ConfigMissingPath,
                    $"'{string.Join('.', keyPath)}': {what} '{path}' does not exist (resolved to {full}).");
        }
        Check(c.Model.BaseModel, true, ["model", "base_model"], "model folder");
        Check(c.Model.Tokenizer, true, ["model", "tokenizer"], "tokenizer folder");
        if (c.Model.ChatTemplate is { } t && (t.EndsWith(".jinja", StringComparison.OrdinalIgnoreCase) || t.Contains('/') || t.Contains('\\')))
            Check(t, false, ["model", "chat_template"], "chat template file");
        for (var i = 0; i < c.Data.Sources.Count; i++)
            Check(c.Data.Sources[i].Path, false, ["data", "sources", i.ToString(), "path"], "data source");
        Check(c.Eval.Prompts, false, ["eval", "prompts"], "prompts file");
    }

    /// <summary>The value node at a key path (mapping keys or sequence indexes), for error locations.</summary>
    private static YamlNode? Find(YamlNode node, string[] path)
    {
        var current = node;
        foreach (var segment in path)
        {
            current = current switch
            {
                YamlMappingNode m => m.Children.FirstOrDefault(kv => kv.Key is YamlScalarNode s && s.Value == segment).Value,
                YamlSequenceNode q when int.TryParse(segment, out var i) && i < q.Children.Count => q.Children[i],
                _ => null,
            };
            if (current is null) return null;
        }
        return current;
    }
}
