namespace ToolTune.Diagnostics;

/// <summary>
/// Every error code ToolTune reports. Ranges: TT1xxx text layer (11xx tokenizer, 12xx chat templates,
/// 13xx masks), TT2xxx pipeline and config, TT3xxx data, TT4xxx tensors and model, TT5xxx LoRA and
/// training, TT6xxx merge, TT7xxx evaluation. Codes are never reused for another meaning.
/// </summary>
public static class ErrorCodes
{
    // Tokenizer
    public const string TokenizerFileMissing = "TT1100";
    public const string TokenizerMalformedJson = "TT1101";
    public const string TokenizerUnsupportedComponent = "TT1102";
    public const string TokenizerInvalidModel = "TT1103";
    public const string TokenizerConfigInvalid = "TT1104";
    public const string TokenizerInvalidPattern = "TT1105";
    public const string TokenizerInputInvalid = "TT1106";

    // Chat templates
    public const string TemplateNotFound = "TT1200";
    public const string TemplateSyntax = "TT1201";
    public const string TemplateRuntime = "TT1202";
    public const string TemplateRaisedException = "TT1203";
    public const string TemplateLimitExceeded = "TT1204";
    public const string TemplateUndefinedFilterOrTest = "TT1205";
    public const string TemplateContextInvalid = "TT1206";

    // Masks / labels
    public const string MaskSpansUnavailable = "TT1300";
    public const string MaskTurnsUnmatched = "TT1301";

    // Template lint (findings; VerifyTokens turns errors into build errors)
    public const string LintToolCallLost = "TT1310";
    public const string LintToolResponseNotWrapped = "TT1311";
    public const string LintPrefixProperty = "TT1312";
    public const string LintEndOfTurnNotTrained = "TT1313";
    public const string LintThinkDirection = "TT1314";
    public const string LintSpansDisagree = "TT1315";
    public const string LintSpanCoverage = "TT1316";
    public const string LintRenderFailed = "TT1317";
    public const string LintTokenStraddlesBoundary = "TT1318";
}
