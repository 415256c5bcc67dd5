// dnabert predict: class probabilities for new sequences with a fine-tuned model.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "base/error.h"
#include "io/formats/atomic_file.h"
#include "io/data/dataset.h"
#include "models/analysis/inference.h"
#include "models/network/loading.h"
#include "tokenizer/kmer.h"

namespace dnabert::cli {
namespace {

struct PredictArgs {
  std::string model, input, out, aggregate = "mean";
  int batch = 32, max_len = 0, stride = 0;
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
  models::WindowOptions wo;
  wo.max_len = a.max_len > 0 ? a.max_len : cfg.max_position_embeddings;
  check_max_len(wo.max_len, 3, cfg.max_position_embeddings, a.model);
  wo.stride = a.stride;
  wo.aggregate = models::parse_aggregate(a.aggregate);
  wo.batch = a.batch;
  wo.output = models::output_kind_for(cfg);
  io::AtomicFile out(a.out);
  std::string header = "id";
  if (wo.output == models::OutputKind::Identity)
    header += "\tvalue";
  else
    for (const auto& n : names) header += "\tprob_" + n;
  out.write(header + (wo.output == models::OutputKind::Identity ? "" : "\tpredicted") + "\twindows\n");
  int64_t windowed = 0;
  const int64_t done = models::classify_file(
      *lm.model, tokenizer::KmerTokenizer(lm.vocab), a.input, wo,
      [&](const std::string& id, const std::vector<float>& p, int windows) {
        std::string line = id, labels;
        int best = 0;
        for (int c = 0; c < C; ++c) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "\t%.6f", p[static_cast<size_t>(c)]);
          line += buf;
          if (p[static_cast<size_t>(c)] > p[static_cast<size_t>(best)]) best = c;
          if (p[static_cast<size_t>(c)] >= 0.5f) labels += (labels.empty() ? "" : ";") + names[static_cast<size_t>(c)];
        }
        if (wo.output == models::OutputKind::Softmax) line += "\t" + names[static_cast<size_t>(best)];
        if (wo.output == models::OutputKind::Sigmoid) line += "\t" + labels;  // every label with p >= 0.5
        out.write(line + "\t" + std::to_string(windows) + "\n");
        windowed += windows > 1;
      });
  out.commit();
  std::printf("wrote %s: %lld sequences, %d classes\n", a.out.c_str(), static_cast<long long>(done), C);
  if (windowed)
    std::fprintf(stderr, "predict: %lld sequences were longer than the model and were classified in windows "
                         "(logits aggregated by %s)\n",
                 static_cast<long long>(windowed), a.aggregate.c_str());
  return 0;
}

}  // namespace

Runner predict_command(CLI::App& app) {
  auto a = std::make_shared<PredictArgs>();
  auto* s = app.add_subcommand("predict", "Class probabilities for sequences with a fine-tuned model");
  s->add_option("--model", a->model, "Fine-tuned model directory (finetune's out/best)")
      ->required()->check(CLI::ExistingDirectory);
  s->add_option("--input", a->input, "FASTA/FASTQ (.gz), GUE CSV, DNABERT TSV, or one sequence per line")->required();
  s->add_option("--out", a->out, "Output TSV: id, one probability per class, predicted label, windows used")->required();
  s->add_option("--batch", a->batch, "Windows per forward pass (a sequence that fits the model is one window)")->check(integer_in<int>(1))->capture_default_str();
  s->add_option("--max-len", a->max_len, "Tokens per window (default: the model's positions)")
      ->check(integer_in<int>(3));
  s->add_option("--stride", a->stride, "k-mers between windows of a long sequence (default: half a window)")
      ->check(integer_in<int>(1));
  s->add_option("--aggregate", a->aggregate, "How window logits combine: mean or max")
      ->check(CLI::IsMember({"mean", "max"}))->capture_default_str();
  return [a] { return run(*a); };
}

}  // namespace dnabert::cli
