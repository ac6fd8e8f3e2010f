using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using ToolTune.Pipeline.Stages;

namespace ToolTune.Tests.Pipeline.TestStages;

/// <summary>
/// Registers the test stages (<see cref="SnapshotStage"/>, <see cref="SnapshotSummaryStage"/>) when the assembly that
/// holds them loads: the test assembly for in-process tests, and the sandbox's copy of the library, which
/// <c>PipelineSandbox</c> builds with these files so that its MSBuild task hosts and CLI processes
/// can run them by name (they load only that library).
/// </summary>
internal static class TestStageRegistration
{
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "The stages must be known before any code of their assembly runs, in processes the tests do not control.")]
    internal static void Register()
    {
        StageRegistry.Register(new SnapshotStage());
        StageRegistry.Register(new SnapshotSummaryStage());
    }
}
