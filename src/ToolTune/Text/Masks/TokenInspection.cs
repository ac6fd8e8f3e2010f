using System.Globalization;
using System.Text;
using ToolTune.Tensors;

namespace ToolTune.Text.Masks;

/// <summary>Text helpers for showing tokens: whitespace and control characters made visible.</summary>
public static class TokenText
{
    /// <summary>Escapes <c>\n \r \t \\</c> and other control characters (<c>\u0001</c>); everything else is kept.</summary>
    public static string Escape(string s)
    {
        var sb = new StringBuilder(s.Length + 8);
        foreach (var c in s)
        {
            switch (c)
            {
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\\': sb.Append("\\\\"); break;
                default:
                    if (char.IsControl(c) || c == '\u00A0' || c == '\u200B' || c == '\uFEFF')
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        return sb.ToString();
    }
}

/// <summary>One row of the raw-token view: position, id, the text the token covers, special or not, trained or masked.</summary>
public readonly record struct TokenRow(int Index, int Id, string Text, bool Special, bool Trained, int Start, int End)
{
    /// <summary>The token text escaped and quoted so spaces and newlines are visible (<c>" world"</c>, <c>"\n"</c>).</summary>
    public string Display => "\"" + TokenText.Escape(Text).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}

/// <summary>Totals of a raw-token view.</summary>
public readonly record struct TokenTotals(int Tokens, int Trained, int Masked, MaskMethod Method, int AssistantSpans, int Straddling);

/// <summary>The raw-token view users debug masks with (<c>tooltune inspect</c>).</summary>
public static class TokenInspection
{
    /// <summary>
    /// One row per token of <paramref name="sequence"/>. <paramref name="isSpecial"/> tells which ids are added/special
    /// tokens (highlighted by the CLI); <paramref name="decode"/>, when given, supplies the token text for tokens without
    /// an offset (e.g. a post-processor BOS); otherwise the text is the slice of the rendered text the token covers.
    /// </summary>
    public static IReadOnlyList<TokenRow> Rows(MaskedSequence sequence, Func<int, bool>? isSpecial = null, Func<int, string>? decode = null)
    {
        var rows = new TokenRow[sequence.InputIds.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            var id = sequence.InputIds[i];
            var (s, e) = i < sequence.Offsets.Count ? sequence.Offsets[i] : (0, 0);
            string text;
            if (e > s && e <= sequence.Text.Length) text = sequence.Text[s..e];
            else text = decode?.Invoke(id) ?? "";
            rows[i] = new TokenRow(i, id, text, isSpecial?.Invoke(id) ?? false, sequence.Labels[i] != CrossEntropy.IgnoreIndex, s, e);
        }
        return rows;
    }

    public static TokenTotals Totals(MaskedSequence sequence)
    {
        var trained = sequence.TrainedCount;
        return new TokenTotals(sequence.InputIds.Length, trained, sequence.InputIds.Length - trained, sequence.Method, sequence.AssistantSpans.Count, sequence.StraddlingTokens.Count);
    }

    /// <summary>
    /// Formats the rows as a fixed-width table: <c>index  id  TRAIN|mask  "text"</c>, special tokens in brackets (or
    /// ANSI bold magenta when <paramref name="ansi"/>), trained rows green under ANSI; then the totals.
    /// </summary>
    public static void Write(TextWriter writer, MaskedSequence sequence, IReadOnlyList<TokenRow> rows, bool ansi)
    {
        var idWidth = Math.Max(2, rows.Count == 0 ? 2 : rows.Max(r => r.Id).ToString(CultureInfo.InvariantCulture).Length);
        var ixWidth = Math.Max(5, rows.Count.ToString(CultureInfo.InvariantCulture).Length);
        writer.WriteLine($"{"index".PadLeft(ixWidth)}  {"id".PadLeft(idWidth)}  label  token");
        foreach (var r in rows)
        {
            var label = r.Trained ? "TRAIN" : "mask ";
            var text = r.Display;
            if (r.Special) text = ansi ? $"\u001b[1;35m[{text}]\u001b[0m" : $"[{text}]";
            if (ansi && r.Trained) label = $"\u001b[32m{label}\u001b[0m";
            else if (ansi) label = $"\u001b[2m{label}\u001b[0m";
            writer.WriteLine($"{r.Index.ToString(CultureInfo.InvariantCulture).PadLeft(ixWidth)}  {r.Id.ToString(CultureInfo.InvariantCulture).PadLeft(idWidth)}  {label}  {text}");
        }
        var t = Totals(sequence);
        writer.WriteLine();
        writer.WriteLine($"tokens: {t.Tokens}  trained: {t.Trained}  masked: {t.Masked}  assistant spans: {t.AssistantSpans}  method: {t.Method}");
        if (t.Straddling > 0)
            writer.WriteLine($"warning: {t.Straddling} token(s) straddle a prompt/completion boundary (index {string.Join(", ", sequence.StraddlingTokens)}): " +
                "the generation prompt ends inside them, so training tokenizes that boundary differently from serving.");
    }
}
