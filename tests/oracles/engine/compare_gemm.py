#!/usr/bin/python3
"""Runs `tooltune bench gemm` and the numpy (OpenBLAS) oracle alternately, ROUNDS times each, then prints
per shape/variant the median GFLOP/s of each over all rounds and the ratio tooltune/numpy (the target
is >= 0.9). Usage (after `dotnet build -c Release`):
  /usr/bin/python3 tests/oracles/engine/compare_gemm.py [--rounds 5] [--reps 5] [--threads N] [--tooltune PATH]
numpy must use OpenBLAS: Debian `libopenblas0-pthread` provides the libblas.so.3 alternative."""
import json, os, statistics, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "..", "..", ".."))


def arg(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


rounds = int(arg("--rounds", "5"))
reps = arg("--reps", "5")
tooltune = arg("--tooltune", os.path.join(root, "src", "ToolTune.Cli", "bin", "Release", "net10.0", "tooltune"))
numpy_cmd = ["/usr/bin/python3", os.path.join(here, "bench_gemm_numpy.py"), "--reps", reps]
ours_cmd = [tooltune, "bench", "gemm", "--reps", reps]
threads = arg("--threads", None)  # e.g. 1: single-threaded comparison (OPENBLAS_NUM_THREADS / --threads)
env = dict(os.environ)
if threads:
    ours_cmd += ["--threads", threads]
    env["OPENBLAS_NUM_THREADS"] = threads

results = {}
for r in range(rounds):
    for name, cmd in (("tooltune", ours_cmd), ("numpy", numpy_cmd)) if r % 2 == 0 else (("numpy", numpy_cmd), ("tooltune", ours_cmd)):
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            d = json.loads(line)
            results.setdefault((d["m"], d["k"], d["n"], d["variant"]), {}).setdefault(name, []).append(d["gflops"])

worst = float("inf")
for key, v in results.items():
    t, n = statistics.median(v["tooltune"]), statistics.median(v["numpy"])
    worst = min(worst, t / n)
    print(json.dumps({"m": key[0], "k": key[1], "n": key[2], "variant": key[3], "tooltune_gflops": t, "numpy_gflops": n,
                      "ratio": round(t / n, 2), "rounds": rounds, "threads": threads or "all"}))
print(json.dumps({"worst_ratio": round(worst, 2)}))
