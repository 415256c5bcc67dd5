#!/usr/bin/python3
"""Golden fixture for the C++ BERT: an independent PyTorch BertForMaskedLM.

Regenerate (from the repository root; needs torch, e.g. Debian's python3-torch):
    /usr/bin/python3 tests/oracle/bert_reference.py
which rewrites
    tests/fixtures/bert_tiny_mlm.safetensors   (weights, inputs, outputs, grads)
    tests/fixtures/bert_tiny_config.json       (HF config.json of the model)
and runs the self-checks below (add --no-check to skip them). The output is
deterministic (fixed seeds, float64 on the CPU). The C++ tests only read the
two files: they never need Python or torch.

The model is written from scratch to mirror HF transformers' modeling_bert.py
(post-LayerNorm BERT, eval-mode numerics, dropout 0), with HF's parameter
names and [out, in] weight layout:
  embeddings   word(ids) + position(0..T-1) + token_type(types) -> LayerNorm
               (word embeddings use padding_idx 0 as in HF: lookups of [PAD]
               send no gradient to row 0; the tied decoder still does)
  layer i      scores = QKᵀ/√D + (1 - attention_mask)·finfo(float32).min
               (broadcast over heads and queries), softmax, ·V, merge heads
               -> attention.output.dense -> LayerNorm(x + ·)
               -> intermediate.dense -> GELU (erf) -> output.dense -> LayerNorm(h + ·)
  MLM head     transform.dense -> GELU -> transform.LayerNorm
               -> ·word_embeddingsᵀ + cls.predictions.bias
  loss         cross-entropy over V, ignore_index -100, mean over labelled positions
Computed in float64, saved as float32 (ids as int32).

Fixture contents (one safetensors file, written by hand below; no package):
  <HF parameter name>         every weight, F32
  input_ids, attention_mask, token_type_ids, labels   I32 [B, T]
  logits                      F32 [B, T, V] (padded positions included)
  loss                        F32 [1]
  grad.<HF parameter name>    dloss/dparameter, F32
  hidden.0                    embeddings output (after LayerNorm), F32 [B, T, H]
  hidden.<i+1>                output of encoder layer i, F32 [B, T, H]
(HF's output_hidden_states order). Tiny config: V 69 (k = 3), H 32, 2 layers,
4 heads, FFN 64, 40 positions, 2 token types, layer_norm_eps 1e-12. Weights are
N(0, 0.02) as HF initialises them, then every bias and LayerNorm parameter is
perturbed (HF would start them at 0 and 1) so that each parameter matters.
Batch: B 3, T 16, real lengths 16, 11, 7 ([CLS] k-mers [SEP], then [PAD]=0);
row 1 has token type 1 on positions 6..10; about a fifth of the real k-mers
carry MLM labels (most replaced by [MASK]=4), labels are -100 elsewhere.

Self-checks (printed): torch.autograd.gradcheck in float64 of the loss with
respect to several whole parameters (and, in fast mode, all of them at once);
and the encoder layers against torch.nn.TransformerEncoderLayer loaded with
the same weights, an independent implementation of the same post-LN layer.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

CONFIG = {
    "architectures": ["BertForMaskedLM"],
    "attention_probs_dropout_prob": 0.0,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 64,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 40,
    "model_type": "bert",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "pad_token_id": 0,
    "type_vocab_size": 2,
    "vocab_size": 69,
}
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
K = 3
LENGTHS = [16, 11, 7]  # tokens per row including [CLS] and [SEP]
T = 16


# ---------------------------------------------------------------- parameters
def parameter_shapes(c):
    """HF BertForMaskedLM's parameters, in state_dict order (no pooler)."""
    H, F_, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    shapes = [
        ("bert.embeddings.word_embeddings.weight", (V, H)),
        ("bert.embeddings.position_embeddings.weight", (c["max_position_embeddings"], H)),
        ("bert.embeddings.token_type_embeddings.weight", (c["type_vocab_size"], H)),
        ("bert.embeddings.LayerNorm.weight", (H,)),
        ("bert.embeddings.LayerNorm.bias", (H,)),
    ]
    for i in range(c["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."
        for m in ("query", "key", "value"):
            shapes += [(p + f"attention.self.{m}.weight", (H, H)), (p + f"attention.self.{m}.bias", (H,))]
        shapes += [
            (p + "attention.output.dense.weight", (H, H)), (p + "attention.output.dense.bias", (H,)),
            (p + "attention.output.LayerNorm.weight", (H,)), (p + "attention.output.LayerNorm.bias", (H,)),
            (p + "intermediate.dense.weight", (F_, H)), (p + "intermediate.dense.bias", (F_,)),
            (p + "output.dense.weight", (H, F_)), (p + "output.dense.bias", (H,)),
            (p + "output.LayerNorm.weight", (H,)), (p + "output.LayerNorm.bias", (H,)),
        ]
    shapes += [
        ("cls.predictions.transform.dense.weight", (H, H)), ("cls.predictions.transform.dense.bias", (H,)),
        ("cls.predictions.transform.LayerNorm.weight", (H,)), ("cls.predictions.transform.LayerNorm.bias", (H,)),
        ("cls.predictions.bias", (V,)),
    ]
    return shapes


def init_parameters(c, seed=20240521):
    g = torch.Generator().manual_seed(seed)
    params = {}
    for name, shape in parameter_shapes(c):
        if name.endswith("LayerNorm.weight"):  # HF: 1; perturbed
            t = 1.0 + 0.1 * torch.randn(shape, generator=g)
        elif name.endswith("bias"):  # HF: 0; perturbed
            t = 0.1 * torch.randn(shape, generator=g)
        else:  # HF _init_weights: N(0, initializer_range) for Linear and Embedding
            t = c["initializer_range"] * torch.randn(shape, generator=g)
        params[name] = t
    # Round to float32 first: the fixture stores f32 weights, and the float64
    # reference must be the exact function of the weights the C++ side loads.
    return {n: t.float().double().requires_grad_() for n, t in params.items()}


# ---------------------------------------------------------------- the model
def gelu(x):  # HF "gelu": the exact erf form
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def layer_norm(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def bert_for_masked_lm(P, c, input_ids, attention_mask, token_type_ids, labels):
    """Returns logits [B, T, V], loss, hidden states (embeddings + each layer)."""
    B, T_ = input_ids.shape
    H, NH = c["hidden_size"], c["num_attention_heads"]
    D = H // NH
    eps = c["layer_norm_eps"]
    # BertEmbeddings
    positions = torch.arange(T_).unsqueeze(0).expand(B, T_)
    x = (F.embedding(input_ids, P["bert.embeddings.word_embeddings.weight"], padding_idx=c["pad_token_id"])
         + F.embedding(positions, P["bert.embeddings.position_embeddings.weight"])
         + F.embedding(token_type_ids, P["bert.embeddings.token_type_embeddings.weight"]))
    x = layer_norm(x, P["bert.embeddings.LayerNorm.weight"], P["bert.embeddings.LayerNorm.bias"], eps)
    hidden = [x]
    # get_extended_attention_mask: [B, 1, 1, T], 0 for keys to attend, min for padding
    additive = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(torch.float32).min
    for i in range(c["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."

        def heads(t):  # [B, T, H] -> [B, NH, T, D]
            return t.view(B, T_, NH, D).permute(0, 2, 1, 3)

        q = heads(F.linear(x, P[p + "attention.self.query.weight"], P[p + "attention.self.query.bias"]))
        k = heads(F.linear(x, P[p + "attention.self.key.weight"], P[p + "attention.self.key.bias"]))
        v = heads(F.linear(x, P[p + "attention.self.value.weight"], P[p + "attention.self.value.bias"]))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(D) + additive  # [B, NH, T, T]
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(B, T_, H)
        a = F.linear(ctx, P[p + "attention.output.dense.weight"], P[p + "attention.output.dense.bias"])
        a = layer_norm(a + x, P[p + "attention.output.LayerNorm.weight"], P[p + "attention.output.LayerNorm.bias"], eps)
        h = gelu(F.linear(a, P[p + "intermediate.dense.weight"], P[p + "intermediate.dense.bias"]))
        h = F.linear(h, P[p + "output.dense.weight"], P[p + "output.dense.bias"])
        x = layer_norm(h + a, P[p + "output.LayerNorm.weight"], P[p + "output.LayerNorm.bias"], eps)
        hidden.append(x)
    # BertOnlyMLMHead
    t = gelu(F.linear(x, P["cls.predictions.transform.dense.weight"], P["cls.predictions.transform.dense.bias"]))
    t = layer_norm(t, P["cls.predictions.transform.LayerNorm.weight"], P["cls.predictions.transform.LayerNorm.bias"], eps)
    logits = F.linear(t, P["bert.embeddings.word_embeddings.weight"], P["cls.predictions.bias"])  # tied decoder
    loss = F.cross_entropy(logits.view(-1, c["vocab_size"]), labels.view(-1), ignore_index=-100)
    return logits, loss, hidden


# ---------------------------------------------------------------- the batch
def make_batch(c, seed=7):
    """3 rows of overlapping 3-mers of random DNA, padded to T, with MLM labels."""
    g = torch.Generator().manual_seed(seed)
    code = {"A": 0, "T": 1, "C": 2, "G": 3}  # tokenizer/vocab.h: id = 5 + 2-bit code
    ids = torch.full((len(LENGTHS), T), PAD, dtype=torch.long)
    types = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for b, n in enumerate(LENGTHS):
        dna = "".join("ATCG"[int(i)] for i in torch.randint(0, 4, (n - 2 + K - 1,), generator=g))
        kmers = [dna[j:j + K] for j in range(n - 2)]
        row = [CLS] + [5 + sum(code[ch] << (2 * (K - 1 - d)) for d, ch in enumerate(km)) for km in kmers] + [SEP]
        ids[b, :n] = torch.tensor(row)
    types[1, 6:11] = 1
    # Labelled positions: mostly [MASK], one random id, one left unchanged (80/10/10 in miniature).
    for b, t, how in [(0, 2, "mask"), (0, 3, "mask"), (0, 4, "mask"), (0, 9, "random"), (0, 14, "mask"),
                      (1, 1, "mask"), (1, 5, "keep"), (1, 6, "mask"), (1, 7, "mask"),
                      (2, 3, "mask"), (2, 4, "mask"), (2, 5, "random")]:
        labels[b, t] = ids[b, t]
        if how == "mask":
            ids[b, t] = MASK
        elif how == "random":
            ids[b, t] = 5 + (int(ids[b, t]) - 5 + 17) % 64
    attention_mask = (torch.arange(T)[None, :] < torch.tensor(LENGTHS)[:, None]).long()
    return ids, attention_mask, types, labels


# ---------------------------------------------------------------- safetensors
def write_safetensors(path, tensors, metadata):
    """8-byte LE header length, JSON header (dtype, shape, data_offsets), raw LE data."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype in (torch.float32, torch.float64):
            dtype, data = "F32", t.to(torch.float32).numpy().astype("<f4").tobytes()
        elif t.dtype in (torch.int32, torch.int64):
            dtype, data = "I32", t.to(torch.int32).numpy().astype("<i4").tobytes()
        else:
            raise TypeError(f"{name}: unsupported dtype {t.dtype}")
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)  # pad so the data starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for blob in blobs:
            f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_safetensors(path):
    """Reader for the round-trip self-check."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out, data = {}, raw[8 + n:]
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dt = {"F32": torch.float32, "I32": torch.int32}[info["dtype"]]
        out[name] = torch.frombuffer(bytearray(data[b:e]), dtype=dt).reshape(info["shape"])
    return out


# ---------------------------------------------------------------- self-checks
def self_check(P, c, batch):
    ids, mask, types, labels = batch
    names = list(P)

    def loss_of(*subset, which):
        Q = dict(P)
        Q.update({n: t for n, t in zip(which, subset)})
        return bert_for_masked_lm(Q, c, ids, mask, types, labels)[1]

    chosen = ["cls.predictions.bias", "bert.embeddings.LayerNorm.weight", "bert.embeddings.token_type_embeddings.weight",
              "bert.encoder.layer.0.attention.self.key.bias", "bert.encoder.layer.1.attention.self.query.weight",
              "bert.encoder.layer.1.output.LayerNorm.bias", "cls.predictions.transform.dense.weight",
              "bert.embeddings.word_embeddings.weight"]
    for n in chosen:
        x = P[n].detach().clone().requires_grad_()
        ok = torch.autograd.gradcheck(lambda t, n=n: loss_of(t, which=[n]), (x,), eps=1e-6, atol=1e-7, rtol=1e-5)
        print(f"  gradcheck {n} {tuple(x.shape)}: {'ok' if ok else 'FAILED'}")
    xs = tuple(P[n].detach().clone().requires_grad_() for n in names)
    ok = torch.autograd.gradcheck(lambda *t: loss_of(*t, which=names), xs, eps=1e-6, atol=1e-7, rtol=1e-5,
                                  fast_mode=True)
    print(f"  gradcheck (fast mode) all {len(names)} parameters at once: {'ok' if ok else 'FAILED'}")

    # Encoder layers against torch.nn.TransformerEncoderLayer (post-LN, erf GELU).
    with torch.no_grad():
        _, _, hidden = bert_for_masked_lm(P, c, ids, mask, types, labels)
        H = c["hidden_size"]
        worst = 0.0
        for i in range(c["num_hidden_layers"]):
            p = f"bert.encoder.layer.{i}."
            layer = torch.nn.TransformerEncoderLayer(H, c["num_attention_heads"], c["intermediate_size"], dropout=0.0,
                                                     activation="gelu", layer_norm_eps=c["layer_norm_eps"],
                                                     batch_first=True, norm_first=False).eval()
            sa = layer.self_attn
            sa.in_proj_weight.copy_(torch.cat([P[p + f"attention.self.{m}.weight"] for m in ("query", "key", "value")]))
            sa.in_proj_bias.copy_(torch.cat([P[p + f"attention.self.{m}.bias"] for m in ("query", "key", "value")]))
            sa.out_proj.weight.copy_(P[p + "attention.output.dense.weight"])
            sa.out_proj.bias.copy_(P[p + "attention.output.dense.bias"])
            layer.norm1.weight.copy_(P[p + "attention.output.LayerNorm.weight"])
            layer.norm1.bias.copy_(P[p + "attention.output.LayerNorm.bias"])
            layer.linear1.weight.copy_(P[p + "intermediate.dense.weight"])
            layer.linear1.bias.copy_(P[p + "intermediate.dense.bias"])
            layer.linear2.weight.copy_(P[p + "output.dense.weight"])
            layer.linear2.bias.copy_(P[p + "output.dense.bias"])
            layer.norm2.weight.copy_(P[p + "output.LayerNorm.weight"])
            layer.norm2.bias.copy_(P[p + "output.LayerNorm.bias"])
            out = layer(hidden[i], src_key_padding_mask=mask == 0)
            worst = max(worst, (out - hidden[i + 1]).abs().max().item())
        print(f"  encoder layers vs torch.nn.TransformerEncoderLayer: max |diff| = {worst:.3g}")
        assert worst < 1e-10, "encoder layer mismatch"


def main():
    c = CONFIG
    P = init_parameters(c)
    batch = make_batch(c)
    ids, mask, types, labels = batch
    logits, loss, hidden = bert_for_masked_lm(P, c, ids, mask, types, labels)
    loss.backward()

    tensors = {n: t for n, t in P.items()}
    tensors.update(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels,
                   logits=logits, loss=loss.reshape(1))
    tensors.update({f"grad.{n}": t.grad for n, t in P.items()})
    tensors.update({f"hidden.{i}": h for i, h in enumerate(hidden)})
    metadata = {
        "generator": "tests/oracle/bert_reference.py",
        "torch": torch.__version__,
        "model": "BertForMaskedLM (HF modeling_bert.py numerics, eval mode)",
        "hidden": "hidden.0 = embeddings output; hidden.<i+1> = output of encoder layer i",
        "loss": "mean cross-entropy over labels != -100",
    }
    os.makedirs(FIXTURES, exist_ok=True)
    st_path = os.path.join(FIXTURES, "bert_tiny_mlm.safetensors")
    write_safetensors(st_path, tensors, metadata)
    cfg_path = os.path.join(FIXTURES, "bert_tiny_config.json")
    with open(cfg_path + ".tmp", "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(cfg_path + ".tmp", cfg_path)
    print(f"wrote {st_path} ({os.path.getsize(st_path)} bytes, {len(tensors)} tensors) and {cfg_path}")
    print(f"loss = {loss.item():.10f} over {(labels != -100).sum().item()} labelled positions; "
          f"ln(V) = {math.log(c['vocab_size']):.4f}")

    back = read_safetensors(st_path)
    assert set(back) == set(tensors)
    assert all(torch.equal(back[n].double() if back[n].dtype == torch.float32 else back[n].long(),
                           t.detach().float().double() if t.is_floating_point() else t.long())
               for n, t in tensors.items()), "safetensors round trip"
    print("  safetensors round trip: ok")
    if "--no-check" not in sys.argv:
        self_check(P, c, batch)


if __name__ == "__main__":
    main()
