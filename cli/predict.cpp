// dnabert predict: class probabilities for new sequences with a fine-tuned model.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "engine/error.h"
#include "io/atomic_file.h"
#include "io/dataset.h"
#include "io/sequence_source.h"
#include "models/loading.h"
#include "ops/ops.h"

namespace dnabert::cli {
namespace {

struct PredictArgs {
  std::string model, input, out;
  int batch = 32, max_len = 0;
};

int run(const PredictArgs& a) {
  models::LoadedModel lm = models::load_model(a.model, models::Heads::Classification);
  const models::BertConfig& cfg = lm.model->config();
  const int C = cfg.num_labels;
  std::vector<std::string> names;
  const std::string map_path = a.model + "/label_map.json";
  if (std::filesystem::exists(map_path)) names = io::LabelMap::load(map_path).names();
  if (static_cast<int>(names.size()) != C) {
    names.clear();
    for (int i = 0; i < C; ++i) names.push_back(std::to_string(i));
  }
  const int T = a.max_len > 0 ? a.max_len : cfg.max_position_embeddings;
  tokenizer::TokenizerOptions topt;
  topt.max_len = static_cast<size_t>(T);
  tokenizer::KmerTokenizer tok(lm.vocab, topt);
  io::SequenceSource source(a.input);
  io::AtomicFile out(a.out);
  std::string header = "id";
  for (const auto& n : names) header += "\tprob_" + n;
  out.write(header + "\tpredicted\n");
  engine::Arena arena;
  std::vector<std::string> ids;
  std::vector<tokenizer::Encoding> enc;
  io::SourceItem item;
  int64_t done = 0, truncated = 0;
  bool more = true;
  while (more) {
    ids.clear();
    enc.clear();
    while (static_cast<int>(enc.size()) < a.batch && (more = source.next(item))) {
      ids.push_back(item.id);
      enc.push_back(tok.encode(item.text, item.input));
      truncated += enc.back().truncated > 0;
    }
    if (enc.empty()) break;
    const int64_t B = static_cast<int64_t>(enc.size());
    int64_t Tb = 0;
    for (auto& e : enc) Tb = std::max<int64_t>(Tb, static_cast<int64_t>(e.ids.size()));
    std::vector<int32_t> tids(static_cast<size_t>(B * Tb), 0), mask(static_cast<size_t>(B * Tb), 0);
    for (int64_t b = 0; b < B; ++b) {
      const auto& e = enc[static_cast<size_t>(b)].ids;
      std::copy(e.begin(), e.end(), tids.begin() + b * Tb);
      std::fill(mask.begin() + b * Tb, mask.begin() + b * Tb + static_cast<int64_t>(e.size()), 1);
    }
    engine::Tape tape(arena, engine::Tape::Mode::Inference);
    models::BertInputs in{engine::Tensor::from_ints({B, Tb}, tids, &arena), engine::Tensor(),
                          engine::Tensor::from_ints({B, Tb}, mask, &arena)};
    engine::Tensor p = ops::softmax(tape, lm.model->classify(tape, lm.model->encode(tape, in, {}), {}));
    const float* pp = p.f32();
    for (int64_t b = 0; b < B; ++b) {
      std::string line = ids[static_cast<size_t>(b)];
      int best = 0;
      for (int c = 0; c < C; ++c) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "\t%.6f", pp[b * C + c]);
        line += buf;
        if (pp[b * C + c] > pp[b * C + best]) best = c;
      }
      out.write(line + "\t" + names[static_cast<size_t>(best)] + "\n");
    }
    done += B;
  }
  out.commit();
  std::printf("wrote %s: %lld sequences, %d classes\n", a.out.c_str(), static_cast<long long>(done), C);
  if (truncated)
    std::fprintf(stderr, "predict: %lld sequences were longer than %d tokens and were truncated\n",
                 static_cast<long long>(truncated), T);
  return 0;
}

Registration reg([](CLI::App& app) {
  auto a = std::make_shared<PredictArgs>();
  auto* s = app.add_subcommand("predict", "Class probabilities for sequences with a fine-tuned model");
  s->add_option("--model", a->model, "Fine-tuned model directory (finetune's out/best)")
      ->required()->check(CLI::ExistingDirectory);
  s->add_option("--input", a->input, "FASTA/FASTQ (.gz), GUE CSV, DNABERT TSV, or one sequence per line")->required();
  s->add_option("--out", a->out, "Output TSV: id, one probability per class, predicted label")->required();
  s->add_option("--batch", a->batch, "Sequences per batch")->check(CLI::PositiveNumber)->capture_default_str();
  s->add_option("--max-len", a->max_len, "Tokens per sequence (longer ones are truncated; default: the model's)");
  return std::function<int()>([a] { return run(*a); });
});

}  // namespace
}  // namespace dnabert::cli
