namespace ToolTune.Diagnostics;

/// <summary>
/// Every error code ToolTune reports. Ranges: TT1xxx text layer (11xx tokenizer, 12xx chat templates,
/// 13xx masks), TT2xxx pipeline and config, TT3xxx data, TT4xxx tensors and model, TT5xxx LoRA and
/// training, TT6xxx merge, TT7xxx evaluation. Codes are never reused for another meaning.
/// </summary>
public static partial class ErrorCodes
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

    // Pipeline: config (TT20xx)
    public const string ConfigNotFound = "TT2000";
    public const string ConfigSyntax = "TT2001";
    public const string ConfigUnknownKey = "TT2002";
    public const string ConfigWrongType = "TT2003";
    public const string ConfigOutOfRange = "TT2004";
    public const string ConfigMissingPath = "TT2005";
    public const string ConfigMissingKey = "TT2006";
    public const string ConfigInvalidValue = "TT2007";
    public const string ConfigOverrideInvalid = "TT2008";

    // Pipeline: fingerprints, manifest, artifacts (TT205x)
    public const string ManifestInvalid = "TT2050";
    public const string ArtifactWriteFailed = "TT2051";

    // Pipeline: stages (TT207x)
    public const string StageUnknown = "TT2070";
    public const string StageNotImplemented = "TT2071";
    public const string StageUpstreamMissing = "TT2072";
    public const string StageFailed = "TT2073";
    public const string StageCanceled = "TT2099";

    // Pipeline: PrepareData / VerifyTokens (TT21xx)
    /// <summary>Neither model.tokenizer nor model.base_model is configured, or the folder has no tokenizer.</summary>
    public const string ModelTokenizerNotConfigured = "TT2100";
    /// <summary>A configured delimiter (tokens.tool_call / tokens.tool_response) is not a single token.</summary>
    public const string VerifyDelimiterNotSingleToken = "TT2101";
    /// <summary>A delimiter's id differs from tokens.expect_ids.</summary>
    public const string VerifyDelimiterIdMismatch = "TT2102";
    /// <summary>A tool-call sample's start/end ids are missing from its labelled (trained) region.</summary>
    public const string VerifyToolCallNotTrained = "TT2103";
    /// <summary>Tool-call delimiters in a sample's labelled region are unbalanced or out of order.</summary>
    public const string VerifyUnbalancedDelimiters = "TT2104";
    /// <summary>The text between tool-call delimiters is not JSON with "name" and "arguments".</summary>
    public const string VerifyToolCallJson = "TT2105";
    /// <summary>A sample has no trained token.</summary>
    public const string VerifyNoTrainedTokens = "TT2106";
    /// <summary>The end-of-turn token is not trained in a sample (or is not a single token).</summary>
    public const string VerifyEndOfTurnNotTrained = "TT2107";
    /// <summary>Summary: VerifyTokens found violations (see verify/report.md).</summary>
    public const string VerifyFailed = "TT2108";

    // Data (loaders, conversion, selection, shards)
    public const string DataFileMissing = "TT3000";
    public const string DataMalformedJson = "TT3001";
    public const string DataTruncatedRecord = "TT3002";
    public const string DataInvalidUtf8 = "TT3003";
    public const string DataUnknownRole = "TT3004";
    public const string DataMissingField = "TT3005";
    public const string DataBadToolCall = "TT3006";
    public const string DataEmptyDataset = "TT3007";
    public const string DataNoToolCall = "TT3008";
    public const string DataInvalidRecord = "TT3009";
    public const string DataBadTools = "TT3010";
    public const string DataEncodeFailed = "TT3011";
    public const string DataSelectionInvalid = "TT3012";
    /// <summary>A training conversation opens with the same user prompt as a held-out eval conversation (dropped).</summary>
    public const string DataEvalDuplicate = "TT3040";

    // Shards
    public const string ShardMissing = "TT3020";
    public const string ShardBadMagic = "TT3021";
    public const string ShardUnsupportedVersion = "TT3022";
    public const string ShardTruncated = "TT3023";
    public const string ShardChecksumMismatch = "TT3024";
    public const string ShardManifestInvalid = "TT3025";

    // Evaluation (TT7xxx)
    public const string EvalGateFailed = "TT7000";
    public const string EvalDelimiterNotAToken = "TT7001";
    public const string EvalSetMissing = "TT7002";
    public const string EvalSetInvalid = "TT7003";
    public const string EvalGateInvalid = "TT7004";
    public const string EvalGenerationFailed = "TT7005";
    public const string EvalNoItems = "TT7006";
    public const string EvalTemplateFailed = "TT7007";
}
