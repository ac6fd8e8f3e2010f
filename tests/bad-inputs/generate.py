#!/usr/bin/python3
"""Writes the binary cases of the bad-input corpus (invalid UTF-8, BOMs, NUL bytes, safetensors, adapters).

Run from anywhere: python3 tests/bad-inputs/generate.py. Deterministic: the committed files are its output.
Text cases are plain files edited by hand; cases.yaml describes every case.
"""
import json
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))

GOOD = ('{"id": "ok%d", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": '
        '"<tool_call>\\n{\\"name\\": \\"f\\", \\"arguments\\": {}}\\n</tool_call>"}]}')


def write(case, name, data):
    path = os.path.join(ROOT, case, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def good(i):
    return (GOOD % i).encode()


# ---- datasets ----
bad_utf8 = b'{"id": "u", "conversations": [{"from": "human", "value": "caf\xc3\x28"}, {"from": "gpt", "value": "x"}]}'
write("data-invalid-utf8-jsonl", "data.jsonl", good(1) + b"\n" + bad_utf8 + b"\n" + good(3) + b"\n")
write("data-invalid-utf8-json-array", "data.json", b"[\n" + good(1) + b",\n" + bad_utf8 + b",\n" + good(3) + b"\n]\n")
write("data-bom-jsonl", "data.jsonl", b"\xef\xbb\xbf" + good(1) + b"\n" + good(2) + b"\n")
write("data-bom-json-array", "data.json", b"\xef\xbb\xbf[\n" + good(1) + b",\n" + good(2) + b"\n]\n")
write("data-nul-byte", "data.jsonl", good(1) + b"\n" + b'{"id": "n", "conver\x00sations": []}' + b"\n" + good(3) + b"\n")
write("data-utf16-file", "data.jsonl", (GOOD % 1 + "\n").encode("utf-16"))
write("data-overlong-utf8", "data.jsonl", good(1) + b"\n" + b'{"id": "o", "x": "\xc0\xaf"}' + b"\n")

# ---- tokenizer ----
write("tokenizer-invalid-utf8", "tokenizer.json", b'{\n  "version": "1.0",\n  "added_tokens": [{"id": 0, "content": "\xff\xfe", "special": true}],\n  "model": {"type": "BPE", "vocab": {}, "merges": []}\n}\n')

# ---- safetensors ----
def header_bytes(header):
    h = json.dumps(header, separators=(",", ":")).encode()
    return h + b" " * ((8 - len(h) % 8) % 8)


def safetensors(header, data=b"", header_len=None, raw_header=None):
    h = raw_header if raw_header is not None else header_bytes(header)
    n = len(h) if header_len is None else header_len
    return struct.pack("<Q", n) + h + data


F32_6 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
ok_header = {"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}
write("st-shorter-than-8-bytes", "model.safetensors", b"\x10\x00\x00")
write("st-header-longer-than-file", "model.safetensors", safetensors(ok_header, F32_6, header_len=4096))
write("st-header-length-absurd", "model.safetensors", safetensors(ok_header, F32_6, header_len=(1 << 63) + 5))
write("st-header-not-json", "model.safetensors", safetensors(None, F32_6, raw_header=b'{"w": {"dtype": "F32", "shape": [2, 3], '))
write("st-header-invalid-utf8", "model.safetensors", safetensors(None, F32_6, raw_header=b'{"w\xff": {"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}'))
write("st-header-lone-surrogate", "model.safetensors", safetensors(None, F32_6, raw_header=b'{"w\\ud800": {"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}'))
write("st-header-not-object", "model.safetensors", safetensors([1, 2, 3]))
write("st-unknown-dtype", "model.safetensors", safetensors({"w": {"dtype": "F7", "shape": [2, 3], "data_offsets": [0, 24]}}, F32_6))
write("st-overlapping-offsets", "model.safetensors", safetensors({
    "a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
    "b": {"dtype": "F32", "shape": [3], "data_offsets": [8, 20]}}, F32_6))
write("st-offsets-past-end", "model.safetensors", safetensors({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [1000, 1024]}}, F32_6))
write("st-truncated-data", "model.safetensors", safetensors(ok_header, F32_6[:10]))
write("st-shape-offsets-mismatch", "model.safetensors", safetensors({"w": {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 24]}}, F32_6))
write("st-negative-dimension", "model.safetensors", safetensors({"w": {"dtype": "F32", "shape": [-2, -3], "data_offsets": [0, 24]}}, F32_6))
write("st-shape-overflow", "model.safetensors", safetensors({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 24]}}, F32_6))
write("st-duplicate-tensor-names", "model.safetensors", safetensors(None, F32_6, raw_header=header_bytes({})[:0] +
      b'{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"w":{"dtype":"F32","shape":[3],"data_offsets":[12,24]}}'))
write("st-missing-data-offsets", "model.safetensors", safetensors({"w": {"dtype": "F32", "shape": [2, 3]}}, F32_6))
write("st-metadata-not-string", "model.safetensors", safetensors({"__metadata__": {"format": 1}, **ok_header}, F32_6))
write("st-gap-between-tensors", "model.safetensors", safetensors({
    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    "b": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}}, F32_6))

# ---- adapters (for the shipped demo model in data/demo-model: 6 layers, hidden 192, q_proj 192 -> 192; regenerate when it changes) ----
LAYERS, HIDDEN, R = 6, 192, 2
PREFIX = "base_model.model.model.layers.%d.self_attn.q_proj.lora_%s.weight"


def adapter_config(**over):
    c = {"peft_type": "LORA", "r": R, "lora_alpha": 4, "lora_dropout": 0.0, "target_modules": ["q_proj"],
         "use_dora": False, "fan_in_fan_out": False, "task_type": "CAUSAL_LM", "bias": "none"}
    c.update(over)
    return (json.dumps(c, indent=2) + "\n").encode()


def lora_tensors(shapes):
    header, data = {}, b""
    for name, shape in shapes:
        n = 1
        for d in shape:
            n *= d
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + 4 * n]}
        data += struct.pack("<%df" % n, *([0.001] * n))
    return safetensors(header, data)


def good_shapes():
    out = []
    for i in range(LAYERS):
        out.append((PREFIX % (i, "A"), [R, HIDDEN]))
        out.append((PREFIX % (i, "B"), [HIDDEN, R]))
    return out


def adapter(case, config=None, shapes=None, weights=None):
    if config is not False:
        write(case, "adapter_config.json", config if config is not None else adapter_config())
    if weights is not False:
        write(case, "adapter_model.safetensors", weights if weights is not None else lora_tensors(shapes or good_shapes()))


adapter("adapter-config-missing", config=False)
adapter("adapter-weights-missing", weights=False)
adapter("adapter-config-bad-json", config=b'{\n  "peft_type": "LORA",\n  "r": 2,\n')
adapter("adapter-config-not-object", config=b'["LORA"]\n')
adapter("adapter-peft-type-not-lora", config=adapter_config(peft_type="PREFIX_TUNING"))
adapter("adapter-r-wrong-type", config=adapter_config(r="two"))
adapter("adapter-r-zero", config=adapter_config(r=0))
adapter("adapter-alpha-wrong-type", config=adapter_config(lora_alpha=[4]))
adapter("adapter-target-modules-wrong-type", config=adapter_config(target_modules=[1, 2]))
adapter("adapter-use-dora", config=adapter_config(use_dora=True))
adapter("adapter-unknown-target-module", config=adapter_config(target_modules=["qkv_proj"]))
adapter("adapter-trainable-tokens-wrong-type", config=adapter_config(trainable_token_indices={"embed_tokens": ["<tool_call>"]}))
shapes = good_shapes()
shapes[2] = (PREFIX % (1, "A"), [R, HIDDEN * 2])
adapter("adapter-shape-mismatch", shapes=shapes)
adapter("adapter-unexpected-tensor", shapes=good_shapes() + [("base_model.model.model.layers.0.mlp.router.lora_A.weight", [R, HIDDEN])])
adapter("adapter-missing-tensor", shapes=good_shapes()[:-1])
adapter("adapter-weights-truncated", weights=lora_tensors(good_shapes())[:-100])
shapes = good_shapes()
shapes[5] = (PREFIX % (2, "B"), [HIDDEN + 1, R])
adapter("merge-shape-mismatch", shapes=shapes)
adapter("merge-config-invalid", config=adapter_config(r="two"))
adapter("merge-weights-header-invalid", weights=safetensors(None, b"", raw_header=b"not json at all!"))
