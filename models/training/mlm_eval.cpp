#include "models/training/mlm_eval.h"

#include <algorithm>

#include "engine/tape.h"
#include "io/data/sampler.h"

namespace dnabert::models {

io::Batch make_mlm_batch(const std::vector<std::string>& pieces, const tokenizer::KmerTokenizer& tok) {
  std::vector<tokenizer::Encoding> enc(pieces.size());
  std::vector<io::Row> rows(pieces.size());
  for (size_t i = 0; i < pieces.size(); ++i) {
    tok.encode(pieces[i], tokenizer::Input::Sequence, enc[i]);
    rows[i] = {enc[i].ids, enc[i].token_types};
  }
  io::Batch b;
  io::pad(rows, b);
  return b;
}

int64_t mask_mlm_batch(io::Batch& b, const MaskingOptions& mo, uint64_t key) {
  b.labels = mask_tokens(mo, key, static_cast<int64_t>(b.B), static_cast<int64_t>(b.T), b.input_ids);
  return std::count_if(b.labels.begin(), b.labels.end(), [](int32_t l) { return l != kIgnoreLabel; });
}

std::vector<io::Batch> held_out_set(const HeldOutOptions& o) {
  std::vector<io::Batch> set;
  if (o.batches <= 0 || (o.heldout_fraction <= 0 && o.heldout_record.empty())) return set;
  tokenizer::TokenizerOptions topt;
  topt.max_len = static_cast<size_t>(o.max_len);
  topt.drop_last = o.drop_last_kmer;
  const tokenizer::KmerTokenizer tok(o.k, topt);
  io::SamplerOptions so;
  so.files = o.fasta;
  so.k = o.k;
  so.max_tokens = o.max_len;
  so.heldout_fraction = o.heldout_fraction;
  so.heldout_record = o.heldout_record;
  so.split = io::Split::Eval;
  so.seed = o.seed ^ 0x5eed5eedull;
  so.shuffle_buffer = 0;
  io::Sampler es(so);
  MaskingOptions mo = o.masking;
  mo.seed = o.seed;
  for (int i = 0; i < o.batches; ++i) {
    std::vector<std::string> pieces;
    for (int j = 0; j < o.batch; ++j) pieces.push_back(es.next().sequence);
    io::Batch b = make_mlm_batch(pieces, tok);
    mask_mlm_batch(b, mo, 0xE7A1000000000000ull + static_cast<uint64_t>(i));
    set.push_back(std::move(b));
  }
  return set;
}

EvalReport evaluate_mlm(const Bert& model, const std::vector<io::Batch>& set, engine::Arena& arena,
                        const std::vector<int64_t>& unigram) {
  EvalReport r;
  const int64_t top =
      unigram.empty() ? -1 : std::max_element(unigram.begin(), unigram.end()) - unigram.begin();
  double loss_sum = 0;
  int64_t correct = 0, unigram_correct = 0;
  for (const io::Batch& b : set) {
    engine::Tape tape(arena, engine::Tape::Mode::Inference);
    Tensor logits, labels;
    const auto B = static_cast<int64_t>(b.B), T = static_cast<int64_t>(b.T);
    Tensor loss = model.mlm_forward(tape, bert_inputs(b, arena), Tensor::from_ints({B, T}, b.labels, &arena), {},
                                    &logits, &labels);
    const int64_t n = labels.numel(), V = logits.dim(1);
    const float* pl = logits.f32();
    const int32_t* lab = labels.i32();
    int64_t counted = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (lab[i] == kIgnoreLabel) continue;
      ++counted;
      const float* row = pl + i * V;
      correct += (std::max_element(row, row + V) - row) == lab[i];
      unigram_correct += lab[i] == top;
    }
    loss_sum += static_cast<double>(loss.to_vector()[0]) * static_cast<double>(counted);
    r.masked += counted;
  }
  r.loss = r.masked ? loss_sum / static_cast<double>(r.masked) : 0;
  r.accuracy = r.masked ? static_cast<double>(correct) / static_cast<double>(r.masked) : 0;
  r.unigram_accuracy = r.masked ? static_cast<double>(unigram_correct) / static_cast<double>(r.masked) : 0;
  return r;
}

}  // namespace dnabert::models
