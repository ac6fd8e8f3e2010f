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

    // Shards
    public const string ShardMissing = "TT3020";
    public const string ShardBadMagic = "TT3021";
    public const string ShardUnsupportedVersion = "TT3022";
    public const string ShardTruncated = "TT3023";
    public const string ShardChecksumMismatch = "TT3024";
    public const string ShardManifestInvalid = "TT3025";
}
