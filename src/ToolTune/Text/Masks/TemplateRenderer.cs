using System.Text.Json.Nodes;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;

namespace ToolTune.Text.Masks;

/// <summary><see cref="IChatRenderer"/> over the project's Jinja <see cref="ChatTemplate"/> engine.</summary>
public sealed class TemplateRenderer(ChatTemplate template, RenderOptions? options = null) : IChatRenderer
{
    public ChatTemplate Template { get; } = template ?? throw new ArgumentNullException(nameof(template));
    public RenderOptions Options { get; } = options ?? RenderOptions.Default;
    public bool HasGenerationTags => Template.HasGenerationTags;

    public RenderedChat Render(JsonObject context)
    {
        var r = Template.Render(context, Options);
        return new RenderedChat(r.Text, r.GenerationSpans);
    }
}

public static partial class ChatMaskingExtensions
{
    /// <summary>Renders (once), tokenizes and masks a conversation with the real template engine and tokenizer.</summary>
    public static MaskedSequence BuildMask(this ChatTemplate template, Tokenizer tokenizer, JsonObject context,
        RenderOptions? options = null, MaskMethod? method = null) =>
        ChatMasking.Build(new TemplateRenderer(template, options), new TokenizerEncoder(tokenizer), context, method);

    /// <summary>Runs the template lint (<see cref="TemplateLint.Run"/>); with a tokenizer it also checks token boundaries.</summary>
    public static IReadOnlyList<TemplateLintFinding> Lint(this ChatTemplate template, TemplateLintOptions? options = null,
        Tokenizer? tokenizer = null, RenderOptions? renderOptions = null) =>
        TemplateLint.Run(new TemplateRenderer(template, renderOptions), options, tokenizer is null ? null : new TokenizerEncoder(tokenizer));
}
