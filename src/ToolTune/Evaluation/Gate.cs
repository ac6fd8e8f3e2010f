namespace ToolTune.Evaluation;

/// <summary>An evaluation gate: <c>metric op value</c>; a missed gate fails the build unless <see cref="Warn"/>
/// (<see cref="GateEvaluator.Parse"/> reads one; the run config's <c>eval.gates</c> are these, fingerprinted by these names).</summary>
public sealed record Gate
{
    public string Metric { get; init; } = "";
    public string Op { get; init; } = ">=";
    public double Value { get; init; }
    public bool Warn { get; init; }

    /// <summary>Where the gate is written in the config (1-based; 0 when not from a file): a miss is reported there. Not part of
    /// the stage fingerprint — moving a gate to another line changes nothing to rerun.</summary>
    [System.Text.Json.Serialization.JsonIgnore] public int Line { get; init; }
    [System.Text.Json.Serialization.JsonIgnore] public int Column { get; init; }

    public static IReadOnlyList<string> Ops { get; } = [">=", "<=", ">", "<", "=="];

    public override string ToString() => $"{Metric} {Op} {Value.ToString(System.Globalization.CultureInfo.InvariantCulture)}{(Warn ? " (warn)" : "")}";
}
