namespace ToolTune.Text.Templates;

internal abstract class Node
{
    public int Pos;
}

internal abstract class Expr : Node
{
    /// <summary>Evaluates, converting builtin PyErrors into located template errors.</summary>
    public object? Eval(Renderer r, Scope s)
    {
        try { return EvalCore(r, s); }
        catch (PyError e) { throw r.Locate(e, Pos); }
    }
    protected abstract object? EvalCore(Renderer r, Scope s);
}

internal enum Flow { Normal, Break, Continue }

internal abstract class Stmt : Node
{
    public abstract Flow Exec(Renderer r, Scope s);
}

// ---------------- expressions ----------------
internal sealed class ConstExpr(object? value) : Expr
{
    public object? Value = value;
    protected override object? EvalCore(Renderer r, Scope s) => Value;
}

internal sealed class NameExpr(string name) : Expr
{
    public string Name = name;
    protected override object? EvalCore(Renderer r, Scope s) => s.Lookup(Name);
}

internal sealed class TupleExpr(List<Expr> items) : Expr
{
    public List<Expr> Items = items;
    protected override object? EvalCore(Renderer r, Scope s)
    {
        var a = new object?[Items.Count];
        for (int i = 0; i < a.Length; i++) a[i] = Items[i].Eval(r, s);
        return new PyTuple(a);
    }
}

internal sealed class ListExpr(List<Expr> items) : Expr
{
    public List<Expr> Items = items;
    protected override object? EvalCore(Renderer r, Scope s)
    {
        var a = new List<object?>(Items.Count);
        foreach (var e in Items) a.Add(e.Eval(r, s));
        return a;
    }
}

internal sealed class DictExpr(List<(Expr Key, Expr Value)> pairs) : Expr
{
    public List<(Expr Key, Expr Value)> Pairs = pairs;
    protected override object? EvalCore(Renderer r, Scope s)
    {
        var d = new PyDict();
        foreach (var (k, v) in Pairs)
        {
            var key = k.Eval(r, s);
            if (key is List<object?> or PyDict) throw new PyError($"unhashable type: '{Py.TypeName(key)}'");
            d[PyDict.Key(key)] = v.Eval(r, s);
        }
        return d;
    }
}

internal sealed class GetAttrExpr(Expr obj, string name) : Expr
{
    public Expr Obj = obj;
    public string Name = name;
    protected override object? EvalCore(Renderer r, Scope s) => Access.GetAttr(Obj.Eval(r, s), Name);
}

internal sealed class GetItemExpr(Expr obj, Expr key) : Expr
{
    public Expr Obj = obj;
    public Expr Key = key;
    protected override object? EvalCore(Renderer r, Scope s) => Access.GetItem(Obj.Eval(r, s), Key.Eval(r, s));
}

internal sealed class SliceExpr(Expr obj, Expr? start, Expr? stop, Expr? step) : Expr
{
    public Expr Obj = obj;
    public Expr? Start = start, Stop = stop, Step = step;
    protected override object? EvalCore(Renderer r, Scope s)
    {
        var o = Obj.Eval(r, s);
        if (Obj is ConstExpr or ListExpr or DictExpr or TupleExpr)
        {
            // Jinja2 constant-folds slices of literals through environment.getitem, which yields Undefined on errors.
            try { return Access.Slice(o, Start?.Eval(r, s), Stop?.Eval(r, s), Step?.Eval(r, s)); }
            catch (PyError) { return new Undefined(null, null); }
        }
        return Access.Slice(o, Start?.Eval(r, s), Stop?.Eval(r, s), Step?.Eval(r, s));
    }
}

internal sealed class Args
{
    public List<Expr> Positional = [];
    public List<KeyValuePair<string, Expr>> Keyword = [];
    public Expr? Star;
    public Expr? DoubleStar;

    public (List<object?>, List<KeyValuePair<string, object?>>) Eval(Renderer r, Scope s)
    {
        var a = new List<object?>(Positional.Count);
        foreach (var e in Positional) a.Add(e.Eval(r, s));
        if (Star is not null) a.AddRange(Py.Iterate(Star.Eval(r, s)));
        var k = new List<KeyValuePair<string, object?>>(Keyword.Count);
        foreach (var kv in Keyword) k.Add(new(kv.Key, kv.Value.Eval(r, s)));
        if (DoubleStar is not null)
        {
            if (DoubleStar.Eval(r, s) is not PyDict d) throw new PyError("argument after ** must be a mapping");
            foreach (var kv in d) k.Add(new(Py.Str(PyDict.Unkey(kv.Key)), kv.Value));
        }
        return (a, k);
    }
}

internal sealed class CallExpr(Expr func, Args args) : Expr
{
    public Expr Func = func;
    public Args Args = args;
    protected override object? EvalCore(Renderer r, Scope s)
    {
        var f = Func.Eval(r, s);
        var (a, k) = Args.Eval(r, s);
        return r.Call(f, a, k);
    }
}

internal sealed class FilterExpr(Expr? node, string name, Args args, Filters.FilterFn fn) : Expr
{
    public Expr? Node = node;
    public string Name = name;
    public Args Args = args;
    public Filters.FilterFn Fn = fn;
    protected override object? EvalCore(Renderer r, Scope s) => Apply(r, s, Node!.Eval(r, s));
    public object? Apply(Renderer r, Scope s, object? value)
    {
        var (a, k) = Args.Eval(r, s);
        try { return Fn(r, value, a, k); }
        catch (PyError e) { throw r.Locate(e, Pos); }
    }
}

internal sealed class TestExpr(Expr node, string name, Args args, Tests.TestFn fn) : Expr
{
    public Expr Node = node;
    public string Name = name;
    public Args Args = args;
    public Tests.TestFn Fn = fn;
    protected override object? EvalCore(Renderer r, Scope s)
    {
        var v = Node.Eval(r, s);
        var (a, k) = Args.Eval(r, s);
        return Py.Box(Fn(r, v, a, k));
    }
}

internal sealed class BinExpr(string op, Expr left, Expr right) : Expr
{
    public string Op = op;
    public Expr Left = left, Right = right;
    protected override object? EvalCore(Renderer r, Scope s) => Ops.Binary(r, Op, Left.Eval(r, s), Right.Eval(r, s));
}

internal sealed class ConcatExpr(List<Expr> items) : Expr
{
    public List<Expr> Items = items;
    protected override object? EvalCore(Renderer r, Scope s)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var e in Items) sb.Append(Py.Str(e.Eval(r, s)));
        r.CheckString(sb.Length);
        return sb.ToString();
    }
}

internal sealed class CompareExpr(Expr first, List<(string Op, Expr Right)> rest) : Expr
{
    public Expr First = first;
    public List<(string Op, Expr Right)> Rest = rest;
    protected override object? EvalCore(Renderer r, Scope s)
    {
        var left = First.Eval(r, s);
        foreach (var (op, re) in Rest)
        {
            var right = re.Eval(r, s);
            if (!Ops.Compare(op, left, right)) return Py.False;
            left = right;
        }
        return Py.True;
    }
}

internal sealed class AndExpr(Expr l, Expr rr) : Expr
{
    public Expr L = l, R = rr;
    protected override object? EvalCore(Renderer r, Scope s)
    {
        var a = L.Eval(r, s);
        return Py.Truthy(a) ? R.Eval(r, s) : a;
    }
}

internal sealed class OrExpr(Expr l, Expr rr) : Expr
{
    public Expr L = l, R = rr;
    protected override object? EvalCore(Renderer r, Scope s)
    {
        var a = L.Eval(r, s);
        return Py.Truthy(a) ? a : R.Eval(r, s);
    }
}

internal sealed class NotExpr(Expr e) : Expr
{
    public Expr E = e;
    protected override object? EvalCore(Renderer r, Scope s) => Py.Box(!Py.Truthy(E.Eval(r, s)));
}

internal sealed class NegExpr(Expr e, bool negate) : Expr
{
    public Expr E = e;
    public bool Negate = negate;
    protected override object? EvalCore(Renderer r, Scope s) => Ops.Unary(Negate, E.Eval(r, s));
}

internal sealed class CondExpr(Expr test, Expr then, Expr? otherwise) : Expr
{
    public Expr Test = test, Then = then;
    public Expr? Else = otherwise;
    protected override object? EvalCore(Renderer r, Scope s)
    {
        if (Py.Truthy(Test.Eval(r, s))) return Then.Eval(r, s);
        return Else is null ? new Undefined(null, "the inline if-expression evaluated to false and no else section was defined.") : Else.Eval(r, s);
    }
}

// ---------------- statements ----------------
internal sealed class OutputStmt(string text) : Stmt
{
    public string Text = text;
    public override Flow Exec(Renderer r, Scope s) { r.Write(Text); return Flow.Normal; }
}

internal sealed class PrintStmt(Expr e) : Stmt
{
    public Expr E = e;
    public override Flow Exec(Renderer r, Scope s) { r.Write(Py.Str(E.Eval(r, s))); return Flow.Normal; }
}

internal static class Block
{
    public static Flow Run(List<Stmt> body, Renderer r, Scope s)
    {
        for (int i = 0; i < body.Count; i++)
        {
            r.StmtPos = body[i].Pos;
            var f = body[i].Exec(r, s);
            if (f != Flow.Normal) return f;
        }
        return Flow.Normal;
    }
}

internal sealed class IfStmt : Stmt
{
    public List<(Expr Test, List<Stmt> Body)> Branches = [];
    public List<Stmt>? Else;
    public override Flow Exec(Renderer r, Scope s)
    {
        foreach (var (t, b) in Branches)
            if (Py.Truthy(t.Eval(r, s))) return Block.Run(b, r, s);
        return Else is null ? Flow.Normal : Block.Run(Else, r, s);
    }
}

internal sealed class BreakStmt : Stmt { public override Flow Exec(Renderer r, Scope s) => Flow.Break; }
internal sealed class ContinueStmt : Stmt { public override Flow Exec(Renderer r, Scope s) => Flow.Continue; }

/// <summary>Assignment target: a name, a tuple of targets, or ns.attr.</summary>
internal sealed class Target : Node
{
    public string? Name;
    public List<Target>? Items;
    public string? NsName, NsAttr;

    public void Assign(Renderer r, Scope s, object? value)
    {
        if (Name is not null) { s.Set(Name, value); return; }
        if (NsName is not null)
        {
            var o = s.Lookup(NsName);
            if (o is not Namespace ns) throw r.Locate(new PyError("cannot assign attribute on non-namespace object"), Pos);
            ns.Attrs[NsAttr!] = value;
            return;
        }
        List<object?> vals;
        try { vals = Py.Iterate(value); }
        catch (PyError e) { throw r.Locate(new PyError($"cannot unpack non-iterable {Py.TypeName(value)} object"), Pos, e); }
        if (vals.Count != Items!.Count)
            throw r.Locate(new PyError(vals.Count > Items.Count ? $"too many values to unpack (expected {Items.Count})" : $"not enough values to unpack (expected {Items.Count}, got {vals.Count})"), Pos);
        for (int i = 0; i < vals.Count; i++) Items[i].Assign(r, s, vals[i]);
    }
}

internal sealed class SetStmt(Target target, Expr value) : Stmt
{
    public Target T = target;
    public Expr Value = value;
    public override Flow Exec(Renderer r, Scope s) { T.Assign(r, s, Value.Eval(r, s)); return Flow.Normal; }
}

internal sealed class SetBlockStmt(Target target, List<Stmt> body, List<FilterExpr> filters) : Stmt
{
    public Target T = target;
    public List<Stmt> Body = body;
    public List<FilterExpr> Filters = filters;
    public override Flow Exec(Renderer r, Scope s)
    {
        // Jinja2 renders the block inline in an inner frame: its own scope, but break/continue reach the enclosing loop.
        object? v = r.Capture(Body, new Scope(s), out var flow);
        if (flow != Flow.Normal) return flow;
        foreach (var f in Filters) v = f.Apply(r, s, v);
        T.Assign(r, s, v);
        return Flow.Normal;
    }
}

internal sealed class FilterBlockStmt(List<Stmt> body, List<FilterExpr> filters) : Stmt
{
    public List<Stmt> Body = body;
    public List<FilterExpr> Filters = filters;
    public override Flow Exec(Renderer r, Scope s)
    {
        object? v = r.Capture(Body, new Scope(s), out var flow);
        if (flow != Flow.Normal) return flow;
        foreach (var f in Filters) v = f.Apply(r, s, v);
        r.Write(Py.Str(v));
        return Flow.Normal;
    }
}

internal sealed class WithStmt(List<(Target, Expr)> assigns, List<Stmt> body) : Stmt
{
    public List<(Target T, Expr E)> Assigns = assigns;
    public List<Stmt> Body = body;
    public override Flow Exec(Renderer r, Scope s)
    {
        var inner = new Scope(s);
        foreach (var (t, e) in Assigns) t.Assign(r, inner, e.Eval(r, s));
        return Block.Run(Body, r, inner);
    }
}

internal sealed class ForStmt : Stmt
{
    public Target T = null!;
    public Expr Iter = null!;
    public Expr? Filter;
    public List<Stmt> Body = [];
    public List<Stmt>? Else;
    public bool Recursive;

    public override Flow Exec(Renderer r, Scope s)
    {
        var seq = Iter.Eval(r, s);
        return Run(r, s, seq, 0);
    }

    // A break/continue inside the else block belongs to the enclosing loop (Jinja2 compiles it after the loop).
    private Flow Run(Renderer r, Scope s, object? seq, int depth)
    {
        List<object?> items;
        try { items = Py.Iterate(seq); }
        catch (PyError e) { throw r.Locate(e, Iter.Pos); }
        if (Filter is not null)
        {
            var filtered = new List<object?>(items.Count);
            foreach (var it in items)
            {
                r.CountIteration(Pos);
                var fs = new Scope(s);
                T.Assign(r, fs, it);
                if (Py.Truthy(Filter.Eval(r, fs))) filtered.Add(it);
            }
            items = filtered;
        }
        else if (ReferenceEquals(items, seq)) items = [.. items]; // iterate a snapshot
        if (items.Count == 0)
            return Else is not null ? Block.Run(Else, r, new Scope(s)) : Flow.Normal;
        var loop = new LoopContext(items, depth);
        if (Recursive) loop.Recurse = (inner) => { Run(r, s, inner, depth + 1); return null; };
        for (int i = 0; i < items.Count; i++)
        {
            r.CountIteration(Pos);
            loop.Index0 = i;
            var inner = new Scope(s);
            inner.SetLocal("loop", loop);
            T.Assign(r, inner, items[i]);
            var f = Block.Run(Body, r, inner);
            if (f == Flow.Break) break;
        }
        return Flow.Normal;
    }
}

internal sealed class LoopContext : IPyCallable
{
    public LoopContext(List<object?> items, int depth) { Items = items; Depth0 = depth; }
    public List<object?> Items;
    public int Index0;
    public int Depth0;
    public Func<object?, object?>? Recurse;
    public int Length => Items.Count;
    private object? _lastChanged = Undefined.Instance;
    private bool _hasChanged;

    public object? Get(string name) => name switch
    {
        "index0" => Py.Int(Index0),
        "index" => Py.Int(Index0 + 1),
        "revindex" => Py.Int(Length - Index0),
        "revindex0" => Py.Int(Length - Index0 - 1),
        "first" => Py.Box(Index0 == 0),
        "last" => Py.Box(Index0 == Length - 1),
        "length" => Py.Int(Length),
        "depth" => Py.Int(Depth0 + 1),
        "depth0" => Py.Int(Depth0),
        "previtem" => Index0 > 0 ? Items[Index0 - 1] : new Undefined(null, "there is no previous item"),
        "nextitem" => Index0 < Length - 1 ? Items[Index0 + 1] : new Undefined(null, "there is no next item"),
        "cycle" => new BuiltinFunction("cycle", (r, a, k) =>
        {
            if (a.Count == 0) throw new PyError("no items for cycling given");
            return a[Index0 % a.Count];
        }),
        "changed" => new BuiltinFunction("changed", (r, a, k) =>
        {
            var v = new PyTuple([.. a]);
            if (_hasChanged && Py.Eq(v, _lastChanged)) return Py.False;
            _hasChanged = true; _lastChanged = v; return Py.True;
        }),
        _ => new Undefined(name, $"'LoopContext object' has no attribute '{name}'"),
    };

    public object? Call(Renderer r, List<object?> args, List<KeyValuePair<string, object?>> kwargs)
    {
        if (Recurse is null) throw new PyError("The loop must have the 'recursive' marker to be called recursively.");
        if (args.Count != 1) throw new PyError("loop() takes exactly one argument");
        return r.CaptureCall(() => Recurse(args[0]));
    }
}

internal sealed class MacroStmt : Stmt
{
    public string Name = "";
    public List<string> Params = [];
    public List<Expr?> Defaults = [];
    public List<Stmt> Body = [];
    public bool UsesVarargs, UsesKwargs, UsesCaller;
    public override Flow Exec(Renderer r, Scope s)
    {
        s.Set(Name, new Macro(this, s));
        return Flow.Normal;
    }
}

internal sealed class Macro(MacroStmt def, Scope closure, Macro? caller = null) : IPyCallable
{
    public MacroStmt Def = def;
    public Scope Closure = closure;
    public string Name => Def.Name;

    public object? Call(Renderer r, List<object?> args, List<KeyValuePair<string, object?>> kwargs)
    {
        var s = new Scope(Closure);
        var p = Def.Params;
        var varargs = new List<object?>();
        for (int i = 0; i < args.Count; i++)
        {
            if (i < p.Count) s.SetLocal(p[i], args[i]);
            else varargs.Add(args[i]);
        }
        if (varargs.Count > 0 && !Def.UsesVarargs)
            throw new PyError($"macro '{Name}' takes not more than {p.Count} argument(s)");
        var extra = new PyDict();
        object? callerArg = caller;
        foreach (var kv in kwargs)
        {
            int idx = p.IndexOf(kv.Key);
            if (idx >= 0)
            {
                if (idx < args.Count) throw new PyError($"macro '{Name}' got multiple values for argument '{kv.Key}'");
                s.SetLocal(kv.Key, kv.Value);
            }
            else if (kv.Key == "caller" && Def.UsesCaller) callerArg = kv.Value;
            else if (!Def.UsesKwargs) throw new PyError($"macro '{Name}' takes no keyword argument '{kv.Key}'");
            else extra[kv.Key] = kv.Value;
        }
        for (int i = args.Count; i < p.Count; i++)
        {
            if (s.HasLocal(p[i])) continue;
            var d = Def.Defaults[i];
            s.SetLocal(p[i], d is null ? new Undefined(p[i], $"parameter '{p[i]}' was not provided") : d.Eval(r, s));
        }
        s.SetLocal("varargs", new PyTuple([.. varargs]));
        s.SetLocal("kwargs", extra);
        if (callerArg is not null) s.SetLocal("caller", callerArg);
        return r.CaptureMacro(Def.Body, s);
    }
}

internal sealed class CallBlockStmt(CallExpr call, MacroStmt callerDef) : Stmt
{
    public CallExpr Call = call;
    public MacroStmt CallerDef = callerDef;
    public override Flow Exec(Renderer r, Scope s)
    {
        var f = Call.Func.Eval(r, s);
        var (a, k) = Call.Args.Eval(r, s);
        k.Add(new("caller", new Macro(CallerDef, s)));
        object? result;
        try { result = r.Call(f, a, k); }
        catch (PyError e) { throw r.Locate(e, Call.Pos); }
        r.Write(Py.Str(result));
        return Flow.Normal;
    }
}

internal sealed class GenerationStmt(List<Stmt> body) : Stmt
{
    public List<Stmt> Body = body;
    public override Flow Exec(Renderer r, Scope s)
    {
        string text = r.Capture(Body, new Scope(s));
        int start = r.RootLength;
        // AssistantTracker.is_active(): `rendered_blocks or generation_indices` (both start empty).
        if (r.TopLevelYields > 0 || r.Spans.Count > 0) r.Spans.Add((start, start + text.Length));
        r.Write(text);
        return Flow.Normal;
    }
}

/// <summary>A variable scope (template, loop iteration, macro call).</summary>
internal sealed class Scope(Scope? parent)
{
    private Dictionary<string, object?>? _vars;
    public Scope? Parent = parent;

    public object? Lookup(string name)
    {
        for (var s = this; s is not null; s = s.Parent)
            if (s._vars is not null && s._vars.TryGetValue(name, out var v)) return v;
        return new Undefined(name, null);
    }
    public void Set(string name, object? value) => (_vars ??= [])[name] = value;
    public void SetLocal(string name, object? value) => (_vars ??= [])[name] = value;
    public bool HasLocal(string name) => _vars is not null && _vars.ContainsKey(name);
}
