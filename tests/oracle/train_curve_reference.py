#!/usr/bin/python3
"""Golden training curve for tests/test_train_curve.cpp: DNABERT's loop in PyTorch.

Regenerate (from the repository root; needs torch, e.g. Debian's python3-torch):
    /usr/bin/python3 tests/oracle/train_curve_reference.py
which rewrites
    tests/fixtures/bert_tiny_train_curve.safetensors
deterministically (fixed seeds, float64 on the CPU) and prints the curve. The
C++ test only reads that file: it never needs Python or torch.

The model is bert_reference.py's BertForMaskedLM (HF modeling_bert.py
numerics, post-LN, dropout 0) with its tiny config (V 69 for k = 3, H 32,
2 layers, 4 heads, FFN 64, 40 positions), imported from there, initialised as
HF's _init_weights does: Linear and Embedding weights N(0, 0.02) (seed
below), the [PAD] row of the word embeddings 0, biases 0, LayerNorm 1 and 0.
It is trained for STEPS updates with DNABERT's run_pretrain.py loop:
    loss = model(batch); loss.backward()
    clip_grad_norm_(params, 1.0); optimizer.step(); scheduler.step(); zero_grad()
with transformers.AdamW (correct_bias=True; adamw_reference.py's HFAdamW,
imported from there) at betas (0.9, 0.98), eps 1e-6, weight decay 0.01 on
every parameter but HF's no_decay = ["bias", "LayerNorm.weight"], and
get_linear_schedule_with_warmup's lambda through LambdaLR (so update 1 has
lr 0, as in DNABERT; the peak lr is exaggerated so that the loss falls
visibly within STEPS updates).

Batches: B 4 rows of T 16 tokens, [CLS] overlapping 3-mers [SEP] then [PAD],
10 to 16 tokens per row, cut one after another from a pseudo-random DNA
string with skewed base frequencies (A 0.5, T 0.3, C 0.15, G 0.05: a k-mer
distribution the model can learn in a few steps, where real DNA's near-uniform
3-mers leave the loss flat), masked as DNABERT's mask_tokens does
(models/training/masking.h): every real k-mer is a centre with probability P_CENTRE,
each centre masks positions c-1..c+1 clipped to the row's k-mers, and a
masked position becomes [MASK] (80%), a random id in [0, V) (10%) or stays
(10%); labels -100 elsewhere. A batch without a centre is drawn again. The
held-out batch (B 8) is cut from the second half of the string and masked
the same way.

Computed in float64 from the float32-rounded initial weights, saved as
float32 (ids as int32). Fixture contents (one safetensors file, written by
bert_reference.write_safetensors):
  <HF parameter name>          initial weights, F32
  final.<HF parameter name>    weights after the last update, F32
  input_ids, attention_mask, labels           I32 [STEPS, B, T]
  loss                         F32 [STEPS]: training loss of each step's batch,
                               before that step's update
  grad_norm                    F32 [STEPS]: gradient norm before clipping
  lr                           F32 [STEPS]: learning rate of each update
  heldout.input_ids, heldout.attention_mask, heldout.labels   I32 [8, T]
  heldout.loss                 F32 [2]: held-out loss before and after training
  __metadata__ "config"        HF config.json of the model (dropout 0)
  __metadata__ "optimizer"     the AdamW and schedule hyper-parameters (JSON)
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adamw_reference import HFAdamW  # noqa: E402
from bert_reference import (CLS, CONFIG, FIXTURES, K, MASK, PAD, SEP, bert_for_masked_lm,  # noqa: E402
                            parameter_shapes, read_safetensors, write_safetensors)

torch.set_default_dtype(torch.float64)

STEPS, B, T, HELDOUT_B, MIN_TOKENS = 30, 4, 16, 8, 10
OPTIMIZER = {"lr": 2e-2, "beta1": 0.9, "beta2": 0.98, "eps": 1e-6, "weight_decay": 0.01,
             "warmup_steps": 5, "total_steps": STEPS, "max_grad_norm": 1.0}
P_CENTRE = 1.0 - (1.0 - 0.2) ** (1.0 / K)  # 20% of k-mers masked away from the row ends
INIT_SEED, DATA_SEED = 20240601, 11
BASE_FREQUENCIES = [0.5, 0.3, 0.15, 0.05]  # A, T, C, G


def init_parameters(c, seed=INIT_SEED):
    """HF BertPreTrainedModel._init_weights, rounded to float32 (what the fixture stores)."""
    g = torch.Generator().manual_seed(seed)
    params = {}
    for name, shape in parameter_shapes(c):
        if name.endswith("LayerNorm.weight"):
            t = torch.ones(shape)
        elif name.endswith("bias"):
            t = torch.zeros(shape)
        else:
            t = c["initializer_range"] * torch.randn(shape, generator=g)
            if name == "bert.embeddings.word_embeddings.weight":
                t[c["pad_token_id"]] = 0.0  # nn.Embedding(padding_idx=0): HF zeroes that row
        params[name] = t
    return {n: t.float().double().requires_grad_() for n, t in params.items()}


def make_genome(n, g):
    """n i.i.d. bases with skewed frequencies: a k-mer distribution worth learning."""
    return "".join("ATCG"[int(i)] for i in torch.multinomial(torch.tensor(BASE_FREQUENCIES), n, True, generator=g))


def kmer_id(kmer):  # tokenizer/vocab.h: 5 + 2-bit code, A 0, T 1, C 2, G 3
    code = {"A": 0, "T": 1, "C": 2, "G": 3}
    return 5 + sum(code[ch] << (2 * (K - 1 - d)) for d, ch in enumerate(kmer))


def mask_tokens(ids, g, vocab_size):
    """DNABERT's mask_tokens on a padded batch; returns (corrupted ids, labels)."""
    ids = ids.clone()
    n_rows, n_cols = ids.shape
    real = ids >= 5  # k-mers: never [PAD], [UNK], [CLS], [SEP], [MASK]
    while True:
        centres = (torch.rand(ids.shape, generator=g) < P_CENTRE) & real
        if centres.any():
            break
    masked = torch.zeros_like(real)
    for b in range(n_rows):
        end = int(real[b].nonzero().max())  # last k-mer position of the row
        for c in centres[b].nonzero().flatten().tolist():
            masked[b, max(1, c - (K - 1) // 2):min(end, c + K // 2) + 1] = True
    labels = torch.where(masked, ids, torch.full_like(ids, -100))
    to_mask = masked & (torch.rand(ids.shape, generator=g) < 0.8)
    ids[to_mask] = MASK
    to_random = masked & ~to_mask & (torch.rand(ids.shape, generator=g) < 0.5)
    ids[to_random] = torch.randint(0, vocab_size, ids.shape, generator=g)[to_random]
    return ids, labels


def make_batches(c, genome, start, n_batches, rows, g):
    """n_batches [rows, T] batches of consecutive genome pieces from `start`."""
    out, at = [], start
    for _ in range(n_batches):
        ids = torch.full((rows, T), PAD, dtype=torch.long)
        for b in range(rows):
            n = int(torch.randint(MIN_TOKENS, T + 1, (1,), generator=g))  # tokens incl. [CLS], [SEP]
            piece = genome[at:at + n - 2 + K - 1]  # n - 2 k-mers
            at += len(piece)
            ids[b, :n] = torch.tensor([CLS] + [kmer_id(piece[j:j + K]) for j in range(n - 2)] + [SEP])
        attention_mask = (ids != PAD).long()
        ids, labels = mask_tokens(ids, g, c["vocab_size"])
        out.append((ids, attention_mask, labels))
    return out


def linear_schedule(step, warmup, total):  # transformers.get_linear_schedule_with_warmup's lr_lambda
    if step < warmup:
        return float(step) / float(max(1, warmup))
    return max(0.0, float(total - step) / float(max(1, total - warmup)))


def mlm_loss(P, c, batch):
    ids, mask, labels = batch
    return bert_for_masked_lm(P, c, ids, mask, torch.zeros_like(ids), labels)[1]


def train(P, c, batches):
    o = OPTIMIZER
    no_decay = ["bias", "LayerNorm.weight"]
    groups = [
        {"params": [p for n, p in P.items() if not any(nd in n for nd in no_decay)], "weight_decay": o["weight_decay"]},
        {"params": [p for n, p in P.items() if any(nd in n for nd in no_decay)], "weight_decay": 0.0},
    ]
    opt = HFAdamW(groups, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], weight_decay=o["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: linear_schedule(s, o["warmup_steps"], o["total_steps"]))
    losses, norms, lrs = [], [], []
    for batch in batches:
        loss = mlm_loss(P, c, batch)
        for p in P.values():
            p.grad = None
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(list(P.values()), o["max_grad_norm"])))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses, norms, lrs


def main():
    c = CONFIG
    assert c["hidden_dropout_prob"] == 0 and c["attention_probs_dropout_prob"] == 0
    g = torch.Generator().manual_seed(DATA_SEED)
    genome = make_genome(2 * (STEPS * B + HELDOUT_B) * (T + K), g)
    batches = make_batches(c, genome, 0, STEPS, B, g)
    heldout = make_batches(c, genome, len(genome) // 2, 1, HELDOUT_B, g)[0]

    P = init_parameters(c)
    tensors = {n: t.detach().clone() for n, t in P.items()}
    with torch.no_grad():
        heldout_before = mlm_loss(P, c, heldout).item()
    losses, norms, lrs = train(P, c, batches)
    with torch.no_grad():
        heldout_after = mlm_loss(P, c, heldout).item()

    tensors.update({f"final.{n}": t for n, t in P.items()})
    for i, key in enumerate(("input_ids", "attention_mask", "labels")):
        tensors[key] = torch.stack([batch[i] for batch in batches])
        tensors[f"heldout.{key}"] = heldout[i]
    tensors.update(loss=torch.tensor(losses), grad_norm=torch.tensor(norms), lr=torch.tensor(lrs),
                   **{"heldout.loss": torch.tensor([heldout_before, heldout_after])})
    metadata = {
        "generator": "tests/oracle/train_curve_reference.py",
        "torch": torch.__version__,
        "config": json.dumps(c, sort_keys=True),
        "optimizer": json.dumps({**OPTIMIZER, "variant": "transformers.AdamW(correct_bias=True)"}, sort_keys=True),
        "loss": "loss[s]: mean cross-entropy over labels != -100 of batch s, before update s + 1",
    }
    path = os.path.join(FIXTURES, "bert_tiny_train_curve.safetensors")
    write_safetensors(path, tensors, metadata)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(tensors)} tensors)")
    labelled = [int((b[2] != -100).sum()) for b in batches]
    print(f"labelled positions per batch: {min(labelled)}..{max(labelled)}, {sum(labelled)} in all; "
          f"ln(V) = {math.log(c['vocab_size']):.4f}")
    for s, (loss, norm, lr) in enumerate(zip(losses, norms, lrs)):
        print(f"  step {s:2d}  lr {lr:.5f}  loss {loss:.6f}  grad norm {norm:.4f}")
    print(f"held-out loss {heldout_before:.6f} -> {heldout_after:.6f}")

    back = read_safetensors(path)
    assert set(back) == set(tensors)
    assert all(torch.equal(back[n].double() if back[n].dtype == torch.float32 else back[n].long(),
                           t.detach().float().double() if t.is_floating_point() else t.long())
               for n, t in tensors.items()), "safetensors round trip"
    print("  safetensors round trip: ok")


if __name__ == "__main__":
    main()
