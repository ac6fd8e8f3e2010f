#!/usr/bin/python3
"""Expression matrix: values x filters/tests/methods/operators rendered by Python Jinja2 (transformers configuration).

Writes tests/ToolTune.Tests/Fixtures/template-expressions/expression_matrix.json = {"ctx", "cases": [{"t", "ok", "text" | "err"}]}.
Cases whose output depends on object addresses (bound-method reprs) are dropped.
Usage: /usr/bin/python3 tests/oracles/templates/expression_matrix.py [PARITY_DIR]   (default ../shared/parity)
"""
import sys, os, re, json, random
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
PARITY = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, '..', 'shared', 'parity'))
sys.path.insert(0, PARITY)
import render_chat_template as r
CTX = {"d": {"q": "it's", "n": [1, 2.0, None, True], "s": 'say "hi"', "e": {}, "l": [], "z": 0, "items": 5, "keys": "k"},
       "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": "{\"a\": 1}"}}]}],
       "f": 0.1, "big": 10**20, "astral": "a😀b", "s": "  Hello World  ", "lst": [3, 1, 2], "nested": [[1, 2], [3, 4]], "t": True, "n": None, "i": 7, "neg": -3, "fl": 2.5, "e": ""}
vals = ["d", "d.q", "d.n", "d.e", "d.l", "d.z", "d.items", "d.keys", "d['items']", "msgs", "msgs[1].content", "msgs[1].tool_calls[0].function", "f", "big", "astral", "s", "lst", "nested", "t", "n", "i", "neg", "fl", "e", "undefined_x", "none", "true", "1", "0", "-1", "2.0", "'abc'", "''", "[]", "{}", "(1, 2)", "[1, 'a', none]", "{'a': 1, 'b': [2]}", "'😀x'", "1e3", "0.5"]
filters = ["", "|string", "|tojson", "|length", "|list", "|first", "|last", "|trim", "|upper", "|lower", "|title", "|capitalize", "|int", "|float", "|abs", "|round", "|unique|list", "|sort", "|reverse|list", "|join(',')", "|items|list", "|dictsort", "|default('D')", "|default('D', true)", "|sum", "|min", "|max", "|wordcount", "|center(9)", "|indent(2)", "|escape", "|batch(2)|list", "|map('string')|list", "|select|list", "|reject|list", "|count", "|tojson(indent=1)", "|replace('l', 'L')", "|format(1)", "|bool"]
tests = ["is defined", "is undefined", "is none", "is string", "is number", "is integer", "is float", "is boolean", "is mapping", "is sequence", "is iterable", "is true", "is false", "is odd", "is even", "is callable", "is lower", "is upper", "is not none", "is divisibleby 2", "is sameas none", "is eq 1", "is in [1, 'abc']"]
binops = ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">=", "in", "not in", "and", "or"]
methods = [".strip()", ".split()", ".upper()", ".startswith('a')", ".endswith(('c', 'b'))", ".replace('a', 'b')", ".find('l')", ".count('l')", ".title()", ".lstrip(' H')", ".rstrip('d ')", ".split('l', 1)", ".rsplit('l', 1)", ".splitlines()", ".format(1)", ".items()", ".keys()", ".values()", ".get('q')", ".get('zz', 3)", ".index(1)", "[0]", "[-1]", "[1:]", "[::-1]", "[::2]", "[1:-1]", "[5:1:-2]", ".q", ".missing"]
random.seed(1)
cases = []
for v in vals:
    for f in filters:
        cases.append("{{ %s%s }}" % (v, f))
    for t in tests:
        cases.append("{{ %s %s }}" % (v, t))
    for m in methods:
        cases.append("{{ %s%s }}" % (v, m))
for _ in range(3000):
    a, b = random.choice(vals), random.choice(vals)
    op = random.choice(binops)
    if op in ("*", "**") and ("big" in (a, b) or "1e3" in (a, b) or op == "**" and b in ("i",)): continue
    cases.append("{{ %s %s %s }}" % (a, op, b))
for v in vals:
    cases.append("{% for x in " + v + " %}[{{ x }}|{{ loop.index }}]{% else %}E{% endfor %}")
    cases.append("{% if " + v + " %}T{% else %}F{% endif %}")
    cases.append("{{ " + v + " if " + v + " else 'no' }}")
    cases.append("{{ '%s' % " + v + " }}")
    cases.append("{{ '%r|%s' % (" + v + ", " + v + ") }}")
    cases.append("{{ '{}'.format(" + v + ") }}")
out = []
for t in cases:
    try:
        text, spans = r.render(t, **json.loads(json.dumps(CTX)))
        out.append({"t": t, "ok": True, "text": text})
    except Exception as ex:
        out.append({"t": t, "ok": False, "err": type(ex).__name__ + ": " + str(ex)})
OUT_PATH = os.path.join(ROOT, 'tests', 'ToolTune.Tests', 'Fixtures', 'template-expressions', 'expression_matrix.json')
os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
out = [o for o in out if not (o['ok'] and ' at 0x' in o['text']) and 'builtin_function_or_method' not in o.get('err', '')
       and not re.search(r"\.(items|keys|values|get)(?!\()", o['t'])]
with open(OUT_PATH, 'w', encoding='utf-8', newline='\n') as fh:
    json.dump({'ctx': CTX, 'cases': out}, fh, ensure_ascii=False, indent=0)
    fh.write('\n')
print(len(out), sum(1 for o in out if o["ok"]))
