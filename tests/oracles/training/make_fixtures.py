#!/usr/bin/python3
"""PyTorch oracle fixtures for ToolTune LoRA / optimizer / schedules.

Run with Debian's torch:  /usr/bin/python3 tests/oracles/training/make_fixtures.py
Writes tests/ToolTune.Tests/Fixtures/training/training_fixtures.json.

PEFT is not installable offline; its formulas are reproduced here (peft 5d602fd):
  * Linear (tuners/lora/layer.py Linear.forward): result = base(x) + lora_B(lora_A(dropout(x))) * scaling,
    lora_A.weight [r, in], lora_B.weight [out, r], scaling = lora_alpha / r.
  * Embedding (layer.py Embedding.forward / _embed): after_A = F.embedding(x, lora_embedding_A.T);
    result += (after_A @ lora_embedding_B.T) * scaling; A [r, vocab], B [hidden, r]; no dropout.
  * Trainable tokens (utils/other.py TrainableTokensWrapper): rows of listed ids replaced by trainable_tokens_delta.
transformers schedules (optimization.py): _get_{cosine,linear}_schedule_with_warmup_lr_lambda,
_get_constant_lambda / constant_with_warmup; warmup = ceil(ratio * total) (TrainingArguments.get_warmup_steps).
"""
import json, math, os
import torch

torch.manual_seed(1234)
out = {}
T = lambda t: t.detach().reshape(-1).tolist()

# ---- LoRA linear forward/backward with an explicit dropout mask ----
rows, fin, fout, r, alpha, p = 5, 12, 7, 4, 8.0, 0.25
x = torch.randn(rows, fin, requires_grad=True)
A = (torch.rand(r, fin) * 2 - 1).requires_grad_(True)
B = torch.randn(fout, r).requires_grad_(True)          # non-zero B so dA/dx are non-trivial
keep = (torch.rand(rows, fin) >= p).float()
mask = keep / (1 - p)                                   # nn.Dropout: kept * 1/(1-p)
scale = alpha / r
y = ((x * mask) @ A.T) @ B.T * scale
dy = torch.randn(rows, fout)
y.backward(dy)
out["lora_linear"] = dict(rows=rows, fin=fin, fout=fout, r=r, alpha=alpha, x=T(x), A=T(A), B=T(B), mask=T(mask),
                          y=T(y), dy=T(dy), dx=T(x.grad), dA=T(A.grad), dB=T(B.grad))

# ---- LoRA embedding ----
vocab, dim = 11, 6
ids = torch.tensor([3, 0, 3, 10, 7])
EA = torch.randn(r, vocab).requires_grad_(True)
EB = torch.randn(dim, r).requires_grad_(True)
after_A = torch.nn.functional.embedding(ids, EA.T)
ey = (after_A @ EB.T) * scale
edy = torch.randn(len(ids), dim)
ey.backward(edy)
delta = (EB @ EA).T * scale
out["lora_embedding"] = dict(vocab=vocab, dim=dim, r=r, alpha=alpha, ids=ids.tolist(), A=T(EA), B=T(EB), y=T(ey), dy=T(edy),
                             dA=T(EA.grad), dB=T(EB.grad), delta=T(delta))

# ---- AdamW: 6 steps, fixed gradients, weight decay ----
w0 = torch.randn(3, 5)
w = w0.clone().requires_grad_(True)
grads = [torch.randn(3, 5) for _ in range(6)]
lrs = [1e-2, 2e-2, 3e-2, 2.5e-2, 1e-2, 5e-3]
opt = torch.optim.AdamW([w], lr=lrs[0], betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
traj = []
for g, lr in zip(grads, lrs):
    for grp in opt.param_groups: grp["lr"] = lr
    w.grad = g.clone()
    opt.step()
    traj.append(T(w))
st = opt.state[w]
out["adamw"] = dict(w0=T(w0), grads=[T(g) for g in grads], lrs=lrs, beta1=0.9, beta2=0.95, eps=1e-8, wd=0.1, traj=traj,
                    exp_avg=T(st["exp_avg"]), exp_avg_sq=T(st["exp_avg_sq"]), torch=torch.__version__)

# ---- clip_grad_norm_ ----
ps = [torch.zeros(4, 3, requires_grad=True), torch.zeros(5, requires_grad=True)]
gs = [torch.randn(4, 3) * 3, torch.randn(5) * 2]
for q, g in zip(ps, gs): q.grad = g.clone()
total = torch.nn.utils.clip_grad_norm_(ps, max_norm=1.0)
out["clip"] = dict(grads=[T(g) for g in gs], max_norm=1.0, total=float(total), clipped=[T(q.grad) for q in ps])

# ---- schedules (transformers formulas) ----
def lam(kind, s, warm, total):
    if s < warm: return float(s) / float(max(1, warm))
    if kind == "constant": return 1.0
    if kind == "linear": return max(0.0, float(total - s) / float(max(1, total - warm)))
    prog = float(s - warm) / float(max(1, total - warm))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(0.5) * 2.0 * prog)))
sched = []
for kind in ["cosine", "linear", "constant"]:
    for total, ratio in [(100, 0.03), (37, 0.1), (10, 0.0)]:
        warm = math.ceil(total * ratio)
        sched.append(dict(kind=kind, total=total, ratio=ratio, warmup=warm, lr=3e-4,
                          values=[3e-4 * lam(kind, s, warm, total) for s in range(total)]))
out["schedules"] = sched

# ---- loss normalisation (transformers num_items_in_batch): 2 micro-batches, sum / total tokens ----
logits = [torch.randn(1, 4, 9), torch.randn(1, 6, 9)]
labels = [torch.tensor([[-100, 2, 5, -100]]), torch.tensor([[-100, 1, 1, 8, 3, -100]])]
tot = sum(int((l[:, 1:] != -100).sum()) for l in labels)
s = sum(torch.nn.functional.cross_entropy(lg[:, :-1].reshape(-1, 9), lb[:, 1:].reshape(-1), ignore_index=-100, reduction="sum") for lg, lb in zip(logits, labels))
out["loss_norm"] = dict(tokens=tot, loss=float(s / tot))

path = os.path.join(os.path.dirname(__file__), "..", "..", "ToolTune.Tests", "Fixtures", "training", "training_fixtures.json")
with open(path, "w") as f: json.dump(out, f)
print("wrote", os.path.normpath(path), "torch", torch.__version__)
