using System.Text;
using ToolTune.Diagnostics;

namespace ToolTune.Text.Templates;

/// <summary>Per-render state: output buffers, limits, generation spans.</summary>
internal sealed class Renderer
{
    private readonly SourceMap _map;
    private readonly StringBuilder _root = new();
    private StringBuilder _out;
    private long _iterations;
    private int _depth;

    public Renderer(SourceMap map, RenderOptions options)
    {
        _map = map;
        _out = _root;
        Options = options;
        Now = options.Now ?? DateTime.Now;
    }

    public RenderOptions Options { get; }
    /// <summary>Source offset of the statement being executed (locates output-limit errors).</summary>
    public int StmtPos;
    public DateTime Now { get; }
    public List<(int Start, int End)> Spans { get; } = [];
    public int RootLength => _root.Length;
    public string Result => _root.ToString();

    /// <summary>
    /// Number of chunks the top-level template has yielded. transformers' AssistantTracker only records a span when
    /// something (even an empty string) was already yielded or a span was already recorded.
    /// </summary>
    public int TopLevelYields;

    public void Write(string s)
    {
        if (ReferenceEquals(_out, _root)) TopLevelYields++;
        _out.Append(s);
        if (_out.Length > Options.MaxOutputChars)
            throw _map.Error(ErrorCodes.TemplateLimitExceeded, $"Rendered output exceeds the limit of {Options.MaxOutputChars} characters.", StmtPos);
    }

    public void CheckString(long length)
    {
        if (length > Options.MaxOutputChars)
            throw new LimitError($"String of {length} characters exceeds the output limit of {Options.MaxOutputChars} characters.");
    }

    /// <summary><paramref name="unit"/> items repeated <paramref name="times"/> times; checked by division, as the
    /// product of two template-chosen numbers can overflow a long (and would then pass a size check).</summary>
    public void CheckRepeat(long unit, long times)
    {
        if (unit > 0 && times > Options.MaxOutputChars / unit)
            throw new LimitError($"Repeating {unit} items {times} times exceeds the output limit of {Options.MaxOutputChars} characters.");
    }

    public void CountIteration(int pos)
    {
        if (++_iterations > Options.MaxLoopIterations)
            throw _map.Error(ErrorCodes.TemplateLimitExceeded, $"Loop iterations exceed the limit of {Options.MaxLoopIterations}.", pos);
    }

    public string Capture(List<Stmt> body, Scope s) => Capture(body, s, out _);

    /// <summary>Renders into a fresh buffer; <paramref name="flow"/> reports a break/continue that left the body early.</summary>
    public string Capture(List<Stmt> body, Scope s, out Flow flow)
    {
        var saved = _out;
        _out = new StringBuilder();
        try
        {
            flow = Block.Run(body, this, s);
            return _out.ToString();
        }
        finally { _out = saved; }
    }

    public string CaptureCall(Func<object?> action)
    {
        var saved = _out;
        _out = new StringBuilder();
        try
        {
            action();
            return _out.ToString();
        }
        finally { _out = saved; }
    }

    public string CaptureMacro(List<Stmt> body, Scope s)
    {
        if (++_depth > Options.MaxRecursionDepth)
        {
            _depth = 0;
            throw new LimitError($"Macro recursion depth exceeds the limit of {Options.MaxRecursionDepth}.");
        }
        try
        {
            if (_depth % 64 == 0) return RunOnBigStack(body, s);
            return Capture(body, s);
        }
        finally { if (_depth > 0) _depth--; }
    }

    private string RunOnBigStack(List<Stmt> body, Scope s)
    {
        // Deep macro recursion: every 64 levels continue on a fresh thread with its own stack, so the
        // configured depth limit (not the CLR stack of whatever thread called Render) decides when to stop.
        string? result = null;
        Exception? error = null;
        var t = new Thread(() =>
        {
            try { result = Capture(body, s); }
            catch (Exception e) { error = e; }
        }, 16 * 1024 * 1024);
        t.Start();
        t.Join();
        if (error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
        return result!;
    }

    public object? Call(object? f, List<object?> args, List<KeyValuePair<string, object?>> kwargs)
    {
        switch (f)
        {
            case IPyCallable c: return c.Call(this, args, kwargs);
            case Undefined u:
                if (u.Unsafe) throw new PyError(u.Hint!);
                throw u.Fail();
            default: throw new PyError($"'{Py.TypeName(f)}' object is not callable");
        }
    }

    public Exception Locate(PyError e, int pos, Exception? inner = null)
    {
        var code = e switch
        {
            LimitError => ErrorCodes.TemplateLimitExceeded,
            RaisedError => ErrorCodes.TemplateRaisedException,
            _ => ErrorCodes.TemplateRuntime,
        };
        return _map.Error(code, e.Message, pos, inner ?? e);
    }
}
