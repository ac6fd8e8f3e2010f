#!/usr/bin/python3
"""PyTorch oracle run for TrainLora.

Same tiny checkpoint as the decoder fixtures (tests/ToolTune.Tests/Fixtures/model/smol_tied, SmolLM3 tied, NoPE layer 1),
LoRA r=4 alpha=8 on q,k,v,o,gate,up,down + embed_tokens, init written as a PEFT adapter folder (adapter_init/), 80 samples
in a fixed order (no shuffle), batch 2 x grad_accum 2 = 20 optimizer steps, torch.optim.AdamW (betas 0.9/0.999, eps 1e-8,
weight decay 0.01), cosine schedule with warmup ratio 0.1 (transformers formula), clip_grad_norm_ 1.0, no dropout.
Loss per step = sum of token NLL over the 4 sequences / trained tokens in them (transformers num_items_in_batch).
Everything in float64. LoRA math as PEFT (tuners/lora/layer.py): linear y = xW^T + s*(xA^T)B^T; embedding
y = E[ids] + s*(A^T[ids])B^T. The tied head is the ADAPTED embedding E' = E + s*(B@A)^T (what merge_and_unload writes
into the tied tensor; in ToolTune the tied head follows the adapted embedding). This deliberately differs from PEFT's
runtime forward, which adapts only the input path: ToolTune trains the model that the merge produces.
Writes tests/ToolTune.Tests/Fixtures/training/oracle_run/{adapter_init/, data.json, expected.json, expected_adapter.safetensors}.
Run: /usr/bin/python3 tests/oracles/training/make_oracle_run.py
"""
import json, math, os, struct, sys
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "model"))
from make_model_fixtures import write_safetensors, rms_norm, rotate_half, rope_cos_sin  # noqa: E402

FIX = os.path.join(HERE, "..", "..", "ToolTune.Tests", "Fixtures")
MODEL = os.path.join(FIX, "model", "smol_tied")
OUT = os.path.join(FIX, "training", "oracle_run")


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        buf = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32"
        b, e = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(buf[b:e]), dtype=torch.float32).reshape(v["shape"]).clone()
    return out


c = json.load(open(os.path.join(MODEL, "config.json")))
W = {k: v.double() for k, v in read_safetensors(os.path.join(MODEL, "model.safetensors")).items()}
H, I, V, d = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["head_dim"]
nh, nkv, L = c["num_attention_heads"], c["num_key_value_heads"], c["num_hidden_layers"]
r, alpha = 4, 8
s = alpha / r
gen = torch.Generator().manual_seed(2024)

# ---- LoRA init (PEFT: linear A kaiming_uniform(a=sqrt 5) = U(+-1/sqrt(in)), B = 0; embedding A = 0, B ~ N(0,1)) ----
feat = {"q_proj": (H, nh * d), "k_proj": (H, nkv * d), "v_proj": (H, nkv * d), "o_proj": (nh * d, H),
        "gate_proj": (H, I), "up_proj": (H, I), "down_proj": (I, H)}
P = {}
for i in range(L):
    for m, (fin, fout) in feat.items():
        path = f"model.layers.{i}.{'self_attn' if m.endswith(('q_proj', 'k_proj', 'v_proj', 'o_proj')) else 'mlp'}.{m}"
        P[path + ".lora_A.weight"] = (torch.rand(r, fin, generator=gen) * 2 - 1) / math.sqrt(fin)
        P[path + ".lora_B.weight"] = torch.zeros(fout, r)
P["model.embed_tokens.lora_embedding_A"] = torch.zeros(r, V)
P["model.embed_tokens.lora_embedding_B"] = torch.randn(H, r, generator=gen)
P = {k: v.float() for k, v in P.items()}
os.makedirs(os.path.join(OUT, "adapter_init"), exist_ok=True)
write_safetensors(os.path.join(OUT, "adapter_init", "adapter_model.safetensors"), {"base_model.model." + k: v for k, v in P.items()})
json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha, "lora_dropout": 0.0, "bias": "none",
           "target_modules": ["down_proj", "embed_tokens", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"],
           "use_rslora": False, "use_dora": False, "fan_in_fan_out": False, "init_lora_weights": True, "modules_to_save": None,
           "layers_to_transform": None, "base_model_name_or_path": "smol_tied", "inference_mode": True},
          open(os.path.join(OUT, "adapter_init", "adapter_config.json"), "w"), indent=2)
params = {k: v.double().requires_grad_(True) for k, v in P.items()}

# ---- data: 80 sequences, a learnable next-token rule, labels from position 2 ----
samples = []
for n in range(80):
    T = int(torch.randint(5, 15, (1,), generator=gen))
    ids = [int(torch.randint(3, V, (1,), generator=gen))]
    for t in range(1, T):
        ids.append((ids[-1] * 5 + 7) % V if torch.rand(1, generator=gen) < 0.8 else int(torch.randint(3, V, (1,), generator=gen)))
    labels = [x if t >= 2 else -100 for t, x in enumerate(ids)]
    samples.append({"ids": ids, "labels": labels})


def seq_loss_sum(ids, labels):
    ids = torch.tensor([ids]); labels = torch.tensor([labels])
    B, T = ids.shape
    E = W["model.embed_tokens.weight"]
    h = F.embedding(ids, E) + (F.embedding(ids, params["model.embed_tokens.lora_embedding_A"].T) @ params["model.embed_tokens.lora_embedding_B"].T) * s
    cos, sin = rope_cos_sin(T, d, c["rope_theta"], h.dtype)
    mask = torch.full((T, T), float("-inf"), dtype=h.dtype).triu(1)
    use_rope = c["no_rope_layers"]

    def lin(x, path):
        return x @ W[path + ".weight"].T + ((x @ params[path + ".lora_A.weight"].T) @ params[path + ".lora_B.weight"].T) * s

    for i in range(L):
        p = f"model.layers.{i}."
        x = rms_norm(h, W[p + "input_layernorm.weight"], c["rms_norm_eps"])
        q = lin(x, p + "self_attn.q_proj").view(B, T, nh, d).transpose(1, 2)
        k = lin(x, p + "self_attn.k_proj").view(B, T, nkv, d).transpose(1, 2)
        v = lin(x, p + "self_attn.v_proj").view(B, T, nkv, d).transpose(1, 2)
        if use_rope[i]:
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // nkv, dim=1)
        v = v.repeat_interleave(nh // nkv, dim=1)
        a = torch.softmax((q @ k.transpose(-1, -2)) * d ** -0.5 + mask, dim=-1) @ v
        h = h + lin(a.transpose(1, 2).reshape(B, T, nh * d), p + "self_attn.o_proj")
        x = rms_norm(h, W[p + "post_attention_layernorm.weight"], c["rms_norm_eps"])
        h = h + lin(F.silu(lin(x, p + "mlp.gate_proj")) * lin(x, p + "mlp.up_proj"), p + "mlp.down_proj")
    h = rms_norm(h, W["model.norm.weight"], c["rms_norm_eps"])
    E_adapted = E + (params["model.embed_tokens.lora_embedding_B"] @ params["model.embed_tokens.lora_embedding_A"]).T * s
    logits = h @ E_adapted.T   # tied head follows the adapted embedding (= the merged model)
    shift = F.pad(labels, (0, 1), value=-100)[..., 1:]
    return F.cross_entropy(logits.reshape(-1, V), shift.reshape(-1), ignore_index=-100, reduction="sum")


def n_tokens(labels):
    return sum(1 for x in labels[1:] if x != -100)


names = sorted(params)
opt = torch.optim.AdamW([params[k] for k in names], lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
steps, warm = 20, math.ceil(20 * 0.1)
lam = lambda st: st / max(1, warm) if st < warm else max(0.0, 0.5 * (1 + math.cos(math.pi * 0.5 * 2 * (st - warm) / max(1, steps - warm))))
sched = torch.optim.lr_scheduler.LambdaLR(opt, lam)
losses, lrs, norms = [], [], []
for st in range(steps):
    chunk = samples[st * 4:(st + 1) * 4]
    N = sum(n_tokens(x["labels"]) for x in chunk)
    opt.zero_grad()
    total = sum(seq_loss_sum(x["ids"], x["labels"]) for x in chunk) / N
    total.backward()
    norms.append(float(torch.nn.utils.clip_grad_norm_([params[k] for k in names], 1.0)))
    lrs.append(opt.param_groups[0]["lr"])
    opt.step()
    sched.step()
    losses.append(float(total))

write_safetensors(os.path.join(OUT, "expected_adapter.safetensors"), {"base_model.model." + k: params[k].detach().float() for k in names})
json.dump({"samples": samples}, open(os.path.join(OUT, "data.json"), "w"))
json.dump({"losses": losses, "lrs": lrs, "grad_norms": norms, "batch_size": 2, "grad_accum": 2, "lr": 1e-2, "weight_decay": 0.01,
           "warmup_ratio": 0.1, "max_grad_norm": 1.0, "torch": torch.__version__}, open(os.path.join(OUT, "expected.json"), "w"), indent=1)
print("losses", [round(x, 4) for x in losses])
