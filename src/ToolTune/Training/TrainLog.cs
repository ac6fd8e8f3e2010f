using System.Globalization;
using CsvHelper;
using ToolTune.Evaluation.Reporting;
using ToolTune.Lora;

namespace ToolTune.Training;

/// <summary>One row of <c>train-log.csv</c> (one optimizer step).</summary>
public sealed record TrainLogRow
{
    public int Step { get; init; }
    public double Epoch { get; init; }
    public double Loss { get; init; }
    public double Lr { get; init; }
    public double GradNorm { get; init; }
    public long Tokens { get; init; }
    public double TokensPerSecond { get; init; }
    public double Elapsed { get; init; }
    /// <summary>Validation loss when an evaluation ran after this step (else empty).</summary>
    public double? ValLoss { get; init; }
}

/// <summary><c>train-log.csv</c> via CsvHelper (snake_case header) and the <c>loss.svg</c> curve.</summary>
public static class TrainLog
{
    public static readonly string[] Columns = ["step", "epoch", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "elapsed_s", "val_loss"];

    public static string Format(IEnumerable<TrainLogRow> rows, bool header = true)
    {
        using var sw = new StringWriter(CultureInfo.InvariantCulture);
        using (var csv = CsvWriter.Create(sw, null, leaveOpen: true))
        {
            if (header)
            {
                foreach (var c in Columns) csv.WriteField(c);
                csv.EndRecord();
            }
            foreach (var r in rows)
            {
                csv.WriteField(r.Step.ToString(CultureInfo.InvariantCulture));
                csv.WriteField(r.Epoch.ToString("0.####", CultureInfo.InvariantCulture));
                csv.WriteField(r.Loss.ToString("R", CultureInfo.InvariantCulture));
                csv.WriteField(r.Lr.ToString("R", CultureInfo.InvariantCulture));
                csv.WriteField(r.GradNorm.ToString("R", CultureInfo.InvariantCulture));
                csv.WriteField(r.Tokens.ToString(CultureInfo.InvariantCulture));
                csv.WriteField(r.TokensPerSecond.ToString("0.#", CultureInfo.InvariantCulture));
                csv.WriteField(r.Elapsed.ToString("0.###", CultureInfo.InvariantCulture));
                csv.WriteField(r.ValLoss?.ToString("R", CultureInfo.InvariantCulture) ?? "");
                csv.EndRecord();
            }
            csv.Flush();
        }
        return sw.ToString();
    }

    public static void Write(string path, IEnumerable<TrainLogRow> rows) => AtomicFile.WriteAllText(path, Format(rows));

    /// <summary>Appends one row (the file must exist with its header: <see cref="Write"/> at run start).</summary>
    public static void Append(string path, TrainLogRow row) => File.AppendAllText(path, Format([row], header: false));

    public static List<TrainLogRow> Read(string path)
    {
        var rows = new List<TrainLogRow>();
        if (!File.Exists(path)) return rows;
        using var reader = new StreamReader(path);
        using var csv = CsvReader.Create(reader, null, leaveOpen: false);
        static double D(string? s) => double.Parse(s!, CultureInfo.InvariantCulture);
        while (csv.Read())
        {
            var v = csv.GetString("val_loss");
            rows.Add(new TrainLogRow
            {
                Step = int.Parse(csv.GetString("step")!, CultureInfo.InvariantCulture), Epoch = D(csv.GetString("epoch")),
                Loss = D(csv.GetString("loss")), Lr = D(csv.GetString("lr")), GradNorm = D(csv.GetString("grad_norm")),
                Tokens = long.Parse(csv.GetString("tokens")!, CultureInfo.InvariantCulture), TokensPerSecond = D(csv.GetString("tokens_per_s")),
                Elapsed = D(csv.GetString("elapsed_s")), ValLoss = string.IsNullOrEmpty(v) ? null : D(v),
            });
        }
        return rows;
    }

    /// <summary><c>loss.svg</c>: train loss per step and validation loss where evaluated.</summary>
    public static void WriteLossSvg(string path, IReadOnlyList<TrainLogRow> rows)
    {
        var train = rows.Select(r => ((double)r.Step, r.Loss)).ToList();
        var val = rows.Where(r => r.ValLoss is not null).Select(r => ((double)r.Step, r.ValLoss!.Value)).ToList();
        var chart = SvgLineChart.LossCurve(train, val.Count > 0 ? val : null);
        AtomicFile.WriteAllText(path, chart.Render());
    }
}
