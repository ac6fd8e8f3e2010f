#!/usr/bin/python3
"""PyTorch reference for `tooltune bench train`: the same preset, a LoRA step as PEFT does it.

Random-init SmolLM3-architecture model (preset smol135m: vocab 49152, hidden 576, intermediate 1536, 30 layers, 9 heads,
3 KV heads, NoPE every 4th layer, tied embeddings; or tiny), f32, eager attention (transformers' eager path: matmul +
softmax; torch here is 1.13, no SDPA). LoRA r (default 16), alpha 2r, on q,k,v,o,gate,up,down (A [r,in] kaiming, B [out,r] 0)
and embed_tokens (A [r,V] 0, B [H,r] normal), base frozen; AdamW on the adapters; batch 1 x seq, labels on the second half.
Prints one JSON line like the C# verb. Run: /usr/bin/python3 tests/oracles/model/bench_train_torch.py --preset smol135m --seq 512 --steps 4
"""
import argparse, json, math, resource, time
import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    "smol135m": dict(V=49152, H=576, I=1536, L=30, nh=9, nkv=3, d=64, theta=100000.0, eps=1e-5, interval=4),
    "tiny": dict(V=4096, H=128, I=384, L=4, nh=4, nkv=2, d=32, theta=100000.0, eps=1e-5, interval=4),
}


class LoraLinear(nn.Module):
    def __init__(self, i, o, r, alpha):
        super().__init__()
        self.base = nn.Linear(i, o, bias=False)
        self.base.weight.requires_grad_(False)
        self.A = nn.Parameter(torch.empty(r, i))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = nn.Parameter(torch.zeros(o, r))
        self.s = alpha / r

    def forward(self, x):
        return self.base(x) + (x @ self.A.T) @ self.B.T * self.s


class LoraEmbedding(nn.Module):
    def __init__(self, V, H, r, alpha):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(V, H) * 0.02, requires_grad=False)
        self.A = nn.Parameter(torch.zeros(r, V))
        self.B = nn.Parameter(torch.randn(H, r))
        self.s = alpha / r

    def forward(self, ids):
        return F.embedding(ids, self.weight) + (F.embedding(ids, self.A.T) @ self.B.T) * self.s


class RMSNorm(nn.Module):
    def __init__(self, H, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(H), requires_grad=False)
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Layer(nn.Module):
    def __init__(self, c, r, alpha, use_rope):
        super().__init__()
        H, I, nh, nkv, d = c["H"], c["I"], c["nh"], c["nkv"], c["d"]
        self.c, self.use_rope = c, use_rope
        self.inn, self.post = RMSNorm(H, c["eps"]), RMSNorm(H, c["eps"])
        self.q, self.k, self.v = LoraLinear(H, nh * d, r, alpha), LoraLinear(H, nkv * d, r, alpha), LoraLinear(H, nkv * d, r, alpha)
        self.o = LoraLinear(nh * d, H, r, alpha)
        self.gate, self.up, self.down = LoraLinear(H, I, r, alpha), LoraLinear(H, I, r, alpha), LoraLinear(I, H, r, alpha)

    def forward(self, h, cos, sin, mask):
        B, T, _ = h.shape
        nh, nkv, d = self.c["nh"], self.c["nkv"], self.c["d"]
        x = self.inn(h)
        q = self.q(x).view(B, T, nh, d).transpose(1, 2)
        k = self.k(x).view(B, T, nkv, d).transpose(1, 2)
        v = self.v(x).view(B, T, nkv, d).transpose(1, 2)
        if self.use_rope:
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // nkv, dim=1)
        v = v.repeat_interleave(nh // nkv, dim=1)
        a = torch.softmax(q @ k.transpose(-1, -2) * d ** -0.5 + mask, dim=-1) @ v
        h = h + self.o(a.transpose(1, 2).reshape(B, T, nh * d))
        x = self.post(h)
        return h + self.down(F.silu(self.gate(x)) * self.up(x))


class Model(nn.Module):
    def __init__(self, c, r, alpha):
        super().__init__()
        self.c = c
        self.embed = LoraEmbedding(c["V"], c["H"], r, alpha)
        self.layers = nn.ModuleList([Layer(c, r, alpha, (i + 1) % c["interval"] != 0) for i in range(c["L"])])
        self.norm = RMSNorm(c["H"], c["eps"])
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids, labels):
        T = ids.shape[1]
        d = self.c["d"]
        inv = 1.0 / (self.c["theta"] ** (torch.arange(0, d, 2).float() / d))
        f = torch.arange(T).float()[:, None] * inv[None]
        emb = torch.cat((f, f), -1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((T, T), float("-inf")).triu(1)
        h = self.embed(ids)
        for layer in self.layers:
            h = layer(h, cos, sin, mask)
        logits = self.norm(h) @ self.embed.weight.T   # tied head
        shift = F.pad(labels, (0, 1), value=-100)[..., 1:]
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), shift.reshape(-1), ignore_index=-100)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="smol135m")
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = PRESETS[a.preset]
    model = Model(c, a.rank, 2 * a.rank)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    ids = torch.randint(0, c["V"], (1, a.seq))
    labels = ids.clone()
    labels[:, : a.seq // 2] = -100
    times = []
    for s in range(a.steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(ids, labels)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    timed = sorted(times[1:])
    med = timed[len(timed) // 2]
    print(json.dumps({"bench": "train_torch", "preset": a.preset, "seq": a.seq, "rank": a.rank, "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "trainable_params": sum(p.numel() for p in params),
                      "step_s": round(med, 4), "step_s_all": [round(t, 4) for t in times[1:]], "warmup_s": round(times[0], 4),
                      "tokens_per_s": round(a.seq / med, 1), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "loss": round(loss.item(), 5)}))


if __name__ == "__main__":
    main()
