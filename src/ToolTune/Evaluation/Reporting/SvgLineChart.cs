using System.Globalization;
using System.Text;

namespace ToolTune.Evaluation.Reporting;

/// <summary>One line of a <see cref="SvgLineChart"/>.</summary>
/// <param name="Name">Legend text (e.g. <c>train</c>, <c>validation</c>).</param>
/// <param name="Points">(x, y) points; non-finite y values are skipped (gaps).</param>
/// <param name="Color">Stroke colour; null → palette.</param>
/// <param name="Markers">Draw a dot at each point (for sparse series such as validation loss).</param>
/// <param name="Dashed">Dashed stroke.</param>
public sealed record ChartSeries(string Name, IReadOnlyList<(double X, double Y)> Points, string? Color = null, bool Markers = false, bool Dashed = false);

/// <summary>
/// A line chart as self-contained SVG (no scripts, no external fonts): title, x and y axes with "nice" ticks, grid,
/// axis labels with units, and a legend. TrainLora uses it for <c>loss.svg</c> (train + validation loss per step).
/// </summary>
public sealed class SvgLineChart
{
    public string Title { get; init; } = "";
    public string XLabel { get; init; } = "x";
    public string YLabel { get; init; } = "y";
    public double Width { get; init; } = 760;
    public double Height { get; init; } = 420;

    /// <summary>Force the y axis to include 0 (off by default: loss curves read better zoomed).</summary>
    public bool YIncludesZero { get; init; }

    public List<ChartSeries> Series { get; } = [];

    /// <summary>Loss curve: train loss per step (line) and validation loss (dashed, with markers).</summary>
    public static SvgLineChart LossCurve(IReadOnlyList<(double Step, double Loss)> train, IReadOnlyList<(double Step, double Loss)>? validation = null,
        string title = "Training loss")
    {
        var c = new SvgLineChart { Title = title, XLabel = "optimizer step", YLabel = "loss (nats / token)" };
        c.Series.Add(new ChartSeries("train", train, Svg.Palette[0]));
        if (validation is { Count: > 0 }) c.Series.Add(new ChartSeries("validation", validation, Svg.Palette[1], Markers: true, Dashed: true));
        return c;
    }

    public string Render()
    {
        var pts = Series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
        double xmin = pts.Count > 0 ? pts.Min(p => p.X) : 0, xmax = pts.Count > 0 ? pts.Max(p => p.X) : 1;
        double ymin = pts.Count > 0 ? pts.Min(p => p.Y) : 0, ymax = pts.Count > 0 ? pts.Max(p => p.Y) : 1;
        if (YIncludesZero) ymin = Math.Min(0, ymin);
        var (xlo, xhi, xstep) = Svg.NiceTicks(xmin, xmax, 10);
        var (ylo, yhi, ystep) = Svg.NiceTicks(ymin, ymax, 8);
        if (xmin >= 0 && xlo < 0) xlo = 0;

        var yTickWidth = Enumerable.Range(0, (int)Math.Round((yhi - ylo) / ystep) + 1)
            .Select(i => Svg.TextWidth(Svg.TickLabel(ylo + i * ystep, ystep))).DefaultIfEmpty(20).Max();
        double left = 30 + yTickWidth + 12, right = 20, top = 48, bottom = 58;
        double pw = Width - left - right, ph = Height - top - bottom;
        double X(double x) => left + (x - xlo) / (xhi - xlo) * pw;
        double Y(double y) => top + ph - (y - ylo) / (yhi - ylo) * ph;

        var sb = Svg.Open(Width, Height, Title);
        Svg.Text(sb, Width / 2, 26, Title, 16, "middle", weight: "bold");

        // Grid and ticks.
        for (var v = ylo; v <= yhi + ystep * 1e-6; v += ystep)
        {
            Svg.Line(sb, left, Y(v), left + pw, Y(v), "#e3e3e3");
            Svg.Line(sb, left - 5, Y(v), left, Y(v));
            Svg.Text(sb, left - 8, Y(v) + 4, Svg.TickLabel(v, ystep), 12, "end");
        }
        for (var v = xlo; v <= xhi + xstep * 1e-6; v += xstep)
        {
            Svg.Line(sb, X(v), top, X(v), top + ph, "#f0f0f0");
            Svg.Line(sb, X(v), top + ph, X(v), top + ph + 5);
            Svg.Text(sb, X(v), top + ph + 19, Svg.TickLabel(v, xstep), 12, "middle");
        }
        // Axes.
        Svg.Line(sb, left, top + ph, left + pw, top + ph, "#222222", 1.2);
        Svg.Line(sb, left, top, left, top + ph, "#222222", 1.2);
        Svg.Text(sb, left + pw / 2, Height - 12, XLabel, 13, "middle");
        Svg.Text(sb, 16, top + ph / 2, YLabel, 13, "middle", rotate: -90);

        // Series.
        for (var i = 0; i < Series.Count; i++)
        {
            var s = Series[i];
            var color = s.Color ?? Svg.Palette[i % Svg.Palette.Length];
            var p = s.Points.Where(q => double.IsFinite(q.X) && double.IsFinite(q.Y)).ToList();
            if (p.Count == 0) continue;
            var d = new StringBuilder();
            for (var k = 0; k < p.Count; k++)
                d.Append(CultureInfo.InvariantCulture, $"{(k == 0 ? "M" : " L")}{Svg.N(X(p[k].X))},{Svg.N(Y(p[k].Y))}");
            var dash = s.Dashed ? " stroke-dasharray=\"6 4\"" : "";
            sb.Append(CultureInfo.InvariantCulture, $"<path d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" stroke-linejoin=\"round\"{dash}/>\n");
            if (s.Markers || p.Count == 1)
                foreach (var q in p)
                    sb.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{Svg.N(X(q.X))}\" cy=\"{Svg.N(Y(q.Y))}\" r=\"3.5\" fill=\"{color}\"/>\n");
        }

        // Legend (top right, inside the plot, on a white box).
        if (Series.Count > 0)
        {
            var lw = Series.Max(s => Svg.TextWidth(s.Name)) + 44;
            var lh = Series.Count * 18 + 10;
            double lx = left + pw - lw - 8, ly = top + 8;
            Svg.Rect(sb, lx, ly, lw, lh, "#ffffff", "#bbbbbb");
            for (var i = 0; i < Series.Count; i++)
            {
                var s = Series[i];
                var color = s.Color ?? Svg.Palette[i % Svg.Palette.Length];
                var yy = ly + 14 + i * 18;
                Svg.Line(sb, lx + 8, yy - 4, lx + 30, yy - 4, color, 2, s.Dashed ? "6 4" : null);
                if (s.Markers) sb.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{Svg.N(lx + 19)}\" cy=\"{Svg.N(yy - 4)}\" r=\"3.5\" fill=\"{color}\"/>\n");
                Svg.Text(sb, lx + 36, yy, s.Name, 12);
            }
        }
        if (pts.Count == 0) Svg.Text(sb, left + pw / 2, top + ph / 2, "no data", 14, "middle", "#888888");
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    public void Save(string path) => Svg.Save(path, Render());
}
