using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Model;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune generate --model &lt;hf-dir&gt; (--prompt-ids [..] | --messages conv.json)</c>: KV-cache generation (greedy
/// unless --temperature &gt; 0), one JSON object with the raw ids, the decoded text (special tokens kept), stop reason and
/// timings. <c>--messages</c> renders the conversation with the model's chat template (<c>chat_template.jinja</c> /
/// <c>tokenizer_config.json</c> in the tokenizer folder, or <c>--template</c>) with <c>add_generation_prompt: true</c> and
/// tokenizes it with the model folder's tokenizer (or <c>--tokenizer</c>), as transformers' <c>apply_chat_template</c> does.
/// Stop ids (unless <c>--stop-ids</c>): config.json and generation_config.json <c>eos_token_id</c>, the tokenizer's eos
/// token and <c>&lt;|im_end|&gt;</c> when the tokenizer has it.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face snapshot folder.", Required = true };
        var prompt = new Option<string?>("--prompt-ids") { Description = "JSON array of prompt token ids (or @file)." };
        var messages = new Option<string?>("--messages")
        {
            Description = "Conversation JSON: an array of messages, or an object with messages, tools and other template kwargs " +
                          "(a parity *.data.json with a \"context\" object works too).",
        };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Folder with tokenizer.json (default: the model folder)." };
        var template = new Option<string?>("--template") { Description = "Chat template: .jinja, tokenizer_config.json or a folder (default: the tokenizer folder's)." };
        var date = new Option<string?>("--date") { Description = "Date seen by strftime_now, YYYY-MM-DD (default: today)." };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Maximum new tokens.", DefaultValueFactory = _ => 64 };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature (0 = greedy).", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass.", DefaultValueFactory = _ => 1f };
        var seed = new Option<int>("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => 0 };
        var stop = new Option<string?>("--stop-ids") { Description = "JSON array of stop ids (default: eos ids of config.json, generation_config.json and the tokenizer, and <|im_end|>)." };
        var command = new Command("generate", "Generate tokens with the KV cache; prints ids, decoded text, stop reason and tokens/s as JSON.")
        {
            model, prompt, messages, tokenizer, template, date, maxNew, temperature, topP, seed, stop,
        };
        command.SetAction(parse =>
        {
            return PipelineOptions.Guard(() =>
            {
                var stopText = parse.GetValue(stop);
                var request = new GenerateRequest
                {
                    ModelDir = parse.GetValue(model)!,
                    PromptIds = parse.GetValue(prompt) is { } p ? ModelCommandHelpers.ParseIds(p, "--prompt-ids") : null,
                    MessagesFile = parse.GetValue(messages),
                    TokenizerDir = parse.GetValue(tokenizer),
                    TemplatePath = parse.GetValue(template),
                    Date = ParseDate(parse.GetValue(date)),
                    Options = new DecodingOptions
                    {
                        MaxNewTokens = parse.GetValue(maxNew),
                        Temperature = parse.GetValue(temperature),
                        TopP = parse.GetValue(topP),
                        Seed = parse.GetValue(seed),
                        StopIds = stopText is null ? null! : ModelCommandHelpers.ParseIds(stopText, "--stop-ids"),
                    },
                };
                Run(request, Console.Out);
                return 0;
            });
        });
        return command;
    }

    /// <summary>One generate call: exactly one of <see cref="PromptIds"/> / <see cref="MessagesFile"/>.</summary>
    public sealed record GenerateRequest
    {
        public required string ModelDir { get; init; }
        public int[]? PromptIds { get; init; }
        public string? MessagesFile { get; init; }
        public string? TokenizerDir { get; init; }
        public string? TemplatePath { get; init; }
        public DateTime? Date { get; init; }
        public DecodingOptions Options { get; init; } = new();
    }

    /// <summary>Back-compatible entry point: prompt ids, stop ids from the model folder when <c>options.StopIds</c> is null.</summary>
    public static DecodingResult Run(string modelDir, int[] prompt, DecodingOptions options, TextWriter output) =>
        Run(new GenerateRequest { ModelDir = modelDir, PromptIds = prompt, Options = options }, output);

    public static DecodingResult Run(GenerateRequest request, TextWriter output)
    {
        if ((request.PromptIds is null) == (request.MessagesFile is null))
            throw new ToolTuneException(ErrorCodes.ModelInputInvalid, "generate: give exactly one of --prompt-ids or --messages");
        var tokDir = request.TokenizerDir ?? request.ModelDir;
        var hasTokenizer = File.Exists(Path.Combine(tokDir, "tokenizer.json"));
        if (request.MessagesFile is not null && !hasTokenizer)
            throw new ToolTuneException(ErrorCodes.TokenizerFileMissing,
                $"--messages needs a tokenizer: no tokenizer.json in {tokDir} (pass --tokenizer <folder>)", Path.Combine(tokDir, "tokenizer.json"));
        var tokenizer = hasTokenizer ? Tokenizer.FromDirectory(tokDir) : null;

        string? promptText = null;
        int[] prompt;
        if (request.MessagesFile is not null)
        {
            var template = ChatTemplate.Load(request.TemplatePath ?? tokDir);
            var context = LoadConversation(request.MessagesFile, tokenizer!);
            promptText = template.Render(context, RenderOptions.Default with { Now = request.Date }).Text;
            prompt = [.. tokenizer!.EncodeToIds(promptText, addSpecialTokens: false)];
            if (prompt.Length == 0)
                throw new ToolTuneException(ErrorCodes.ModelInputInvalid, "the rendered conversation is empty", request.MessagesFile);
        }
        else prompt = request.PromptIds!;

        var load = System.Diagnostics.Stopwatch.StartNew();
        using var weights = ModelWeights.Open(request.ModelDir);
        var loadSeconds = load.Elapsed.TotalSeconds;
        var vocab = weights.Config.VocabSize;
        var bad = prompt.FirstOrDefault(id => id < 0 || id >= vocab, -1);
        if (prompt.Any(id => id < 0 || id >= vocab))
            throw new ToolTuneException(ErrorCodes.ModelInputInvalid,
                $"prompt token id {bad} is outside the model's vocabulary [0, {vocab})" + (tokenizer is not null ? $" (tokenizer {tokDir} has {tokenizer.VocabularySize} ids)" : ""),
                request.MessagesFile);

        var options = request.Options;
        if (options.StopIds is null) options = options with { StopIds = new ModelSnapshot(request.ModelDir).StopIds(weights.Config, tokenizer) };
        var lm = new CausalLM(weights);
        var r = Generator.Generate(lm, prompt, options);
        var json = new Dictionary<string, object?>
        {
            ["ids"] = r.Ids,
            ["text"] = tokenizer?.Decode(r.Ids.Where(id => tokenizer.IdToToken(id) is not null), skipSpecialTokens: false),
            ["stop_reason"] = r.Reason.ToWireName(),
            ["stop_ids"] = options.StopIds.Order().ToArray(),
            ["prompt_tokens"] = prompt.Length,
            ["prompt_ids"] = request.MessagesFile is not null ? prompt : null,
            ["prompt_text"] = promptText,
            ["new_tokens"] = r.Ids.Length,
            ["load_s"] = Math.Round(loadSeconds, 4),
            ["prefill_ms"] = Math.Round(r.PrefillSeconds * 1000, 3),
            ["prefill_s"] = Math.Round(r.PrefillSeconds, 6),
            ["decode_s"] = Math.Round(r.DecodeSeconds, 6),
            ["tokens_per_s"] = Math.Round(r.TokensPerSecond, 2),
            ["step_ms"] = r.StepSeconds.Select(s => Math.Round(s * 1000, 3)).ToArray(),
        };
        output.WriteLine(JsonSerializer.Serialize(json, new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        return r;
    }

    /// <summary>
    /// The render context of a conversation file: a JSON array = the messages; an object = messages, tools and kwargs
    /// (or such an object under "context", as the template parity fixtures hold it). bos/eos/pad/unk tokens come from the
    /// tokenizer config unless given; <c>add_generation_prompt</c> is forced true.
    /// </summary>
    public static JsonObject LoadConversation(string path, Tokenizer tokenizer)
    {
        if (!File.Exists(path)) throw new ToolTuneException(ErrorCodes.ModelInputInvalid, "--messages: file not found", path);
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e)
        {
            throw new ToolTuneException(ErrorCodes.ModelInputInvalid, $"--messages: invalid JSON: {e.Message}", path, inner: e);
        }
        JsonObject context = root switch
        {
            JsonArray messages => new JsonObject { ["messages"] = messages.DeepClone() },
            JsonObject o when o["context"] is JsonObject c && o["messages"] is null => (JsonObject)c.DeepClone(),
            JsonObject o => (JsonObject)o.DeepClone(),
            _ => throw new ToolTuneException(ErrorCodes.ModelInputInvalid, "--messages: expected a JSON array of messages or an object with \"messages\"", path),
        };
        if (context["messages"] is not JsonArray)
            throw new ToolTuneException(ErrorCodes.ModelInputInvalid, "--messages: no \"messages\" array", path);
        void Special(string key, string? value) { if (value is not null && !context.ContainsKey(key)) context[key] = value; }
        Special("bos_token", tokenizer.BosToken);
        Special("eos_token", tokenizer.EosToken);
        Special("pad_token", tokenizer.PadToken);
        Special("unk_token", tokenizer.Config?.UnkToken);
        context["add_generation_prompt"] = true;
        return context;
    }

    private static DateTime? ParseDate(string? date)
    {
        if (date is null) return null;
        if (!DateTime.TryParseExact(date, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d))
            throw new ToolTuneException(ErrorCodes.ModelInputInvalid, $"--date must be YYYY-MM-DD, got '{date}'.");
        return d;
    }
}
