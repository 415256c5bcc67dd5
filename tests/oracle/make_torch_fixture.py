#!/usr/bin/env python3
"""Fixtures for tests/test_convert.cpp: tiny HF DNABERT checkpoint directories
written by torch.save itself (the zip format of torch >= 1.6), and the values
torch holds for every tensor, dumped as a safetensors file written by hand
(float32, contiguous; int64 as I64) so the C++ test compares them exactly.

    hf_tiny/       BertForMaskedLM-style state dict with HF names (bert.*,
                   cls.predictions.* with the tied decoder, pooler,
                   position_ids), an OrderedDict with _metadata as
                   model.state_dict() returns; one tensor in float16, one in
                   bfloat16, one in float64, a transposed (non-contiguous)
                   tensor, and q/k/v as slices of one storage (offsets).
    hf_tiny_tf/    a bare BertModel state dict (no bert. prefix) with the old
                   TF-converted LayerNorm names gamma/beta, an NSP head
                   (cls.seq_relationship.*) and one unknown tensor; a plain dict.
    hf_tiny_bad/   malformed .bin files made from a two-tensor state dict:
                   deflated.bin (zip entries compressed), bad_opcode.bin (an
                   opcode pickle does not have), missing_storage.bin (a
                   data/<key> entry removed), short_storage.bin (a storage
                   shorter than its tensor), legacy.bin (torch < 1.6 format).
    hf_tiny_expected/<variant>.safetensors   what torch holds, per name.
    hf_tiny_expected/cls_embeddings.json     the last hidden state at [CLS] of
                   three sequences, from a float32 BERT forward pass written out
                   with torch ops (no transformers), for both variants.

Regenerate (from the repository root):
    /usr/bin/python3 tests/oracle/make_torch_fixture.py tests/fixtures
"""
import collections
import io
import json
import pickletools
import shutil
import struct
import sys
import zipfile
from pathlib import Path

import torch

V, H, L, NH, F, P = 69, 8, 1, 2, 16, 16

CONFIG = {
    "architectures": ["BertForMaskedLM"],
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": H,
    "initializer_range": 0.02,
    "intermediate_size": F,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": P,
    "model_type": "bert",
    "num_attention_heads": NH,
    "num_hidden_layers": L,
    "pad_token_id": 0,
    "type_vocab_size": 2,
    "vocab_size": V,
    # DNABERT's configs carry these keys of its RNN heads; they must survive.
    "num_rnn_layer": 1,
    "rnn": "lstm",
    "rnn_dropout": 0.0,
    "rnn_hidden": 768,
    "split": 10,
}


def rnd(*shape):
    return torch.randn(*shape) * 0.5


def encoder_layer(prefix, ln_w, ln_b):
    t = collections.OrderedDict()
    # q, k and v as slices of one [3H, H] storage: storage offsets 0, H*H, 2*H*H.
    qkv = rnd(3 * H, H)
    t[prefix + "attention.self.query.weight"] = qkv[0:H]
    t[prefix + "attention.self.query.bias"] = rnd(H)
    t[prefix + "attention.self.key.weight"] = qkv[H:2 * H]
    t[prefix + "attention.self.key.bias"] = rnd(H)
    t[prefix + "attention.self.value.weight"] = qkv[2 * H:]
    t[prefix + "attention.self.value.bias"] = rnd(H)
    # Non-contiguous: stride (1, H).
    t[prefix + "attention.output.dense.weight"] = rnd(H, H).t()
    t[prefix + "attention.output.dense.bias"] = rnd(H)
    t[prefix + "attention.output.LayerNorm." + ln_w] = 1 + rnd(H)
    t[prefix + "attention.output.LayerNorm." + ln_b] = rnd(H)
    t[prefix + "intermediate.dense.weight"] = rnd(F, H)
    t[prefix + "intermediate.dense.bias"] = rnd(F)
    t[prefix + "output.dense.weight"] = rnd(H, F)
    t[prefix + "output.dense.bias"] = rnd(H)
    t[prefix + "output.LayerNorm." + ln_w] = 1 + rnd(H)
    t[prefix + "output.LayerNorm." + ln_b] = rnd(H)
    return t


def hf_state_dict():
    sd = collections.OrderedDict()
    word = rnd(V, H)
    sd["bert.embeddings.position_ids"] = torch.arange(P).expand((1, -1))
    sd["bert.embeddings.word_embeddings.weight"] = word
    sd["bert.embeddings.position_embeddings.weight"] = rnd(P, H)
    sd["bert.embeddings.token_type_embeddings.weight"] = rnd(2, H)
    sd["bert.embeddings.LayerNorm.weight"] = (1 + rnd(H)).half()
    sd["bert.embeddings.LayerNorm.bias"] = rnd(H)
    for l in range(L):
        sd.update(encoder_layer(f"bert.encoder.layer.{l}.", "weight", "bias"))
    sd["bert.pooler.dense.weight"] = rnd(H, H)
    sd["bert.pooler.dense.bias"] = rnd(H).double()
    mlm_bias = rnd(V)
    sd["cls.predictions.bias"] = mlm_bias
    sd["cls.predictions.transform.dense.weight"] = rnd(H, H)
    sd["cls.predictions.transform.dense.bias"] = rnd(H)
    sd["cls.predictions.transform.LayerNorm.weight"] = 1 + rnd(H)
    sd["cls.predictions.transform.LayerNorm.bias"] = rnd(H).bfloat16()
    # Tied, as HF saves them: the same storages as the embeddings and the bias.
    sd["cls.predictions.decoder.weight"] = word
    sd["cls.predictions.decoder.bias"] = mlm_bias
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("bert", {"version": 1})])
    return sd


def tf_state_dict():
    sd = {}
    sd["embeddings.word_embeddings.weight"] = rnd(V, H)
    sd["embeddings.position_embeddings.weight"] = rnd(P, H)
    sd["embeddings.token_type_embeddings.weight"] = rnd(2, H)
    sd["embeddings.LayerNorm.gamma"] = 1 + rnd(H)
    sd["embeddings.LayerNorm.beta"] = rnd(H)
    for l in range(L):
        sd.update(encoder_layer(f"encoder.layer.{l}.", "gamma", "beta"))
    sd["pooler.dense.weight"] = rnd(H, H)
    sd["pooler.dense.bias"] = rnd(H)
    sd["cls.seq_relationship.weight"] = rnd(2, H)
    sd["cls.seq_relationship.bias"] = rnd(2)
    sd["encoder.layer.0.attention.self.distance_embedding.weight"] = rnd(3, H)
    return sd


# The three sequences the C++ test embeds, one per line.
SEQUENCES = ["ACGTACGTTGCA", "TTTTGGGGCCCCAAAA", "ACG"]


def kmer_ids(seq, k=3):
    """DNABERT's tokens: [CLS] (2), the overlapping k-mers (5 + base-4 code, A=0 T=1 C=2 G=3), [SEP] (3)."""
    code = {"A": 0, "T": 1, "C": 2, "G": 3}
    ids = [5 + sum(code[b] << (2 * (k - 1 - j)) for j, b in enumerate(seq[i:i + k])) for i in range(len(seq) - k + 1)]
    return [2] + ids + [3]


def bert_cls(sd, ids):
    """HF BertModel's last hidden state at [CLS], in float32 (weights as the
    C++ side holds them: each converted to float32), written out from the
    formulas rather than with transformers."""
    w = {k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): v.float()
         for k, v in sd.items()}
    p = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""
    ln = lambda x, n: torch.nn.functional.layer_norm(x, (H,), w[n + ".weight"], w[n + ".bias"], eps=1e-12)
    lin = lambda x, n: x @ w[n + ".weight"].t() + w[n + ".bias"]
    ids = torch.tensor(ids)
    T, D = len(ids), H // NH
    x = w[p + "embeddings.word_embeddings.weight"][ids] + w[p + "embeddings.position_embeddings.weight"][:T] \
        + w[p + "embeddings.token_type_embeddings.weight"][0]
    x = ln(x, p + "embeddings.LayerNorm")
    for l in range(L):
        q = f"{p}encoder.layer.{l}."
        heads = lambda y: y.view(T, NH, D).transpose(0, 1)  # [NH, T, D]
        qh, kh, vh = (heads(lin(x, q + "attention.self." + m)) for m in ("query", "key", "value"))
        att = torch.softmax(qh @ kh.transpose(1, 2) / D ** 0.5, dim=-1)
        ctx = (att @ vh).transpose(0, 1).reshape(T, H)
        x = ln(x + lin(ctx, q + "attention.output.dense"), q + "attention.output.LayerNorm")
        hmid = torch.nn.functional.gelu(lin(x, q + "intermediate.dense"))
        x = ln(x + lin(hmid, q + "output.dense"), q + "output.LayerNorm")
    return x[0]


def write_safetensors(path, tensors):
    """tensors: {name: tensor}; float dtypes become F32, int64 stays I64."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        if t.dtype == torch.int64:
            dtype, raw = "I64", t.numpy().astype("<i8").tobytes()
        else:
            dtype, raw = "F32", t.float().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def write_hf_dir(out, sd, vocab):
    out.mkdir(parents=True, exist_ok=True)
    torch.save(sd, out / "pytorch_model.bin")
    (out / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    shutil.copyfile(vocab, out / "vocab.txt")
    (out / "special_tokens_map.json").write_text(json.dumps(
        {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
         "mask_token": "[MASK]"}) + "\n")


def repack(src_bytes, dst, compression=zipfile.ZIP_STORED, edit=None):
    """Copies a torch zip archive entry by entry; edit(name, data) returns new
    bytes, or None to leave the entry out."""
    with zipfile.ZipFile(io.BytesIO(src_bytes)) as zin, zipfile.ZipFile(dst, "w", compression) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if edit is not None:
                data = edit(info.filename, data)
            if data is not None:
                zout.writestr(info.filename, data)


def bad_files(out):
    out.mkdir(parents=True, exist_ok=True)
    sd = collections.OrderedDict([("a", rnd(2, 3)), ("b", rnd(4))])
    buf = io.BytesIO()
    torch.save(sd, buf)
    good = buf.getvalue()
    repack(good, out / "deflated.bin", zipfile.ZIP_DEFLATED)

    def bad_opcode(name, data):
        if name.endswith("data.pkl"):
            i = next(pos for op, _, pos in pickletools.genops(data) if op.name == "REDUCE")
            data = data[:i] + b"\xff" + data[i + 1:]
        return data
    repack(good, out / "bad_opcode.bin", edit=bad_opcode)
    repack(good, out / "missing_storage.bin", edit=lambda n, d: None if n.endswith("data/1") else d)
    repack(good, out / "short_storage.bin", edit=lambda n, d: d[:8] if n.endswith("data/0") else d)
    torch.save(sd, out / "legacy.bin", _use_new_zipfile_serialization=False)


def main(out):
    out = Path(out)
    root = Path(__file__).resolve().parents[1]
    vocab = root / "data" / "dnabert" / "vocab_3mer.txt"
    torch.manual_seed(20240601)
    hf, tf = hf_state_dict(), tf_state_dict()
    write_hf_dir(out / "hf_tiny", hf, vocab)
    write_hf_dir(out / "hf_tiny_tf", tf, vocab)
    (out / "hf_tiny_expected").mkdir(parents=True, exist_ok=True)
    write_safetensors(out / "hf_tiny_expected" / "hf_tiny.safetensors", hf)
    write_safetensors(out / "hf_tiny_expected" / "hf_tiny_tf.safetensors", tf)
    bad_files(out / "hf_tiny_bad")
    with torch.no_grad():
        cls = {name: [bert_cls(sd, kmer_ids(seq)).tolist() for seq in SEQUENCES] for name, sd in [("hf_tiny", hf), ("hf_tiny_tf", tf)]}
    (out / "hf_tiny_expected" / "cls_embeddings.json").write_text(json.dumps({"sequences": SEQUENCES, **cls}) + "\n")
    # torch.load must give back what we dumped (guards the oracle itself).
    for name, sd in [("hf_tiny", hf), ("hf_tiny_tf", tf)]:
        back = torch.load(out / name / "pytorch_model.bin")
        assert list(back) == list(sd) and all(torch.equal(back[k], sd[k]) for k in sd)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
