using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Diagnostics;
using ToolTune.Text.Templates;

namespace ToolTune.Cli.Commands;

/// <summary><c>tooltune render</c>: render a chat template with a JSON context, exactly as transformers would.</summary>
internal static class RenderCommand
{
    public static Command Create()
    {
        var template = new Option<string>("--template")
        {
            Description = "A .jinja file, a tokenizer_config.json, or a model directory (chat_template.jinja, then tokenizer_config.json).",
            Required = true,
        };
        var data = new Option<string>("--data")
        {
            Description = "JSON object with the render context (messages, tools, add_generation_prompt, bos_token, ...).",
            Required = true,
        };
        var spans = new Option<bool>("--spans") { Description = "Print {\"text\": ..., \"generation_spans\": [[start, end], ...]} (UTF-16 offsets) instead of the text." };
        var date = new Option<string?>("--date") { Description = "Date seen by strftime_now, YYYY-MM-DD (default: today)." };
        var name = new Option<string?>("--template-name") { Description = "Named template in tokenizer_config.json (default: \"default\")." };

        var cmd = new Command("render", "Render a chat template with a JSON context (Python Jinja2 semantics, {% generation %} spans).")
        {
            template, data, spans, date, name,
        };
        cmd.SetAction(parse =>
        {
            return PipelineOptions.Guard(() =>
            {
                return Run(parse.GetValue(template)!, parse.GetValue(data)!, parse.GetValue(spans), parse.GetValue(date), parse.GetValue(name));
            });
        });
        return cmd;
    }

    private static int Run(string templatePath, string dataPath, bool spans, string? date, string? templateName)
    {
        DateTime? now = null;
        if (date is not null)
        {
            if (!DateTime.TryParseExact(date, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d))
                throw new ToolTuneException(ErrorCodes.TemplateContextInvalid, $"--date must be YYYY-MM-DD, got '{date}'.");
            now = d;
        }
        var template = ChatTemplate.Load(templatePath, templateName);
        if (!File.Exists(dataPath)) throw new ToolTuneException(ErrorCodes.TemplateContextInvalid, "Context file not found.", dataPath);
        JsonObject context;
        try
        {
            context = JsonNode.Parse(File.ReadAllText(dataPath)) as JsonObject
                ?? throw new ToolTuneException(ErrorCodes.TemplateContextInvalid, "The context must be a JSON object.", dataPath);
        }
        catch (JsonException e)
        {
            throw new ToolTuneException(ErrorCodes.TemplateContextInvalid, $"Invalid JSON: {e.Message}", dataPath,
                (int)(e.LineNumber ?? -1) + 1, (int)(e.BytePositionInLine ?? -1) + 1, e);
        }
        var result = template.Render(context, new RenderOptions { Now = now });
        string output;
        if (spans)
        {
            var obj = new JsonObject
            {
                ["text"] = result.Text,
                ["generation_spans"] = new JsonArray(result.GenerationSpans.Select(s => (JsonNode)new JsonArray(s.Start, s.End)).ToArray()),
            };
            output = obj.ToJsonString(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
        }
        else output = result.Text;
        using var stdout = Console.OpenStandardOutput();
        stdout.Write(new UTF8Encoding(false).GetBytes(output));
        return 0;
    }
}
