#!/usr/bin/env python3
"""Golden renders for the fixed SmolLM3 template (configs/templates/smollm3-tool-fixed.jinja).

Renders every tests/oracles/templates/cases/smollm3-fixed-*.json case
({"template": "repo:<path>" | "shared:<path>", "context": {...}}) with the Python-Jinja2 reference
renderer of transformers' apply_chat_template (../shared/parity/render_chat_template.py; strftime_now
pinned to 2025-07-10) and writes tests/ToolTune.Tests/Fixtures/templates/<case>.json =
{"template", "context", "text", "generation_spans": [[start, end], ...]} with UTF-16 offsets (the
unit the C# engine and tokenizer use). Same output format as render_fixtures.py (branch jinja).

Run by hand (Debian python3 + python3-jinja2), commit the output:
    /usr/bin/python3 tests/oracles/templates/render_smollm3_fixed.py [--shared ../shared] [case-glob]
"""
import argparse, glob, importlib.util, json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def utf16(text, i):
    return len(text[:i].encode("utf-16-le")) // 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.environ.get("TOOLTUNE_SHARED", os.path.join(REPO, "..", "shared")))
    ap.add_argument("glob", nargs="?", default="smollm3-fixed-*.json")
    a = ap.parse_args()
    spec = importlib.util.spec_from_file_location("rct", os.path.join(a.shared, "parity", "render_chat_template.py"))
    rct = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rct)
    out_dir = os.path.join(REPO, "tests", "ToolTune.Tests", "Fixtures", "templates")
    os.makedirs(out_dir, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(HERE, "cases", a.glob))):
        case = json.load(open(path, encoding="utf-8"))
        ref = case["template"]
        kind, _, rel = ref.partition(":")
        base = {"repo": REPO, "shared": os.path.join(a.shared, "parity")}[kind]
        source = open(os.path.join(base, rel), encoding="utf-8").read()
        text, spans = rct.render(source, **case["context"])
        out = {"template": ref, "context": case["context"], "text": text,
               "generation_spans": [[utf16(text, s), utf16(text, e)] for s, e in spans]}
        name = os.path.basename(path)
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, indent=1)
            f.write("\n")
        print(f"{name}: {len(text)} chars, {len(spans)} spans")


if __name__ == "__main__":
    sys.exit(main())
