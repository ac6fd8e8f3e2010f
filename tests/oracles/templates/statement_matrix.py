#!/usr/bin/python3
"""Random statement templates (if/for/else/break/set/namespace/macro/raw/comments/{% generation %} with every whitespace-control variant:
{%- -%} {%+ +%} {{- -}} {#- -#}, trim_blocks/lstrip_blocks interplay) rendered by Python Jinja2 (transformers configuration).

Writes tests/ToolTune.Tests/Fixtures/template-expressions/statement_matrix.json = {"ctx", "cases": [{"t", "ok", "text" | "err"}]}.
Usage: /usr/bin/python3 tests/oracles/templates/statement_matrix.py [PARITY_DIR]   (default ../shared/parity)
"""
import sys, os, json, random
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
PARITY = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, '..', 'shared', 'parity'))
sys.path.insert(0, PARITY)
import render_chat_template as r
random.seed(8)
CTX = {"items": ["a", "b", "c"], "d": {"x": 1, "y": [1, 2]}, "n": 3, "flag": True, "empty": [], "msgs": [{"role": "user", "content": " hi \n"}, {"role": "assistant", "content": "yo"}]}
texts = ["", " ", "  ", "\n", "\n\n", "  \n  ", "x", " x ", "\t", "\n  x\n", "a\n", "\n b"]
def ws(): return random.choice(texts)
def lm(): return random.choice(["", "-", "+", ""])
def rm(): return random.choice(["", "-", "+", ""])
def tag(body): return "{%" + random.choice(["", "-", "+"]) + " " + body + " " + random.choice(["", "-", "+"]) + "%}"
def var(e): return "{{" + random.choice(["", "-"]) + " " + e + " " + random.choice(["", "-"]) + "}}"
exprs = ["n", "item", "loop.index", "d.x", "flag", "items|length", "'s'", "m.content", "m.role", "ns.c", "x"]
def block(depth):
    parts = []
    for _ in range(random.randint(1, 4)):
        k = random.random()
        if k < 0.25: parts.append(ws() + var(random.choice(exprs)) + ws())
        elif k < 0.35: parts.append(ws() + "{#" + random.choice(["", "-"]) + " c " + random.choice(["", "-"]) + "#}" + ws())
        elif k < 0.5 and depth < 3: parts.append(ws() + tag("if " + random.choice(["flag", "n > 2", "empty", "item == 'b'", "loop.first"])) + block(depth + 1) + (tag("else") + block(depth + 1) if random.random() < 0.4 else "") + tag("endif") + ws())
        elif k < 0.65 and depth < 3: parts.append(ws() + tag("for item in " + random.choice(["items", "empty", "d.y", "items if item != 'b'"])) + block(depth + 1) + (tag("else") + block(depth+1) if random.random() < 0.3 else "") + tag("endfor") + ws())
        elif k < 0.72 and depth < 3: parts.append(ws() + tag("for m in msgs") + ws() + var("m.content" + random.choice(["", "|trim", ".strip()", ".lstrip('\\n ')"])) + block(depth + 1) + tag("endfor") + ws())
        elif k < 0.8: parts.append(ws() + tag("set x = " + random.choice(["1", "'v'", "n * 2", "items|join"])) + ws())
        elif k < 0.85: parts.append(ws() + tag("set ns.c = ns.c + 1") + ws())
        elif k < 0.9: parts.append(ws() + "{% raw %}" + ws() + "{{ raw }}" + ws() + "{% endraw %}" + ws())
        elif k < 0.93 and depth < 2: parts.append(ws() + tag("macro mm(a, b=2)") + block(depth + 1) + tag("endmacro") + ws() + var("mm(1)") + ws())
        elif k < 0.97: parts.append(ws() + tag("generation") + block(depth + 1) + tag("endgeneration") + ws())
        else: parts.append(ws() + tag("if loop is defined and loop.last") + tag("break") + tag("endif") + ws())
    return "".join(parts)
out = []
for i in range(1000):
    t = "{% set ns = namespace(c=0) %}" + block(0) + random.choice(["", "\n", "\n\n", " "])
    try:
        text, spans = r.render(t, **json.loads(json.dumps(CTX)))
        out.append({"t": t, "ok": True, "text": text, "spans": [list(x) for x in spans]})
    except Exception as ex:
        out.append({"t": t, "ok": False, "err": type(ex).__name__ + ": " + str(ex)})
OUT_PATH = os.path.join(ROOT, 'tests', 'ToolTune.Tests', 'Fixtures', 'template-expressions', 'statement_matrix.json')
with open(OUT_PATH, 'w', encoding='utf-8', newline='\n') as fh:
    json.dump({'ctx': CTX, 'cases': out}, fh, ensure_ascii=False, indent=0)
    fh.write('\n')
print(len(out), sum(1 for o in out if o["ok"]))
