#!/usr/bin/python3
"""Medians per benchmark from a bench/run-all.sh output file, and the ToolTune/oracle ratios, as Markdown rows.

    /usr/bin/python3 bench/summarize.py bench/raw/<file>.jsonl
"""
import json, statistics, sys
from collections import defaultdict

# label -> (field, higher is better); ratios are always "ToolTune is N× the oracle" in the good direction.
FIELDS = {
    "train512": [("tokens_per_s", True), ("step_s", False), ("peak_rss_mb", False)],
    "train2048": [("tokens_per_s", True), ("step_s", False), ("peak_rss_mb", False)],
    "tiny": [("tokens_per_s", True), ("step_s", False), ("peak_rss_mb", False)],
    "generate": [("prefill_tokens_per_s", True), ("decode_tokens_per_s", True), ("peak_rss_mb", False)],
    "generate_bf16": [("prefill_tokens_per_s", True), ("decode_tokens_per_s", True), ("peak_rss_mb", False)],
    "tokenize": [("encode_ids_mb_per_s_median", True)],
    "prepare": [("seconds", False), ("conversations_per_s", True)],
    "pipeline_noop": [("seconds", False)],
}

runs = defaultdict(list)
loads = []
commit = None
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[r["label"]].append(r["result"])
    commit = r.get("commit", commit)
    la = r["result"].get("loadavg") or r["result"].get("load_average")
    if la:
        loads.append(float(la))


def med(label, field):
    xs = [x[field] for x in runs.get(label, []) if isinstance(x.get(field), (int, float))]
    return (statistics.median(xs), xs) if xs else (None, [])


print(f"commit {commit}; load average during the runs {min(loads):.1f}–{max(loads):.1f} (median {statistics.median(loads):.1f})" if loads else "")
print("| benchmark | field | ToolTune median (runs) | oracle median (runs) | ratio (>1 = ToolTune better) |")
print("|---|---|---|---|---|")
for bench, fields in FIELDS.items():
    mine = f"{bench}.tooltune"
    oracle = next((l for l in runs if l.startswith(bench + ".") and l != mine), None)
    if bench == "generate_bf16":
        oracle = "generate.torch"
    for field, higher in fields:
        m, ms = med(mine, field)
        ofield = "encode_mb_per_s_median" if bench == "tokenize" else field  # transformers.js bench.mjs field
        o, os_ = med(oracle, ofield) if oracle else (None, [])
        if m is None and o is None:
            continue
        ratio = "" if m is None or o is None or m == 0 or o == 0 else f"{(m / o if higher else o / m):.2f}×"
        fmt = lambda v, vs: "—" if v is None else f"{v:g} ({', '.join(f'{x:g}' for x in vs)})"  # noqa: E731
        print(f"| {bench} | {field} | {fmt(m, ms)} | {fmt(o, os_)} {oracle or ''} | {ratio} |")
