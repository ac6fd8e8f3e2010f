using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using ToolTune.Text.Masks;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;

namespace ToolTune.Cli.Commands;

/// <summary>
/// <c>tooltune bench render --tokenizer DIR [--template FILE]</c>: conversations/s of render, render+tokenize+mask
/// (generation tags) and render+tokenize+mask by the role-prefix diff, on a 6-assistant-turn tool conversation
/// (system with tools, 3 rounds of user → tool call(s) → tool response(s) → answer). One JSON line.
/// </summary>
internal static class BenchRenderCommand
{
    public static Command Create()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "Model folder with tokenizer.json", Required = true };
        var template = new Option<string?>("--template") { Description = "Chat template (default: configs/templates/smollm3-tool-fixed.jinja under the current directory)" };
        var seconds = new Option<double>("--seconds") { Description = "Timed seconds per measurement", DefaultValueFactory = _ => 3 };
        var writeContext = new Option<string?>("--write-context") { Description = "Also write the benchmark conversation as a render context JSON (for the Python Jinja2 oracle, tests/oracles/templates/bench_render.py)" };
        var cmd = new Command("render", "Render + mask throughput (conversations/s) of a chat template with a tokenizer");
        cmd.Options.Add(tokenizer);
        cmd.Options.Add(template);
        cmd.Options.Add(seconds);
        cmd.Options.Add(writeContext);
        cmd.SetAction(p => Run(p.GetValue(tokenizer)!, p.GetValue(template) ?? Path.Combine("configs", "templates", "smollm3-tool-fixed.jinja"),
            Math.Max(0.2, p.GetValue(seconds)), Console.Out, p.GetValue(writeContext)));
        return cmd;
    }

    /// <summary>The benchmark conversation: 13 messages, 6 assistant turns, 4 tool calls (one parallel pair), 4 tool responses.</summary>
    internal static JsonObject Conversation()
    {
        JsonObject Call(string id, string name, JsonObject args) => new()
        {
            ["id"] = id, ["type"] = "function", ["function"] = new JsonObject { ["name"] = name, ["arguments"] = args },
        };
        JsonObject Msg(string role, string? content) => new() { ["role"] = role, ["content"] = content };
        var m = new JsonArray
        {
            Msg("system", "You are a travel assistant. Use the tools when they help. /no_think"),
            Msg("user", "I'm flying to Lisbon on Friday. What's the weather going to be like?"),
            new JsonObject { ["role"] = "assistant", ["content"] = null, ["tool_calls"] = new JsonArray { Call("c1", "get_forecast", new JsonObject { ["city"] = "Lisbon", ["day"] = "Friday" }) } },
            Msg("tool", "{\"city\": \"Lisbon\", \"day\": \"Friday\", \"high_c\": 24, \"low_c\": 16, \"condition\": \"partly cloudy\"}"),
            Msg("assistant", "Friday in Lisbon looks pleasant: partly cloudy, with a high of 24 °C and a low of 16 °C."),
            Msg("user", "Great. Can you convert 250 euros to dollars and find a vegetarian restaurant near Alfama?"),
            new JsonObject
            {
                ["role"] = "assistant", ["content"] = "Sure, checking both.",
                ["tool_calls"] = new JsonArray
                {
                    Call("c2", "convert_currency", new JsonObject { ["amount"] = 250, ["from"] = "EUR", ["to"] = "USD" }),
                    Call("c3", "search_restaurants", new JsonObject { ["near"] = "Alfama, Lisbon", ["diet"] = "vegetarian", ["limit"] = 3 }),
                },
            },
            Msg("tool", "{\"amount\": 270.5, \"currency\": \"USD\", \"rate\": 1.082}"),
            Msg("tool", "{\"results\": [{\"name\": \"Ao 26 Vegan Food Project\", \"rating\": 4.7}, {\"name\": \"Jardim das Cerejas\", \"rating\": 4.5}]}"),
            Msg("assistant", "250 EUR is about 270.50 USD. Near Alfama, try Ao 26 Vegan Food Project (4.7) or Jardim das Cerejas (4.5)."),
            Msg("user", "Book a table for two at the first one, 8 pm Friday."),
            new JsonObject { ["role"] = "assistant", ["content"] = "", ["tool_calls"] = new JsonArray { Call("c4", "book_table", new JsonObject { ["restaurant"] = "Ao 26 Vegan Food Project", ["people"] = 2, ["time"] = "Friday 20:00" }) } },
            Msg("tool", "{\"status\": \"confirmed\", \"reference\": \"AO26-8812\"}"),
            Msg("assistant", "Done! Your table for two at Ao 26 Vegan Food Project is confirmed for Friday at 20:00 (reference AO26-8812)."),
        };
        JsonObject Tool(string name, string desc, params string[] props)
        {
            var p = new JsonObject();
            foreach (var x in props) p[x] = new JsonObject { ["type"] = "string" };
            return new JsonObject
            {
                ["type"] = "function",
                ["function"] = new JsonObject
                {
                    ["name"] = name, ["description"] = desc,
                    ["parameters"] = new JsonObject { ["type"] = "object", ["properties"] = p, ["required"] = new JsonArray(props.Select(x => (JsonNode?)x).Take(1).ToArray()) },
                },
            };
        }
        return new JsonObject
        {
            ["messages"] = m,
            ["tools"] = new JsonArray
            {
                Tool("get_forecast", "Weather forecast for a city and day.", "city", "day"),
                Tool("convert_currency", "Convert an amount between currencies.", "amount", "from", "to"),
                Tool("search_restaurants", "Find restaurants.", "near", "diet", "limit"),
                Tool("book_table", "Book a restaurant table.", "restaurant", "people", "time"),
            },
            ["add_generation_prompt"] = false,
        };
    }

    internal static int Run(string tokenizerPath, string templatePath, double seconds, TextWriter output, string? writeContext = null)
    {
        return PipelineOptions.Guard(() =>
        {
            if (writeContext is not null)
                File.WriteAllText(writeContext, Conversation().ToJsonString());
            var tokenizer = Directory.Exists(tokenizerPath) ? Tokenizer.FromDirectory(tokenizerPath) : Tokenizer.FromFile(tokenizerPath);
            var template = ChatTemplate.Load(templatePath);
            var renderer = new TemplateRenderer(template, new RenderOptions { Now = new DateTime(2025, 7, 10) });
            var encoder = new TokenizerEncoder(tokenizer);
            var ctx = Conversation();
            var sample = ChatMasking.Build(renderer, encoder, ctx);

            // Wall-clock and process-CPU rates: on a shared, overloaded machine the CPU-time rate says more about us.
            (double Wall, double Cpu) Rate(Action a)
            {
                for (var i = 0; i < 20; i++) a(); // warm-up: JIT, word cache
                var cpu0 = CpuSeconds();
                var sw = Stopwatch.StartNew();
                long n = 0;
                while (sw.Elapsed.TotalSeconds < seconds) { a(); n++; }
                var wall = sw.Elapsed.TotalSeconds;
                return (n / wall, n / Math.Max(1e-9, CpuSeconds() - cpu0));
            }

            var render = Rate(() => renderer.Render(ctx));
            var tokenize = Rate(() => encoder.Encode(sample.Text));
            var maskTags = template.HasGenerationTags ? Rate(() => ChatMasking.Build(renderer, encoder, ctx, MaskMethod.GenerationTags)) : (Wall: double.NaN, Cpu: double.NaN);
            var maskPrefix = Rate(() => ChatMasking.Build(renderer, encoder, ctx, MaskMethod.RolePrefixDiff));
            static object? R(double x) => double.IsNaN(x) ? null : Math.Round(x, 1);
            var result = new Dictionary<string, object?>
            {
                ["bench"] = "render",
                ["template"] = templatePath,
                ["tokenizer"] = tokenizerPath,
                ["messages"] = ctx["messages"]!.AsArray().Count,
                ["assistant_turns"] = sample.AssistantSpans.Count,
                ["chars"] = sample.Text.Length,
                ["tokens"] = sample.InputIds.Length,
                ["trained_tokens"] = sample.TrainedCount,
                ["render_conv_per_s"] = R(render.Wall),
                ["tokenize_conv_per_s"] = R(tokenize.Wall),
                ["render_mask_tags_conv_per_s"] = R(maskTags.Wall),
                ["render_mask_prefix_conv_per_s"] = R(maskPrefix.Wall),
                ["render_mask_tags_tokens_per_s"] = R(Math.Round(maskTags.Wall * sample.InputIds.Length)),
                ["render_conv_per_cpu_s"] = R(render.Cpu),
                ["tokenize_conv_per_cpu_s"] = R(tokenize.Cpu),
                ["render_mask_tags_conv_per_cpu_s"] = R(maskTags.Cpu),
                ["render_mask_prefix_conv_per_cpu_s"] = R(maskPrefix.Cpu),
                ["threads"] = 1,
                ["cpus"] = Environment.ProcessorCount,
                ["loadavg"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : null,
            };
            output.WriteLine(JsonSerializer.Serialize(result));
            return 0;
        });
    }

    private static double CpuSeconds() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
}
