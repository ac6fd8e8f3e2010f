#!/usr/bin/python3
"""Random tiny SmolLM3/Llama checkpoints as Hugging Face snapshot folders, with PyTorch oracle outputs, for the
model parity tests (logits, loss, every weight gradient, input-embedding gradient).

transformers is not installable offline here, so the forward below re-implements HF's LlamaForCausalLM /
SmolLM3ForCausalLM exactly as modeling_llama.py / modeling_smollm3.py compute it (RMSNorm cast order, half-split RoPE with fp32
angles, repeat_kv GQA, causal softmax in fp32, SwiGLU, tied/untied head, ForCausalLMLoss shift with -100).

Writes tests/ToolTune.Tests/Fixtures/engine/models/<name>/:
  config.json, model.safetensors           the snapshot (F32 weights; <name>_bf16 has BF16 weights)
  expected.safetensors                     logits [T, V], loss [1], grad.<weight name> for every weight,
                                           grad.inputs_embeds [T, D] (F32; computed in fp32 from the stored
                                           weights, so the bf16 snapshot's oracle is exact for widened weights)
  expected.json                            input_ids, labels, loss
Run: /usr/bin/python3 tests/oracles/engine/make_model_fixtures.py
"""
import json, math, os, struct
import torch

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "ToolTune.Tests", "Fixtures", "engine", "models")
DT = {torch.bfloat16: ("BF16", 2), torch.float16: ("F16", 2), torch.float32: ("F32", 4), torch.int64: ("I64", 8)}


def write_safetensors(path, tensors, metadata=None):
    """Reference layout (huggingface/safetensors `prepare`): dtype alignment descending, then name."""
    order = sorted(tensors, key=lambda n: (-DT[tensors[n].dtype][1], n))
    header = {"__metadata__": metadata} if metadata else {}
    blobs, offset = [], 0
    for name in order:
        t = tensors[name].detach().contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype in (torch.bfloat16, torch.float16) else t.numpy().tobytes()
        header[name] = {"dtype": DT[t.dtype][0], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def rmsnorm(x, w, eps):
    x32 = x.float()
    return w * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_cos_sin(T, dim, base):
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    freqs = (inv_freq[None, :, None].float() @ torch.arange(T)[None, None, :].float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[0], emb.sin()[0]


def forward(cfg, W, inputs_embeds):
    T, D = inputs_embeds.shape
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = D // H
    eps = cfg["rms_norm_eps"]
    cos, sin = rope_cos_sin(T, hd, cfg["rope_theta"])
    use_rope = cfg.get("no_rope_layers", [1] * cfg["num_hidden_layers"])
    mask = torch.full((T, T), float("-inf")).triu(1)
    h = inputs_embeds
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        x = rmsnorm(h, W[p + "input_layernorm.weight"], eps)
        q = (x @ W[p + "self_attn.q_proj.weight"].t()).view(T, H, hd).transpose(0, 1)
        k = (x @ W[p + "self_attn.k_proj.weight"].t()).view(T, KV, hd).transpose(0, 1)
        v = (x @ W[p + "self_attn.v_proj.weight"].t()).view(T, KV, hd).transpose(0, 1)
        if use_rope[i]:
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, 0)
        v = v.repeat_interleave(H // KV, 0)
        a = torch.softmax(q @ k.transpose(1, 2) * hd ** -0.5 + mask, dim=-1, dtype=torch.float32) @ v
        h = h + a.transpose(0, 1).reshape(T, H * hd) @ W[p + "self_attn.o_proj.weight"].t()
        x = rmsnorm(h, W[p + "post_attention_layernorm.weight"], eps)
        m = torch.nn.functional.silu(x @ W[p + "mlp.gate_proj.weight"].t()) * (x @ W[p + "mlp.up_proj.weight"].t())
        h = h + m @ W[p + "mlp.down_proj.weight"].t()
    h = rmsnorm(h, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return (h @ head.t()).float()


def causal_lm_loss(logits, labels):
    shift = torch.nn.functional.pad(labels, (0, 1), value=-100)[1:]  # ForCausalLMLoss: pad right, shift left
    return torch.nn.functional.cross_entropy(logits, shift, ignore_index=-100, reduction="mean")


def make(name, cfg, T, seed):
    torch.manual_seed(seed)
    D, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = D // H
    W = {"model.embed_tokens.weight": torch.randn(V, D) * 0.5}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        W[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(D)
        W[p + "self_attn.q_proj.weight"] = torch.randn(H * hd, D) / math.sqrt(D)
        W[p + "self_attn.k_proj.weight"] = torch.randn(KV * hd, D) / math.sqrt(D)
        W[p + "self_attn.v_proj.weight"] = torch.randn(KV * hd, D) / math.sqrt(D)
        W[p + "self_attn.o_proj.weight"] = torch.randn(D, H * hd) / math.sqrt(H * hd)
        W[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(D)
        W[p + "mlp.gate_proj.weight"] = torch.randn(I, D) / math.sqrt(D)
        W[p + "mlp.up_proj.weight"] = torch.randn(I, D) / math.sqrt(D)
        W[p + "mlp.down_proj.weight"] = torch.randn(D, I) / math.sqrt(I)
    W["model.norm.weight"] = 1 + 0.1 * torch.randn(D)
    if not cfg["tie_word_embeddings"]:
        W["lm_head.weight"] = torch.randn(V, D) / math.sqrt(D)
    ids = torch.randint(0, V, (T,))
    labels = ids.clone()
    labels[: T // 2] = -100  # labels on the second half, as `bench train`

    for suffix, dtype in (("", torch.float32), ("_bf16", torch.bfloat16)):
        folder = os.path.join(ROOT, name + suffix)
        os.makedirs(folder, exist_ok=True)
        stored = {k: v.to(dtype) for k, v in W.items()}
        c = dict(cfg, torch_dtype="float32" if dtype == torch.float32 else "bfloat16")
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(c, f, indent=2)
        write_safetensors(os.path.join(folder, "model.safetensors"), stored, {"format": "pt"})
        # Oracle in fp32 from exactly the stored (possibly bf16-rounded) weights.
        Wf = {k: v.float().clone().requires_grad_() for k, v in stored.items()}
        emb = Wf["model.embed_tokens.weight"][ids]
        emb.retain_grad()
        logits = forward(cfg, Wf, emb)
        loss = causal_lm_loss(logits, labels)
        loss.backward()
        out = {"logits": logits.detach(), "loss": loss.detach().reshape(1), "grad.inputs_embeds": emb.grad}
        for k, v in Wf.items():
            out["grad." + k] = v.grad
        write_safetensors(os.path.join(folder, "expected.safetensors"), out)
        with open(os.path.join(folder, "expected.json"), "w") as f:
            json.dump({"generator": "tests/oracles/engine/make_model_fixtures.py", "torch": torch.__version__,
                       "input_ids": ids.tolist(), "labels": labels.tolist(), "loss": loss.item()}, f, indent=1)
        print(folder, "loss", round(loss.item(), 6))


SMOL = {"architectures": ["SmolLM3ForCausalLM"], "model_type": "smollm3", "vocab_size": 96, "hidden_size": 32,
        "intermediate_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
        "hidden_act": "silu", "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 5000000.0,
        "tie_word_embeddings": True, "no_rope_layers": [1, 1, 1, 0], "no_rope_layer_interval": 4,
        "attention_bias": False, "mlp_bias": False, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 2}
LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 80, "hidden_size": 32,
         "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
         "hidden_act": "silu", "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
         "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False}

make("smollm3_tied_nope", SMOL, T=24, seed=11)
make("llama_untied", LLAMA, T=20, seed=12)
