#!/usr/bin/python3
"""Writes a generated bf16 SmolLM3-shaped checkpoint (>= 1 GB) and a random PEFT adapter for it, for the
MergeAdapter peak-memory check. Pure stdlib; data = a random block tiled.
usage: make_big_checkpoint.py OUT_DIR [layers=4]"""
import json, os, random, struct, sys

out = sys.argv[1]; layers = int(sys.argv[2]) if len(sys.argv) > 2 else 4
V, H, I, NH, KV, D, R = 128256, 2048, 11008, 16, 4, 128, 16
os.makedirs(f"{out}/base", exist_ok=True); os.makedirs(f"{out}/adapter", exist_ok=True)
rng = random.Random(1)

def bf16_block(n):
    return b"".join(struct.pack("<H", struct.unpack("<I", struct.pack("<f", rng.gauss(0, 0.02)))[0] >> 16) for _ in range(n))

def f32_block(n, s):
    return struct.pack(f"<{n}f", *(rng.uniform(-s, s) for _ in range(n)))

BLOCK = bf16_block(1 << 16)

def write(path, tensors, dtype_size, filler):
    # tensors: list of (name, dtype, shape); layout: sorted by name (all one dtype)
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, dt, shape in sorted(tensors):
        n = 1
        for d in shape: n *= d
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + n * dtype_size]}; off += n * dtype_size
    h = json.dumps(header, separators=(",", ":")).encode(); h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for name, dt, shape in sorted(tensors):
            n = 1
            for d in shape: n *= d
            filler(f, n * dtype_size, shape)

def fill_bf16(f, nbytes, shape):
    if len(shape) == 1:
        f.write(struct.pack("<H", 0x3F80) * shape[0]); return
    while nbytes > 0:
        k = min(nbytes, len(BLOCK)); f.write(BLOCK[:k]); nbytes -= k

base = [("model.embed_tokens.weight", "BF16", [V, H]), ("model.norm.weight", "BF16", [H])]
for l in range(layers):
    p = f"model.layers.{l}."
    base += [(p + "input_layernorm.weight", "BF16", [H]), (p + "post_attention_layernorm.weight", "BF16", [H]),
             (p + "self_attn.q_proj.weight", "BF16", [NH * D, H]), (p + "self_attn.k_proj.weight", "BF16", [KV * D, H]),
             (p + "self_attn.v_proj.weight", "BF16", [KV * D, H]), (p + "self_attn.o_proj.weight", "BF16", [H, NH * D]),
             (p + "mlp.gate_proj.weight", "BF16", [I, H]), (p + "mlp.up_proj.weight", "BF16", [I, H]), (p + "mlp.down_proj.weight", "BF16", [H, I])]
write(f"{out}/base/model.safetensors", base, 2, fill_bf16)
json.dump({"architectures": ["SmolLM3ForCausalLM"], "model_type": "smollm3", "vocab_size": V, "hidden_size": H, "intermediate_size": I,
           "num_hidden_layers": layers, "num_attention_heads": NH, "num_key_value_heads": KV, "head_dim": D, "hidden_act": "silu",
           "max_position_embeddings": 65536, "rms_norm_eps": 1e-6, "rope_theta": 5000000.0, "rope_scaling": None, "attention_bias": False,
           "mlp_bias": False, "tie_word_embeddings": True, "no_rope_layer_interval": 4, "use_sliding_window": False, "sliding_window": None,
           "eos_token_id": 128012, "pad_token_id": 128004, "torch_dtype": "bfloat16"}, open(f"{out}/base/config.json", "w"), indent=2)

F32BLOCK = f32_block(1 << 16, 0.01)
def fill_f32(f, nbytes, shape):
    while nbytes > 0:
        k = min(nbytes, len(F32BLOCK)); f.write(F32BLOCK[:k]); nbytes -= k

feat = {"q_proj": (H, NH * D), "k_proj": (H, KV * D), "v_proj": (H, KV * D), "o_proj": (NH * D, H), "gate_proj": (H, I), "up_proj": (H, I), "down_proj": (I, H)}
ad = [("base_model.model.model.embed_tokens.lora_embedding_A", "F32", [R, V]), ("base_model.model.model.embed_tokens.lora_embedding_B", "F32", [H, R])]
for l in range(layers):
    for m, (fi, fo) in feat.items():
        path = f"base_model.model.model.layers.{l}.{'self_attn' if m.endswith(('q_proj','k_proj','v_proj','o_proj')) else 'mlp'}.{m}"
        ad += [(path + ".lora_A.weight", "F32", [R, fi]), (path + ".lora_B.weight", "F32", [fo, R])]
write(f"{out}/adapter/adapter_model.safetensors", ad, 4, fill_f32)
json.dump({"peft_type": "LORA", "r": R, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": list(feat) + ["embed_tokens"],
           "task_type": "CAUSAL_LM", "bias": "none"}, open(f"{out}/adapter/adapter_config.json", "w"), indent=2)
print(out, os.path.getsize(f"{out}/base/model.safetensors"))
