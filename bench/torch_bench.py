#!/usr/bin/python3
"""PyTorch side of the training/inference benchmark (issue 5); see bench/bench_train.cpp.

    source bench/torch_env.sh
    /usr/bin/python3 bench/torch_bench.py WORKLOAD PRECISION [steps] [warmup] [--profile]

WORKLOAD: train-tiny | train-small | train-base | infer-base | infer-tiny.
PRECISION: fp32, or bf16-autocast (torch.autocast('cpu', torch.bfloat16) around
the forward and loss; extra information, the targets compare with torch fp32),
or fp32-lastrows (training only: fp32 with the last encoder layer computing
queries, attention output and FFN for the masked rows only, as our
Bert::mlm_forward does; extra information, so that the engines can be compared
on the same algorithm).
Threads: BENCH_THREADS (default 2), torch.set_num_threads.
Turns: BENCH_SYNC_GO / BENCH_SYNC_DONE, steps in turn with other engines (bench/interleave.py).

The model is HF BertForMaskedLM's computation in float32, written with
HF's module structure and parameter names (nn.Linear, nn.Embedding,
nn.LayerNorm, F.gelu = HF's "gelu", matmul + softmax attention as HF's
BertSelfAttention does in transformers 4.x with torch 1.13, which has no fused
attention). Its structure follows tests/oracle/bert_reference.py (the
float64 reference the C++ model is tested against); the parameter names and
shapes are checked against that file's parameter_shapes(). Unlike the
reference it has dropout 0.1 at HF's four sites (embeddings, attention
probabilities, attention output, FFN output), as our engine has.

Same data, mask rule, step and FLOP formula as bench_train.cpp:
- train: zero_grad(set_to_none), forward, MLM head on the masked rows only
  (gathered first, as models/network/bert.cpp mlm_loss does; our mlm_forward also
  runs the last layer on those rows only, which fp32-lastrows copies),
  cross-entropy, backward, clip_grad_norm_(1.0),
  torch.optim.AdamW (betas 0.9/0.98, eps 1e-6, weight decay 0.01 except bias
  and LayerNorm weights: models/training/optimizer.h), linear warm-up/decay schedule.
- infer: model.eval(), torch.inference_mode(), MLM logits for all B·T rows.
Prints what the tuned profile loaded and one line "RESULT {json}".
"""
import ctypes
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "oracle"))
import bert_reference  # noqa: E402  (sets float64 as the default dtype: undone right below)

torch.set_default_dtype(torch.float32)

WORKLOADS = {  # name: (train, layers, hidden, T, B)
    "train-tiny": (True, 4, 256, 128, 32),
    "train-small": (True, 6, 512, 256, 16),
    "train-base": (True, 12, 768, 512, 8),
    "infer-base": (False, 12, 768, 512, 8),
    "infer-tiny": (False, 4, 256, 128, 64),
}
VOCAB = 4101
CLS, SEP, MASK, FIRST_KMER = 2, 3, 4, 5
MASK_RATE = 0.15
# The running CPU's peaks (FLOP/s), measured by bench_peak and passed by bench/run.sh;
# a fixed 447 and 896 GFLOP/s (one 2-core Xeon's) without them.
PEAK_FP32 = float(os.environ.get("DNABERT_PEAK_FP32") or 447) * 1e9
PEAK_BF16 = float(os.environ.get("DNABERT_PEAK_BF16") or 896) * 1e9


def config_for(layers, hidden):
    return {"vocab_size": VOCAB, "hidden_size": hidden, "num_hidden_layers": layers,
            "num_attention_heads": hidden // 64, "intermediate_size": 4 * hidden, "max_position_embeddings": 512,
            "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1, "pad_token_id": 0}


# ---------------------------------------------------------------- the model (HF names)
class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=c["pad_token_id"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, ids):
        B, T = ids.shape
        positions = torch.arange(T).unsqueeze(0).expand(B, T)
        types = torch.zeros_like(ids)
        x = self.word_embeddings(ids) + self.position_embeddings(positions)
        x = x + self.token_type_embeddings(types)
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        H = c["hidden_size"]
        self.nh, self.d = c["num_attention_heads"], H // c["num_attention_heads"]
        self.query, self.key, self.value = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)
        self.dropout = nn.Dropout(c["attention_probs_dropout_prob"])

    def forward(self, x, additive_mask, sel=None):
        B, T, H = x.shape

        def heads(t):  # [B, T, H] -> [B, NH, T, D]
            return t.view(B, -1, self.nh, self.d).permute(0, 2, 1, 3)

        k, v = heads(self.key(x)), heads(self.value(x))
        if sel is None:
            q = heads(self.query(x))
        else:  # queries of the selected rows only, padded per sequence to [B, m, H]
            q = heads(sel.pad(self.query(sel.gather(x))))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.d) + additive_mask
        probs = self.dropout(torch.softmax(scores, dim=-1))
        out = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return out.view(B, T, H) if sel is None else sel.unpad(out.view(B, -1, H))


class Rows:
    """The selected flat positions b·T + t of a [B, T] batch (fp32-lastrows)."""

    def __init__(self, rows, B, T):
        self.rows, self.B = rows, B
        b = rows // T
        counts = torch.bincount(b, minlength=B)
        self.m = int(counts.max())
        starts = torch.cumsum(counts, 0) - counts
        self.b, self.slot = b, torch.arange(len(rows)) - starts[b]

    def gather(self, x):  # [B, T, H] -> [N, H]
        return x.reshape(-1, x.shape[-1])[self.rows]

    def pad(self, r):  # [N, H] -> [B, m, H]
        out = r.new_zeros(self.B, self.m, r.shape[-1])
        out[self.b, self.slot] = r
        return out

    def unpad(self, p):  # [B, m, H] -> [N, H]
        return p[self.b, self.slot]


class DenseLN(nn.Module):  # HF BertSelfOutput / BertOutput: dense -> dropout -> LayerNorm(· + residual)
    def __init__(self, c, fan_in):
        super().__init__()
        self.dense = nn.Linear(fan_in, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, h, residual):
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseLN(c, c["hidden_size"])

    def forward(self, x, additive_mask, sel=None):
        return self.output(self.self(x, additive_mask, sel), x if sel is None else sel.gather(x))


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))  # HF "gelu": exact erf form


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseLN(c, c["intermediate_size"])

    def forward(self, x, additive_mask, sel=None):
        a = self.attention(x, additive_mask, sel)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))

    def forward(self, x, additive_mask, sel=None):
        for i, layer in enumerate(self.layer):
            x = layer(x, additive_mask, sel if i + 1 == len(self.layer) else None)
        return x


class Bert(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)

    def forward(self, ids, attention_mask, sel=None):
        # HF get_extended_attention_mask: [B, 1, 1, T], 0 to attend, finfo.min for padding
        additive = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        return self.encoder(self.embeddings(ids), additive, sel)


class Transform(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, x):
        # .float(): a no-op in fp32; under torch 1.13's CPU autocast, layer_norm of a bf16
        # input with fp32 weights fails ("expected scalar type BFloat16 but found Float").
        return self.LayerNorm(F.gelu(self.dense(x)).float())


class Predictions(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transform = Transform(c)
        self.bias = nn.Parameter(torch.zeros(c["vocab_size"]))


class Cls(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.predictions = Predictions(c)


class BertForMaskedLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.bert = Bert(c)
        self.cls = Cls(c)
        for name, p in self.named_parameters():  # HF _init_weights
            with torch.no_grad():
                if name.endswith("LayerNorm.weight"):
                    p.fill_(1.0)
                elif name.endswith("bias"):
                    p.zero_()
                else:
                    p.normal_(0.0, 0.02)
        with torch.no_grad():
            self.bert.embeddings.word_embeddings.weight[c["pad_token_id"]].zero_()

    def mlm_logits(self, hidden_rows):
        t = self.cls.predictions.transform(hidden_rows)
        return F.linear(t, self.bert.embeddings.word_embeddings.weight, self.cls.predictions.bias)  # tied decoder


def check_against_reference(model, c):
    ours = [(n, tuple(p.shape)) for n, p in model.named_parameters()]
    ref = [(n, tuple(s)) for n, s in bert_reference.parameter_shapes(c)]
    assert sorted(ours) == sorted(ref), "parameter names/shapes differ from tests/oracle/bert_reference.py"


# ---------------------------------------------------------------- data, FLOPs
def make_batch(B, T):
    """bench_train.cpp's rule: random k-mers, golden-ratio 15% mask."""
    g = torch.Generator().manual_seed(1234)
    ids = torch.randint(FIRST_KMER, VOCAB, (B, T), generator=g)
    ids[:, 0], ids[:, -1] = CLS, SEP
    labels = torch.full((B, T), -100, dtype=torch.long)
    for b in range(B):
        for t in range(1, T - 1):
            x = (b * T + t) * 0.6180339887498949
            if x - math.floor(x) < MASK_RATE:
                labels[b, t] = ids[b, t]
                ids[b, t] = MASK
    return ids, torch.ones(B, T, dtype=torch.long), labels


def forward_flops(c, B, T, head_rows):
    """bench_train.cpp's forward_flops: the matmuls of one forward pass."""
    H, Fd, L, V = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
    return B * T * L * (2 * (4 * H * H + 2 * H * Fd) + 4 * T * H) + head_rows * (2 * H * H + 2 * H * V)


def median(v):
    s = sorted(v)
    return s[len(s) // 2] if len(s) % 2 else 0.5 * (s[len(s) // 2 - 1] + s[len(s) // 2])


def linear_schedule(warmup, total):
    return lambda s: s / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup))


# ---------------------------------------------------------------- environment
def environment():
    libs = sorted({l.split()[-1] for l in open("/proc/self/maps")
                   if any(k in l for k in ("blas", "malloc", "gomp", "dnnl"))})
    try:
        ob = ctypes.CDLL("libopenblas.so.0")
        ob.openblas_get_corename.restype = ctypes.c_char_p
        core = ob.openblas_get_corename().decode()
    except OSError:
        core = "?"
    cap = torch.__config__.show().split("CPU capability usage:")[1].split("\n")[0].strip()
    return {"torch": torch.__version__, "openblas_core": core, "aten_capability": cap,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"), "libraries": libs}


class Turns:
    """The turn-taking of bench/interleave.py (as bench_train's): no-ops without its FIFOs."""

    def __init__(self):
        go, done = os.environ.get("BENCH_SYNC_GO"), os.environ.get("BENCH_SYNC_DONE")
        self.go = os.open(go, os.O_RDONLY) if go and done else None
        self.done_fd = os.open(done, os.O_WRONLY) if go and done else None

    def wait(self):
        if self.go is not None and os.read(self.go, 1) != b"g":
            sys.exit("torch_bench.py: BENCH_SYNC_GO closed before this process's turn")

    def done(self):
        if self.done_fd is not None:
            os.write(self.done_fd, b"d")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    profile = "--profile" in sys.argv
    if len(args) < 2 or args[0] not in WORKLOADS or args[1] not in ("fp32", "bf16-autocast", "fp32-lastrows"):
        sys.exit(__doc__)
    name, precision = args[0], args[1]
    steps = int(args[2]) if len(args) > 2 else 5
    warmup = int(args[3]) if len(args) > 3 else 2
    threads = int(os.environ.get("BENCH_THREADS", "2"))
    torch.set_num_threads(threads)
    torch.manual_seed(42)
    train, layers, hidden, T, B = WORKLOADS[name]
    c = config_for(layers, hidden)
    model = BertForMaskedLM(c)
    check_against_reference(model, c)
    ids, attention_mask, labels = make_batch(B, T)
    rows = (labels.view(-1) != -100).nonzero().squeeze(1)
    row_labels = labels.view(-1)[rows]
    autocast = precision == "bf16-autocast"
    if precision == "fp32-lastrows" and not train:
        sys.exit("fp32-lastrows is a training variant")
    sel = Rows(rows, B, T) if precision == "fp32-lastrows" else None
    env = environment()
    print(f"{name} {precision}: torch {env['torch']}, {threads} threads, OpenBLAS core {env['openblas_core']}, "
          f"ATen capability {env['aten_capability']}, OPENBLAS_CORETYPE {env['OPENBLAS_CORETYPE']}, "
          f"B {B} x T {T}, {len(rows)} masked rows, load {' '.join(open('/proc/loadavg').read().split()[:3])}")
    print("  loaded: " + ", ".join(env["libraries"]))

    if train:
        model.train()
        decay = [p for n, p in model.named_parameters() if "bias" not in n and "LayerNorm.weight" not in n]
        no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm.weight" in n]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=4e-4, betas=(0.9, 0.98), eps=1e-6, foreach=True)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_schedule(1, 1000000))
        params = list(model.parameters())

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                h = model.bert(ids, attention_mask, sel)
                logits = model.mlm_logits(h.view(-1, hidden)[rows] if sel is None else h)
                loss = F.cross_entropy(logits.float(), row_labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            return loss.item()
    else:
        model.eval()

        def step():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                logits = model.mlm_logits(model.bert(ids, attention_mask).view(-1, hidden))
            return logits[0, 0].item()

    turns = Turns()
    last = 0.0
    for _ in range(warmup):
        turns.wait()
        last = step()
        turns.done()
    secs = []
    prof = None
    if profile:
        prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
        prof.__enter__()
    cpu_secs = []
    for _ in range(steps):
        turns.wait()
        t0, c0 = time.perf_counter(), time.process_time()
        last = step()
        secs.append(time.perf_counter() - t0)
        cpu_secs.append(time.process_time() - c0)
        turns.done()
    turns.wait()  # print and exit in turn too
    if prof is not None:
        prof.__exit__(None, None, None)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    med = median(secs)
    flops = (3 if train else 1) * forward_flops(c, B, T, len(rows) if train else B * T)
    peak = PEAK_BF16 if autocast else PEAK_FP32
    result = {"engine": "torch", "workload": name, "precision": precision, "threads": threads,
              "steps": steps, "warmup": warmup, "step_s_median": med, "step_s_mean": sum(secs) / len(secs),
              "step_s_all": secs, "cpu_s_median": median(cpu_secs), "tokens_per_s": B * T / med, "seqs_per_s": B / med,
              "gflop_per_step": flops / 1e9, "gflops": flops / med / 1e9, "pct_peak": 100 * flops / med / peak,
              "peak_rss_mib": rss, "masked_rows": len(rows), "last_value": last, "profiled": profile,
              "load_after": " ".join(open("/proc/loadavg").read().split()[:3]), "env": env}
    print(f"median step {med:.4f} s (mean {result['step_s_mean']:.4f}), {B * T / med:.0f} tokens/s, "
          f"{B / med:.2f} seqs/s, {flops / med / 1e9:.1f} GFLOP/s = {100 * flops / med / peak:.1f}% of peak, "
          f"peak RSS {rss:.0f} MiB")
    if prof is not None:
        print(f"\nper-op profile (torch.profiler, {steps} steps, self CPU time):")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
