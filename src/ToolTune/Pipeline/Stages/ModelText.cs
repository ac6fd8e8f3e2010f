using System.Globalization;
using System.Text.Json.Nodes;
using ToolTune.Data;
using ToolTune.Data.Shards;
using ToolTune.Diagnostics;
using ToolTune.Pipeline.Config;
using ToolTune.Text.Masks;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;

namespace ToolTune.Pipeline.Stages;

/// <summary>
/// The text side of a run, loaded once per stage run: the tokenizer (<c>model.tokenizer</c>, else
/// <c>model.base_model</c>), the chat template (<c>model.chat_template</c>: a <c>.jinja</c>/<c>tokenizer_config.json</c>
/// path, a template name of the tokenizer, or empty for the tokenizer's own), and the render kwargs
/// (<c>bos_token</c>/<c>eos_token</c>/… from the tokenizer config, then <c>model.template_kwargs</c>) with the pinned
/// <c>model.template_date</c>.
/// </summary>
public sealed class ModelText
{
    private ModelText(Tokenizer tokenizer, ChatTemplate template, string templatePath, JsonObject kwargs, RenderOptions options)
    {
        Tokenizer = tokenizer;
        Template = template;
        TemplatePath = templatePath;
        Kwargs = kwargs;
        RenderOptions = options;
        Renderer = new TemplateRenderer(template, options);
        Encoder = new TokenizerEncoder(tokenizer);
    }

    public Tokenizer Tokenizer { get; }
    public ChatTemplate Template { get; }
    /// <summary>The file the template came from (for located lint errors).</summary>
    public string TemplatePath { get; }
    public JsonObject Kwargs { get; }
    public RenderOptions RenderOptions { get; }
    public TemplateRenderer Renderer { get; }
    public TokenizerEncoder Encoder { get; }

    /// <summary>The config keys that decide what this loads (part of both stages' fingerprints).</summary>
    public static IReadOnlyList<string> ConfigKeys { get; } =
        ["model.tokenizer", "model.base_model", "model.chat_template", "model.template_kwargs", "model.template_date"];

    /// <summary>The tokenizer folder the config points at.</summary>
    public static string TokenizerDir(LoadedConfig config)
    {
        var m = config.Config.Model;
        var dir = !string.IsNullOrEmpty(m.Tokenizer) ? m.Tokenizer : m.BaseModel;
        if (string.IsNullOrEmpty(dir))
            throw new ToolTuneException(ErrorCodes.ModelTokenizerNotConfigured,
                "No tokenizer: set 'model.tokenizer' (a folder with tokenizer.json) or 'model.base_model'.", config.File);
        return config.Resolve(dir);
    }

    /// <summary>A chat_template value that names a file (rather than a template name inside tokenizer_config.json).</summary>
    public static bool IsTemplatePath(string? value) =>
        !string.IsNullOrEmpty(value) && (value.EndsWith(".jinja", StringComparison.OrdinalIgnoreCase) || value.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
                                         || value.Contains('/') || value.Contains('\\'));

    /// <summary>Files whose contents decide the tokenization and rendering (content-hashed by the fingerprints).</summary>
    public static IEnumerable<string> InputFiles(LoadedConfig config)
    {
        string dir;
        try { dir = TokenizerDir(config); }
        catch (ToolTuneException) { yield break; } // reported when the stage runs
        foreach (var name in new[] { "tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json" })
        {
            var p = Path.Combine(dir, name);
            if (File.Exists(p)) yield return p;
        }
        if (IsTemplatePath(config.Config.Model.ChatTemplate)) yield return config.Resolve(config.Config.Model.ChatTemplate!);
    }

    public static ModelText Load(LoadedConfig config)
    {
        var m = config.Config.Model;
        var dir = TokenizerDir(config);
        var tokenizer = Tokenizer.FromDirectory(dir);
        ChatTemplate template;
        string templatePath;
        if (IsTemplatePath(m.ChatTemplate))
        {
            templatePath = config.Resolve(m.ChatTemplate!);
            template = ChatTemplate.Load(templatePath);
        }
        else
        {
            templatePath = File.Exists(Path.Combine(dir, "chat_template.jinja")) && string.IsNullOrEmpty(m.ChatTemplate)
                ? Path.Combine(dir, "chat_template.jinja") : Path.Combine(dir, "tokenizer_config.json");
            template = ChatTemplate.Load(dir, string.IsNullOrEmpty(m.ChatTemplate) ? null : m.ChatTemplate);
        }

        var kwargs = new JsonObject();
        void Special(string key, string? value) { if (value is not null) kwargs[key] = value; }
        Special("bos_token", tokenizer.BosToken);
        Special("eos_token", tokenizer.EosToken);
        Special("pad_token", tokenizer.PadToken);
        Special("unk_token", tokenizer.Config?.UnkToken);
        foreach (var (k, v) in m.TemplateKwargs) kwargs[k] = v?.DeepClone();
        var date = DateTime.ParseExact(m.TemplateDate, "yyyy-MM-dd", CultureInfo.InvariantCulture);
        return new ModelText(tokenizer, template, templatePath, kwargs, RenderOptions.Default with { Now = date });
    }

    /// <summary>Decodes ids as they appear in the text (special tokens kept), for previews and reports.</summary>
    public string Decode(int[] ids) => Tokenizer.Decode(ids, skipSpecialTokens: false);
}

/// <summary>
/// PrepareData's <see cref="ISampleEncoder"/>: renders the whole conversation ONCE with the chat template, its tools
/// and the kwargs, tokenizes with offsets and builds labels with <see cref="ChatMasking"/> (-100 outside assistant
/// spans). Over-length samples are dropped ("over max length"); render/mask failures are dropped with their code.
/// Thread-safe (the template, tokenizer and renderer are).
/// </summary>
public sealed class ChatSampleEncoder(ModelText text, int maxSeqLen) : ISampleEncoder
{
    public EncodedSample Encode(Conversation conversation)
    {
        MaskedSequence seq;
        try
        {
            seq = ChatMasking.Build(text.Renderer, text.Encoder, conversation.ToRenderContext(kwargs: text.Kwargs));
        }
        catch (ToolTuneException ex)
        {
            return EncodedSample.Dropped(Data.Loaders.DropReasons.EncodeFailed, $"{ex.Code}: {ex.Message}", ex.Code);
        }
        if (seq.InputIds.Length > maxSeqLen)
            return EncodedSample.Dropped(Data.Loaders.DropReasons.OverMaxLength,
                $"{seq.InputIds.Length} tokens > data.max_seq_len {maxSeqLen}", ErrorCodes.DataEncodeFailed);
        return EncodedSample.Success(seq.InputIds, seq.Labels);
    }
}
