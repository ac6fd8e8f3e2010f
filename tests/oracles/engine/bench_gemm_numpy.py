#!/usr/bin/python3
"""Oracle for `tooltune bench gemm`: numpy (OpenBLAS via Debian's libblas alternative) SGEMM GFLOP/s,
same shapes, variants and JSON fields. Run alternately with the managed bench and compare medians.
Usage: /usr/bin/python3 tests/oracles/engine/bench_gemm_numpy.py [--reps 7]"""
import json, sys, time
import numpy as np

SHAPES = [(512, 512, 512), (1024, 1024, 1024), (512, 576, 1536), (512, 1536, 576), (512, 2048, 11008)]
reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 7

for m, k, n in SHAPES:
    rng = np.random.default_rng(1)
    a = (rng.random(m * k, dtype=np.float32) - 0.5)
    b = (rng.random(k * n, dtype=np.float32) - 0.5)
    c = np.empty((m, n), dtype=np.float32)
    ops = {
        "NN": lambda: np.matmul(a.reshape(m, k), b.reshape(k, n), out=c),
        "NT": lambda: np.matmul(a.reshape(m, k), b.reshape(n, k).T, out=c),
        "TN": lambda: np.matmul(a.reshape(k, m).T, b.reshape(k, n), out=c),
    }
    for f in ops.values():
        f()
    flops = 2.0 * m * n * k
    inner = max(1, int(2e9 / flops))
    times = {v: [] for v in ops}
    for _ in range(reps):
        for v, f in ops.items():
            t = time.perf_counter()
            for _ in range(inner):
                f()
            times[v].append((time.perf_counter() - t) / inner)
    for v in ops:
        med = sorted(times[v])[len(times[v]) // 2]
        print(json.dumps({"bench": "gemm", "impl": "numpy", "m": m, "k": k, "n": n, "variant": v,
                          "median_s": float("%.6g" % med), "gflops": round(flops / med / 1e9, 1), "reps": reps}), flush=True)
