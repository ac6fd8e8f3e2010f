#!/usr/bin/python3
"""PyTorch reference for `tooltune bench generate`: KV-cache greedy decoding on the bench_train_torch.py model shape.

Plain torch (no transformers offline): the same random-init SmolLM3-architecture decoder as bench_train_torch.py
(normal(0, 0.02) linears, tied head, NoPE every 4th layer, GQA via repeat_interleave as HF's eager repeat_kv), f32,
no adapters, torch.inference_mode. Prefill = one causal forward over the prompt that fills a preallocated KV cache
(HF's StaticCache layout [1, kv_heads, capacity, head_dim]); decode = one token per step against the cache, greedy
argmax of the last position's logits (only that row goes through the LM head, as HF's logits_to_keep=1).
Prints one JSON line like the C# verb. Run:
  /usr/bin/python3 tests/oracles/model/bench_generate_torch.py --preset smol135m --prompt 512 --new 128 --repeat 3
"""
import argparse, json, os, resource, sys, time
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_train_torch import PRESETS, rotate_half  # noqa: E402  (same shapes as the training bench)


class Decoder:
    def __init__(self, c, capacity):
        g = torch.Generator().manual_seed(0)
        H, I, nh, nkv, d = c["H"], c["I"], c["nh"], c["nkv"], c["d"]
        n = lambda *s: torch.randn(*s, generator=g) * 0.02  # noqa: E731
        self.c = c
        self.embed = n(c["V"], H)
        self.layers = [dict(q=n(nh * d, H), k=n(nkv * d, H), v=n(nkv * d, H), o=n(H, nh * d), gate=n(I, H), up=n(I, H), down=n(H, I),
                            inn=torch.ones(H), post=torch.ones(H), rope=(i + 1) % c["interval"] != 0) for i in range(c["L"])]
        self.norm = torch.ones(H)
        self.kc = [torch.zeros(1, nkv, capacity, d) for _ in range(c["L"])]
        self.vc = [torch.zeros(1, nkv, capacity, d) for _ in range(c["L"])]
        inv = 1.0 / (c["theta"] ** (torch.arange(0, d, 2).float() / d))
        f = torch.arange(capacity).float()[:, None] * inv[None]
        emb = torch.cat((f, f), -1)
        self.cos, self.sin = emb.cos(), emb.sin()

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.c["eps"]) * w

    def step(self, ids, past):
        """Feeds ids [1, T] at positions past..past+T-1; returns the last position's logits."""
        c = self.c
        nh, nkv, d = c["nh"], c["nkv"], c["d"]
        T = ids.shape[1]
        end = past + T
        cos, sin = self.cos[past:end], self.sin[past:end]
        mask = torch.full((T, end), float("-inf")).triu(past + 1) if T > 1 else None
        h = F.embedding(ids, self.embed)
        for i, L in enumerate(self.layers):
            x = self.rms(h, L["inn"])
            q = F.linear(x, L["q"]).view(1, T, nh, d).transpose(1, 2)
            k = F.linear(x, L["k"]).view(1, T, nkv, d).transpose(1, 2)
            v = F.linear(x, L["v"]).view(1, T, nkv, d).transpose(1, 2)
            if L["rope"]:
                q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            self.kc[i][:, :, past:end] = k
            self.vc[i][:, :, past:end] = v
            kk = self.kc[i][:, :, :end].repeat_interleave(nh // nkv, dim=1)
            vv = self.vc[i][:, :, :end].repeat_interleave(nh // nkv, dim=1)
            s = q @ kk.transpose(-1, -2) * d ** -0.5
            if mask is not None:
                s = s + mask
            a = torch.softmax(s, dim=-1) @ vv
            h = h + F.linear(a.transpose(1, 2).reshape(1, T, nh * d), L["o"])
            x = self.rms(h, L["post"])
            h = h + F.linear(F.silu(F.linear(x, L["gate"])) * F.linear(x, L["up"]), L["down"])
        return F.linear(self.rms(h[:, -1], self.norm), self.embed)  # tied head, last position only


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="smol135m")
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    c = PRESETS[a.preset]
    m = Decoder(c, a.prompt + a.new)
    prompt = torch.randint(0, c["V"], (1, a.prompt), generator=torch.Generator().manual_seed(2))
    prefill, decode, out = [], [], []
    with torch.inference_mode():
        for r in range(a.repeat + 1):  # run 0 warms up
            t0 = time.perf_counter()
            logits = m.step(prompt, 0)
            t1 = time.perf_counter()
            ids = [int(logits.argmax(-1))]
            for t in range(a.new - 1):
                logits = m.step(torch.tensor([[ids[-1]]]), a.prompt + t)
                ids.append(int(logits.argmax(-1)))
            t2 = time.perf_counter()
            if r > 0:
                prefill.append(t1 - t0)
                decode.append(t2 - t1)
            out = ids
    pf, dc = sorted(prefill)[len(prefill) // 2], sorted(decode)[len(decode) // 2]
    print(json.dumps({"bench": "generate_torch", "preset": a.preset, "prompt_tokens": a.prompt, "new_tokens": a.new, "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "prefill_s": round(pf, 4), "prefill_tokens_per_s": round(a.prompt / pf, 1),
                      "decode_tokens_per_s": round((a.new - 1) / dc, 1), "decode_ms_per_token": round(1000 * dc / (a.new - 1), 2),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "first_ids": out[:8],
                      "loadavg": open("/proc/loadavg").read().split()[0]}))


if __name__ == "__main__":
    main()
