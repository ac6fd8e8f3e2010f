using System.Globalization;

namespace ToolTune.Evaluation.Reporting;

/// <summary>
/// A horizontal grouped bar chart of rates (0–100 %) as self-contained SVG: one row per metric, one bar per series
/// (base, tuned), value labels at the bar ends (<c>n/a</c> when not measured), x axis in percent with ticks and grid,
/// a legend and a title. Lower-is-better metrics get a "(lower is better)" suffix on their label.
/// </summary>
public sealed class SvgBarChart
{
    public string Title { get; init; } = "";
    public string XLabel { get; init; } = "value (%)";
    public double Width { get; init; } = 820;

    /// <summary>Series names in bar order (e.g. <c>base</c>, <c>tuned</c>).</summary>
    public required IReadOnlyList<string> SeriesNames { get; init; }

    public IReadOnlyList<string>? Colors { get; init; }

    /// <summary>Rows: label and one value in [0, 1] (or null) per series.</summary>
    public List<(string Label, IReadOnlyList<double?> Values)> Rows { get; } = [];

    /// <summary>The base-vs-tuned chart of every rate metric both models have.</summary>
    public static SvgBarChart ForMetrics(MetricSet tuned, MetricSet? baseline, string title = "Tool-call metrics: base vs tuned")
    {
        var names = baseline is null ? new[] { "tuned" } : ["base", "tuned"];
        var chart = new SvgBarChart
        {
            Title = title,
            SeriesNames = names,
            Colors = baseline is null ? [Svg.Palette[0]] : ["#9a9a9a", Svg.Palette[0]],
        };
        foreach (var m in MetricCatalog.All.Where(m => m.Unit == MetricUnit.Rate))
        {
            if (tuned[m.Name] is null && baseline?[m.Name] is null) continue;
            var label = m.Name + (m.HigherIsBetter ? "" : " (lower is better)");
            chart.Rows.Add((label, baseline is null ? [tuned[m.Name]] : [baseline[m.Name], tuned[m.Name]]));
        }
        return chart;
    }

    public string Render()
    {
        const double bar = 13, barGap = 2, rowGap = 12;
        var nSeries = SeriesNames.Count;
        var rowH = nSeries * bar + (nSeries - 1) * barGap + rowGap;
        var labelW = Rows.Select(r => Svg.TextWidth(r.Label)).DefaultIfEmpty(60).Max();
        double left = labelW + 24, right = 64, top = 66, bottom = 56;
        var pw = Width - left - right;
        var ph = Math.Max(rowH, Rows.Count * rowH);
        var height = top + ph + bottom;
        double X(double v) => left + Math.Clamp(v, 0, 1) * pw;
        var colors = Colors ?? Svg.Palette;

        var sb = Svg.Open(Width, height, Title);
        Svg.Text(sb, left + pw / 2, 24, Title, 16, "middle", weight: "bold");

        // Legend under the title.
        var legendW = SeriesNames.Sum(n => Svg.TextWidth(n) + 40);
        var lx = left + (pw - legendW) / 2;
        for (var i = 0; i < nSeries; i++)
        {
            Svg.Rect(sb, lx, 38, 14, 14, colors[i % colors.Count]);
            Svg.Text(sb, lx + 20, 50, SeriesNames[i], 12);
            lx += Svg.TextWidth(SeriesNames[i]) + 40;
        }

        // Grid, ticks (0..100 % by 20).
        for (var t = 0; t <= 100; t += 20)
        {
            var x = X(t / 100.0);
            Svg.Line(sb, x, top, x, top + ph, t == 0 ? "#222222" : "#e3e3e3", t == 0 ? 1.2 : 1);
            Svg.Line(sb, x, top + ph, x, top + ph + 5);
            Svg.Text(sb, x, top + ph + 19, t.ToString(CultureInfo.InvariantCulture) + "%", 12, "middle");
        }
        Svg.Line(sb, left, top + ph, left + pw, top + ph, "#222222", 1.2);
        Svg.Text(sb, left + pw / 2, height - 12, XLabel, 13, "middle");

        for (var r = 0; r < Rows.Count; r++)
        {
            var (label, values) = Rows[r];
            var y0 = top + rowGap / 2 + r * rowH;
            var groupH = nSeries * bar + (nSeries - 1) * barGap;
            Svg.Text(sb, left - 8, y0 + groupH / 2 + 4, label, 12, "end");
            for (var i = 0; i < nSeries; i++)
            {
                var y = y0 + i * (bar + barGap);
                var v = i < values.Count ? values[i] : null;
                if (v is { } val && double.IsFinite(val))
                {
                    Svg.Rect(sb, left, y, X(val) - left, bar, colors[i % colors.Count]);
                    Svg.Text(sb, X(val) + 4, y + bar - 2.5, (val * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%", 11, fill: "#333333");
                }
                else Svg.Text(sb, left + 4, y + bar - 2.5, "n/a", 11, fill: "#888888");
            }
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    public void Save(string path) => Svg.Save(path, Render());
}
