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
raw = defaultdict(list)
loads = []
commit = None
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[r["label"]].append(r["result"])
    raw[r["label"]].append(r)
    commit = r.get("commit", commit)
    la = r["result"].get("loadavg") or r["result"].get("load_average")
    if la:
        loads.append(float(la))


def med(label, field):
    xs = [x[field] for x in runs.get(label, []) if isinstance(x.get(field), (int, float))]
    return (statistics.median(xs), xs) if xs else (None, [])


print(f"commit {commit}; load average during the runs {min(loads):.1f}–{max(loads):.1f} (median {statistics.median(loads):.1f})" if loads else "")
print("| benchmark | field | ToolTune median (runs) | oracle median (runs) | ratio per round, median (rounds); >1 = ToolTune better |")
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
        # Ratio per round (each pair ran back to back under the same load), then the median of those.
        rounds = {x["round"]: x["result"].get(field) for x in raw.get(mine, [])}
        orounds = {x["round"]: x["result"].get(ofield) for x in raw.get(oracle, [])} if oracle else {}
        per = [(rounds[k] / orounds[k] if higher else orounds[k] / rounds[k]) for k in rounds
               if isinstance(rounds[k], (int, float)) and isinstance(orounds.get(k), (int, float)) and rounds[k] and orounds[k]]
        ratio = "" if not per else f"{statistics.median(per):.2f}× ({', '.join(f'{x:.2f}' for x in per)})"
        fmt = lambda v, vs: "—" if v is None else f"{v:g} ({', '.join(f'{x:g}' for x in vs)})"  # noqa: E731
        print(f"| {bench} | {field} | {fmt(m, ms)} | {fmt(o, os_)} {oracle or ''} | {ratio} |")
