using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsvHelper;
using ToolTune.Model;
using ToolTune.IO;

namespace ToolTune.Evaluation.Reporting;

/// <summary>Writes <c>metrics.json</c>, <c>metrics.csv</c>, <c>samples.jsonl</c>, <c>metrics.svg</c> and <c>report.md</c>, each atomically.</summary>
public static class EvalOutputs
{
    private static readonly JsonSerializerOptions Pretty = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonSerializerOptions Line = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static List<string> WriteAll(EvaluationRequest request, Evaluator evaluator, ModelEvaluation tuned, ModelEvaluation? baseEval, IReadOnlyList<GateResult> gates,
        ModelEvaluation? servedTuned = null, ModelEvaluation? servedBase = null)
    {
        var dir = request.OutputDirectory;
        Directory.CreateDirectory(dir);
        var files = new List<string>();
        string P(string name) { var p = Path.Combine(dir, name); files.Add(p); return p; }

        var metricsJson = MetricsJson(tuned, baseEval, gates, evaluator.Options);
        if (servedTuned is not null || servedBase is not null)
            metricsJson["served"] = new JsonObject
            {
                ["path"] = servedTuned?.Path ?? servedBase!.Path,
                ["tuned"] = servedTuned is null ? null : ModelJson(servedTuned),
                ["base"] = servedBase is null ? null : ModelJson(servedBase),
            };
        Write(P(EvaluationRun.MetricsJson), metricsJson.ToJsonString(Pretty) + "\n");
        Write(P(EvaluationRun.MetricsCsv), MetricsCsv(tuned, baseEval));
        var samples = (baseEval is null ? tuned.Samples : baseEval.Samples.Concat(tuned.Samples)).Select(s => (s, "")).ToList();
        foreach (var served in new[] { servedBase, servedTuned })
            if (served is not null) samples.AddRange(served.Samples.Select(s => (s, "served")));
        Write(P(EvaluationRun.SamplesJsonl), SamplesJsonl(samples, request.Tokenizer));
        SvgBarChart.ForMetrics(tuned.Metrics, baseEval?.Metrics).Save(P(EvaluationRun.MetricsSvg));
        var report = ReportWriter.Render(new ReportInput
        {
            Tuned = tuned,
            Base = baseEval,
            Gates = gates,
            Options = evaluator.Options,
            MetricsSvg = EvaluationRun.MetricsSvg,
            LossSvg = request.LossCurveSvg is { } l && File.Exists(l) ? Path.GetRelativePath(dir, l).Replace('\\', '/') : null,
            ServedTuned = servedTuned,
            ServedBase = servedBase,
            MergedModel = request.MergedModelDirectory,
            ChatTemplate = request.ChatTemplatePath,
        });
        Write(P(EvaluationRun.ReportMd), report);
        return files;
    }

    private static void Write(string path, string text) => AtomicFile.Write(path, new UTF8Encoding(false).GetBytes(text));

    private static JsonNode? Num(double? v) => v is { } d && double.IsFinite(d) ? JsonValue.Create(Math.Round(d, 6)) : null;

    public static JsonObject ModelJson(ModelEvaluation m)
    {
        var metrics = new JsonObject();
        foreach (var info in MetricCatalog.All) metrics[info.Name] = Num(m.Metrics[info.Name]);
        var counts = new JsonObject();
        foreach (var (k, v) in m.Metrics.Counts) counts[k] = v;
        var verdicts = new JsonObject();
        foreach (var v in Enum.GetValues<Verdict>())
            if (m.Metrics.Verdicts.TryGetValue(v, out var n)) verdicts[v.ToString()] = n;
        var cats = new JsonObject();
        foreach (var (c, set) in m.Categories)
        {
            var o = new JsonObject();
            foreach (var info in MetricCatalog.All)
                if (set[info.Name] is not null) o[info.Name] = Num(set[info.Name]);
            o["items"] = set.Counts["tool_eval_items"];
            cats[c] = o;
        }
        return new JsonObject
        {
            ["model"] = m.ModelName,
            ["metrics"] = metrics,
            ["counts"] = counts,
            ["verdicts"] = verdicts,
            ["categories"] = cats,
            ["speed"] = new JsonObject
            {
                ["prompts"] = m.Speed.Prompts,
                ["prompt_tokens"] = m.Speed.PromptTokens,
                ["generated_tokens"] = m.Speed.GeneratedTokens,
                ["wall_seconds"] = Num(m.Speed.Wall.TotalSeconds),
                ["prefill_seconds"] = Num(m.Speed.Prefill.TotalSeconds),
                ["decode_seconds"] = Num(m.Speed.Decode.TotalSeconds),
                ["prompts_per_second"] = Num(m.Speed.PromptsPerSecond),
                ["generated_tokens_per_second"] = Num(m.Speed.GeneratedTokensPerSecond),
                ["decode_tokens_per_second"] = Num(m.Speed.DecodeTokensPerSecond),
            },
        };
    }

    public static JsonObject MetricsJson(ModelEvaluation tuned, ModelEvaluation? baseEval, IReadOnlyList<GateResult> gates, GenerationOptions options)
    {
        var delta = new JsonObject();
        if (baseEval is not null)
            foreach (var info in MetricCatalog.All)
                delta[info.Name] = tuned.Metrics[info.Name] is { } t && baseEval.Metrics[info.Name] is { } b ? Num(t - b) : null;
        var g = new JsonArray();
        foreach (var r in gates)
            g.Add(new JsonObject
            {
                ["gate"] = $"{r.Gate.Metric} {r.Gate.Op} {GateEvaluator.Format(r.Gate.Value)}",
                ["metric"] = r.Gate.Metric,
                ["op"] = r.Gate.Op,
                ["threshold"] = r.Gate.Value,
                ["warn_only"] = r.Gate.Warn,
                ["actual"] = Num(r.Actual),
                ["passed"] = r.Passed,
                ["worst"] = new JsonArray(r.Worst.Select(w => (JsonNode)new JsonObject
                {
                    ["id"] = w.Id,
                    ["verdict"] = w.Verdict.ToString(),
                    ["text"] = GateEvaluator.Short(w.Text, 200),
                }).ToArray()),
            });
        var definitions = new JsonObject();
        foreach (var info in MetricCatalog.All)
            definitions[info.Name] = new JsonObject
            {
                ["description"] = info.Description,
                ["unit"] = info.Unit == MetricUnit.Rate ? "fraction" : "number",
                ["higher_is_better"] = info.HigherIsBetter,
            };
        return new JsonObject
        {
            ["tuned"] = ModelJson(tuned),
            ["base"] = baseEval is null ? null : ModelJson(baseEval),
            ["delta"] = baseEval is null ? null : delta,
            ["gates"] = g,
            ["settings"] = new JsonObject
            {
                ["max_new_tokens"] = options.MaxNewTokens,
                ["temperature"] = options.Temperature,
                ["stop_ids"] = new JsonArray(options.StopIds.Select(i => (JsonNode)JsonValue.Create(i)).ToArray()),
                ["parser"] = "vLLM hermes (Hermes2ProToolParser.extract_tool_calls) on token ids",
            },
            ["definitions"] = definitions,
        };
    }

    public static readonly string[] CsvColumns = ["scope", "metric", "base", "tuned", "delta", "unit", "higher_is_better"];

    public static string MetricsCsv(ModelEvaluation tuned, ModelEvaluation? baseEval)
    {
        static string F(double? v) => v is { } d && double.IsFinite(d) ? d.ToString("0.######", CultureInfo.InvariantCulture) : "";
        var sw = new StringWriter(CultureInfo.InvariantCulture);
        using (var csv = CsvWriter.Create(sw, null, leaveOpen: true))
        {
            foreach (var c in CsvColumns) csv.WriteField(c);
            csv.EndRecord();
            void Rows(string scope, MetricSet t, MetricSet? b)
            {
                foreach (var info in MetricCatalog.All)
                {
                    double? tv = t[info.Name], bv = b?[info.Name];
                    if (tv is null && bv is null && scope != "all") continue;
                    csv.WriteField(scope);
                    csv.WriteField(info.Name);
                    csv.WriteField(F(bv));
                    csv.WriteField(F(tv));
                    csv.WriteField(tv is { } x && bv is { } y ? F(x - y) : "");
                    csv.WriteField(info.Unit == MetricUnit.Rate ? "fraction" : "number");
                    csv.WriteField(info.HigherIsBetter ? "true" : "false");
                    csv.EndRecord();
                }
            }
            Rows("all", tuned.Metrics, baseEval?.Metrics);
            foreach (var (cat, set) in tuned.Categories)
                Rows("category:" + cat, set, baseEval?.Categories.GetValueOrDefault(cat));
            csv.Flush();
        }
        return sw.ToString();
    }

    public static JsonObject SampleJson(SampleResult s, Func<IReadOnlyList<int>, string>? decode)
    {
        var gold = new JsonArray();
        foreach (var g in s.Item.GoldCalls) gold.Add(new JsonObject { ["name"] = g.Name, ["arguments"] = g.Arguments?.DeepClone() });
        var calls = new JsonArray();
        foreach (var c in s.Parse.Calls) calls.Add(c.ToJson());
        var blocks = new JsonArray();
        foreach (var b in s.Parse.Blocks)
            blocks.Add(new JsonObject { ["start"] = b.StartIndex, ["end"] = b.EndIndex, ["closed"] = b.Closed, ["error"] = b.Error });
        var row = new JsonObject
        {
            ["model"] = s.Model,
            ["id"] = s.Id,
            ["kind"] = s.Item.Kind == EvalItemKind.Emission ? "emission" : "tool_eval",
            ["category"] = s.Item.Category,
            ["expect_call"] = s.Item.ExpectCall,
            ["gold_calls"] = gold,
            ["prompt"] = decode is null ? null : decode(s.PromptIds),
            ["prompt_tokens"] = s.PromptIds.Count,
            ["generated_ids"] = new JsonArray(s.GeneratedIds.Select(i => (JsonNode)JsonValue.Create(i)).ToArray()),
            ["finish_reason"] = s.Reason.ToWireName(),
            ["text"] = s.Text,
            ["tools_called"] = s.Parse.ToolsCalled,
            ["content"] = s.Parse.Content,
            ["calls"] = calls,
            ["blocks"] = blocks,
            ["verdict"] = s.Verdict.ToString(),
            ["detail"] = s.Detail,
            ["ended_turn"] = s.EndedTurn,
            ["stopped_after_call"] = s.StoppedAfterCall,
        };
        if (s.SchemaError is { } schemaError) row["schema_error"] = schemaError;
        // Only rows with a code dump carry the calls read from its code (other rows stay as they were).
        if (s.CodeCalls is { } cc)
        {
            row["code_calls"] = new JsonArray(cc.Calls.Select(c => (JsonNode)c.ToJson()).ToArray());
            row["code_calls_error"] = cc.Error;
        }
        return row;
    }

    public static string SamplesJsonl(IEnumerable<SampleResult> samples, ToolTune.Text.Tokenization.Tokenizer? tokenizer) =>
        SamplesJsonl(samples.Select(s => (s, "")), tokenizer);

    /// <summary>Samples with the path they came from (<c>"served"</c> adds <c>"path": "served"</c>; id-level samples have no such field).</summary>
    public static string SamplesJsonl(IEnumerable<(SampleResult Sample, string Path)> samples, ToolTune.Text.Tokenization.Tokenizer? tokenizer)
    {
        Func<IReadOnlyList<int>, string>? decode = tokenizer is null ? null : ids => tokenizer.Decode(ids, skipSpecialTokens: false);
        var sb = new StringBuilder();
        foreach (var (s, path) in samples)
        {
            var json = SampleJson(s, decode);
            if (path.Length > 0) json["path"] = path;
            sb.Append(json.ToJsonString(Line)).Append('\n');
        }
        return sb.ToString();
    }
}
