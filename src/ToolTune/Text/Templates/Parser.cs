using ToolTune.Diagnostics;

namespace ToolTune.Text.Templates;

/// <summary>Recursive-descent parser following jinja2/parser.py (precedence and statement set).</summary>
internal sealed class Parser
{
    private readonly List<Token> _t;
    private readonly SourceMap _map;
    private int _i;
    private readonly List<(string Tag, int Pos)> _stack = [];
    private int _loopDepth;
    private readonly List<HashSet<string>> _macroNames = [];

    public Parser(List<Token> tokens, SourceMap map) { _t = tokens; _map = map; }

    public static List<Stmt> Parse(List<Token> tokens, SourceMap map)
    {
        var p = new Parser(tokens, map);
        var body = p.Subparse(null);
        return body;
    }

    private Token Cur => _t[_i];
    private Token Peek(int k = 1) => _t[Math.Min(_i + k, _t.Count - 1)];
    private Token Next() => _t[_i++];

    private ToolTuneException Err(string msg, int pos) => _map.Error(ErrorCodes.TemplateSyntax, msg, pos);
    private ToolTuneException Err(string msg) => Err(msg, Cur.Pos);

    private bool IsOp(string op) => Cur.Type == TokenType.Op && Cur.Value == op;
    private bool IsName(string n) => Cur.Type == TokenType.Name && Cur.Value == n;
    private bool SkipOp(string op) { if (IsOp(op)) { _i++; return true; } return false; }
    private bool SkipName(string n) { if (IsName(n)) { _i++; return true; } return false; }

    private void ExpectOp(string op)
    {
        if (!IsOp(op)) throw Err($"expected token '{op}', got {Describe(Cur)}");
        _i++;
    }
    private string ExpectName()
    {
        if (Cur.Type != TokenType.Name) throw Err($"expected token 'name', got {Describe(Cur)}");
        return Next().Value;
    }
    private void ExpectBlockEnd()
    {
        if (Cur.Type != TokenType.BlockEnd) throw Err($"expected token 'end of statement block', got {Describe(Cur)}");
        _i++;
    }
    private static string Describe(Token t) => t.ToString();

    private ToolTuneException EndOfTemplate(string[]? ends)
    {
        var msg = "Unexpected end of template.";
        if (ends is not null && ends.Length > 0)
            msg += " Jinja was looking for the following tags: " + string.Join(" or ", ends.Select(e => $"'{e}'")) + ".";
        if (_stack.Count > 0)
        {
            msg += $" The innermost block that needs to be closed is '{_stack[^1].Tag}'.";
            return Err(msg, _stack[^1].Pos);
        }
        return Err(msg);
    }

    /// <summary>Parse statements until a block tag whose name is in <paramref name="ends"/> (left unconsumed after '{%').</summary>
    private List<Stmt> Subparse(string[]? ends)
    {
        var body = new List<Stmt>();
        while (true)
        {
            var t = Cur;
            switch (t.Type)
            {
                case TokenType.Data:
                    _i++;
                    body.Add(new OutputStmt(t.Value) { Pos = t.Pos });
                    break;
                case TokenType.VarBegin:
                    _i++;
                    {
                        var e = ParseTuple();
                        if (Cur.Type != TokenType.VarEnd) throw Err($"expected token 'end of print statement', got {Describe(Cur)}");
                        _i++;
                        body.Add(new PrintStmt(e) { Pos = t.Pos });
                    }
                    break;
                case TokenType.BlockBegin:
                    _i++;
                    if (Cur.Type != TokenType.Name) throw Err("tag name expected");
                    if (ends is not null && ends.Contains(Cur.Value)) return body;
                    body.Add(ParseStatement(ends));
                    break;
                case TokenType.Eof:
                    if (ends is not null) throw EndOfTemplate(ends);
                    return body;
                default:
                    throw Err($"unexpected {Describe(t)}");
            }
        }
    }

    private static readonly HashSet<string> EndTags = ["endfor", "endif", "endmacro", "endcall", "endset", "endfilter", "endwith", "endgeneration", "else", "elif", "endblock", "endraw"];

    private Stmt ParseStatement(string[]? outerEnds)
    {
        var tok = Cur;
        string tag = tok.Value;
        if (_stack.Count >= MaxNesting) throw Err($"Block nesting exceeds {MaxNesting} levels.", tok.Pos);
        _stack.Add((tag, tok.Pos));
        try
        {
            _i++;
            Stmt s = tag switch
            {
                "if" => ParseIf(),
                "for" => ParseFor(),
                "set" => ParseSet(),
                "macro" => ParseMacro(),
                "call" => ParseCallBlock(),
                "filter" => ParseFilterBlock(),
                "with" => ParseWith(),
                "generation" => ParseGeneration(),
                "break" => LoopControl(new BreakStmt(), "break", tok.Pos),
                "continue" => LoopControl(new ContinueStmt(), "continue", tok.Pos),
                _ => throw UnknownTag(tag, tok.Pos, outerEnds),
            };
            s.Pos = tok.Pos;
            return s;
        }
        finally { _stack.RemoveAt(_stack.Count - 1); }
    }

    private ToolTuneException UnknownTag(string tag, int pos, string[]? outerEnds)
    {
        if (tag is "extends" or "include" or "import" or "from" or "block")
            return Err($"Tag '{tag}' is not supported: chat templates render without a loader (sandbox).", pos);
        if (EndTags.Contains(tag) || tag.StartsWith("end", StringComparison.Ordinal))
        {
            var msg = $"Encountered unknown tag '{tag}'.";
            if (outerEnds is not null && outerEnds.Length > 0)
                msg += " Jinja was looking for the following tags: " + string.Join(" or ", outerEnds.Select(e => $"'{e}'")) + ".";
            else msg += " You probably made a nesting mistake.";
            if (_stack.Count > 1) msg += $" The innermost block that needs to be closed is '{_stack[^2].Tag}'.";
            return Err(msg, pos);
        }
        return Err($"Encountered unknown tag '{tag}'.", pos);
    }

    private Stmt LoopControl(Stmt s, string tag, int pos)
    {
        if (_loopDepth == 0) throw Err($"'{tag}' outside loop", pos);
        ExpectBlockEnd();
        return s;
    }

    /// <summary>Macro and call-block bodies are functions: loop controls inside do not reach enclosing loops.</summary>
    private List<Stmt> SubparseFunctionBody(string[] ends)
    {
        var saved = _loopDepth;
        _loopDepth = 0;
        try { return Subparse(ends); }
        finally { _loopDepth = saved; }
    }

    private Stmt ParseIf()
    {
        var node = new IfStmt();
        var test = ParseTuple(withCondExpr: false);
        ExpectBlockEnd();
        while (true)
        {
            var body = Subparse(["elif", "else", "endif"]);
            node.Branches.Add((test, body));
            var which = Next().Value;
            if (which == "elif") { test = ParseTuple(withCondExpr: false); ExpectBlockEnd(); continue; }
            if (which == "else")
            {
                ExpectBlockEnd();
                node.Else = Subparse(["endif"]);
                _i++;
            }
            ExpectBlockEnd();
            return node;
        }
    }

    private Stmt ParseFor()
    {
        var node = new ForStmt();
        node.T = ParseAssignTarget(allowNs: false, extraEnd: "in");
        if (!SkipName("in")) throw Err($"expected token 'in', got {Describe(Cur)}");
        node.Iter = ParseTuple(withCondExpr: false, extraEndName: "recursive");
        if (SkipName("if")) node.Filter = ParseExpression();
        if (SkipName("recursive")) node.Recursive = true;
        ExpectBlockEnd();
        _loopDepth++;
        try { node.Body = Subparse(["endfor", "else"]); }
        finally { _loopDepth--; }
        if (Next().Value == "else")
        {
            ExpectBlockEnd();
            node.Else = Subparse(["endfor"]);
            _i++;
        }
        ExpectBlockEnd();
        return node;
    }

    private Stmt ParseSet()
    {
        var target = ParseAssignTarget(allowNs: true);
        if (SkipOp("="))
        {
            var e = ParseTuple();
            ExpectBlockEnd();
            return new SetStmt(target, e);
        }
        var filters = ParseFilterChain();
        ExpectBlockEnd();
        var body = Subparse(["endset"]);
        _i++;
        ExpectBlockEnd();
        return new SetBlockStmt(target, body, filters);
    }

    private List<FilterExpr> ParseFilterChain()
    {
        var list = new List<FilterExpr>();
        while (SkipOp("|")) list.Add(ParseFilter(null));
        return list;
    }

    private Stmt ParseFilterBlock()
    {
        var filters = new List<FilterExpr> { ParseFilter(null) };
        filters.AddRange(ParseFilterChain());
        ExpectBlockEnd();
        var body = Subparse(["endfilter"]);
        _i++;
        ExpectBlockEnd();
        return new FilterBlockStmt(body, filters);
    }

    private Stmt ParseWith()
    {
        var assigns = new List<(Target, Expr)>();
        while (Cur.Type != TokenType.BlockEnd)
        {
            if (assigns.Count > 0) ExpectOp(",");
            var t = ParseAssignTarget(allowNs: false);
            ExpectOp("=");
            assigns.Add((t, ParseExpression()));
        }
        ExpectBlockEnd();
        var body = Subparse(["endwith"]);
        _i++;
        ExpectBlockEnd();
        return new WithStmt(assigns, body);
    }

    private Stmt ParseGeneration()
    {
        ExpectBlockEnd();
        // AssistantTracker turns the body into a CallBlock caller: a function (own scope, no enclosing loop).
        var body = SubparseFunctionBody(["endgeneration"]);
        _i++;
        ExpectBlockEnd();
        return new GenerationStmt(body);
    }

    private void ParseSignature(MacroStmt m)
    {
        ExpectOp("(");
        while (!IsOp(")"))
        {
            if (m.Params.Count > 0) ExpectOp(",");
            if (IsOp(")")) break;
            var name = ExpectName();
            Expr? def = null;
            if (SkipOp("=")) def = ParseExpression();
            else if (m.Defaults.Any(d => d is not null)) throw Err("non-default argument follows default argument");
            m.Params.Add(name);
            m.Defaults.Add(def);
        }
        ExpectOp(")");
    }

    private NameExpr NewName(Token t)
    {
        foreach (var set in _macroNames) set.Add(t.Value);
        return new NameExpr(t.Value) { Pos = t.Pos };
    }

    private List<Stmt> ParseMacroBody(MacroStmt m, string end)
    {
        var names = new HashSet<string>();
        _macroNames.Add(names);
        try { return SubparseFunctionBody([end]); }
        finally
        {
            _macroNames.RemoveAt(_macroNames.Count - 1);
            m.UsesVarargs = names.Contains("varargs");
            m.UsesKwargs = names.Contains("kwargs");
            m.UsesCaller = names.Contains("caller");
        }
    }

    private Stmt ParseMacro()
    {
        var m = new MacroStmt { Name = ExpectName() };
        ParseSignature(m);
        ExpectBlockEnd();
        m.Body = ParseMacroBody(m, "endmacro");
        _i++;
        ExpectBlockEnd();
        return m;
    }

    private Stmt ParseCallBlock()
    {
        var caller = new MacroStmt { Name = "caller" };
        if (IsOp("(")) ParseSignature(caller);
        var pos = Cur.Pos;
        var e = ParseExpression();
        if (e is not CallExpr call) throw Err("expected call", pos);
        ExpectBlockEnd();
        caller.Body = ParseMacroBody(caller, "endcall");
        _i++;
        ExpectBlockEnd();
        return new CallBlockStmt(call, caller);
    }

    private Target ParseAssignTarget(bool allowNs, string? extraEnd = null)
    {
        var first = ParseSingleTarget(allowNs);
        if (!IsOp(",")) return first;
        var t = new Target { Items = [first], Pos = first.Pos };
        while (SkipOp(","))
        {
            if (Cur.Type != TokenType.Name || (extraEnd is not null && IsName(extraEnd))) break;
            t.Items.Add(ParseSingleTarget(false));
        }
        return t;
    }

    private Target ParseSingleTarget(bool allowNs)
    {
        var pos = Cur.Pos;
        if (SkipOp("("))
        {
            var inner = ParseAssignTarget(false);
            ExpectOp(")");
            if (inner.Items is null) inner = new Target { Items = [inner], Pos = pos };
            return inner;
        }
        var name = ExpectName();
        if (allowNs && IsOp(".") && Peek().Type == TokenType.Name)
        {
            _i++;
            return new Target { NsName = name, NsAttr = Next().Value, Pos = pos };
        }
        if (name is "true" or "false" or "none" or "True" or "False" or "None") throw Err($"Can't assign to '{name}'", pos);
        return new Target { Name = name, Pos = pos };
    }

    // ---------------- expressions ----------------

    public Expr ParseExpression(bool withCondExpr = true) => withCondExpr ? ParseCondExpr() : ParseOr();

    private Expr ParseCondExpr()
    {
        var pos = Cur.Pos;
        var e1 = ParseOr();
        while (SkipName("if"))
        {
            var e2 = ParseOr();
            Expr? e3 = null;
            if (SkipName("else"))
            {
                if (++_exprDepth > MaxNesting) throw Err($"Expression nesting exceeds {MaxNesting} levels.");
                try { e3 = ParseCondExpr(); }
                finally { _exprDepth--; }
            }
            e1 = new CondExpr(e2, e1, e3) { Pos = pos };
        }
        return e1;
    }

    private Expr ParseOr()
    {
        int chain = 0;
        try
        {
            var l = ParseAnd();
            while (IsName("or")) { var p = Next().Pos; Deepen(ref chain); l = new OrExpr(l, ParseAnd()) { Pos = p }; }
            return l;
        }
        finally { _exprDepth -= chain; }
    }

    private Expr ParseAnd()
    {
        int chain = 0;
        try
        {
            var l = ParseNot();
            while (IsName("and")) { var p = Next().Pos; Deepen(ref chain); l = new AndExpr(l, ParseNot()) { Pos = p }; }
            return l;
        }
        finally { _exprDepth -= chain; }
    }

    private Expr ParseNot()
    {
        if (IsName("not"))
        {
            var p = Next().Pos;
            if (++_exprDepth > MaxNesting) throw Err($"Expression nesting exceeds {MaxNesting} levels.");
            try { return new NotExpr(ParseNot()) { Pos = p }; }
            finally { _exprDepth--; }
        }
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var pos = Cur.Pos;
        var expr = ParseMath1();
        var ops = new List<(string, Expr)>();
        while (true)
        {
            if (Cur.Type == TokenType.Op && Cur.Value is "==" or "!=" or "<" or ">" or "<=" or ">=")
            {
                var op = Next().Value;
                ops.Add((op, ParseMath1()));
            }
            else if (SkipName("in")) ops.Add(("in", ParseMath1()));
            else if (IsName("not") && Peek().Type == TokenType.Name && Peek().Value == "in") { _i += 2; ops.Add(("notin", ParseMath1())); }
            else break;
        }
        return ops.Count == 0 ? expr : new CompareExpr(expr, ops) { Pos = pos };
    }

    private Expr ParseMath1()
    {
        int chain = 0;
        try
        {
            var l = ParseConcat();
            while (Cur.Type == TokenType.Op && Cur.Value is "+" or "-")
            {
                var t = Next();
                Deepen(ref chain);
                l = new BinExpr(t.Value, l, ParseConcat()) { Pos = t.Pos };
            }
            return l;
        }
        finally { _exprDepth -= chain; }
    }

    private Expr ParseConcat()
    {
        var pos = Cur.Pos;
        var first = ParseMath2();
        if (!IsOp("~")) return first;
        var items = new List<Expr> { first };
        while (SkipOp("~")) items.Add(ParseMath2());
        return new ConcatExpr(items) { Pos = pos };
    }

    private Expr ParseMath2()
    {
        int chain = 0;
        try
        {
            var l = ParsePow();
            while (Cur.Type == TokenType.Op && Cur.Value is "*" or "/" or "//" or "%")
            {
                var t = Next();
                Deepen(ref chain);
                l = new BinExpr(t.Value, l, ParsePow()) { Pos = t.Pos };
            }
            return l;
        }
        finally { _exprDepth -= chain; }
    }

    private Expr ParsePow()
    {
        int chain = 0;
        try
        {
            var l = ParseUnary();
            while (IsOp("**"))
            {
                var t = Next();
                Deepen(ref chain);
                l = new BinExpr("**", l, ParseUnary()) { Pos = t.Pos };
            }
            return l;
        }
        finally { _exprDepth -= chain; }
    }

    private const int MaxNesting = 400;
    private int _exprDepth;

    /// <summary>
    /// Every operator applied in a chain (a + b + c, x.y.z, v|f|g, a and b and c) deepens the expression tree by one,
    /// like a nested sub-expression does; both count against <see cref="MaxNesting"/>, so evaluation recursion is bounded.
    /// </summary>
    private void Deepen(ref int chain)
    {
        chain++;
        if (++_exprDepth > MaxNesting) throw Err($"Expression nesting exceeds {MaxNesting} levels.");
    }

    private Expr ParseUnary(bool withFilter = true)
    {
        if (++_exprDepth > MaxNesting) throw Err($"Expression nesting exceeds {MaxNesting} levels.");
        try { return ParseUnaryCore(withFilter); }
        finally { _exprDepth--; }
    }

    private Expr ParseUnaryCore(bool withFilter)
    {
        var t = Cur;
        Expr node;
        if (IsOp("-")) { _i++; node = new NegExpr(ParseUnary(false), true) { Pos = t.Pos }; }
        else if (IsOp("+")) { _i++; node = new NegExpr(ParseUnary(false), false) { Pos = t.Pos }; }
        else node = ParsePrimary();
        node = ParsePostfix(node);
        if (withFilter) node = ParseFilterExpr(node);
        return node;
    }

    private Expr ParsePrimary()
    {
        var t = Cur;
        switch (t.Type)
        {
            case TokenType.Name:
                _i++;
                return t.Value switch
                {
                    "true" or "True" => new ConstExpr(Py.True) { Pos = t.Pos },
                    "false" or "False" => new ConstExpr(Py.False) { Pos = t.Pos },
                    "none" or "None" => new ConstExpr(null) { Pos = t.Pos },
                    _ => NewName(t),
                };
            case TokenType.String:
                {
                    _i++;
                    var s = (string)t.Literal!;
                    while (Cur.Type == TokenType.String) s += (string)Next().Literal!;
                    return new ConstExpr(s) { Pos = t.Pos };
                }
            case TokenType.Int:
                _i++;
                return new ConstExpr(t.Literal is long l ? Py.Int(l) : t.Literal) { Pos = t.Pos };
            case TokenType.Float:
                _i++;
                return new ConstExpr(t.Literal) { Pos = t.Pos };
            case TokenType.Op when t.Value == "(":
                {
                    _i++;
                    var e = ParseTuple(explicitParens: true);
                    ExpectOp(")");
                    return e;
                }
            case TokenType.Op when t.Value == "[":
                {
                    _i++;
                    var items = new List<Expr>();
                    while (!IsOp("]"))
                    {
                        if (items.Count > 0) ExpectOp(",");
                        if (IsOp("]")) break;
                        items.Add(ParseExpression());
                    }
                    ExpectOp("]");
                    return new ListExpr(items) { Pos = t.Pos };
                }
            case TokenType.Op when t.Value == "{":
                {
                    _i++;
                    var pairs = new List<(Expr, Expr)>();
                    while (!IsOp("}"))
                    {
                        if (pairs.Count > 0) ExpectOp(",");
                        if (IsOp("}")) break;
                        var k = ParseExpression();
                        ExpectOp(":");
                        pairs.Add((k, ParseExpression()));
                    }
                    ExpectOp("}");
                    return new DictExpr(pairs) { Pos = t.Pos };
                }
            case TokenType.Eof:
                throw Err("unexpected end of template");
            default:
                throw Err($"unexpected {Describe(t)}");
        }
    }

    /// <summary>jinja2 parse_tuple: comma-separated expressions form a tuple.</summary>
    private Expr ParseTuple(bool withCondExpr = true, bool explicitParens = false, string? extraEndName = null)
    {
        var pos = Cur.Pos;
        var items = new List<Expr>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0) { if (!SkipOp(",")) break; isTuple = true; }
            if (IsTupleEnd(extraEndName)) break;
            items.Add(ParseExpression(withCondExpr));
            if (!IsOp(",")) break;
        }
        if (!isTuple)
        {
            if (items.Count == 1) return items[0];
            if (!explicitParens) throw Err($"Expected an expression, got {Describe(Cur)}");
        }
        return new TupleExpr(items) { Pos = pos };
    }

    private bool IsTupleEnd(string? extraEndName)
    {
        var t = Cur;
        if (t.Type is TokenType.VarEnd or TokenType.BlockEnd or TokenType.Eof) return true;
        if (t.Type == TokenType.Op && t.Value == ")") return true;
        if (extraEndName is not null && t.Type == TokenType.Name && t.Value == extraEndName) return true;
        return false;
    }

    private Expr ParsePostfix(Expr node)
    {
        int chain = 0;
        try
        {
            while (true)
            {
                if (IsOp(".") || IsOp("[")) { Deepen(ref chain); node = ParseSubscript(node); }
                else if (IsOp("(")) { Deepen(ref chain); node = ParseCall(node); }
                else return node;
            }
        }
        finally { _exprDepth -= chain; }
    }

    private Expr ParseFilterExpr(Expr node)
    {
        int chain = 0;
        try
        {
            while (true)
            {
                if (IsOp("|")) { _i++; Deepen(ref chain); node = ParseFilter(node); }
                else if (IsName("is")) { Deepen(ref chain); node = ParseTest(node); }
                else if (IsOp("(")) { Deepen(ref chain); node = ParseCall(node); }
                else return node;
            }
        }
        finally { _exprDepth -= chain; }
    }

    private Expr ParseSubscript(Expr node)
    {
        var t = Next();
        if (t.Value == ".")
        {
            var a = Cur;
            if (a.Type == TokenType.Name) { _i++; return new GetAttrExpr(node, a.Value) { Pos = t.Pos }; }
            if (a.Type == TokenType.Int) { _i++; return new GetItemExpr(node, new ConstExpr(a.Literal is long l ? Py.Int(l) : a.Literal)) { Pos = t.Pos }; }
            throw Err("expected name or number");
        }
        // '['
        var args = new List<Expr>();
        Expr? result = null;
        while (!IsOp("]"))
        {
            if (args.Count > 0 || result is not null) { ExpectOp(","); }
            var sub = ParseSubscribed(node, t.Pos);
            if (sub is SliceExpr sl) { result = sl; }
            else args.Add(sub);
        }
        ExpectOp("]");
        if (result is not null)
        {
            if (args.Count > 0) throw Err("multi-dimensional slicing is not supported", t.Pos);
            return result;
        }
        if (args.Count == 0) throw Err("expected subscript expression", t.Pos);
        Expr key = args.Count == 1 ? args[0] : new TupleExpr(args) { Pos = args[0].Pos };
        return new GetItemExpr(node, key) { Pos = t.Pos };
    }

    private Expr ParseSubscribed(Expr obj, int pos)
    {
        Expr? start = null;
        if (!IsOp(":"))
        {
            start = ParseExpression();
            if (!IsOp(":")) return start;
        }
        _i++; // ':'
        Expr? stop = null, step = null;
        if (!IsOp("]") && !IsOp(",") && !IsOp(":")) stop = ParseExpression();
        if (SkipOp(":"))
        {
            if (!IsOp("]") && !IsOp(",")) step = ParseExpression();
        }
        return new SliceExpr(obj, start, stop, step) { Pos = pos };
    }

    private Args ParseCallArgs()
    {
        ExpectOp("(");
        var a = new Args();
        bool first = true;
        while (!IsOp(")"))
        {
            if (!first) { ExpectOp(","); if (IsOp(")")) break; }
            first = false;
            if (SkipOp("*")) { a.Star = ParseExpression(); continue; }
            if (SkipOp("**")) { a.DoubleStar = ParseExpression(); continue; }
            if (Cur.Type == TokenType.Name && Peek().Type == TokenType.Op && Peek().Value == "=")
            {
                var keyTok = Next(); _i++;
                if (a.Keyword.Any(kw => kw.Key == keyTok.Value)) throw Err($"keyword argument repeated: {keyTok.Value}", keyTok.Pos);
                a.Keyword.Add(new(keyTok.Value, ParseExpression()));
                continue;
            }
            if (a.Keyword.Count > 0) throw Err("positional argument follows keyword argument");
            a.Positional.Add(ParseExpression());
        }
        ExpectOp(")");
        return a;
    }

    private Expr ParseCall(Expr node)
    {
        var pos = Cur.Pos;
        return new CallExpr(node, ParseCallArgs()) { Pos = pos };
    }

    private FilterExpr ParseFilter(Expr? node)
    {
        var pos = Cur.Pos;
        var name = ExpectName();
        while (IsOp(".") && Peek().Type == TokenType.Name) { _i++; name += "." + Next().Value; }
        var args = IsOp("(") ? ParseCallArgs() : new Args();
        if (!Filters.Table.TryGetValue(name, out var fn))
            throw _map.Error(ErrorCodes.TemplateUndefinedFilterOrTest, $"No filter named '{name}'.", pos);
        return new FilterExpr(node, name, args, fn) { Pos = pos };
    }

    private Expr ParseTest(Expr node)
    {
        var isPos = Next().Pos; // 'is'
        bool negated = SkipName("not");
        var pos = Cur.Pos;
        var name = ExpectName();
        while (IsOp(".") && Peek().Type == TokenType.Name) { _i++; name += "." + Next().Value; }
        var args = new Args();
        if (IsOp("(")) args = ParseCallArgs();
        else if (Cur.Type is TokenType.Name or TokenType.String or TokenType.Int or TokenType.Float
                 || (Cur.Type == TokenType.Op && Cur.Value is "(" or "[" or "{"))
        {
            if (!(Cur.Type == TokenType.Name && Cur.Value is "else" or "or" or "and"))
            {
                if (IsName("is")) throw Err("You cannot chain multiple tests with is");
                var arg = ParsePostfix(ParsePrimary());
                args.Positional.Add(arg);
            }
        }
        if (!Tests.Table.TryGetValue(name, out var fn))
            throw _map.Error(ErrorCodes.TemplateUndefinedFilterOrTest, $"No test named '{name}'.", pos);
        Expr result = new TestExpr(node, name, args, fn) { Pos = isPos };
        if (negated) result = new NotExpr(result) { Pos = isPos };
        return result;
    }
}
