#!/usr/bin/python3
"""Oracle speed for `tooltune bench render`: renders the same conversation with Python Jinja2 in transformers'
configuration (../shared/parity/render_chat_template.py, generation spans tracked), single thread.

    tooltune bench render --tokenizer DIR --write-context /tmp/ctx.json
    /usr/bin/python3 bench_render.py configs/templates/smollm3-tool-fixed.jinja /tmp/ctx.json [seconds] [shared_parity_dir]

Prints one JSON line with renders/s (median of 3 timed windows). Template parsing is done once, outside the timing,
as transformers caches the compiled template.
"""
import json, os, statistics, sys, time

template_path, ctx_path = sys.argv[1], sys.argv[2]
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
here = os.path.dirname(os.path.abspath(__file__))
parity = sys.argv[4] if len(sys.argv) > 4 else os.path.join(here, '..', '..', '..', '..', 'shared', 'parity')
sys.path.insert(0, os.path.abspath(parity))
import render_chat_template as r  # noqa: E402

source = open(template_path, encoding='utf-8').read()
ctx = json.load(open(ctx_path, encoding='utf-8'))
compiled = r.env.from_string(source)  # compiled once, as transformers caches it


def once():
    # transformers' _render_with_assistant_indices: generate() with the generation tracker active
    blocks, idx = [], []
    with compiled.environment.activate_tracker(blocks, idx):
        for b in compiled.generate(**ctx):
            blocks.append(b)
    return "".join(blocks), idx


rates = []
for _ in range(3):
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        once()
        n += 1
    rates.append(n / (time.perf_counter() - start))
print(json.dumps({'bench': 'render-oracle', 'engine': 'python-jinja2', 'render_conv_per_s': round(statistics.median(rates), 1)}))
