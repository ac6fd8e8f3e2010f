#!/usr/bin/python3
"""Writes tests/ToolTune.Tests/Fixtures/engine/tiny.safetensors exactly as huggingface/safetensors' `serialize`
lays a file out (the `safetensors` package is not installable offline here, so this follows its `prepare`):
u64 LE header size; compact serde_json header with "__metadata__" first, then tensors sorted by dtype
alignment descending, then name; header padded with spaces to a multiple of 8; contiguous data.
Values come from torch (bf16/f16 rounding) and are repeated in tiny.safetensors.json for the reader test.
Run: /usr/bin/python3 tests/oracles/engine/make_safetensors_fixture.py"""
import json, os, struct
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "ToolTune.Tests", "Fixtures", "engine")
torch.manual_seed(7)
tensors = {
    "model.embed_tokens.weight": torch.randn(5, 4).to(torch.bfloat16),
    "model.norm.weight": torch.randn(4),
    "lm_head.weight": torch.randn(3, 4).to(torch.float16),
    "positions": torch.arange(6, dtype=torch.int64),
    "scalar": torch.tensor(2.5),
}
DT = {torch.bfloat16: ("BF16", 2), torch.float16: ("F16", 2), torch.float32: ("F32", 4), torch.int64: ("I64", 8)}
order = sorted(tensors, key=lambda n: (-DT[tensors[n].dtype][1], n))
header = {"__metadata__": {"format": "pt"}}
blobs, offset = [], 0
for name in order:
    t = tensors[name].contiguous()
    raw = t.view(torch.int16).numpy().tobytes() if t.dtype in (torch.bfloat16, torch.float16) else t.numpy().tobytes()
    header[name] = {"dtype": DT[t.dtype][0], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
    blobs.append(raw)
    offset += len(raw)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(os.path.join(OUT, "tiny.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
expect = {name: {"dtype": DT[t.dtype][0], "shape": list(t.shape),
                 "values": [float(v) for v in t.float().reshape(-1).tolist()]} for name, t in tensors.items()}
with open(os.path.join(OUT, "tiny.safetensors.json"), "w") as f:
    json.dump(expect, f, indent=1)
print("wrote", len(h) + 8 + offset, "bytes")
