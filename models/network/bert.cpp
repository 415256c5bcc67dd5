#include "models/network/bert.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <unordered_map>

#include "base/error.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "ops/ops.h"

namespace dnabert::models {

using engine::Dims;
using engine::Rng;

Bert::Bert(const BertConfig& config, Heads heads, uint64_t seed) : config_(config), heads_(heads) {
  config_.validate();
  if (has_classifier() && config_.num_labels <= 0)
    throw Error("Bert: a classification head needs num_labels > 0 in the config");
  const int64_t V = config_.vocab_size, H = config_.hidden_size, F = config_.intermediate_size;
  auto& ps = params_;
  word_ = ps.declare("bert.embeddings.word_embeddings.weight", {V, H});
  position_ = ps.declare("bert.embeddings.position_embeddings.weight", {config_.max_position_embeddings, H});
  token_type_ = ps.declare("bert.embeddings.token_type_embeddings.weight", {config_.type_vocab_size, H});
  emb_ln_w_ = ps.declare("bert.embeddings.LayerNorm.weight", {H});
  emb_ln_b_ = ps.declare("bert.embeddings.LayerNorm.bias", {H});
  for (int l = 0; l < config_.num_hidden_layers; ++l) {
    const std::string pre = "bert.encoder.layer." + std::to_string(l) + ".";
    Layer L;
    L.q_w = ps.declare(pre + "attention.self.query.weight", {H, H});
    L.q_b = ps.declare(pre + "attention.self.query.bias", {H});
    L.k_w = ps.declare(pre + "attention.self.key.weight", {H, H});
    L.k_b = ps.declare(pre + "attention.self.key.bias", {H});
    L.v_w = ps.declare(pre + "attention.self.value.weight", {H, H});
    L.v_b = ps.declare(pre + "attention.self.value.bias", {H});
    L.ao_w = ps.declare(pre + "attention.output.dense.weight", {H, H});
    L.ao_b = ps.declare(pre + "attention.output.dense.bias", {H});
    L.aln_w = ps.declare(pre + "attention.output.LayerNorm.weight", {H});
    L.aln_b = ps.declare(pre + "attention.output.LayerNorm.bias", {H});
    L.i_w = ps.declare(pre + "intermediate.dense.weight", {F, H});
    L.i_b = ps.declare(pre + "intermediate.dense.bias", {F});
    L.o_w = ps.declare(pre + "output.dense.weight", {H, F});
    L.o_b = ps.declare(pre + "output.dense.bias", {H});
    L.oln_w = ps.declare(pre + "output.LayerNorm.weight", {H});
    L.oln_b = ps.declare(pre + "output.LayerNorm.bias", {H});
    layers_.push_back(L);
  }
  if (has_mlm_head()) {
    mlm_dense_w_ = ps.declare("cls.predictions.transform.dense.weight", {H, H});
    mlm_dense_b_ = ps.declare("cls.predictions.transform.dense.bias", {H});
    mlm_ln_w_ = ps.declare("cls.predictions.transform.LayerNorm.weight", {H});
    mlm_ln_b_ = ps.declare("cls.predictions.transform.LayerNorm.bias", {H});
    mlm_bias_ = ps.declare("cls.predictions.bias", {V});  // the decoder weight is tied to word_embeddings
  }
  if (has_classifier()) {
    pool_w_ = ps.declare("bert.pooler.dense.weight", {H, H});
    pool_b_ = ps.declare("bert.pooler.dense.bias", {H});
    cls_w_ = ps.declare("classifier.weight", {config_.num_labels, H});
    cls_b_ = ps.declare("classifier.bias", {config_.num_labels});
  }
  ps.finalize();
  init(seed);
}

void Bert::init(uint64_t seed) {
  // One normal sequence (seed, stream) over the drawn tensors in declaration
  // order, 4 Philox words per value (Rng::normal): value j of a tensor whose
  // draws start at word `start` is the normal at word start + 4j, so chunks
  // of it can be drawn on any thread with the bits of one sequential pass.
  const uint64_t stream = engine::mix_stream(0x1417);
  uint64_t next_word = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& name = params_.name(i);
    float* v = params_[i].f32();
    const int64_t n = params_[i].numel();
    const bool is_ln_weight = name.find("LayerNorm.weight") != std::string::npos;
    const bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    if (is_ln_weight) {
      std::fill(v, v + n, 1.0f);
    } else if (is_bias) {
      std::fill(v, v + n, 0.0f);
    } else {
      const uint64_t start = next_word;
      next_word += 4 * static_cast<uint64_t>(n);
      const double range = config_.initializer_range;
      engine::parallel_for(n, int64_t{1} << 16, [&](int64_t b, int64_t e) {
        Rng rng(seed, stream, start + 4 * static_cast<uint64_t>(b));
        for (int64_t j = b; j < e; ++j) v[j] = static_cast<float>(rng.normal() * range);
      });
    }
  }
  // As HF: the [PAD] row of the word embeddings starts at zero.
  std::fill(params_[word_].f32(), params_[word_].f32() + config_.hidden_size, 0.0f);
}

std::vector<std::string> Bert::load_weights(const std::vector<io::NamedTensor>& weights, const std::string& source,
                                            const std::vector<std::string>& may_be_missing) {
  std::string problems;
  std::vector<std::string> kept_initial;
  std::unordered_map<std::string_view, const io::NamedTensor*> by_name;
  for (const auto& w : weights) by_name.emplace(w.name, &w);
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& name = params_.name(i);
    auto found = by_name.find(name);
    const io::NamedTensor* it = found == by_name.end() ? nullptr : found->second;
    if (!it) {
      const bool optional = std::any_of(may_be_missing.begin(), may_be_missing.end(),
                                        [&](const std::string& prefix) { return name.rfind(prefix, 0) == 0; });
      if (optional)
        kept_initial.push_back(name);
      else
        problems += "; missing tensor " + name;
    } else if (it->tensor.shape() != params_[i].shape()) {
      problems += "; tensor " + name + " has shape " + it->tensor.shape().str() + ", expected " +
                  params_[i].shape().str();
    } else {
      params_[i].copy_from(it->tensor);
      // A NaN or Inf weight would make every output NaN without any error.
      const float* v = params_[i].f32();
      const int64_t n = params_[i].numel();
      int64_t bad = 0;
      for (int64_t j = 0; j < n; ++j) bad += !std::isfinite(v[j]);
      if (bad > 0) problems += "; tensor " + name + " has " + std::to_string(bad) + " NaN or infinite values";
    }
  }
  if (!problems.empty()) throw Error(source + ": " + problems.substr(2));
  return kept_initial;
}

std::vector<std::pair<std::string, Dims>> Bert::parameter_shapes() const {
  std::vector<std::pair<std::string, Dims>> out;
  for (size_t i = 0; i < params_.size(); ++i) out.emplace_back(params_.name(i), params_[i].shape());
  return out;
}

BertInputs bert_inputs(const io::Batch& b, engine::Arena& arena) {
  const Dims shape{static_cast<int64_t>(b.B), static_cast<int64_t>(b.T)};
  return {Tensor::from_ints(shape, b.input_ids, &arena), Tensor::from_ints(shape, b.token_types, &arena),
          Tensor::from_ints(shape, b.attention_mask, &arena)};
}

Tensor Bert::encode(Tape& tape, const BertInputs& in, DropoutKey key, std::vector<Tensor>* all_layers,
                    const Tensor& rows) const {
  const Tensor& ids = in.input_ids;
  if (!ids.defined() || ids.rank() != 2 || ids.dtype() != engine::DType::I32)
    throw ShapeError("Bert: input_ids must be i32 [B, T], got " + (ids.defined() ? ids.str() : std::string("undefined")));
  const int64_t B = ids.dim(0), T = ids.dim(1);
  if (T > config_.max_position_embeddings)
    throw ShapeError("Bert: sequence length " + std::to_string(T) + " exceeds max_position_embeddings " +
                     std::to_string(config_.max_position_embeddings));
  auto check_bt = [&](const Tensor& t, const char* what) {
    if (t.defined() && (t.shape() != Dims{B, T} || t.dtype() != engine::DType::I32))
      throw ShapeError(std::string("Bert: ") + what + " must be i32 [" + std::to_string(B) + ", " + std::to_string(T) +
                       "], got " + t.str());
  };
  check_bt(in.token_type_ids, "token_type_ids");
  check_bt(in.attention_mask, "attention_mask");
  engine::Arena& arena = tape.arena();
  const float p_hidden = config_.hidden_dropout_prob, p_attn = config_.attention_probs_dropout_prob;
  auto site = [&](int layer, int s) { return Rng(key.seed, engine::mix_stream(key.step, static_cast<uint64_t>(layer), s)); };

  // Embeddings: word + position + token type -> LayerNorm -> dropout
  Tensor positions = Tensor::empty({B, T}, &arena, engine::DType::I32);
  Tensor types = in.token_type_ids.defined() ? in.token_type_ids : Tensor::zeros({B, T}, &arena, engine::DType::I32);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) positions.i32()[b * T + t] = static_cast<int32_t>(t);
  Tensor x = ops::add(tape, ops::embedding(tape, ids, p(word_), /*padding_idx=[PAD]*/ 0),
                     ops::embedding(tape, positions, p(position_)));
  x = ops::add_layer_norm(tape, x, ops::embedding(tape, types, p(token_type_)), p(emb_ln_w_), p(emb_ln_b_),
                          config_.layer_norm_eps);
  x = ops::dropout(tape, x, p_hidden, site(-1, 0));
  if (all_layers) all_layers->push_back(x);

  // Padding is masked by default (DNABERT's code leaves [PAD] visible; we do not copy that).
  Tensor mask = in.attention_mask.defined() ? ops::additive_mask(tape, in.attention_mask) : Tensor();
  const int NH = config_.num_attention_heads;
  for (int l = 0; l < static_cast<int>(layers_.size()); ++l) {
    const Layer& L = layers_[static_cast<size_t>(l)];
    // Layers l.. and the heads are declared after layer l - 1 (bert.cpp's
    // declare order) and read only from here on, except the decoder's tied
    // word embeddings, stored first: their gradients are final once the
    // backward pass gets back here.
    tape.mark_grads_ready_from(params_.offset(L.q_w));
    // The last layer with `rows`: keys and values of every position, the rest
    // for the selected rows only (gathered: an embedding lookup into x, whose
    // backward scatters the gradient back). Dropout takes the rows' masks.
    const bool selected = rows.defined() && l + 1 == static_cast<int>(layers_.size());
    const Tensor& sel = selected ? rows : Tensor();
    Tensor xq = selected ? ops::embedding(tape, rows, ops::reshape(tape, x, {-1, config_.hidden_size})) : x;
    // self-attention -> dense -> dropout -> residual + LayerNorm
    Tensor q = ops::linear(tape, xq, p(L.q_w), p(L.q_b));
    Tensor k = ops::linear(tape, x, p(L.k_w), p(L.k_b));
    Tensor v = ops::linear(tape, x, p(L.v_w), p(L.v_b));
    Tensor a = ops::attention(tape, q, k, v, NH, mask, p_attn, site(l, 1), sel);
    a = ops::dropout(tape, ops::linear(tape, a, p(L.ao_w), p(L.ao_b)), p_hidden, site(l, 2), sel);
    x = ops::add_layer_norm(tape, a, xq, p(L.aln_w), p(L.aln_b), config_.layer_norm_eps);
    // intermediate GELU -> output dense -> dropout -> residual + LayerNorm
    Tensor h = ops::linear_gelu(tape, x, p(L.i_w), p(L.i_b));
    h = ops::dropout(tape, ops::linear(tape, h, p(L.o_w), p(L.o_b)), p_hidden, site(l, 3), sel);
    x = ops::add_layer_norm(tape, h, x, p(L.oln_w), p(L.oln_b), config_.layer_norm_eps);
    if (all_layers) all_layers->push_back(x);
  }
  return x;
}

std::vector<int64_t> Bert::layer_offsets() const {
  std::vector<int64_t> out;
  for (const Layer& L : layers_) out.push_back(params_.offset(L.q_w));
  return out;
}

Tensor Bert::mlm_logits(Tape& tape, const Tensor& hidden) const {
  if (!has_mlm_head()) throw Error("Bert: this model has no masked-LM head");
  const int64_t H = config_.hidden_size;
  Tensor x = ops::reshape(tape, hidden, {-1, H});
  x = ops::linear_gelu(tape, x, p(mlm_dense_w_), p(mlm_dense_b_));
  x = ops::layer_norm(tape, x, p(mlm_ln_w_), p(mlm_ln_b_), config_.layer_norm_eps);
  return ops::linear(tape, x, p(word_), p(mlm_bias_));  // decoder tied to the word embeddings
}

Bert::MlmTargets Bert::mlm_targets(Tape& tape, const Tensor& labels) const {
  if (!labels.defined() || labels.dtype() != engine::DType::I32 || labels.rank() != 2)
    throw ShapeError("Bert: MLM labels must be i32 [B, T], got " +
                     (labels.defined() ? labels.str() : std::string("undefined")));
  std::vector<int32_t> rows, kept;
  const int32_t* pl = labels.i32();
  for (int64_t i = 0; i < labels.numel(); ++i)
    if (pl[i] != ops::kIgnoreIndex) rows.push_back(static_cast<int32_t>(i)), kept.push_back(pl[i]);
  if (rows.empty()) rows.push_back(0), kept.push_back(ops::kIgnoreIndex);  // keeps shapes valid; loss is 0
  const int64_t n = static_cast<int64_t>(rows.size());
  return {Tensor::from_ints({n}, rows, &tape.arena()), Tensor::from_ints({n}, kept, &tape.arena())};
}

Tensor Bert::mlm_loss(Tape& tape, const Tensor& hidden, const Tensor& labels, Tensor* logits_out,
                      Tensor* labels_out) const {
  const int64_t H = config_.hidden_size;
  if (!labels.defined() || labels.dtype() != engine::DType::I32 || labels.numel() * H != hidden.numel())
    throw ShapeError("Bert: MLM labels must be i32 with one label per position of hidden " + hidden.str());
  // Gather the labelled rows: an embedding lookup into the hidden states, whose
  // backward scatters the gradient back to those rows.
  const MlmTargets t = mlm_targets(tape, labels.reshape({hidden.dim(0), labels.numel() / hidden.dim(0)}));
  Tensor selected = ops::embedding(tape, t.rows, ops::reshape(tape, hidden, {-1, H}));
  Tensor logits = mlm_logits(tape, selected);
  if (logits_out) *logits_out = logits;
  if (labels_out) *labels_out = t.labels;
  return ops::cross_entropy(tape, logits, t.labels);
}

Tensor Bert::mlm_forward(Tape& tape, const BertInputs& in, const Tensor& labels, DropoutKey key, Tensor* logits_out,
                         Tensor* labels_out) const {
  if (!labels.defined() || !in.input_ids.defined() || labels.shape() != in.input_ids.shape())
    throw ShapeError("Bert: MLM labels " + (labels.defined() ? labels.str() : std::string("undefined")) +
                     " must have the shape of input_ids " +
                     (in.input_ids.defined() ? in.input_ids.str() : std::string("undefined")));
  const MlmTargets t = mlm_targets(tape, labels);
  Tensor logits = mlm_logits(tape, encode(tape, in, key, nullptr, t.rows));
  if (logits_out) *logits_out = logits;
  if (labels_out) *labels_out = t.labels;
  return ops::cross_entropy(tape, logits, t.labels);
}

Tensor Bert::cls_rows(Tape& tape, int64_t B, int64_t T) {
  std::vector<int32_t> rows(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) rows[static_cast<size_t>(b)] = static_cast<int32_t>(b * T);
  return Tensor::from_ints({B}, rows, &tape.arena());
}

Tensor Bert::classify(Tape& tape, const Tensor& hidden, DropoutKey key) const {
  if (!has_classifier()) throw Error("Bert: this model has no classification head");
  const int64_t B = hidden.dim(0), H = config_.hidden_size;
  if (!((hidden.rank() == 3 || hidden.rank() == 2) && hidden.dim(hidden.rank() - 1) == H))
    throw ShapeError("Bert: classify needs hidden [B, T, " + std::to_string(H) + "] or [CLS] rows [B, " +
                     std::to_string(H) + "], got " + hidden.str());
  Tensor cls = hidden.rank() == 2 ? hidden : ops::reshape(tape, ops::slice(tape, hidden, 1, 0, 1), {B, H});
  Tensor pooled = ops::tanh(tape, ops::linear(tape, cls, p(pool_w_), p(pool_b_)));
  pooled = ops::dropout(tape, pooled, config_.hidden_dropout_prob, Rng(key.seed, engine::mix_stream(key.step, 1000, 0)));
  return ops::linear(tape, pooled, p(cls_w_), p(cls_b_));
}

}  // namespace dnabert::models
