#!/usr/bin/python3
"""Random strings (whitespace variants, CRLF, U+2028, NBSP, astral and special-case letters ß İ ǅ) through str methods
and string filters with random arguments, rendered by Python Jinja2. Writes
tests/ToolTune.Tests/Fixtures/template-expressions/string_matrix.json.
Usage: /usr/bin/python3 tests/oracles/templates/string_matrix.py [PARITY_DIR]   (default ../shared/parity)
"""
import sys, os, json, random
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
PARITY = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, '..', 'shared', 'parity'))
sys.path.insert(0, PARITY)
import render_chat_template as r
random.seed(5)
alpha = ["a", "b", " ", "\n", "\t", "-", ",", "é", "😀", "ß", "A", "1", "\u00a0", "\r\n", "::", "<", ">", "'", '"', "x", "\u2028", "İ", "ǅ"]
def rs(n=None):
    return "".join(random.choice(alpha) for _ in range(n if n is not None else random.randint(0, 8)))
def lit(s): return json.dumps(s, ensure_ascii=False)  # JSON string literal is a valid Jinja string literal for these chars
methods = [
 lambda: f".strip({lit(rs(2))})", lambda: ".strip()", lambda: ".lstrip()", lambda: f".rstrip({lit(rs(2))})", lambda: f".lstrip({lit(rs(1))})",
 lambda: ".split()", lambda: f".split({lit(rs(1) or ',')})", lambda: f".split({lit(rs(1) or ' ')}, {random.randint(-1, 3)})", lambda: f".rsplit(none, {random.randint(-1, 3)})", lambda: f".rsplit({lit(rs(1) or 'a')}, {random.randint(-1, 3)})",
 lambda: f".replace({lit(rs(1))}, {lit(rs(2))})", lambda: f".replace({lit(rs(1) or 'a')}, {lit(rs(1))}, {random.randint(-1, 3)})",
 lambda: f".startswith({lit(rs(2))})", lambda: f".endswith({lit(rs(1))})", lambda: f".find({lit(rs(1))})", lambda: f".rfind({lit(rs(1))})", lambda: f".count({lit(rs(1))})",
 lambda: ".upper()", lambda: ".lower()", lambda: ".title()", lambda: ".capitalize()", lambda: ".splitlines()", lambda: ".splitlines(true)",
 lambda: "|trim", lambda: "|title", lambda: "|capitalize", lambda: "|upper", lambda: "|lower", lambda: "|length", lambda: "|wordcount", lambda: f"|center({random.randint(0, 12)})",
 lambda: "|reverse", lambda: "|list|length", lambda: "|tojson", lambda: "|string|tojson(ensure_ascii=true)", lambda: f"[{random.randint(-5, 5)}:{random.randint(-5, 5)}]", lambda: f"[::{random.choice([-1, 2, -2, 3])}]",
 lambda: f"|replace({lit(rs(1) or 'a')}, {lit(rs(1))})", lambda: f"|indent({random.randint(0, 3)})", lambda: f"|indent(2, true, true)", lambda: ".isspace()", lambda: ".isalpha()", lambda: ".isdigit()", lambda: ".islower()", lambda: ".isupper()",
 lambda: f".partition({lit(rs(1) or 'a')})", lambda: f".rpartition({lit(rs(1) or 'a')})", lambda: f".zfill({random.randint(0, 8)})", lambda: f".ljust({random.randint(0, 8)}, {lit(random.choice(alpha[:3]))})",
 lambda: f" in {lit(rs(6))}", lambda: f" < {lit(rs())}", lambda: f" ~ {lit(rs())}", lambda: f" * {random.randint(0, 3)}", lambda: f"|join({lit(rs(1))})", lambda: f"|batch(2)|list", lambda: "|unique|list", lambda: "|sort|join", lambda: ".swapcase()",
]
out = []
for i in range(6000):
    s = rs()
    t = "{{ (" + lit(s) + ")" + random.choice(methods)() + " }}"
    try:
        text, _ = r.render(t)
        out.append({"t": t, "ok": True, "text": text})
    except Exception as ex:
        out.append({"t": t, "ok": False, "err": type(ex).__name__ + ": " + str(ex)})
OUT_PATH = os.path.join(ROOT, 'tests', 'ToolTune.Tests', 'Fixtures', 'template-expressions', 'string_matrix.json')
with open(OUT_PATH, 'w', encoding='utf-8', newline='\n') as fh:
    json.dump({'ctx': {}, 'cases': out}, fh, ensure_ascii=False, indent=0)
    fh.write('\n')
print(len(out), sum(1 for o in out if o["ok"]))
