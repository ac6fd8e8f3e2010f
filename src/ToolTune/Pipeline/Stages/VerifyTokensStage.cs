using ToolTune.Diagnostics;
using ToolTune.Pipeline.Config;
using ToolTune.Text.Masks;

namespace ToolTune.Pipeline.Stages;

/// <summary>
/// VerifyTokens: runs <see cref="TokenVerifier"/> on PrepareData's output with the configured delimiters
/// (<c>tokens.tool_call</c>, <c>tokens.tool_response</c>, <c>tokens.end_of_turn</c>, <c>tokens.expect_ids</c>) and
/// the run's tokenizer and template. Writes <c>verify/report.json</c> + <c>report.md</c>; any violation fails the stage
/// with one located error per violation (the sample id and its source file/line, or the template/config file), and
/// the failing report is kept in <c>verify-failed/</c> (<see cref="KeepsFailedOutput"/>).
/// </summary>
public sealed class VerifyTokensStage : IStage
{
    /// <summary>How many violations are logged as separate build errors (all are in the report).</summary>
    public const int MaxLoggedErrors = 50;

    public string Name => "VerifyTokens";
    public string Version => "1";
    public string OutputFolder => "verify";
    public IReadOnlyList<string> Upstream => ["PrepareData"];
    public IReadOnlyList<string> ConfigKeys => ["tokens", .. ModelText.ConfigKeys];
    public IEnumerable<string> InputFiles(LoadedConfig config) => ModelText.InputFiles(config);

    /// <summary>The violations' summary: its report is worth reading.</summary>
    public bool KeepsFailedOutput(ToolTuneException failure) =>
        failure is ToolTuneMultiException m && m.Errors.Any(e => e.Code == ErrorCodes.VerifyFailed);

    public void Run(StageContext context)
    {
        var report = Verify(context.Config, context.UpstreamOutput("PrepareData"), context.Log, context.Cancellation);
        report.Write(context.OutputDir);
        if (report.Violations.Count == 0)
        {
            context.Log.Message($"VerifyTokens: passed ({report.SamplesChecked} samples, {report.ToolCallsChecked} tool calls, template lint clean).", important: true);
            return;
        }
        var failedDir = context.Layout.FailedOutputDir(this);
        var errors = report.Violations.Take(MaxLoggedErrors).Select(v => v.ToException()).ToList();
        var summary = $"VerifyTokens failed: {report.Violations.Count} violation(s) in {report.SamplesWithViolations} sample(s) and {report.GlobalViolations} tokenizer/template check(s); " +
                      $"full report: {Path.Combine(failedDir, VerifyReport.MarkdownFileName)}";
        errors.Add(new ToolTuneException(ErrorCodes.VerifyFailed, summary, context.Config.File));
        throw new ToolTuneMultiException(errors, summary);
    }

    /// <summary>Runs every check on a prepared folder with the config's tokens and text; returns the report (nothing
    /// thrown for violations).</summary>
    public static VerifyReport Verify(LoadedConfig config, string preparedDir, IPipelineLog log, CancellationToken cancellation = default)
    {
        var tokens = config.Config.Tokens;
        var text = ModelText.Load(config);
        var options = new TokenVerifierOptions
        {
            ToolCallStart = tokens.ToolCall[0], ToolCallEnd = tokens.ToolCall[1],
            ToolResponseStart = tokens.ToolResponse[0], ToolResponseEnd = tokens.ToolResponse[1],
            EndOfTurn = tokens.EndOfTurn,
            ExpectToolCallIds = tokens.ExpectIds.ToolCall, ExpectToolResponseIds = tokens.ExpectIds.ToolResponse,
            ConfigFile = config.File,
            TemplatePath = text.TemplatePath,
            TemplateShown = Shown(config, text.TemplatePath),
            TokenizerShown = Shown(config, text.Tokenizer.TokenizerPath),
        };
        return new TokenVerifier(text.Tokenizer, text.Renderer, text.Encoder, text.Kwargs, options)
            .Verify(preparedDir, (code, message, file) => log.Warning(code, message, file), cancellation);
    }

    private static string Shown(LoadedConfig config, string path)
    {
        var rel = Path.GetRelativePath(config.RootDir, Path.GetFullPath(path));
        return rel.StartsWith("..", StringComparison.Ordinal) ? path : rel.Replace('\\', '/');
    }
}
