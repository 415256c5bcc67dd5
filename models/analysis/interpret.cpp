#include "models/analysis/interpret.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "io/data/sequence_source.h"
#include "io/data/batch.h"
#include "ops/ops.h"

namespace dnabert::models {

namespace {

int parse_index(const std::string& text, const std::string& flag) {
  size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) throw UsageError(flag + ": '" + text + "' is not an integer");
  return v;
}

}  // namespace

AttentionSpec parse_attention_spec(const std::string& layers, const std::string& heads, int num_layers,
                                   int num_heads) {
  AttentionSpec spec;
  auto layer = [&](const std::string& t) {
    int l = parse_index(t, "--layers");
    if (l < 0) l += num_layers;
    if (l < 0 || l >= num_layers)
      throw UsageError("--layers: layer " + t + " is outside 0.." + std::to_string(num_layers - 1));
    return l;
  };
  if (layers.empty()) {
    spec.first_layer = spec.last_layer = num_layers - 1;
  } else if (const size_t dots = layers.find(".."); dots != std::string::npos) {
    spec.first_layer = layer(layers.substr(0, dots));
    spec.last_layer = layer(layers.substr(dots + 2));
    if (spec.first_layer > spec.last_layer) throw UsageError("--layers: '" + layers + "' is an empty range");
  } else {
    spec.first_layer = spec.last_layer = layer(layers);
  }
  size_t start = 0;
  while (start < heads.size()) {
    size_t end = heads.find(',', start);
    if (end == std::string::npos) end = heads.size();
    const int h = parse_index(heads.substr(start, end - start), "--heads");
    if (h < 0 || h >= num_heads)
      throw UsageError("--heads: head " + std::to_string(h) + " is outside 0.." + std::to_string(num_heads - 1));
    if (std::find(spec.heads.begin(), spec.heads.end(), h) == spec.heads.end()) spec.heads.push_back(h);
    start = end + 1;
  }
  return spec;
}

std::vector<float> cls_attention(const Bert& model, const BertInputs& in, const AttentionSpec& spec,
                                 engine::Arena& arena) {
  const BertConfig& cfg = model.config();
  const int64_t B = in.input_ids.dim(0), T = in.input_ids.dim(1), H = cfg.hidden_size;
  const int NH = cfg.num_attention_heads;
  const int64_t D = H / NH;
  if (!in.attention_mask.defined()) throw Error("cls_attention: the inputs need an attention mask");
  if (spec.first_layer < 0 || spec.last_layer >= cfg.num_hidden_layers || spec.first_layer > spec.last_layer)
    throw UsageError("cls_attention: bad layer range");
  std::vector<char> head_on(static_cast<size_t>(NH), spec.heads.empty());
  for (int h : spec.heads) head_on.at(static_cast<size_t>(h)) = 1;

  engine::Tape tape(arena, engine::Tape::Mode::Inference);
  std::vector<Tensor> layers;
  model.encode(tape, in, {}, &layers);
  const int32_t* mask = in.attention_mask.i32();
  std::vector<float> out(static_cast<size_t>(B * T), 0.0f);
  std::vector<double> logits(static_cast<size_t>(T));
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  for (int l = spec.first_layer; l <= spec.last_layer; ++l) {
    const std::string pre = "bert.encoder.layer." + std::to_string(l) + ".attention.self.";
    const engine::ParamSet& ps = model.params();
    const Tensor& x = layers[static_cast<size_t>(l)];  // the layer's input: [B, T, H]
    Tensor cls = x.slice(1, 0, 1).contiguous().reshape({B, H});
    Tensor q = ops::linear(tape, cls, ps.get(pre + "query.weight"), ps.get(pre + "query.bias")).contiguous();  // [B, H]
    Tensor k = ops::linear(tape, x, ps.get(pre + "key.weight"), ps.get(pre + "key.bias")).contiguous();        // [B, T, H]
    const float* pq = q.f32();
    const float* pk = k.f32();
    for (int64_t b = 0; b < B; ++b)
      for (int h = 0; h < NH; ++h) {
        if (!head_on[static_cast<size_t>(h)]) continue;
        const float* qh = pq + b * H + h * D;
        double mx = -INFINITY;
        for (int64_t t = 0; t < T; ++t) {
          if (!mask[b * T + t]) continue;
          const float* kh = pk + (b * T + t) * H + h * D;
          double s = 0;
          for (int64_t d = 0; d < D; ++d) s += double(qh[d]) * kh[d];
          logits[static_cast<size_t>(t)] = s * scale;
          mx = std::max(mx, s * scale);
        }
        double z = 0;
        for (int64_t t = 0; t < T; ++t)
          if (mask[b * T + t]) z += std::exp(logits[static_cast<size_t>(t)] - mx);
        for (int64_t t = 0; t < T; ++t)
          if (mask[b * T + t]) out[static_cast<size_t>(b * T + t)] += static_cast<float>(std::exp(logits[static_cast<size_t>(t)] - mx) / z);
      }
  }
  return out;
}

std::vector<float> spread_kmer_scores(std::span<const float> kmer_scores, int k) {
  if (kmer_scores.empty()) return {};
  const size_t n = kmer_scores.size() + static_cast<size_t>(k) - 1;
  std::vector<double> sum(n, 0.0), count(n, 0.0);
  for (size_t j = 0; j < kmer_scores.size(); ++j)
    for (int i = 0; i < k; ++i) sum[j + static_cast<size_t>(i)] += kmer_scores[j], count[j + static_cast<size_t>(i)] += 1;
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(sum[i] / count[i]);
  return out;
}

std::string bases_of(const std::string& text, tokenizer::Input input) {
  if (input == tokenizer::Input::Sequence) return text;
  std::string bases, last;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) {
      last = text.substr(start, end - start);
      bases += last[0];
    }
    start = end + 1;
  }
  if (!last.empty()) bases += last.substr(1);
  return bases;
}

void l2_normalize(std::span<float> x) {
  double ss = 0;
  for (float v : x) ss += double(v) * v;
  if (ss <= 0) return;
  const double inv = 1.0 / std::sqrt(ss);
  for (float& v : x) v = static_cast<float>(v * inv);
}

std::vector<std::vector<float>> nucleotide_attention(const Bert& model, const std::vector<std::vector<int32_t>>& encodings,
                                                     int k, const AttentionSpec& spec, engine::Arena& arena) {
  const int64_t B = static_cast<int64_t>(encodings.size());
  if (B == 0) return {};
  std::vector<io::Row> rows;
  for (const auto& e : encodings) {
    if (e.size() < 3) throw Error("attention: a sequence has no k-mer (shorter than k)");
    rows.push_back({e});
  }
  io::Batch batch;
  io::pad(rows, batch);
  const auto T = static_cast<int64_t>(batch.T);
  const std::vector<float> att = cls_attention(model, bert_inputs(batch, arena), spec, arena);
  std::vector<std::vector<float>> out;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = static_cast<int64_t>(encodings[static_cast<size_t>(b)].size());
    // tokens 1..n-2 are the k-mers; 0 is [CLS] and n-1 is [SEP]
    std::span<const float> kmers(att.data() + b * T + 1, static_cast<size_t>(n - 2));
    out.push_back(spread_kmer_scores(kmers, k));
    l2_normalize(out.back());
  }
  return out;
}

AttentionInput measure_attention_input(const tokenizer::KmerTokenizer& tok, const std::string& input) {
  const int k = tok.k();
  const size_t T = tok.options().max_len;
  io::SequenceSource source(input);
  source.require_kmer(k);
  source.set_piece_bases(T - 2 + static_cast<size_t>(k));  // the first T-2 k-mers, and one base to tell truncation
  AttentionInput in;
  io::SourceItem item;
  tokenizer::Encoding enc;
  while (source.next(item)) {
    tok.encode(item.text, item.input, enc);
    if (enc.ids.size() < 3) throw Error(input + ": sequence " + item.id + " is shorter than k = " + std::to_string(k));
    in.width = std::max<int64_t>(in.width, static_cast<int64_t>(enc.ids.size()) - 2 + k - 1);
    in.truncated += enc.truncated > 0;
    ++in.sequences;
  }
  if (in.sequences == 0) throw Error(input + ": no sequences");
  return in;
}

void attention_rows(const Bert& model, const tokenizer::KmerTokenizer& tok, const std::string& input,
                    const AttentionSpec& spec, int batch_size,
                    const std::function<void(int64_t, const std::string&, const std::string&,
                                             const std::vector<float>&)>& on_row) {
  io::SequenceSource source(input);
  source.set_piece_bases(tok.options().max_len - 2 + static_cast<size_t>(tok.k()));
  engine::Arena arena;
  std::vector<std::vector<int32_t>> batch;
  std::vector<std::string> ids;
  io::SourceItem item;
  int64_t done = 0;
  for (bool more = true; more;) {
    batch.clear(), ids.clear();
    while (static_cast<int>(batch.size()) < batch_size && (more = source.next(item))) {
      batch.push_back(tok.encode(item.text, item.input).ids);
      ids.push_back(item.id);
    }
    if (batch.empty()) break;
    const auto scores = nucleotide_attention(model, batch, tok.k(), spec, arena);
    for (size_t b = 0; b < batch.size(); ++b) on_row(done++, ids[b], tok.decode_sequence(batch[b]), scores[b]);
  }
}

}  // namespace dnabert::models
