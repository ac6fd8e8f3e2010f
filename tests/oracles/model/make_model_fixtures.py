#!/usr/bin/python3
"""PyTorch oracle for the managed decoder.

Writes tiny random checkpoints as Hugging Face snapshot folders under tests/ToolTune.Tests/Fixtures/model/:
  smol_tied/       SmolLM3ForCausalLM, tied embeddings, no_rope_layers [1,0,1] (layer 1 NoPE), GQA 4/2, F32, model.safetensors
  llama_untied/    LlamaForCausalLM, untied lm_head, GQA 4/1, F32, sharded (2 shards + model.safetensors.index.json)
  smol_tied_bf16/  smol_tied's weights rounded to BF16
and, beside each, expected.json (ids, labels, loss, greedy continuation) + expected.safetensors (logits, the gradient of
every weight, and of the input embeddings), all computed in float64 by the reference model below, which follows
modeling_smollm3.py / modeling_llama.py line by line (transformers is not installable here). The BF16 fixture's expectations are the float64 forward of the bf16-rounded weights.
Run: /usr/bin/python3 tests/oracles/model/make_model_fixtures.py
"""
import json, os, struct
import torch
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "ToolTune.Tests", "Fixtures", "model")
DT = {torch.bfloat16: ("BF16", 2), torch.float16: ("F16", 2), torch.float32: ("F32", 4), torch.int64: ("I64", 8)}


def write_safetensors(path, tensors):
    """As huggingface/safetensors `serialize`: metadata first, tensors by dtype alignment desc then name, header padded to 8."""
    order = sorted(tensors, key=lambda n: (-DT[tensors[n].dtype][1], n))
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in order:
        t = tensors[name].contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype in (torch.bfloat16, torch.float16) else t.numpy().tobytes()
        header[name] = {"dtype": DT[t.dtype][0], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def expected_names(c):
    names = ["model.embed_tokens.weight"]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        names += [p + n for n in ["input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                                  "self_attn.o_proj.weight", "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
                                  "mlp.down_proj.weight"]]
    names.append("model.norm.weight")
    if not c["tie_word_embeddings"]:
        names.append("lm_head.weight")
    return names


def random_weights(c, gen):
    H, I, V, d = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["head_dim"]
    q, kv = c["num_attention_heads"] * d, c["num_key_value_heads"] * d
    shapes = {"model.embed_tokens.weight": (V, H), "model.norm.weight": (H,), "lm_head.weight": (V, H)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (H,), p + "post_attention_layernorm.weight": (H,),
                       p + "self_attn.q_proj.weight": (q, H), p + "self_attn.k_proj.weight": (kv, H), p + "self_attn.v_proj.weight": (kv, H),
                       p + "self_attn.o_proj.weight": (H, q), p + "mlp.gate_proj.weight": (I, H), p + "mlp.up_proj.weight": (I, H),
                       p + "mlp.down_proj.weight": (H, I)})
    w = {}
    for n in expected_names(c):
        s = shapes[n]
        if len(s) == 1:
            w[n] = 1.0 + 0.2 * (2 * torch.rand(s, generator=gen) - 1)
        else:
            w[n] = torch.randn(s, generator=gen) * (0.25 if "embed" in n or "lm_head" in n else 0.2)
    return {n: t.float() for n, t in w.items()}


# ---------------------------------------------------------------- reference model (modeling_smollm3.py)

def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    d = x.shape[-1] // 2
    return torch.cat((-x[..., d:], x[..., :d]), dim=-1)


def rope_cos_sin(T, d, theta, dtype):
    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))   # fp32, as HF
    freqs = torch.arange(T).float()[:, None] * inv_freq[None, :]                           # fp32 product
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def forward(c, W, ids, labels):
    """Returns logits [B,T,V], loss, and the input-embedding tensor (leaf for its gradient)."""
    B, T = ids.shape
    H, nh, nkv, d = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    eps = c["rms_norm_eps"]
    use_rope = c.get("no_rope_layers", [1] * c["num_hidden_layers"])
    emb = F.embedding(ids, W["model.embed_tokens.weight"])
    if emb.requires_grad:
        emb.retain_grad()
    h = emb
    cos, sin = rope_cos_sin(T, d, c["rope_theta"], h.dtype)
    mask = torch.full((T, T), float("-inf"), dtype=h.dtype).triu(1)
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        x = rms_norm(h, W[p + "input_layernorm.weight"], eps)
        q = (x @ W[p + "self_attn.q_proj.weight"].T).view(B, T, nh, d).transpose(1, 2)
        k = (x @ W[p + "self_attn.k_proj.weight"].T).view(B, T, nkv, d).transpose(1, 2)
        v = (x @ W[p + "self_attn.v_proj.weight"].T).view(B, T, nkv, d).transpose(1, 2)
        if use_rope[i]:
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
        rep = nh // nkv
        k = k.repeat_interleave(rep, dim=1)   # repeat_kv: query head h uses kv head h // rep
        v = v.repeat_interleave(rep, dim=1)
        s = (q @ k.transpose(-1, -2)) * d ** -0.5 + mask
        a = torch.softmax(s, dim=-1) @ v
        a = a.transpose(1, 2).reshape(B, T, nh * d)
        h = h + a @ W[p + "self_attn.o_proj.weight"].T
        x = rms_norm(h, W[p + "post_attention_layernorm.weight"], eps)
        m = F.silu(x @ W[p + "mlp.gate_proj.weight"].T) * (x @ W[p + "mlp.up_proj.weight"].T)
        h = h + m @ W[p + "mlp.down_proj.weight"].T
    h = rms_norm(h, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if c["tie_word_embeddings"] else W["lm_head.weight"]
    logits = h @ head.T
    # ForCausalLMLoss: pad labels right by one -100, shift left, mean over non-ignored
    shift = F.pad(labels, (0, 1), value=-100)[..., 1:]
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float() if logits.dtype == torch.float32 else logits.reshape(-1, logits.shape[-1]),
                           shift.reshape(-1), ignore_index=-100, reduction="mean")
    return logits, loss, emb


def greedy(c, W, prompt, steps):
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(steps):
            t = torch.tensor([ids])
            logits, _, _ = forward(c, W, t, torch.full_like(t, -100))
            ids.append(int(logits[0, -1].argmax()))
    return ids[len(prompt):]


def make(name, c, W32, dtype, shards, ids, labels, gen_prompt):
    out = os.path.join(ROOT, name)
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    stored = {n: t.to(dtype) for n, t in W32.items()}
    cfg = dict(c)
    cfg["torch_dtype"] = {torch.float32: "float32", torch.bfloat16: "bfloat16"}[dtype]
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    names = expected_names(c)
    if shards == 1:
        write_safetensors(os.path.join(out, "model.safetensors"), stored)
    else:
        per = (len(names) + shards - 1) // shards
        wm, total = {}, 0
        for s in range(shards):
            fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: stored[n] for n in names[s * per:(s + 1) * per]}
            write_safetensors(os.path.join(out, fn), part)
            for n, t in part.items():
                wm[n] = fn
                total += t.numel() * t.element_size()
        with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(wm.items()))}, f, indent=2)
    # float64 oracle on exactly the stored values
    W = {n: t.double().clone().requires_grad_(True) for n, t in stored.items()}
    logits, loss, emb = forward(c, W, ids, labels)
    loss.backward()
    exp = {"logits": logits.detach().float().contiguous(), "grad.inputs_embeds": emb.grad.float().contiguous()}
    for n in names:
        exp["grad." + n] = W[n].grad.float().contiguous()
    write_safetensors(os.path.join(out, "expected.safetensors"), exp)
    Wd = {n: t.detach() for n, t in W.items()}
    meta = {"batch": ids.shape[0], "seq": ids.shape[1], "ids": ids.reshape(-1).tolist(), "labels": labels.reshape(-1).tolist(),
            "loss": loss.item(), "greedy_prompt": gen_prompt, "greedy": greedy(c, Wd, gen_prompt, 64)}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(meta, f)
    print(name, "loss", loss.item())


def main():
    gen = torch.Generator().manual_seed(1234)
    smol = {"architectures": ["SmolLM3ForCausalLM"], "model_type": "smollm3", "vocab_size": 128, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "hidden_act": "silu",
            "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "rope_scaling": None, "attention_bias": False,
            "mlp_bias": False, "tie_word_embeddings": True, "no_rope_layers": [1, 0, 1], "no_rope_layer_interval": 2,
            "use_sliding_window": False, "sliding_window": None, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    llama = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128, "hidden_size": 32, "intermediate_size": 48,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 8, "hidden_act": "silu",
             "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "rope_scaling": None, "attention_bias": False,
             "mlp_bias": False, "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2}
    B, T = 2, 12
    ids = torch.randint(0, 128, (B, T), generator=gen)
    labels = ids.clone()
    labels[0, :4] = -100
    labels[1, 5:8] = -100
    prompt = [1, 17, 42, 99, 5]
    Ws = random_weights(smol, gen)
    Wl = random_weights(llama, gen)
    make("smol_tied", smol, Ws, torch.float32, 1, ids, labels, prompt)
    make("llama_untied", llama, Wl, torch.float32, 2, ids, labels, prompt)
    make("smol_tied_bf16", smol, Ws, torch.bfloat16, 1, ids, labels, prompt)


if __name__ == "__main__":
    torch.set_grad_enabled(True)
    main()
