#include "models/analysis/inference.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "base/error.h"
#include "io/data/sequence_source.h"
#include "ops/ops.h"
#include "tokenizer/vocab.h"

namespace dnabert::models {

Aggregate parse_aggregate(const std::string& name) {
  if (name == "mean") return Aggregate::Mean;
  if (name == "max") return Aggregate::Max;
  throw UsageError("unknown aggregation '" + name + "' (choose mean or max)");
}

OutputKind output_kind_for(const BertConfig& config) {
  const std::string type = config.extra.value("problem_type", std::string());
  if (type == "regression") return OutputKind::Identity;
  if (type == "multi_label_classification") return OutputKind::Sigmoid;
  return OutputKind::Softmax;
}

WindowClassifier::WindowClassifier(const Bert& model, const WindowOptions& options, engine::Arena& arena)
    : model_(model), options_(options), arena_(arena), L_(options.max_len - 2), C_(model.config().num_labels) {
  if (L_ < 1) throw UsageError("window length must be at least 3 tokens");
  if (options_.batch < 1) throw UsageError("batch must be at least 1");
  stride_ = options_.stride > 0 ? options_.stride : std::max<int64_t>(1, L_ / 2);
}

void WindowClassifier::begin() {
  Sequence seq;
  seq.acc.assign(static_cast<size_t>(C_), options_.aggregate == Aggregate::Max ? -DBL_MAX : 0.0);
  sequences_.push_back(std::move(seq));
  buf_.clear();
  buf_start_ = n_ = next_start_ = 0;
}

// Windows start at 0, stride, 2 stride, ... while one more k-mer follows the
// window (start + L < n); the last window ends at the sequence's end. So a
// window at next_start_ is certain once n_ > next_start_ + L_, and until the
// end only the last L_ k-mers and those from next_start_ on are kept.
void WindowClassifier::add(std::span<const int32_t> kmer_ids) {
  if (sequences_.empty() || sequences_.back().ended) throw Error("WindowClassifier::add outside begin()/end()");
  buf_.insert(buf_.end(), kmer_ids.begin(), kmer_ids.end());
  n_ += static_cast<int64_t>(kmer_ids.size());
  while (next_start_ + L_ < n_) {
    queue(next_start_, L_);
    next_start_ += stride_;
  }
  const int64_t keep = std::max<int64_t>(0, std::min(next_start_, n_ - L_));
  if (keep - buf_start_ > static_cast<int64_t>(buf_.size()) / 2) {  // amortised: drop half or more at once
    buf_.erase(buf_.begin(), buf_.begin() + (keep - buf_start_));
    buf_start_ = keep;
  }
}

void WindowClassifier::end() {
  if (sequences_.empty() || sequences_.back().ended) throw Error("WindowClassifier::end without begin()");
  if (next_start_ == 0)
    queue(0, std::min(L_, n_));  // a sequence that fits one window (or has no k-mer: [CLS] [SEP])
  else
    queue(n_ - L_, L_);
  sequences_.back().ended = true;
  buf_.clear();
}

void WindowClassifier::queue(int64_t start, int64_t len) {
  const size_t at = win_ids_.size();
  win_ids_.resize(at + static_cast<size_t>(L_ + 2), tokenizer::kPadId);
  win_ids_[at] = tokenizer::kClsId;
  std::copy_n(buf_.begin() + (start - buf_start_), len, win_ids_.begin() + static_cast<int64_t>(at) + 1);
  win_ids_[at + static_cast<size_t>(len) + 1] = tokenizer::kSepId;
  win_len_.push_back(len);
  win_seq_.push_back(first_ + sequences_.size() - 1);
  ++sequences_.back().pending;
  if (static_cast<int>(win_len_.size()) == options_.batch) run_batch();
}

void WindowClassifier::run_batch() {
  const auto B = static_cast<int64_t>(win_len_.size());
  if (B == 0) return;
  std::vector<io::Row> rows(static_cast<size_t>(B));
  for (size_t b = 0; b < rows.size(); ++b)
    rows[b].ids = std::span(win_ids_).subspan(b * static_cast<size_t>(L_ + 2), static_cast<size_t>(win_len_[b] + 2));
  io::pad(rows, batch_);
  const auto T = static_cast<int64_t>(batch_.T);
  engine::Tape tape(arena_, engine::Tape::Mode::Inference);
  Tensor logits =
      model_.classify(tape, model_.encode(tape, bert_inputs(batch_, arena_), {}, nullptr, Bert::cls_rows(tape, B, T)), {});
  const float* pl = logits.f32();
  for (int64_t b = 0; b < B; ++b) {
    Sequence& seq = sequences_[static_cast<size_t>(win_seq_[static_cast<size_t>(b)] - first_)];
    ++seq.windows;
    --seq.pending;
    for (int c = 0; c < C_; ++c) {
      double& a = seq.acc[static_cast<size_t>(c)];
      const double v = pl[b * C_ + c];
      a = options_.aggregate == Aggregate::Mean ? a + v : std::max(a, v);
    }
  }
  win_ids_.clear();
  win_len_.clear();
  win_seq_.clear();
}

void WindowClassifier::flush() { run_batch(); }

bool WindowClassifier::next_result(std::vector<float>& outputs, int& windows) {
  if (sequences_.empty() || !sequences_.front().ended || sequences_.front().pending > 0) return false;
  Sequence seq = std::move(sequences_.front());
  sequences_.pop_front();
  ++first_;
  windows = seq.windows;
  std::vector<double>& acc = seq.acc;
  if (options_.aggregate == Aggregate::Mean)
    for (double& a : acc) a /= seq.windows;
  outputs.resize(acc.size());
  if (options_.output != OutputKind::Softmax) {
    for (size_t c = 0; c < acc.size(); ++c)
      outputs[c] = static_cast<float>(options_.output == OutputKind::Sigmoid ? 1.0 / (1.0 + std::exp(-acc[c])) : acc[c]);
    return true;
  }
  const double mx = *std::max_element(acc.begin(), acc.end());
  double z = 0;
  for (double a : acc) z += std::exp(a - mx);
  for (size_t c = 0; c < acc.size(); ++c) outputs[c] = static_cast<float>(std::exp(acc[c] - mx) / z);
  return true;
}

std::vector<float> classify_sequences(const Bert& model, const std::vector<std::vector<int32_t>>& kmer_ids,
                                      const WindowOptions& o, engine::Arena& arena, std::vector<int>* windows_per) {
  WindowClassifier classifier(model, o, arena);
  for (const auto& ids : kmer_ids) {
    classifier.begin();
    classifier.add(ids);
    classifier.end();
  }
  classifier.flush();
  std::vector<float> probs, one;
  std::vector<int> count(kmer_ids.size());
  for (size_t s = 0; s < kmer_ids.size(); ++s) {
    if (!classifier.next_result(one, count[s])) throw Error("WindowClassifier: a sequence has no result after flush()");
    probs.insert(probs.end(), one.begin(), one.end());
  }
  if (windows_per) *windows_per = count;
  return probs;
}

int64_t classify_file(const Bert& model, const tokenizer::KmerTokenizer& tok, const std::string& input,
                      const WindowOptions& options,
                      const std::function<void(const std::string&, const std::vector<float>&, int)>& on_result) {
  io::SequenceSource source(input);
  source.require_kmer(tok.k());
  source.set_piece_bases(size_t{1} << 16);
  engine::Arena arena;
  WindowClassifier classifier(model, options, arena);
  tokenizer::KmerStream stream(tok);
  std::deque<std::string> pending_ids;  // sequences whose windows have not all run
  std::vector<int32_t> kmers;
  std::vector<float> p;
  int64_t done = 0;
  auto report_finished = [&] {
    int windows = 0;
    while (classifier.next_result(p, windows)) {
      on_result(pending_ids.front(), p, windows);
      pending_ids.pop_front();
      ++done;
    }
  };
  io::SourceItem item;
  while (source.next(item)) {
    pending_ids.push_back(item.id);
    classifier.begin();
    stream.reset();
    do {
      kmers.clear();
      if (item.input == tokenizer::Input::Sentence)
        tok.append_ids(item.text, item.input, kmers);
      else
        stream.append(item.text, kmers);
      classifier.add(kmers);
    } while (item.partial && source.more(item));
    classifier.end();
    report_finished();
  }
  classifier.flush();
  report_finished();
  return done;
}

}  // namespace dnabert::models
