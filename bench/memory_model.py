#!/usr/bin/python3
"""Peak-memory model of a ToolTune LoRA training step (TrainLora / `bench train`), buffer by buffer as the C# code
allocates them (CausalLM workspace, LayerActs, Scratch, HeadBuffers, LoraLinear h/dh, attention backward, LM-head CE
chunk, AdamW). Prints a table for SmolLM3-3B and the smol135m preset, and the largest batch × seq that fits a budget.

    /usr/bin/python3 bench/memory_model.py [--budget-gb 24]
"""
import argparse

MB = 1024 ** 2
GB = 1024 ** 3
SMOL3B = dict(name="SmolLM3-3B", V=128256, H=2048, I=11008, L=36, nh=16, nkv=4, d=128)
SMOL135M = dict(name="smol135m", V=49152, H=576, I=1536, L=30, nh=9, nkv=3, d=64)
RUNTIME = 150 * MB      # .NET runtime, JIT, thread stacks, GEMM pack buffers (measured ≈ 100–150 MB in small runs)


def lora_params(c, r, embed=True):
    H, I, qd, kvd = c["H"], c["I"], c["nh"] * c["d"], c["nkv"] * c["d"]
    per_layer = r * ((H + qd) + 2 * (H + kvd) + (qd + H) + 3 * (H + I))
    return c["L"] * per_layer + ((r * c["V"] + c["H"] * r) if embed else 0)


def model(c, seq, batch=1, checkpointing=True, r=16, weight_bytes=2, dropout=False, threads=2):
    """Bytes by component. weight_bytes: 2 = bf16 memory-mapped (file-backed pages), 4 = f32 owned."""
    H, I, L, V, qd, kvd = c["H"], c["I"], c["L"], c["V"], c["nh"] * c["d"], c["nkv"] * c["d"]
    T = seq * batch
    f = 4
    params = V * H + L * (H * qd + 2 * H * kvd + qd * H + 3 * H * I) + (2 * L + 1) * H
    layer_acts = (H + 1 + qd + 2 * kvd + qd + c["nh"] + H + H + 1 + 3 * I) * f   # LayerActs per row
    out = {
        "base weights" + (" (bf16, mmapped: page cache)" if weight_bytes == 2 else " (f32)"): params * weight_bytes,
        "LoRA params + grads + AdamW m, v (f32)": lora_params(c, r) * 16,
        "layer inputs (L+1) × T × H": (L + 1) * T * H * f,
        ("one layer's recomputed activations" if checkpointing else "all layers' activations"): (1 if checkpointing else L) * T * layer_acts,
        "backward scratch (dA, dG, dU, dXn, dAtt, dQ, dK, dV)": T * (3 * I + H + 2 * qd + 2 * kvd) * f,
        "head buffers (xn, dxn, dx, dPrev)": T * 4 * H * f,
        "LoRA h, dh per module": L * 7 * 2 * T * r * f,
        "attention workspace (per-head dK/dV, P/dP per thread)": c["nh"] * seq * c["d"] * 2 * f + threads * seq * 128 * 2 * f,
        "LM-head CE chunk (64 MB of logits + rows)": min(max(64 * MB // (4 * V), 32), 512, T) * (V + 2 * H) * f,
        "runtime, JIT, GEMM packing": RUNTIME,
    }
    if dropout:
        out["dropout scratch (one per thread)"] = T * I * f
    return out


def show(c, seq, batch, ckpt, wb):
    m = model(c, seq, batch, ckpt, weight_bytes=wb)
    anon = sum(v for k, v in m.items() if "mmapped" not in k)
    total = sum(m.values())
    print(f"\n{c['name']}: seq {seq} × batch {batch}, checkpointing {ckpt}, weights {'bf16 mmapped' if wb == 2 else 'f32'}")
    for k, v in m.items():
        print(f"  {k:58s} {v / MB:9.0f} MB")
    print(f"  {'anonymous (RSS without file pages)':58s} {anon / MB:9.0f} MB")
    print(f"  {'total incl. weights':58s} {total / MB:9.0f} MB = {total / GB:.2f} GiB")
    return total


def per_token(c, ckpt, wb):
    a, b = model(c, 1024, 1, ckpt, weight_bytes=wb), model(c, 2048, 1, ckpt, weight_bytes=wb)
    return (sum(b.values()) - sum(a.values())) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget-gb", type=float, default=24)
    ap.add_argument("--reserve-gb", type=float, default=2, help="OS, page cache for data, other processes")
    a = ap.parse_args()
    show(SMOL3B, 2048, 1, True, 2)
    show(SMOL3B, 2048, 1, False, 2)
    for seq, ck in [(512, False), (2048, False), (512, True), (2048, True)]:
        show(SMOL135M, seq, 1, ck, 4)
    budget = (a.budget_gb - a.reserve_gb) * GB
    for ck in (True, False):
        fixed = sum(model(SMOL3B, 1, 1, ck).values())
        pt = per_token(SMOL3B, ck, 2)
        print(f"\nSmolLM3-3B, checkpointing {ck}: ≈ {fixed / GB:.2f} GiB fixed + {pt / 1024:.0f} KB per token "
              f"(plus attention dK/dV per sequence) → batch × seq ≤ {int((budget - fixed) / pt):,} tokens in {a.budget_gb:g} GB "
              f"with {a.reserve_gb:g} GB reserved")


if __name__ == "__main__":
    main()
