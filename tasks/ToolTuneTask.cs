using Microsoft.Build.Framework;
using ToolTune.Diagnostics;
using ToolTune.Pipeline.Stages;
using Task = Microsoft.Build.Utilities.Task;

namespace ToolTune.Tasks;

/// <summary>
/// Base of every ToolTune task: a sealed <see cref="Execute"/> that runs <see cref="ExecuteCore"/> and turns
/// the library's <see cref="ToolTuneException"/> into a located, coded MSBuild error. Bugs are not caught:
/// they surface as MSB4018 with a stack trace. Cancellation (Ctrl+C) is honoured through a token;
/// <see cref="Cancel"/> is idempotent and silent because under TaskHostFactory MSBuild calls it repeatedly.
/// </summary>
public abstract class ToolTuneTask : Task, ICancelableTask, IDisposable
{
    private readonly CancellationTokenSource _cts = new();

    /// <summary>The run config (YAML), relative to <see cref="ProjectRoot"/> or absolute.</summary>
    [Required]
    public string ConfigFile { get; set; } = "";

    /// <summary>Project root: relative paths in the config resolve against it.</summary>
    [Required]
    public string ProjectRoot { get; set; } = "";

    /// <summary>Config overrides, <c>train.learning_rate=1e-4;lora.r=8</c> (the <c>Override</c> property).</summary>
    public string? Overrides { get; set; }

    protected CancellationToken Cancellation => _cts.Token;

    public void Cancel() => _cts.Cancel();

    public void Dispose()
    {
        _cts.Dispose();
        GC.SuppressFinalize(this);
    }

    public sealed override bool Execute()
    {
        try
        {
            ExecuteCore();
        }
        catch (ToolTuneMultiException ex)
        {
            foreach (var e in ex.Errors) LogError(e);
        }
        catch (ToolTuneException ex)
        {
            LogError(ex);
        }
        catch (OperationCanceledException) when (_cts.IsCancellationRequested)
        {
            Log.LogError(null, ErrorCodes.StageCanceled, null, null, 0, 0, 0, 0, $"{GetType().Name} canceled; the previous outputs are kept.");
        }
        return !Log.HasLoggedErrors;
    }

    protected abstract void ExecuteCore();

    private void LogError(ToolTuneException ex) =>
        Log.LogError(subcategory: null, ex.Code, helpKeyword: null, ex.File, ex.Line, ex.Column, 0, 0, ex.Message);

    /// <summary>Adapts the library's log to MSBuild's.</summary>
    protected IPipelineLog PipelineLog => new MSBuildPipelineLog(this);

    private sealed class MSBuildPipelineLog(ToolTuneTask task) : IPipelineLog
    {
        public void Message(string text, bool important = false) =>
            task.Log.LogMessage(important ? MessageImportance.High : MessageImportance.Normal, text);

        public void Warning(string code, string message, string? file = null, int line = 0, int column = 0) =>
            task.Log.LogWarning(null, code, null, file, line, column, 0, 0, message);
    }
}
