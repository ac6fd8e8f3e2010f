#!/usr/bin/python3
"""ToolTune's PyTorch backend: LoRA training (data parallel, one process per rank) and greedy generation.

ToolTune (C#) starts this module; nothing else should need to. It needs only torch (>= 1.13) and numpy: the model,
the safetensors reader/writer, the shard reader and the LoRA maths are all here, written to match the managed engine
(src/ToolTune/Model, Lora, Training) operation for operation, so both engines give the same losses and adapters.

  tooltune_torch.py probe [--device auto|cpu|cuda]      one JSON line: python, torch and numpy versions, CUDA
  tooltune_torch.py train --job JOB.json                one rank of a training job (RANK, WORLD_SIZE, MASTER_ADDR, ...)
  tooltune_torch.py serve --model DIR [--device D]      greedy generation / loss server, JSON lines on stdin/stdout

Training protocol: ToolTune writes JOB.json (model shape, LoRA config, the initial adapter tensors, the batch plan:
every optimizer step's micro-batches as sample indices with the step's lr, save/eval flags, the checkpoint folder and
the resume checkpoint). Rank 0 prints one JSON event per line on stdout ({"event": "step", ...}); ToolTune turns them
into progress lines, train-log.csv and the PEFT adapter. Failures are printed as {"event": "error", "kind": ...}
and the process exits non-zero. The ranks stop at the next step boundary when JOB_DIR/stop exists (Ctrl+C), saving a
checkpoint of the last completed step; a rank also exits when its stdin closes (ToolTune died).
"""
import json
import math
import os
import struct
import sys
import threading
import time
import traceback

MIN_TORCH = (1, 13)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------------------------
# safetensors (the format is 8-byte header length, JSON header, raw little-endian data)
# ---------------------------------------------------------------------------------------------------------------

def _st_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)), 8 + n


def read_safetensors(path, names=None):
    """name -> torch tensor (F32, BF16 or F16 as stored; memory-mapped through numpy)."""
    import numpy as np
    import torch
    header, start = _st_header(path)
    kinds = {"F32": np.float32, "F16": np.float16, "BF16": np.int16}
    out = {}
    for k, v in header.items():
        if k == "__metadata__" or (names is not None and k not in names):
            continue
        b, e = v["data_offsets"]
        if v["dtype"] not in kinds:
            raise ValueError(f"{path}: tensor {k} has dtype {v['dtype']} (F32, BF16, F16 are supported)")
        kind = kinds[v["dtype"]]
        count = (e - b) // np.dtype(kind).itemsize
        # copy-on-write map: pages are read when used and the host never holds a second copy of the checkpoint
        a = np.memmap(path, dtype=kind, mode="c", offset=start + b, shape=(count,)) if count else np.zeros(0, dtype=kind)
        t = torch.from_numpy(a)
        out[k] = (t.view(torch.bfloat16) if v["dtype"] == "BF16" else t).reshape(v["shape"])
    return out


def write_safetensors(path, tensors, metadata=None):
    """Writes F32 tensors (sorted by name), atomically."""
    import numpy as np
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k].detach().float().cpu().numpy(), dtype="<f4")
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_snapshot(model_dir):
    """All tensors of a Hugging Face snapshot (model.safetensors, or shards listed by the index, or every *.safetensors)."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
    else:
        files = sorted(f for f in os.listdir(model_dir) if f.endswith(".safetensors"))
    w = {}
    for f in files:
        w.update(read_safetensors(os.path.join(model_dir, f)))
    return w


def model_shape(model_dir):
    """The decoder shape from config.json (SmolLM3 / Llama), as ModelConfig reads it."""
    c = json.load(open(os.path.join(model_dir, "config.json")))
    arch = (c.get("architectures") or [""])[0] or {"llama": "LlamaForCausalLM", "smollm3": "SmolLM3ForCausalLM"}.get(c.get("model_type"), "")
    smol = arch == "SmolLM3ForCausalLM"
    layers, heads = c["num_hidden_layers"], c["num_attention_heads"]
    use_rope = c.get("no_rope_layers")
    if use_rope is None:
        interval = c.get("no_rope_layer_interval", 4) if smol else 0
        use_rope = [1 if interval <= 0 or (i + 1) % interval != 0 else 0 for i in range(layers)]
    return {
        "vocab_size": c["vocab_size"], "hidden_size": c["hidden_size"], "intermediate_size": c["intermediate_size"],
        "num_layers": layers, "num_heads": heads, "num_kv_heads": c.get("num_key_value_heads", heads),
        "head_dim": c.get("head_dim") or c["hidden_size"] // heads, "rope_theta": c.get("rope_theta", 10000.0),
        "rms_norm_eps": c.get("rms_norm_eps", 1e-6), "tie_word_embeddings": c.get("tie_word_embeddings", smol),
        "use_rope": [bool(x) for x in use_rope],
    }


# ---------------------------------------------------------------------------------------------------------------
# ToolTune shards (Data/Shards/ShardFormat.cs): 128-byte header, i64 token offsets, i32 ids and labels
# ---------------------------------------------------------------------------------------------------------------

class ShardSet:
    def __init__(self, directory, split):
        import numpy as np
        manifest = json.load(open(os.path.join(directory, "manifest.json")))
        self.files = []
        for s in manifest["splits"][split]["shards"]:
            path = os.path.join(directory, s["file"])
            mm = np.memmap(path, dtype=np.uint8, mode="r")
            if bytes(mm[:8]) != b"TTSHARD\0":
                raise ValueError(f"{path}: not a ToolTune shard")
            count, _, _, idx_off, ids_off, lab_off = struct.unpack_from("<qqqqqq", bytes(mm[16:64]))
            index = mm[idx_off:idx_off + 8 * (count + 1)].view(np.int64)
            total = int(index[-1])
            self.files.append((index, mm[ids_off:ids_off + 4 * total].view(np.int32), mm[lab_off:lab_off + 4 * total].view(np.int32)))
        self.starts = [0]
        for index, _, _ in self.files:
            self.starts.append(self.starts[-1] + len(index) - 1)

    def sample(self, i):
        f = 0
        while i >= self.starts[f + 1]:
            f += 1
        index, ids, labels = self.files[f]
        j = i - self.starts[f]
        a, b = int(index[j]), int(index[j + 1])
        return ids[a:b], labels[a:b]


def materialize(shards, indices, pad_id, max_len):
    """BatchIterator.Materialize: rows truncated to max_len, right-padded with pad_id / -100."""
    import numpy as np
    rows = [shards.sample(i) for i in indices]
    lengths = [min(len(r[0]), max_len) for r in rows]
    width = max(lengths) if lengths else 0
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    labels = np.full((len(rows), width), -100, dtype=np.int64)
    for r, (a, b) in enumerate(rows):
        ids[r, :lengths[r]] = a[:lengths[r]]
        labels[r, :lengths[r]] = b[:lengths[r]]
    return ids, labels


def trained_tokens(labels):
    """HF causal shift: positions t >= 1 whose label is not -100 (BatchPlanner.TrainedTokens)."""
    return int((labels[:, 1:] != -100).sum())


# ---------------------------------------------------------------------------------------------------------------
# The decoder with LoRA (CausalLM + LoraLinear + LoraEmbedding + TrainableTokens)
# ---------------------------------------------------------------------------------------------------------------

ATTN = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")


def module_path(module, layer):
    return f"model.layers.{layer}.{'self_attn' if module in ATTN else 'mlp'}.{module}"


class Decoder:
    """SmolLM3 / Llama decoder: pre-norm RMSNorm, RoPE (or NoPE per layer), GQA attention, SwiGLU MLP, tied or untied
    head. `lora` holds the trainable tensors by ToolTune parameter name (= PEFT key without `base_model.model.`)."""

    def __init__(self, shape, weights, device, dtype, lora=None, lora_cfg=None, checkpointing=False):
        import torch
        self.c, self.device, self.dtype, self.checkpointing = shape, device, dtype, checkpointing
        self.w = {k: v.to(device=device, dtype=dtype) for k, v in weights.items()}
        self.lora = lora or {}
        cfg = lora_cfg or {}
        self.scale = float(cfg.get("scale", 0.0))
        self.dropout = float(cfg.get("dropout", 0.0))
        self.training = False
        tok = cfg.get("trainable_token_ids") or []
        self.slot = None
        if tok:
            self.slot = torch.full((shape["vocab_size"],), -1, dtype=torch.long, device=device)
            self.slot[torch.tensor(tok, dtype=torch.long, device=device)] = torch.arange(len(tok), device=device)
            self.tok_ids = torch.tensor(tok, dtype=torch.long, device=device)
        d = shape["head_dim"]
        # HF's fp32 inv_freq and fp32 position products (Tensors/Rope.cs)
        self.inv_freq = 1.0 / (shape["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        self.head = self.w["model.embed_tokens.weight"] if shape["tie_word_embeddings"] else self.w["lm_head.weight"]

    def rope(self, positions):
        import torch
        freqs = positions.float()[:, None] * self.inv_freq.to(positions.device)[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(self.dtype), emb.sin().to(self.dtype)

    def linear(self, x, path):
        import torch.nn.functional as F
        y = F.linear(x, self.w[path + ".weight"])
        a = self.lora.get(path + ".lora_A.weight")
        if a is not None:
            h = F.dropout(x, self.dropout, self.training) if self.dropout > 0 else x
            y = y + F.linear(F.linear(h, a.to(x.dtype)), self.lora[path + ".lora_B.weight"].to(x.dtype)) * self.scale
        return y

    def rms_norm(self, x, weight):
        import torch
        xf = x if x.dtype == torch.float64 else x.float()  # float64 diagnostic runs stay float64
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.c["rms_norm_eps"])
        return xf.to(self.dtype) * weight

    def embed(self, ids):
        import torch
        import torch.nn.functional as F
        h = F.embedding(ids, self.w["model.embed_tokens.weight"])
        if self.slot is not None:
            s = self.slot[ids]
            rows = self.lora["model.embed_tokens.token_adapter.trainable_tokens_delta"].to(h.dtype)[s.clamp(min=0)]
            h = torch.where((s >= 0).unsqueeze(-1), rows, h)
        a = self.lora.get("model.embed_tokens.lora_embedding_A")
        if a is not None:
            b = self.lora["model.embed_tokens.lora_embedding_B"]
            h = h + F.linear(F.embedding(ids, a.t().to(h.dtype)), b.to(h.dtype)) * self.scale
        return h

    def logits(self, x):
        """The head; a tied head is the ADAPTED embedding: trainable rows replaced, + s*(B@A)^T (CausalLM.TiedHeadExtra)."""
        import torch.nn.functional as F
        out = F.linear(x, self.head)
        if self.c["tie_word_embeddings"]:
            if self.slot is not None:
                rows = self.lora["model.embed_tokens.token_adapter.trainable_tokens_delta"].to(x.dtype)
                out = out.index_copy(out.dim() - 1, self.tok_ids, F.linear(x, rows))
            a = self.lora.get("model.embed_tokens.lora_embedding_A")
            if a is not None:
                b = self.lora["model.embed_tokens.lora_embedding_B"]
                out = out + F.linear(F.linear(x, b.t().to(x.dtype)) * self.scale, a.t().to(x.dtype))
        return out

    def layer(self, i, h, cos, sin, cache=None):
        import torch
        import torch.nn.functional as F
        c = self.c
        B, T, _ = h.shape
        nh, nkv, d = c["num_heads"], c["num_kv_heads"], c["head_dim"]
        p = f"model.layers.{i}."
        x = self.rms_norm(h, self.w[p + "input_layernorm.weight"])
        q = self.linear(x, p + "self_attn.q_proj").view(B, T, nh, d).transpose(1, 2)
        k = self.linear(x, p + "self_attn.k_proj").view(B, T, nkv, d).transpose(1, 2)
        v = self.linear(x, p + "self_attn.v_proj").view(B, T, nkv, d).transpose(1, 2)
        if c["use_rope"][i]:
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
        if cache is not None:
            if cache[i] is not None:
                k = torch.cat((cache[i][0], k), dim=2)
                v = torch.cat((cache[i][1], v), dim=2)
            cache[i] = (k, v)
        a = _attention(q, k, v, nh // nkv)
        h = h + self.linear(a.transpose(1, 2).reshape(B, T, nh * d), p + "self_attn.o_proj")
        x = self.rms_norm(h, self.w[p + "post_attention_layernorm.weight"])
        return h + self.linear(F.silu(self.linear(x, p + "mlp.gate_proj")) * self.linear(x, p + "mlp.up_proj"), p + "mlp.down_proj")

    def hidden(self, ids, positions, cache=None):
        h = self.embed(ids)
        cos, sin = self.rope(positions)
        for i in range(self.c["num_layers"]):
            if self.checkpointing and self.training and cache is None:
                import torch.utils.checkpoint as cp
                h = cp.checkpoint(self.layer, i, h, cos, sin, use_reentrant=False)
            else:
                h = self.layer(i, h, cos, sin, cache)
        return self.rms_norm(h, self.w["model.norm.weight"])

    def loss_sum(self, ids, labels):
        """Σ token NLL (f32) over the shifted labels, and the count; the head runs on labelled positions only."""
        import torch
        import torch.nn.functional as F
        T = ids.shape[1]
        h = self.hidden(ids, torch.arange(T, device=ids.device))
        shift = torch.full_like(labels, -100)
        shift[:, :-1] = labels[:, 1:]
        keep = shift.reshape(-1) != -100
        x = h.reshape(-1, h.shape[-1])[keep]
        target = shift.reshape(-1)[keep]
        if target.numel() == 0:
            return h.sum() * 0, 0
        return _cross_entropy_sum(self.logits(x), target), int(target.numel())


def _cross_entropy_sum(logits, target):
    """Σ token NLL with the softmax in float64 for f32/f64 logits (f32 for bf16/f16), as CrossEntropy.cs: an f32
    softmax's rounding, amplified by the run, was most of an f32 run's distance from the exact one. Rows in chunks, so
    no float64 copy of the logits is kept; the gradient is rounded to the logits' dtype once."""
    import torch
    if not _CE:
        _CE.append(_cross_entropy_function())
    acc = torch.float32 if logits.dtype in (torch.bfloat16, torch.float16) else torch.float64
    return _CE[0].apply(logits, target, acc)


_CE = []


def _cross_entropy_function():
    import torch

    def chunks(n, vocab):
        rows = max(1, (16 << 20) // max(1, vocab))  # about 128 MB of float64 at a time
        return [(i, min(n, i + rows)) for i in range(0, n, rows)]

    class CrossEntropySum(torch.autograd.Function):
        @staticmethod
        def forward(ctx, logits, target, acc):
            n, vocab = logits.shape
            mx = logits.max(dim=-1).values.to(acc)
            total = torch.empty(n, dtype=acc, device=logits.device)
            for a, b in chunks(n, vocab):
                total[a:b] = torch.exp(logits[a:b].to(acc) - mx[a:b, None]).sum(-1)
            ctx.save_for_backward(logits, target, mx, total)
            return (mx + total.log() - logits.gather(1, target[:, None]).squeeze(1).to(acc)).sum()

        @staticmethod
        def backward(ctx, g):
            logits, target, mx, total = ctx.saved_tensors
            n, vocab = logits.shape
            g = g.to(mx.dtype)
            k = g / total
            grad = torch.empty_like(logits)
            for a, b in chunks(n, vocab):
                d = torch.exp(logits[a:b].to(mx.dtype) - mx[a:b, None]) * k[a:b, None]
                d[torch.arange(b - a, device=d.device), target[a:b]] -= g
                grad[a:b] = d.to(logits.dtype)
            return grad, None, None

    return CrossEntropySum


def _rotate_half(x):
    import torch
    d = x.shape[-1] // 2
    return torch.cat((-x[..., d:], x[..., :d]), dim=-1)


def _attention(q, k, v, groups):
    """Causal GQA attention (queries at the end of the key range); SDPA when torch has it."""
    import torch
    if groups > 1:
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
    Tq, Tk = q.shape[2], k.shape[2]
    sdpa = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
    if sdpa is not None and q.is_cuda:
        if Tq == Tk:
            return sdpa(q, k, v, is_causal=True)
        if Tq == 1:
            return sdpa(q, k, v)
    B, H, _, d = q.shape
    # one pass over the T x T scores: the causal mask is added by the batched GEMM itself (q pre-scaled: T x d, not T x T)
    mask = torch.zeros(Tq, Tk, dtype=q.dtype, device=q.device)
    if Tq > 1:
        mask.masked_fill_(torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).triu(Tk - Tq + 1), float("-inf"))
    s = torch.baddbmm(mask, (q * d ** -0.5).reshape(B * H, Tq, d), k.reshape(B * H, Tk, d).transpose(1, 2))
    p = torch.softmax(s if s.dtype == torch.float64 else s.float(), dim=-1).to(q.dtype)
    return torch.bmm(p, v.reshape(B * H, Tk, d)).view(B, H, Tq, d)


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------

class AdamW:
    """torch.optim.AdamW (amsgrad off) in the managed engine's order (Training/Optim.cs), f32 moments."""

    def __init__(self, params, betas, eps, weight_decay):
        import torch
        self.params, (self.b1, self.b2), self.eps, self.wd = params, betas, eps, weight_decay
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        self.step = 0

    def update(self, lr):
        import torch
        self.step += 1
        bc1 = 1 - self.b1 ** self.step
        bc2 = 1 - self.b2 ** self.step
        with torch.no_grad():
            for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
                g = p.grad
                p.mul_(1 - lr * self.wd)
                m.lerp_(g, 1 - self.b1)
                v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
                denom = (v.sqrt() / math.sqrt(bc2)).add_(self.eps)
                p.addcdiv_(m, denom, value=-lr / bc1)


def _pick_device(requested):
    import torch
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise Failure("cuda_unavailable", "train.torch.device is 'cuda' but torch.cuda.is_available() is false "
                                              f"(torch {torch.__version__}, built with CUDA {torch.version.cuda})")
        return "cuda"
    return "cpu"


class Failure(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def _classify(e):
    text = f"{type(e).__name__}: {e}"
    low = text.lower()
    if isinstance(e, Failure):
        return e.kind
    if "out of memory" in low:
        return "oom"
    if "address already in use" in low or "eaddrinuse" in low:
        return "port_in_use"
    if "timed out" in low or "timeout" in low:
        return "timeout"
    return "exception"


def _watch_stdin():
    """Exit when the parent (ToolTune) is gone: our stdin is its pipe."""
    def run():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except Exception:
            pass
        os._exit(3)
    threading.Thread(target=run, daemon=True).start()


def train(job_path):
    import numpy as np
    import torch
    import torch.distributed as dist
    job = json.load(open(job_path))
    job_dir = os.path.dirname(os.path.abspath(job_path))
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    local_rank, local_world = int(os.environ.get("LOCAL_RANK", "0")), int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    device = _pick_device(job["device"])
    if device == "cuda":
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    dtype = torch.bfloat16 if device.startswith("cuda") and job.get("cuda_dtype", "bf16") == "bf16" else torch.float32
    if os.environ.get("TOOLTUNE_TORCH_CPU_DTYPE") == "float64":
        dtype = torch.float64
    if world > 1:
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", init_method="env://", rank=rank, world_size=world,
                                timeout=__import__("datetime").timedelta(seconds=job.get("collective_timeout_s", 1800)))
    shape = job["model"]
    names = job["param_names"]
    init = read_safetensors(job["init"])
    lora = {n: init[n].to(device=device, dtype=torch.float64 if dtype == torch.float64 else torch.float32).requires_grad_(True) for n in names}
    params = [lora[n] for n in names]
    model = Decoder(shape, read_snapshot(job["model_dir"]), device, dtype, lora, job["lora"], job.get("gradient_checkpointing", False))
    train_set = ShardSet(job["shards"], "train")
    val_set = ShardSet(job["shards"], "val") if job.get("val_plan") else None
    opt = AdamW(params, job["betas"], job["eps"], job["weight_decay"])
    steps = job["steps"]
    start, tokens_seen = 0, 0
    if job.get("resume_from"):
        ck = job["resume_from"]
        state = json.load(open(os.path.join(ck, "trainer_state.json")))
        saved = read_safetensors(os.path.join(ck, "trainable.safetensors"))
        moments = read_safetensors(os.path.join(ck, "optimizer.safetensors"))
        with torch.no_grad():
            for i, n in enumerate(names):
                lora[n].copy_(saved[n])
                opt.exp_avg[i].copy_(moments["exp_avg." + n])
                opt.exp_avg_sq[i].copy_(moments["exp_avg_sq." + n])
        opt.step, start, tokens_seen = state["optimizer_step"], state["step"], state["tokens_seen"]
    if world > 1:
        # rank 0's state is the run's: nodes without the checkpoint (no shared file system) start from it too
        pos = torch.tensor([start, opt.step, tokens_seen], dtype=torch.float64, device=device)
        dist.broadcast(pos, 0)
        start, opt.step, tokens_seen = int(pos[0]), int(pos[1]), int(pos[2])
        with torch.no_grad():
            for t in params + opt.exp_avg + opt.exp_avg_sq:
                dist.broadcast(t, 0)
    # test hooks: "rank:step" SIGKILLs that rank before that step; "rank:step:message" raises RuntimeError(message) there
    kill_at = os.environ.get("TOOLTUNE_TORCH_KILL_AT")
    raise_at = os.environ.get("TOOLTUNE_TORCH_RAISE_AT")
    stop_file = os.path.join(job_dir, "stop")
    if rank == 0:
        emit({"event": "ready", "device": device, "dtype": str(dtype).replace("torch.", ""), "world_size": world, "torch": torch.__version__,
              "start_step": start})

    def all_sum(t):
        if world > 1:
            dist.all_reduce(t)
        return t

    def run_micro(indices, normalizer):
        mine = indices[rank::world]
        if not mine:
            return 0.0
        ids, labels = materialize(train_set, mine, job["pad_id"], job["max_len"])
        if trained_tokens(labels) == 0:
            return 0.0
        loss, _ = model.loss_sum(torch.from_numpy(ids).to(device), torch.from_numpy(labels).to(device))
        (loss / normalizer).backward()
        return float(loss.detach())

    def val_loss():
        model.training = False
        total = torch.zeros(2, dtype=torch.float64, device=device)  # NCCL reduces device tensors only
        with torch.no_grad():
            for indices in job["val_plan"]:
                mine = indices[rank::world]
                if not mine:
                    continue
                ids, labels = materialize(val_set, mine, job["pad_id"], job["max_len"])
                if trained_tokens(labels) == 0:
                    continue
                loss, n = model.loss_sum(torch.from_numpy(ids).to(device), torch.from_numpy(labels).to(device))
                total[0] += float(loss)
                total[1] += n
        all_sum(total)
        return float(total[0] / total[1]) if total[1] > 0 else None

    def save(step, epoch, micro):
        if rank != 0:
            return None
        root = job["checkpoint_dir"]
        final = os.path.join(root, f"checkpoint-{step}")
        tmp = final + ".tmp"
        os.makedirs(tmp, exist_ok=True)
        write_safetensors(os.path.join(tmp, "trainable.safetensors"), {n: lora[n] for n in names})
        moments = {}
        for i, n in enumerate(names):
            moments["exp_avg." + n] = opt.exp_avg[i]
            moments["exp_avg_sq." + n] = opt.exp_avg_sq[i]
        write_safetensors(os.path.join(tmp, "optimizer.safetensors"), moments)
        write_safetensors(os.path.join(tmp, "adapter_model.safetensors"), {"base_model.model." + n: lora[n] for n in names}, {"format": "pt"})
        with open(os.path.join(tmp, "adapter_config.json"), "w") as f:
            f.write(job["adapter_config"])
        state = {"step": step, "epoch": epoch, "micro": micro, "rng_state": "0", "optimizer_step": opt.step, "scheduler_step": step,
                 "total_steps": job["total_steps"], "seed": job["seed"], "fingerprint": job["fingerprint"], "tokens_seen": tokens_seen}
        with open(os.path.join(tmp, "trainer_state.json"), "w") as f:
            json.dump(state, f, indent=2)
        if os.path.isdir(final):
            import shutil
            shutil.rmtree(final)
        os.replace(tmp, final)
        done = sorted((int(d[len("checkpoint-"):]), d) for d in os.listdir(root)
                      if d.startswith("checkpoint-") and d[len("checkpoint-"):].isdigit() and os.path.exists(os.path.join(root, d, "trainer_state.json")))
        for _, d in done[:-job["keep_last"]]:
            import shutil
            shutil.rmtree(os.path.join(root, d))
        emit({"event": "checkpoint", "step": step, "path": final})
        return final

    step = start
    last_saved = start
    clock = time.time()
    while step < len(steps):
        s = steps[step]
        flag = torch.tensor([1.0 if os.path.exists(stop_file) else 0.0], device=device)
        if all_sum(flag).item() > 0:
            if step > start and step != last_saved:
                save(step, s["epoch"], s["micro_start"])
            if rank == 0:
                emit({"event": "canceled", "step": step})
            break
        if kill_at and kill_at == f"{rank}:{step + 1}":
            import signal
            os.kill(os.getpid(), signal.SIGKILL)
        if raise_at and raise_at.startswith(f"{rank}:{step + 1}:"):
            raise RuntimeError(raise_at.split(":", 2)[2])
        model.training = True
        n = sum(trained_tokens(materialize(train_set, m, job["pad_id"], job["max_len"])[1]) for m in s["micro"])
        for p in params:
            p.grad = torch.zeros_like(p)
        loss_sum = 0.0
        for m in s["micro"]:
            loss_sum += run_micro(m, max(1, n))
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        all_sum(flat)
        off = 0
        for p in params:
            p.grad.copy_(flat[off:off + p.numel()].view_as(p))
            off += p.numel()
        loss = float(all_sum(torch.tensor([loss_sum], dtype=torch.float64, device=device))) / n if n > 0 else 0.0  # the loss in double
        norms = torch.stack([p.grad.norm() for p in params])
        total_norm = float(norms.norm())
        if job["max_grad_norm"] > 0:
            coef = min(1.0, job["max_grad_norm"] / (total_norm + 1e-6))
            if coef < 1.0:
                for p in params:
                    p.grad.mul_(coef)
        if not (math.isfinite(loss) and math.isfinite(total_norm)):
            raise Failure("non_finite", f"step {step + 1}: {'gradient norm' if math.isfinite(loss) else 'loss'} is "
                                        f"{total_norm if math.isfinite(loss) else loss}")
        opt.update(s["lr"])
        step += 1
        tokens_seen += n
        vl = val_loss() if s.get("eval") and val_set is not None else None
        if rank == 0:
            ev = {"event": "step", "step": step, "loss": loss, "lr": s["lr"], "grad_norm": total_norm, "tokens": n, "epoch": s["epoch_pos"],
                  "val_loss": vl, "elapsed": time.time() - clock}
            if device.startswith("cuda"):
                ev["max_memory_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
            emit(ev)
        if s.get("save"):
            save(step, s["epoch_end"], s["micro_end"])
            last_saved = step
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    if rank == 0:
        emit({"event": "done", "step": step})


# ---------------------------------------------------------------------------------------------------------------
# Generation server
# ---------------------------------------------------------------------------------------------------------------

def serve(model_dir, requested, shape=None):
    import torch
    device = _pick_device(requested)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if device == "cpu":
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = Decoder(json.loads(shape) if shape else model_shape(model_dir), read_snapshot(model_dir), device, dtype)
    emit({"event": "ready", "device": device, "torch": torch.__version__})
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        with torch.no_grad():
            if "labels" in req:
                ids = torch.tensor([req["ids"]], device=device)
                loss, n = model.loss_sum(ids, torch.tensor([req["labels"]], device=device))
                emit({"loss_sum": float(loss), "tokens": n})
                continue
            emit(_generate(model, req, device))


def _generate(model, req, device):
    import torch
    stops = set(req.get("stop", []))
    cache = [None] * model.c["num_layers"]
    ids = torch.tensor([req["ids"]], device=device)
    temperature = float(req.get("temperature", 0.0))
    gen = torch.Generator(device="cpu").manual_seed(int(req.get("seed", 0)))
    out, reason = [], "length"
    t0 = time.time()
    pos = 0
    prefill = 0.0
    x = ids
    for _ in range(int(req["max_new_tokens"])):
        T = x.shape[1]
        h = model.hidden(x, torch.arange(pos, pos + T, device=device), cache)
        logits = model.logits(h[:, -1]).float()[0]
        pos += T
        if temperature > 0:
            nxt = int(torch.multinomial(torch.softmax(logits.cpu() / temperature, -1), 1, generator=gen))
        else:
            nxt = int(torch.argmax(logits))
        if not out:
            prefill = time.time() - t0
        out.append(nxt)
        if nxt in stops:
            reason = "stop"
            break
        x = torch.tensor([[nxt]], device=device)
    return {"ids": out, "reason": reason, "prefill_s": prefill, "decode_s": time.time() - t0 - prefill}


# ---------------------------------------------------------------------------------------------------------------

def probe(requested):
    info = {"python": sys.version.split()[0], "executable": sys.executable}
    try:
        import numpy
        info["numpy"] = numpy.__version__
    except ImportError:
        info["numpy"] = None
    try:
        import torch
    except ImportError as e:
        info["torch"] = None
        info["error"] = str(e)
        emit(info)
        return
    info["torch"] = torch.__version__
    v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2] if x.isdigit())
    info["torch_ok"] = v >= MIN_TORCH
    info["cuda"] = torch.cuda.is_available()
    info["cuda_devices"] = torch.cuda.device_count() if info["cuda"] else 0
    info["distributed"] = torch.distributed.is_available()
    emit(info)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="tooltune_torch.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe")
    p.add_argument("--device", default="auto")
    t = sub.add_parser("train")
    t.add_argument("--job", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--model", required=True)
    s.add_argument("--device", default="auto")
    s.add_argument("--shape", help="the decoder shape as JSON (ToolTune passes its own reading of config.json)")
    a = ap.parse_args(argv)
    if a.cmd == "probe":
        probe(a.device)
        return 0
    try:
        if a.cmd == "train":
            _watch_stdin()
            train(a.job)
            sys.stdout.flush()
            os._exit(0)  # not a normal shutdown: the stdin watcher thread must not be joined
        else:
            serve(a.model, a.device, a.shape)
        return 0
    except BaseException as e:  # noqa: B036: every failure becomes one located event for ToolTune
        if isinstance(e, KeyboardInterrupt):
            return 130
        emit({"event": "error", "kind": _classify(e), "rank": int(os.environ.get("RANK", "0")), "message": f"{type(e).__name__}: {e}",
              "traceback": traceback.format_exc()[-4000:]})
        sys.stderr.write(traceback.format_exc())
        if a.cmd == "train":
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)  # as on success: the stdin watcher thread must not be joined at shutdown
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
