// dnabert convert: a published HF DNABERT checkpoint directory into our model
// directory (config.json, model.safetensors under HF BertForMaskedLM names,
// vocab.txt). The name mapping is models/network/convert.h's.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "io/formats/checkpoint.h"
#include "io/formats/output_dir.h"
#include "models/network/convert.h"

namespace dnabert::cli {
namespace {

struct ConvertArgs {
  std::string input, out;
  bool overwrite = false;
};

int run(const ConvertArgs& a) {
  const io::OutputDir out_dir(a.out, "convert", a.overwrite, {a.input});
  const models::ImportedCheckpoint in = models::import_hf_checkpoint(a.input);
  const models::ConvertedWeights& c = in.converted;
  io::CheckpointData out;
  out.config = in.config.to_json();
  out.weights = c.weights;
  out.vocab_text = in.vocab_text;
  out.extra_files = {{io::kOutputMarker, out_dir.marker_text()}};
  io::write_checkpoint(a.out, out);

  int64_t params = 0;
  for (const auto& w : c.weights) params += w.tensor.numel();
  std::printf("convert: read %zu tensors from %s\n", in.tensors_read, in.weights_file.c_str());
  std::printf("convert: renamed %d", c.renamed);
  const char* sep = " (";
  for (const auto& [rule, n] : c.rules) std::printf("%s%s: %d", sep, rule.c_str(), n), sep = "; ";
  std::printf("%s\n", c.renamed ? ")" : "");
  std::printf("convert: dropped %zu\n", c.dropped.size());
  for (const auto& d : c.dropped) std::printf("  %s\n", d.c_str());
  using models::TensorGroup;
  std::string heads;
  for (auto [g, label] : {std::pair{TensorGroup::MaskedLM, "masked LM"}, {TensorGroup::Pooler, "pooler"},
                          {TensorGroup::Classifier, "classifier"}})
    if (c.groups.count(g)) heads += (heads.empty() ? "" : ", ") + std::string(label);
  std::printf("convert: wrote %s: %zu tensors, %lld parameters, %d layers, hidden %d, k = %d (%zu tokens), "
              "heads: %s\n",
              a.out.c_str(), c.weights.size(), static_cast<long long>(params), in.config.num_hidden_layers,
              in.config.hidden_size, in.k, in.vocab_size, heads.empty() ? "none" : heads.c_str());
  return 0;
}

}  // namespace

Runner convert_command(CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  auto* s = app.add_subcommand("convert", "Import a Hugging Face DNABERT checkpoint (pytorch_model.bin or "
                                          "model.safetensors) into a model directory");
  s->add_option("--input", a->input, "HF checkpoint directory (config.json, pytorch_model.bin or model.safetensors, "
                                     "vocab.txt)")
      ->required()->check(CLI::ExistingDirectory);
  s->add_option("--out", a->out, "Output model directory: created, or replaced if an earlier convert wrote it "
                                 "(anything else needs --overwrite)")
      ->required();
  s->add_flag("--overwrite", a->overwrite,
              "Replace --out even if it is a file or a directory that convert did not write (never one that holds "
              "--input)");
  return [a] { return run(*a); };
}

}  // namespace dnabert::cli
