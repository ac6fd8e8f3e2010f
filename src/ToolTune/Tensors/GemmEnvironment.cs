namespace ToolTune.Tensors;

/// <summary>
/// The GEMM's environment knobs, read once per process: <c>TOOLTUNE_GEMM_PATH</c> forces a path
/// (<see cref="GemmPath"/> name, case-insensitive; an unsupported one falls back to the best supported path) and
/// <c>TOOLTUNE_GEMM_CHUNKS</c> sets the work chunks per thread of a parallel GEMM (1–64, default 3).
/// </summary>
internal static class GemmEnvironment
{
    /// <summary>The path named by <c>TOOLTUNE_GEMM_PATH</c>, or null when it is unset, unparsable or <c>Auto</c>.</summary>
    public static GemmPath? ForcedPath { get; } =
        Enum.TryParse<GemmPath>(Environment.GetEnvironmentVariable("TOOLTUNE_GEMM_PATH"), ignoreCase: true, out var p) && p != GemmPath.Auto ? p : null;

    /// <summary>Work chunks per thread in a parallel GEMM (<c>TOOLTUNE_GEMM_CHUNKS</c>, default 3).</summary>
    public static int ChunksPerThread { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("TOOLTUNE_GEMM_CHUNKS"), out var c) && c is > 0 and <= 64 ? c : 3;
}
