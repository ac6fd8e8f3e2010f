#!/usr/bin/python3
"""Render ToolTune's chat-template golden fixtures with the Python-Jinja2 reference renderer.

Usage (from the repository root):
    /usr/bin/python3 tests/oracles/templates/render_fixtures.py [PARITY_DIR]

PARITY_DIR defaults to ../shared/parity (relative to the repository root); it must contain
render_chat_template.py (transformers' Jinja2 configuration, strftime_now pinned to 2025-07-10)
and chat-templates/. Nothing from it is copied into the project.

Each tests/oracles/templates/cases/<case>.json is {"template": REF, "context": {...}} with REF one of
  shared:chat-templates/X.jinja      a file under PARITY_DIR
  shared-all:<key>                   a template of PARITY_DIR/chat-templates/all_templates.json
  repo:<path>                        a file in this repository (e.g. configs/templates/Y.jinja)
and is rendered to tests/ToolTune.Tests/Fixtures/templates/<case>.json =
  {"template", "context", "text", "generation_spans": [[start, end], ...]}
with spans converted from code points (Python) to UTF-16 offsets (.NET strings).
Cases whose render raises are reported and skipped (exit status 1 if any).
"""
import importlib.util, json, os, sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CASES = os.path.join(ROOT, "tests", "oracles", "templates", "cases")
OUT = os.path.join(ROOT, "tests", "ToolTune.Tests", "Fixtures", "templates")


def load_renderer(parity):
    path = os.path.join(parity, "render_chat_template.py")
    spec = importlib.util.spec_from_file_location("render_chat_template", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def utf16_offset(text, cp_index):
    return len(text[:cp_index].encode("utf-16-le")) // 2


def template_source(ref, parity, all_templates):
    kind, _, rest = ref.partition(":")
    if kind == "shared":
        return open(os.path.join(parity, rest), encoding="utf-8").read()
    if kind == "shared-all":
        return all_templates[rest]
    if kind == "repo":
        return open(os.path.join(ROOT, rest), encoding="utf-8").read()
    raise ValueError(f"unknown template reference {ref!r}")


def main():
    parity = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "parity"))
    renderer = load_renderer(parity)
    all_templates = json.load(open(os.path.join(parity, "chat-templates", "all_templates.json"), encoding="utf-8"))
    os.makedirs(OUT, exist_ok=True)
    failed = 0
    written = 0
    for name in sorted(os.listdir(CASES)):
        if not name.endswith(".json"):
            continue
        case = json.load(open(os.path.join(CASES, name), encoding="utf-8"))
        src = template_source(case["template"], parity, all_templates)
        try:
            text, spans = renderer.render(src, **case["context"])
        except Exception as e:  # noqa: BLE001 - report and continue
            print(f"SKIP {name}: {type(e).__name__}: {e}", file=sys.stderr)
            failed += 1
            continue
        fixture = {
            "template": case["template"],
            "context": case["context"],
            "text": text,
            "generation_spans": [[utf16_offset(text, s), utf16_offset(text, e)] for s, e in spans],
        }
        with open(os.path.join(OUT, name), "w", encoding="utf-8", newline="\n") as f:
            json.dump(fixture, f, ensure_ascii=False, indent=1)
            f.write("\n")
        written += 1
    print(f"wrote {written} fixtures to {OUT}; {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
