using System.Globalization;
using System.Text;
using ToolTune.IO;

namespace ToolTune.Evaluation.Reporting;

/// <summary>Small helpers shared by the hand-written SVG charts.</summary>
internal static class Svg
{
    public const string Font = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

    /// <summary>A colour-blind-safe palette (Okabe–Ito): grey for a baseline, then blue, orange, green, ...</summary>
    public static readonly string[] Palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

    public static string Esc(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");

    public static string N(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>Heckbert's "nice numbers" ticks covering [min, max] with about <paramref name="count"/> ticks.</summary>
    public static (double Lo, double Hi, double Step) NiceTicks(double min, double max, int count = 6)
    {
        if (!double.IsFinite(min) || !double.IsFinite(max)) (min, max) = (0, 1);
        if (max < min) (min, max) = (max, min);
        if (max - min < 1e-12)
        {
            var pad = Math.Abs(max) > 0 ? Math.Abs(max) * 0.1 : 1;
            (min, max) = (min - pad, max + pad);
        }
        var step = NiceNumber((max - min) / Math.Max(1, count - 1), true);
        return (Math.Floor(min / step) * step, Math.Ceiling(max / step) * step, step);
    }

    private static double NiceNumber(double x, bool round)
    {
        var exp = Math.Floor(Math.Log10(x));
        var f = x / Math.Pow(10, exp);
        double nf = round ? (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) : (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10);
        return nf * Math.Pow(10, exp);
    }

    /// <summary>Tick label text with as many decimals as the step needs (thousands as 1.5k).</summary>
    public static string TickLabel(double v, double step)
    {
        if (Math.Abs(v) < step * 1e-9) v = 0;
        if (Math.Abs(step) >= 1000 && Math.Abs(v) >= 1000)
            return (v / 1000).ToString(step % 1000 == 0 ? "0" : "0.#", CultureInfo.InvariantCulture) + "k";
        var decimals = Math.Max(0, (int)Math.Ceiling(-Math.Log10(step) - 1e-9));
        return v.ToString("F" + Math.Min(decimals, 6), CultureInfo.InvariantCulture);
    }

    /// <summary>Approximate width of a 12px sans-serif label (for layout, no font metrics available).</summary>
    public static double TextWidth(string s, double size = 12) => s.Length * size * 0.58;

    public static StringBuilder Open(double width, double height, string title)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture,
            $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{N(width)}\" height=\"{N(height)}\" viewBox=\"0 0 {N(width)} {N(height)}\" role=\"img\" aria-label=\"{Esc(title)}\">\n");
        sb.Append($"<title>{Esc(title)}</title>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"0\" y=\"0\" width=\"{N(width)}\" height=\"{N(height)}\" fill=\"#ffffff\"/>\n");
        return sb;
    }

    public static void Text(StringBuilder sb, double x, double y, string text, double size = 12, string anchor = "start", string fill = "#222222",
        string weight = "normal", double rotate = 0)
    {
        var transform = rotate != 0 ? $" transform=\"rotate({N(rotate)} {N(x)} {N(y)})\"" : "";
        sb.Append(CultureInfo.InvariantCulture,
            $"<text x=\"{N(x)}\" y=\"{N(y)}\" {Font} font-size=\"{N(size)}\" font-weight=\"{weight}\" text-anchor=\"{anchor}\" fill=\"{fill}\"{transform}>{Esc(text)}</text>\n");
    }

    public static void Line(StringBuilder sb, double x1, double y1, double x2, double y2, string stroke = "#444444", double width = 1, string? dash = null)
    {
        var d = dash is null ? "" : $" stroke-dasharray=\"{dash}\"";
        sb.Append(CultureInfo.InvariantCulture,
            $"<line x1=\"{N(x1)}\" y1=\"{N(y1)}\" x2=\"{N(x2)}\" y2=\"{N(y2)}\" stroke=\"{stroke}\" stroke-width=\"{N(width)}\"{d}/>\n");
    }

    public static void Rect(StringBuilder sb, double x, double y, double w, double h, string fill, string? stroke = null)
    {
        var s = stroke is null ? "" : $" stroke=\"{stroke}\"";
        sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{N(x)}\" y=\"{N(y)}\" width=\"{N(Math.Max(0, w))}\" height=\"{N(Math.Max(0, h))}\" fill=\"{fill}\"{s}/>\n");
    }

    /// <summary>Writes an SVG atomically (temp + rename).</summary>
    public static void Save(string path, string svg) => AtomicFile.Write(path, new UTF8Encoding(false).GetBytes(svg));
}
