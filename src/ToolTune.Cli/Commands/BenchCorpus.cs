using System.Text;

namespace ToolTune.Cli.Commands;

/// <summary>A deterministic mixed corpus: prose, code, JSON tool calls, multilingual text, digits, emoji, whitespace
/// runs, ChatML markup, mutated with a seeded RNG (numbers, names, casing, indentation) so words repeat like real text
/// without being identical copies.</summary>
internal static class BenchCorpus
{
    private static readonly string[] Prose =
    [
        "The quick brown fox jumps over the lazy dog while the committee debates the budget for next year.",
        "In 1969, astronauts landed on the Moon; decades later, engineers still study the guidance computer's design.",
        "Don't forget: it's the user's responsibility to verify they've read the terms, and we'll send a reminder.",
        "Large language models predict the next token from a vocabulary of tens of thousands of byte-level pieces.",
        "She said, \"Meet me at 7:45 p.m. near the station,\" but the train was delayed by forty-two minutes.",
        "Photosynthesis converts light energy into chemical energy, storing it in the bonds of glucose molecules.",
        "Fine-tuning with LoRA freezes the base weights and learns low-rank updates for selected projection matrices.",
    ];
    private static readonly string[] Code =
    [
        "public static int Sum(int[] values)\n{\n    var total = 0;\n    foreach (var v in values) total += v;\n    return total;\n}\n",
        "def tokenize(text: str) -> list[int]:\n    ids = []\n    for word in text.split():\n        ids.extend(vocab.get(word, [0]))\n    return ids\n",
        "for (let i = 0; i < items.length; i++) {\n\tif (items[i].done) continue;\n\tawait process(items[i]);\n}\n",
        "SELECT u.id, u.name, COUNT(o.id) AS orders FROM users u LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.id;\n",
        "#include <vector>\nint main() {\n    std::vector<int> v{1, 2, 3};\n    return v.size() > 2 ? 0 : 1;\n}\n",
    ];
    private static readonly string[] Json =
    [
        "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\", \"days\": 3}}",
        "[{\"type\": \"function\", \"function\": {\"name\": \"search\", \"parameters\": {\"type\": \"object\", \"properties\": {\"q\": {\"type\": \"string\"}}}}}]",
        "{\"id\": 12345, \"tags\": [\"a\", \"b\"], \"nested\": {\"quote\": \"He said \\\"hi\\\"\", \"ok\": true, \"value\": null}}",
    ];
    private static readonly string[] Multilingual =
    [
        "Привет, как дела? Сегодня хорошая погода для прогулки по городу.",
        "مرحبا بالعالم، هذه جملة عربية قصيرة للاختبار.",
        "नमस्ते दुनिया, यह हिंदी में एक छोटा वाक्य है।",
        "สวัสดีชาวโลก นี่คือประโยคภาษาไทยสั้นๆ",
        "你好，世界！这是一个用于测试的中文句子。",
        "日本語のテキストと、カタカナとひらがなの混在した文章です。",
        "안녕하세요 세계! 이것은 테스트용 한국어 문장입니다.",
        "Tiếng Việt có dấu, Ελληνικά κείμενα, and café crème brûlée.",
    ];
    private static readonly string[] Emoji = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🎉", "❤️", "🇫🇷", "𝐀𝐁𝐂", "🧑‍💻"];
    private static readonly string[] Names = ["alice", "Bob", "CHARLIE", "dana_k", "Eve-2", "frank", "Grace", "heidi"];

    public static List<string> Build(long targetBytes, int seed)
    {
        var rng = new Random(seed);
        var docs = new List<string>();
        long total = 0;
        var sb = new StringBuilder();
        while (total < targetBytes)
        {
            sb.Clear();
            int parts = rng.Next(8, 40);
            for (int p = 0; p < parts; p++)
            {
                switch (rng.Next(10))
                {
                    case 0 or 1 or 2: sb.Append(Mutate(Pick(rng, Prose), rng)); sb.Append(' '); break;
                    case 3: sb.Append(Indent(Pick(rng, Code), rng)); break;
                    case 4: sb.Append("<tool_call>\n").Append(Mutate(Pick(rng, Json), rng)).Append("\n</tool_call>\n"); break;
                    case 5: sb.Append(Pick(rng, Multilingual)).Append(' '); break;
                    case 6: sb.Append(rng.NextInt64(0, 10_000_000_000)).Append('.').Append(rng.Next(100)).Append(' '); break;
                    case 7: sb.Append(Pick(rng, Emoji)).Append(Pick(rng, Emoji)).Append(' '); break;
                    case 8: sb.Append('\n', rng.Next(1, 3)).Append(' ', rng.Next(0, 9)); break;
                    default: sb.Append("<|im_start|>").Append(rng.Next(2) == 0 ? "user" : "assistant").Append('\n'); break;
                }
            }
            var doc = sb.ToString();
            docs.Add(doc);
            total += Encoding.UTF8.GetByteCount(doc);
        }
        return docs;
    }

    private static string Pick(Random rng, string[] xs) => xs[rng.Next(xs.Length)];

    private static string Mutate(string s, Random rng)
    {
        var words = s.Split(' ');
        for (int i = 0; i < words.Length; i++)
        {
            int r = rng.Next(12);
            if (r == 0) words[i] = words[i].ToUpperInvariant();
            else if (r == 1) words[i] = Pick(rng, Names);
            else if (r == 2) words[i] = rng.Next(100_000).ToString();
        }
        return string.Join(' ', words);
    }

    private static string Indent(string code, Random rng)
    {
        var pad = new string(rng.Next(3) == 0 ? '\t' : ' ', rng.Next(0, 3) * 4);
        return string.Join('\n', code.Split('\n').Select(l => l.Length == 0 ? l : pad + l));
    }
}
