using ToolTune.Data.Generation;

namespace ToolTune.Demo;

/// <summary>
/// The embedded default's training data (<c>tooltune demo make-data</c>, committed under <c>data/demo/</c>): generated
/// Hermes-format tool conversations (<see cref="HermesGenerator.GenerateExtended"/>: thirteen typed tools; single, parallel,
/// multi-turn follow-ups, Python-dict calls, text before a call, requests that need no tool) and general instruct conversations
/// (<see cref="HermesGenerator.GenerateGeneral"/>). Same options, same bytes.
/// </summary>
public static class DemoData
{
    public const string ToolFile = "hermes_tools.json";
    public const string GeneralFile = "general.jsonl";

    /// <summary>Writes <see cref="ToolFile"/> and <see cref="GeneralFile"/> into <paramref name="outDir"/> (atomically, each).</summary>
    public static IReadOnlyList<string> Write(string outDir, DemoDataOptions o)
    {
        Directory.CreateDirectory(outDir);
        var tool = Path.Combine(outDir, ToolFile);
        var general = Path.Combine(outDir, GeneralFile);
        HermesGenerator.WriteJsonArray(tool, HermesGenerator.GenerateExtended(o.ToolCount, o.Seed, o.ExtraToolShare));
        HermesGenerator.WriteJsonl(general, HermesGenerator.GenerateGeneral(o.GeneralCount, o.Seed));
        return [tool, general];
    }
}

/// <summary>The recipe of <see cref="DemoData.Write"/>; the defaults are the shipped <c>data/demo/</c>.</summary>
public sealed record DemoDataOptions
{
    public int ToolCount { get; init; } = 1000;
    public int GeneralCount { get; init; } = 430;
    public long Seed { get; init; } = 11;
    /// <summary>Share of conversations calling one of <see cref="HermesGenerator.ExtraToolNames"/> first.</summary>
    public double ExtraToolShare { get; init; } = HermesGenerator.DefaultExtraToolShare;
}
