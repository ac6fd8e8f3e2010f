#!/usr/bin/python3
"""Writes PyTorch oracle fixtures for the managed tensor kernels (src/ToolTune/Tensors).

Each kernel gets tests/ToolTune.Tests/Fixtures/engine/<name>.json:
  {"params": {...}, "tensors": {"<name>": {"shape": [...], "data": [...]}, ...}}
Inputs are deterministic (torch.manual_seed), outputs are computed the way HF transformers does
(Llama/SmolLM3 modeling code), gradients with autograd against a fixed random upstream gradient.
Run by hand:  /usr/bin/python3 tests/oracles/engine/make_kernel_fixtures.py   (Debian python3-torch)
"""
import json, math, os
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "ToolTune.Tests", "Fixtures", "engine")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(1234)


def fmt(t):
    t = t.detach()
    if t.dtype in (torch.int64, torch.int32, torch.int16):
        return {"shape": list(t.shape), "data": [int(v) for v in t.reshape(-1).tolist()]}
    # Non-finite values as strings ("inf", "-inf", "nan") so the JSON stays standard.
    return {"shape": list(t.shape), "data": [float("%.9g" % v) if math.isfinite(v) else str(v)
                                             for v in t.float().reshape(-1).tolist()]}


def write(name, params, tensors):
    path = os.path.join(OUT, name + ".json")
    with open(path, "w") as f:
        json.dump({"generator": "tests/oracles/engine/make_kernel_fixtures.py", "torch": torch.__version__,
                   "params": params, "tensors": {k: fmt(v) for k, v in tensors.items()}}, f, separators=(",", ":"))
    print(path, os.path.getsize(path))


# ---- RMSNorm (LlamaRMSNorm / SmolLM3RMSNorm) ----
def rmsnorm(x, w, eps):
    x32 = x.float()
    var = x32.pow(2).mean(-1, keepdim=True)
    return w * (x32 * torch.rsqrt(var + eps)).to(x.dtype)

rows, d, eps = 6, 64, 1e-6
x = torch.randn(rows, d, requires_grad=True)
w = (1 + 0.1 * torch.randn(d)).requires_grad_()
y = rmsnorm(x, w, eps)
dy = torch.randn(rows, d)
y.backward(dy)
write("rmsnorm", {"rows": rows, "d": d, "eps": eps}, {"x": x, "w": w, "y": y, "dy": dy, "dx": x.grad, "dw": w.grad})


# ---- RoPE (LlamaRotaryEmbedding default rope + apply_rotary_pos_emb, HF half-split) ----
def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)

def rope_cos_sin(positions, dim, base):
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    inv_freq_expanded = inv_freq[None, :, None].float()
    position_ids_expanded = positions[None, None, :].float()
    freqs = (inv_freq_expanded @ position_ids_expanded).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[0], emb.sin()[0]  # [T, dim]

for name, theta, positions in [("rope", 10000.0, torch.arange(3, 12)),
                               ("rope_long", 5000000.0, torch.tensor([0, 1, 7, 100, 1000, 4095, 30000, 65535]))]:
    T, H, hd = positions.numel(), 3, 16
    x = torch.randn(T, H, hd, requires_grad=True)  # layout [T, heads, head_dim]
    cos, sin = rope_cos_sin(positions, hd, theta)
    y = x * cos[:, None, :] + rotate_half(x) * sin[:, None, :]
    dy = torch.randn(T, H, hd)
    y.backward(dy)
    write(name, {"tokens": T, "heads": H, "head_dim": hd, "theta": theta},
          {"positions": positions, "x": x, "y": y, "dy": dy, "dx": x.grad})


# ---- SiLU·mul (SwiGLU) ----
g = torch.randn(3, 37, requires_grad=True) * 3
g.retain_grad()
u = torch.randn(3, 37, requires_grad=True)
h = torch.nn.functional.silu(g) * u
dh = torch.randn(3, 37)
h.backward(dh)
write("silu_mul", {"n": 3 * 37}, {"gate": g, "up": u, "h": h, "dh": dh, "dgate": g.grad, "dup": u.grad})


# ---- softmax ----
x = (torch.randn(5, 33) * 4).requires_grad_()
y = torch.softmax(x, dim=-1)
dy = torch.randn(5, 33)
y.backward(dy)
write("softmax", {"rows": 5, "cols": 33}, {"x": x, "y": y, "dy": dy, "dx": x.grad})


# ---- causal GQA attention (eager_attention_forward with repeat_kv and causal mask) ----
def attention(q, k, v, hq, hkv, hd, tq, tk):
    # q [tq, hq, hd], k/v [tk, hkv, hd] -> out [tq, hq, hd]
    qh = q.permute(1, 0, 2)                                   # [hq, tq, hd]
    kh = k.permute(1, 0, 2).repeat_interleave(hq // hkv, 0)   # repeat_kv: head h uses kv h // groups
    vh = v.permute(1, 0, 2).repeat_interleave(hq // hkv, 0)
    scaling = hd ** -0.5
    w = torch.matmul(qh, kh.transpose(1, 2)) * scaling
    offset = tk - tq
    mask = torch.full((tq, tk), float("-inf")).triu(offset + 1)
    w = torch.softmax(w + mask, dim=-1, dtype=torch.float32)
    return torch.matmul(w, vh).permute(1, 0, 2).contiguous()

for name, tq, tk, hq, hkv, hd in [("attention", 100, 100, 4, 2, 8), ("attention_decode", 5, 70, 6, 2, 8),
                                  ("attention_mha", 33, 33, 2, 2, 32)]:
    q = torch.randn(tq, hq, hd, requires_grad=True)
    k = torch.randn(tk, hkv, hd, requires_grad=True)
    v = torch.randn(tk, hkv, hd, requires_grad=True)
    o = attention(q, k, v, hq, hkv, hd, tq, tk)
    do = torch.randn(tq, hq, hd)
    o.backward(do)
    write(name, {"tq": tq, "tk": tk, "hq": hq, "hkv": hkv, "head_dim": hd, "scale": hd ** -0.5},
          {"q": q, "k": k, "v": v, "o": o, "do": do, "dq": q.grad, "dk": k.grad, "dv": v.grad})


# ---- cross-entropy fused with the LM head (ForCausalLMLoss on already-shifted labels) ----
T, H, V = 23, 32, 301
hidden = torch.randn(T, H, requires_grad=True)
W = (torch.randn(V, H) * 0.3).requires_grad_()
labels = torch.randint(0, V, (T,))
labels[torch.tensor([0, 1, 2, 5, 11, 22])] = -100
logits = (hidden @ W.t()).float()
loss = torch.nn.functional.cross_entropy(logits, labels, ignore_index=-100, reduction="mean")
loss.backward()
write("cross_entropy", {"tokens": T, "hidden": H, "vocab": V, "loss": loss.item()},
      {"hidden": hidden, "weight": W, "labels": labels, "loss": loss.reshape(1), "dhidden": hidden.grad, "dweight": W.grad})


# ---- embedding gather / scatter-add ----
Vv, D = 40, 8
Wt = torch.randn(Vv, D, requires_grad=True)
ids = torch.tensor([3, 7, 3, 0, 39, 7, 7, 12])
y = torch.nn.functional.embedding(ids, Wt)
dy = torch.randn(ids.numel(), D)
y.backward(dy)
write("embedding", {"vocab": Vv, "dim": D}, {"weight": Wt, "ids": ids, "y": y, "dy": dy, "dweight": Wt.grad})


# ---- bf16 / f16 conversions (bits as int) ----
vals = torch.cat([torch.randn(200) * 10, torch.tensor([0.0, -0.0, 1.0, -1.0, 65504.0, 1e-8, 3.0e38, -3.4e38,
                                                        float("inf"), float("-inf"), 1.00390625, 1.01171875,
                                                        1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 2 ** -130, 6e-5, 1e5])])
bf = vals.to(torch.bfloat16)
f16 = vals.to(torch.float16)
write("convert", {"n": vals.numel()},
      {"f32": vals, "bf16_bits": bf.view(torch.int16).to(torch.int64) & 0xFFFF, "bf16_as_f32": bf.float(),
       "f16_bits": f16.view(torch.int16).to(torch.int64) & 0xFFFF, "f16_as_f32": f16.float()})


# ---- one SmolLM3/Llama decoder layer composed from the kernels above (RoPE and NoPE) ----
def decoder_layer(x, p, H, KV, hd, theta, eps, use_rope):
    T = x.shape[0]
    h = rmsnorm(x, p["in_norm"], eps)
    q = (h @ p["q"].t()).view(T, H, hd)
    k = (h @ p["k"].t()).view(T, KV, hd)
    v = (h @ p["v"].t()).view(T, KV, hd)
    if use_rope:
        cos, sin = rope_cos_sin(torch.arange(T), hd, theta)
        q = q * cos[:, None, :] + rotate_half(q) * sin[:, None, :]
        k = k * cos[:, None, :] + rotate_half(k) * sin[:, None, :]
    a = attention(q, k, v, H, KV, hd, T, T).reshape(T, H * hd)
    x2 = x + a @ p["o"].t()
    h2 = rmsnorm(x2, p["post_norm"], eps)
    m = torch.nn.functional.silu(h2 @ p["gate"].t()) * (h2 @ p["up"].t())
    return x2 + m @ p["down"].t()

for name, use_rope in [("decoder_layer_rope", True), ("decoder_layer_nope", False)]:
    T, D, H, KV, hd, I = 21, 32, 4, 2, 8, 48
    theta, eps = 10000.0, 1e-6
    shapes = {"q": (H * hd, D), "k": (KV * hd, D), "v": (KV * hd, D), "o": (D, H * hd),
              "gate": (I, D), "up": (I, D), "down": (D, I)}
    p = {n: (torch.randn(*s) / math.sqrt(s[1])).requires_grad_() for n, s in shapes.items()}
    p["in_norm"] = (1 + 0.1 * torch.randn(D)).requires_grad_()
    p["post_norm"] = (1 + 0.1 * torch.randn(D)).requires_grad_()
    x = torch.randn(T, D, requires_grad=True)
    y = decoder_layer(x, p, H, KV, hd, theta, eps, use_rope)
    dy = torch.randn(T, D)
    y.backward(dy)
    tensors = {"x": x, "y": y, "dy": dy, "dx": x.grad}
    for n, t in p.items():
        tensors["w_" + n] = t
        tensors["g_" + n] = t.grad
    write(name, {"tokens": T, "hidden": D, "heads": H, "kv_heads": KV, "head_dim": hd, "intermediate": I,
                 "theta": theta, "eps": eps, "use_rope": int(use_rope)}, tensors)
