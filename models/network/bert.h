// BertModel (post-LayerNorm, as HF BERT) with its masked-LM and classification
// heads. Parameters live in one ParamSet under HF's names, so a checkpoint is
// loadable by HF BertForMaskedLM / BertForSequenceClassification.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/param_set.h"
#include "engine/tape.h"
#include "io/data/batch.h"
#include "io/formats/safetensors.h"
#include "models/network/config.h"

namespace dnabert::models {

using engine::Tape;
using engine::Tensor;

// One padded batch. ids/types/mask are i32 [B, T]; types and mask may be
// undefined (all 0 / all 1).
struct BertInputs {
  Tensor input_ids;
  Tensor token_type_ids;
  Tensor attention_mask;  // 1 = real token, 0 = [PAD]
};

// The inputs of a padded batch (io/data/batch.h): ids, token types and mask, all
// three defined, in `arena`. The one way a batch becomes the model's input.
BertInputs bert_inputs(const io::Batch& batch, engine::Arena& arena);

// Dropout randomness of one forward pass: every dropout site draws from
// Rng(seed, mix_stream(step, layer, site)), so a step is reproducible.
struct DropoutKey {
  uint64_t seed = 0;
  uint64_t step = 0;
};

enum class Heads { None, MaskedLM, Classification, Both };

class Bert {
 public:
  // Initialised as init(seed) does.
  explicit Bert(const BertConfig& config, Heads heads = Heads::MaskedLM, uint64_t seed = 0);

  const BertConfig& config() const { return config_; }
  // Where each encoder layer's parameters start in the flat buffers: the
  // offsets encode() passes to Tape::mark_grads_ready_from.
  std::vector<int64_t> layer_offsets() const;
  engine::ParamSet& params() { return params_; }
  const engine::ParamSet& params() const { return params_; }
  bool has_mlm_head() const { return heads_ == Heads::MaskedLM || heads_ == Heads::Both; }
  bool has_classifier() const { return heads_ == Heads::Classification || heads_ == Heads::Both; }

  // N(0, initializer_range) weights and embeddings, LayerNorm 1 and 0, biases 0.
  void init(uint64_t seed);

  // Hidden states of the last layer [B, T, H]. With `all_layers`, also every
  // layer's output (index 0 = embeddings). Inference tapes skip dropout.
  //
  // With `rows` (i32 [N], ascending flat positions b·T + t), the result is
  // [N, H]: the last layer's output at those positions only. The last layer
  // then computes queries, attention output, feed-forward block and
  // LayerNorms for those rows alone (keys and values still for all), with
  // the dropout masks the full computation draws, so the rows equal the
  // full result's (bit for bit in the forward pass). A loss that reads a few
  // positions (masked-LM rows, [CLS]) saves most of one layer's work.
  Tensor encode(Tape& tape, const BertInputs& in, DropoutKey key, std::vector<Tensor>* all_layers = nullptr,
                const Tensor& rows = Tensor()) const;

  // The positions whose label is not -100 (flat b·T + t) and their labels,
  // both i32 [N]. No labelled position gives one row, position 0, labelled
  // -100 (shapes stay valid; its loss is 0).
  struct MlmTargets {
    Tensor rows, labels;
  };
  MlmTargets mlm_targets(Tape& tape, const Tensor& labels) const;
  // One masked-LM forward pass: encode with `rows` = the labelled positions,
  // then the head and the cross-entropy over them. Equal to mlm_loss on the
  // full encode (test_bert checks loss and gradients against both the
  // PyTorch reference and that path) at most of a layer's less work.
  Tensor mlm_forward(Tape& tape, const BertInputs& in, const Tensor& labels, DropoutKey key,
                     Tensor* logits_out = nullptr, Tensor* labels_out = nullptr) const;
  // The [CLS] positions 0, T, 2T, ... of a [B, T] batch: encode's `rows` for classify.
  static Tensor cls_rows(Tape& tape, int64_t B, int64_t T);

  // MLM logits [N, V] for hidden rows [N, H] (any leading shape is flattened).
  Tensor mlm_logits(Tape& tape, const Tensor& hidden) const;
  // Masked-LM loss over positions whose label is not -100. Only those rows go
  // through the head (the vocabulary projection is the costliest GEMM).
  // labels: i32 [B, T]. Also returns the gathered logits and labels if asked.
  Tensor mlm_loss(Tape& tape, const Tensor& hidden, const Tensor& labels, Tensor* logits_out = nullptr,
                  Tensor* labels_out = nullptr) const;
  // pooler (tanh of a dense layer on [CLS]) -> dropout -> linear: [B, num_labels].
  // hidden: [B, T, H], or the [CLS] rows alone, [B, H] (encode with cls_rows).
  Tensor classify(Tape& tape, const Tensor& hidden, DropoutKey key) const;

  // Copies every parameter from `weights` by HF name (extra tensors, such as
  // another head's, are ignored). Throws naming `source` and what is missing
  // or mis-shaped.
  // Parameters whose name starts with one of `may_be_missing` keep their
  // current (initial) values when absent, as HF does for a new head; the
  // names of those are returned.
  std::vector<std::string> load_weights(const std::vector<io::NamedTensor>& weights, const std::string& source,
                                        const std::vector<std::string>& may_be_missing = {});

  // Every parameter's HF name and shape, in declaration order.
  std::vector<std::pair<std::string, engine::Dims>> parameter_shapes() const;

 private:
  struct Layer {
    size_t q_w, q_b, k_w, k_b, v_w, v_b, ao_w, ao_b, aln_w, aln_b, i_w, i_b, o_w, o_b, oln_w, oln_b;
  };
  const Tensor& p(size_t i) const { return params_[i]; }

  BertConfig config_;
  Heads heads_;
  engine::ParamSet params_;
  size_t word_, position_, token_type_, emb_ln_w_, emb_ln_b_;
  std::vector<Layer> layers_;
  size_t mlm_dense_w_ = 0, mlm_dense_b_ = 0, mlm_ln_w_ = 0, mlm_ln_b_ = 0, mlm_bias_ = 0;
  size_t pool_w_ = 0, pool_b_ = 0, cls_w_ = 0, cls_b_ = 0;
};

}  // namespace dnabert::models
