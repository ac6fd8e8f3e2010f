using System.Collections.Concurrent;
using System.Text.Json;
using ToolTune.Text.Tokenization;

namespace ToolTune.Tests.Text.Tokenization;

/// <summary>Loads each real tokenizer from ../shared once per test run.</summary>
internal static class TokenizerFixtures
{
    public static readonly string[] Names = ["smollm3-3b", "qwen2.5", "smollm-135m", "phi-2"];

    private static readonly ConcurrentDictionary<string, Lazy<Tokenizer>> Cache = new();

    public static Tokenizer Get(string name)
    {
        var dir = SharedFixtures.RequireShared("parity", "tokenizers", name);
        return Cache.GetOrAdd(name, _ => new Lazy<Tokenizer>(() => Tokenizer.FromDirectory(dir))).Value;
    }

    public sealed record OracleRecord(int Index, string Text, int[] Ids, int[] IdsSpecial, string Decoded, string DecodedSkip,
        bool JsDigitsDivergence, int[]? IdsRust);

    public static List<OracleRecord> Oracle(string name, string suffix = "")
    {
        var list = new List<OracleRecord>();
        foreach (var line in File.ReadLines(SharedFixtures.Fixture("tokenizers", name + suffix + ".jsonl")))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
            list.Add(new OracleRecord(
                r.GetProperty("index").GetInt32(), r.GetProperty("text").GetString()!, Ints(r.GetProperty("ids")),
                Ints(r.GetProperty("ids_special")), r.GetProperty("decoded").GetString()!, r.GetProperty("decoded_skip").GetString()!,
                r.TryGetProperty("js_digits_divergence", out var d) && d.GetBoolean(),
                r.TryGetProperty("ids_rust", out var ir) ? Ints(ir) : null));
        }
        return list;
    }

    public static List<string> Corpus(string kind = "corpus") =>
        JsonSerializer.Deserialize<List<string>>(File.ReadAllText(Path.Combine(SharedFixtures.RepoRoot, "tests", "oracles", $"tokenizer_{kind}.json")))!;
}
