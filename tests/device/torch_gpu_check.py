#!/usr/bin/python3
"""Device check for the torch backend (one script, <= 8 minutes, prints ONE JSON line on stdout).

Run from the repository root on a CUDA machine with torch (and, for part C, transformers + peft):

    python3 tests/device/torch_gpu_check.py [--dotnet dotnet] [--skip-3b]
    python3 tests/device/torch_gpu_check.py --cpu-smoke      # no GPU: the same code paths on CPU, small shapes

A. The demo (configs/demo.yaml, 40 steps, dropout 0) trained by the torch backend in bf16 on CUDA (through
   `tooltune train`, so the real launcher, job and adapter export run) against the managed engine's f32 curve on the
   same machine's CPU: max relative per-step loss difference (bf16 tolerance 3e-2) and the adapter distance.
B. A SmolLM3-3B-shaped random bf16 checkpoint (written here, no download): a few LoRA training steps of 8 x 512 tokens
   (gradient checkpointing, LoRA r 16 on every projection + embed_tokens) through tooltune_torch.py's own Decoder:
   tokens/s, MFU against the card's bf16 dense peak (FLOPs per token: flops_per_token), peak GPU memory.
C. The merged demo snapshot loaded with transformers AutoModelForCausalLM and the PEFT adapter with peft PeftModel:
   their logits against ToolTune's (`tooltune logits`) on a demo prompt. (PEFT's runtime tied head is NOT adapted, see
   src/ToolTune/Training/README.md: the merged snapshot is the reference; the PeftModel figure is reported, the tied-head
   difference is expected when embed_tokens is targeted, so C runs the PeftModel comparison on a linear-only adapter.)

Each part records its own error instead of aborting the others. Parts that need no GPU run on CPU when none is present
(A's managed half, C), so the script can be exercised anywhere; `"cuda": false` then says the GPU figures are absent.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "src", "ToolTune", "Torch"))
import tooltune_torch as tt  # noqa: E402

BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "RTX 4090": 165.0}


def tooltune_cmd(args):
    exe = os.path.join(ROOT, "src", "ToolTune.Cli", "bin", "Release", "net10.0", "tooltune")
    if not os.path.exists(exe):
        subprocess.run([args.dotnet, "build", os.path.join(ROOT, "src", "ToolTune.Cli"), "-c", "Release", "-v", "q"], check=True,
                       stdout=subprocess.DEVNULL)
    return [exe]


def read_log(path):
    rows = []
    with open(path) as f:
        head = f.readline().strip().split(",")
        for line in f:
            v = dict(zip(head, line.strip().split(",")))
            rows.append((int(v["step"]), float(v["loss"])))
    return rows


def part_a(args, out, cuda):
    """Demo in bf16 on CUDA vs the managed f32 curve."""
    tool = tooltune_cmd(args)
    work = tempfile.mkdtemp(prefix="tt-device-")
    cfg = os.path.join(work, "demo.yaml")
    text = open(os.path.join(ROOT, "configs", "demo.yaml")).read()
    for p in ("data/", "configs/templates/"):
        text = text.replace(": " + p, ": " + os.path.join(ROOT, p))
    open(cfg, "w").write(text)
    open(os.path.join(work, "Pipeline.proj"), "w").write("<Project />")
    steps = 4 if args.cpu_smoke else 40
    common = ["--config", cfg, "--set", f"train.max_steps={steps}", "--set", "lora.dropout=0"]
    for verb in ("prepare", "verify"):
        subprocess.run(tool + [verb] + common[:2], check=True, stdout=subprocess.DEVNULL)
    t = time.time()
    # one run name: the managed run first, its log kept, then the torch run (the backend key reruns the stage)
    subprocess.run(tool + ["train"] + common, check=True, stdout=subprocess.DEVNULL)
    adapter = os.path.join(work, "artifacts", "demo", "adapter")
    managed = read_log(os.path.join(adapter, "train-log.csv"))
    shutil.copytree(adapter, os.path.join(work, "managed-adapter"))
    out["a_managed_s"] = round(time.time() - t, 1)
    if not cuda and not args.cpu_smoke:
        out["a_torch"] = "skipped: no CUDA"
        return
    t = time.time()
    r = subprocess.run(tool + ["train"] + common + ["--set", "train.backend=torch", "--set", f"train.torch.device={'cuda' if cuda else 'cpu'}",
                                                    "--set", f"train.torch.python={sys.executable}"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("torch train failed: " + (r.stdout + r.stderr)[-1500:])
    out["a_torch_s"] = round(time.time() - t, 1)
    torch_rows = read_log(os.path.join(adapter, "train-log.csv"))
    rel = [abs(a[1] - b[1]) / b[1] for a, b in zip(torch_rows, managed)]
    out["a_steps"] = len(rel)
    out["a_loss_rel_max"] = max(rel)
    out["a_loss_first_last_managed"] = [managed[0][1], managed[-1][1]]
    out["a_loss_first_last_torch_bf16"] = [torch_rows[0][1], torch_rows[-1][1]]
    out["a_bf16_within_3e-2"] = max(rel) <= 3e-2 if cuda else None
    wa = tt.read_safetensors(os.path.join(adapter, "adapter_model.safetensors"))
    wb = tt.read_safetensors(os.path.join(work, "managed-adapter", "adapter_model.safetensors"))
    out["a_adapter_rel_max"] = max(float((wa[k].float() - wb[k].float()).norm() / wb[k].float().norm().clamp_min(1e-30)) for k in wb)
    out["a_dir"] = work


def flops_per_token(c, r, checkpointing=True):
    """Training FLOPs per token for LoRA: forward 2N, backward activations 2N (no weight gradients for frozen weights),
    recompute with checkpointing +2N, attention 2 x 2 x layers x T x d_model per pass; LoRA terms are < 1 %."""
    h, i, L, V = c["hidden_size"], c["intermediate_size"], c["num_layers"], c["vocab_size"]
    kv = c["num_kv_heads"] * c["head_dim"]
    q = c["num_heads"] * c["head_dim"]
    per_layer = h * q + 2 * h * kv + q * h + 3 * h * i
    n = L * per_layer + V * h  # head
    passes = 3 if checkpointing else 2  # fwd, bwd(dx), + recompute
    return 2 * n * passes, n


def part_b(args, out, cuda):
    import torch
    if not cuda and not args.cpu_smoke:
        out["b"] = "skipped: no CUDA"
        return
    c = {"vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 11008, "num_layers": 36, "num_heads": 16, "num_kv_heads": 4,
         "head_dim": 128, "rope_theta": 5e6, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
         "use_rope": [1 if (i + 1) % 4 != 0 else 0 for i in range(36)]}
    B, T = 8, 512
    dev = "cuda:0"
    dtype = torch.bfloat16
    if not cuda:  # the same code on a small shape, to exercise it without a GPU
        c.update(vocab_size=1024, hidden_size=256, intermediate_size=512, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=64,
                 use_rope=[1, 0])
        B, T, dev, dtype = 2, 64, "cpu", torch.float32
    torch.manual_seed(0)
    w = {"model.embed_tokens.weight": torch.randn(c["vocab_size"], c["hidden_size"], device=dev, dtype=dtype) * 0.02,
         "model.norm.weight": torch.ones(c["hidden_size"], device=dev, dtype=dtype)}
    q, kv = c["num_heads"] * c["head_dim"], c["num_kv_heads"] * c["head_dim"]
    feat = {"q_proj": (c["hidden_size"], q), "k_proj": (c["hidden_size"], kv), "v_proj": (c["hidden_size"], kv), "o_proj": (q, c["hidden_size"]),
            "gate_proj": (c["hidden_size"], c["intermediate_size"]), "up_proj": (c["hidden_size"], c["intermediate_size"]),
            "down_proj": (c["intermediate_size"], c["hidden_size"])}
    r, lora = 16, {}
    for L in range(c["num_layers"]):
        p = f"model.layers.{L}."
        w[p + "input_layernorm.weight"] = torch.ones(c["hidden_size"], device=dev, dtype=dtype)
        w[p + "post_attention_layernorm.weight"] = torch.ones(c["hidden_size"], device=dev, dtype=dtype)
        for m, (fin, fo) in feat.items():
            path = tt.module_path(m, L)
            w[path + ".weight"] = torch.randn(fo, fin, device=dev, dtype=dtype) * 0.02
            lora[path + ".lora_A.weight"] = (torch.rand(r, fin, device=dev) * 2 - 1) / math.sqrt(fin)
            lora[path + ".lora_B.weight"] = torch.zeros(fo, r, device=dev)
    lora["model.embed_tokens.lora_embedding_A"] = torch.zeros(r, c["vocab_size"], device=dev)
    lora["model.embed_tokens.lora_embedding_B"] = torch.randn(c["hidden_size"], r, device=dev)
    for v in lora.values():
        v.requires_grad_(True)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    model = tt.Decoder(c, w, dev, dtype, lora, {"scale": 2.0, "dropout": 0.0}, checkpointing=True)
    del w
    model.training = True
    opt = tt.AdamW(list(lora.values()), (0.9, 0.999), 1e-8, 0.0)
    ids = torch.randint(0, c["vocab_size"], (B, T), device=dev)
    times = []
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for step in range(6):
        sync()
        t = time.time()
        for p in lora.values():
            p.grad = torch.zeros_like(p)
        loss, n = model.loss_sum(ids, ids)
        (loss / n).backward()
        opt.update(1e-4)
        sync()
        times.append(time.time() - t)
    dt = sorted(times[2:])[len(times[2:]) // 2]
    fpt, params = flops_per_token(c, r)
    name = torch.cuda.get_device_name(0) if cuda else "cpu (smoke shape)"
    peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
    out["b_device"] = name
    out["b_params_b"] = round(params / 1e9, 3)
    out["b_step_s"] = round(dt, 3)
    out["b_tokens_per_s"] = round(B * T / dt, 1)
    out["b_gflop_per_token"] = round(fpt / 1e9, 2)
    out["b_tflops"] = round(B * T * fpt / dt / 1e12, 1)
    out["b_mfu"] = round(B * T * fpt / dt / 1e12 / peak, 3) if peak else None
    out["b_peak_mem_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2) if cuda else None
    out["b_hermes_40m_tokens_h"] = round(40e6 / (B * T / dt) / 3600, 2)


def part_c(args, out, cuda):
    """transformers / PEFT against ToolTune's logits on the demo (merged snapshot; linear-only adapter for PeftModel)."""
    import torch
    tool = tooltune_cmd(args)
    work = out.get("a_dir") or tempfile.mkdtemp(prefix="tt-device-c-")
    base = os.path.join(ROOT, "data", "demo-model")
    ids = [1, 2, 3, 50, 60, 70, 80, 90, 100, 200, 300]
    # a linear-only adapter from a short managed run (PEFT's runtime tied head does not follow an embedding LoRA)
    cfg = os.path.join(work, "c.yaml")
    text = open(os.path.join(ROOT, "configs", "sample.yaml")).read()
    text = text.replace(": data/", ": " + ROOT + "/data/").replace(": configs/templates/", ": " + ROOT + "/configs/templates/")
    open(cfg, "w").write(text)
    open(os.path.join(work, "Pipeline.proj"), "w").write("<Project />")
    sets = ["--set", "run.name=c", "--set", "lora.target_modules=[q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj]", "--set", "train.max_steps=10"]
    for verb in ("prepare", "verify", "train", "merge"):
        subprocess.run(tool + [verb, "--config", cfg] + sets, check=True, stdout=subprocess.DEVNULL)
    run = os.path.join(work, "artifacts", "c")
    merged, adapter = os.path.join(run, "merged"), os.path.join(run, "adapter")

    def ours(model_dir):
        r = subprocess.run(tool + ["logits", "--model", model_dir, "--ids", json.dumps(ids)], check=True, capture_output=True, text=True)
        return torch.tensor(json.loads(r.stdout)["logits"])

    lo = ours(merged)
    out["c_ours_logits_shape"] = list(lo.shape)
    try:
        import transformers  # noqa: F401
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        out["c"] = f"transformers missing: {e}"
        return
    dev = "cuda" if cuda else "cpu"
    hf = AutoModelForCausalLM.from_pretrained(merged, torch_dtype=torch.float32, trust_remote_code=False).to(dev).eval()
    with torch.no_grad():
        lh = hf(torch.tensor([ids], device=dev)).logits[0].float().cpu()
    out["c_transformers_version"] = transformers.__version__
    out["c_merged_max_abs"] = float((lh - lo).abs().max())
    try:
        from peft import PeftModel
        b = AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32).to(dev).eval()
        pm = PeftModel.from_pretrained(b, adapter).to(dev).eval()
        with torch.no_grad():
            lp = pm(torch.tensor([ids], device=dev)).logits[0].float().cpu()
        import peft
        out["c_peft_version"] = peft.__version__
        out["c_peft_vs_merged_ours_max_abs"] = float((lp - lo).abs().max())
    except ImportError as e:
        out["c_peft"] = f"skipped: {e}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dotnet", default="dotnet")
    ap.add_argument("--skip-3b", action="store_true")
    ap.add_argument("--cpu-smoke", action="store_true", help="no GPU: run every part's code on CPU (A: 4 steps, B: a small shape)")
    args = ap.parse_args()
    import torch
    cuda = torch.cuda.is_available()
    out = {"check": "torch-backend-device", "torch": torch.__version__, "cuda": cuda,
           "device": torch.cuda.get_device_name(0) if cuda else None}
    t0 = time.time()
    for name, fn in (("a", part_a), ("b", part_b), ("c", part_c)):
        if name == "b" and args.skip_3b:
            continue
        t = time.time()
        try:
            fn(args, out, cuda)
        except Exception as e:  # each part reports its own failure
            out[name + "_error"] = f"{type(e).__name__}: {e}"[-800:]
            sys.stderr.write(traceback.format_exc())
        out[name + "_s"] = round(time.time() - t, 1)
        if cuda:
            torch.cuda.empty_cache()
    out["total_s"] = round(time.time() - t0, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
