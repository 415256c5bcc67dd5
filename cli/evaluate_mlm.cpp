// dnabert evaluate-mlm: held-out masked-LM loss and accuracy of a model on
// FASTA files, on the same fixed set `pretrain` evaluates on with the same
// options (so a run's logged figure can be re-measured from its model dir).
#include <cmath>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "base/error.h"
#include "io/formats/atomic_file.h"
#include "models/network/loading.h"
#include "models/training/masking.h"
#include "models/training/mlm_eval.h"

namespace dnabert::cli {
namespace {

struct EvalArgs {
  std::string model, out;
  models::HeldOutOptions h;
  double mask_rate = -1;
  double mlm_probability = -1;
};

int run(EvalArgs& a) {
  for (const std::string& f : a.h.fasta)
    require_regular_file("--fasta", f, "the held-out set is cut after a first pass for the record lengths");
  models::LoadedModel lm = models::load_model(a.model, models::Heads::MaskedLM);
  const models::BertConfig& cfg = lm.model->config();
  int k = 0;
  while (k < 9 && (1 << (2 * k)) + 5 != cfg.vocab_size) ++k;
  if (k >= 9) throw Error(a.model + "/config.json: vocab_size " + std::to_string(cfg.vocab_size) + " is not 4^k + 5");
  models::HeldOutOptions& h = a.h;
  h.k = k;
  check_max_len(h.max_len, 8, cfg.max_position_embeddings, a.model);
  h.masking.k = k;
  h.masking.vocab_size = cfg.vocab_size;
  h.masking.mlm_probability = a.mlm_probability > 0   ? a.mlm_probability
                              : a.mask_rate > 0       ? models::mlm_probability_for_mask_rate(a.mask_rate, k)
                                                      : models::mlm_probability_for_mask_rate(0.15, k);
  const std::vector<io::Batch> set = models::held_out_set(h);
  if (set.empty()) throw UsageError("evaluate-mlm: no held-out data (give --heldout-fraction > 0 or --heldout-record)");
  engine::Arena arena;
  const models::EvalReport r = models::evaluate_mlm(*lm.model, set, arena);
  const double uniform = std::log(static_cast<double>(cfg.vocab_size));
  std::printf("%s on %lld held-out masked tokens (k=%d, max-len %d, %d x %d pieces, mlm-probability %.4f): "
              "MLM loss %.4f (uniform guess %.4f), masked-token accuracy %.4f\n",
              a.model.c_str(), static_cast<long long>(r.masked), k, h.max_len, h.batches, h.batch,
              h.masking.mlm_probability, r.loss, uniform, r.accuracy);
  if (!a.out.empty()) {
    nlohmann::json j = {{"model", a.model},         {"fasta", h.fasta},
                        {"k", k},                   {"max_len", h.max_len},
                        {"batch", h.batch},         {"eval_batches", h.batches},
                        {"seed", h.seed},           {"mlm_probability", h.masking.mlm_probability},
                        {"heldout_fraction", h.heldout_fraction}, {"heldout_record", h.heldout_record},
                        {"eval_loss", r.loss},      {"eval_accuracy", r.accuracy},
                        {"eval_masked", r.masked},  {"uniform_loss", uniform}};
    io::write_file_atomic(a.out, j.dump(2) + "\n");
  }
  return 0;
}

}  // namespace

Runner evaluate_mlm_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* s = app.add_subcommand("evaluate-mlm",
                               "Held-out masked-LM loss and accuracy of a model on FASTA files (the set pretrain "
                               "evaluates on with the same options)");
  auto& h = a->h;
  h.max_len = 128;
  h.batch = 32;
  h.batches = 8;
  s->add_option("--model", a->model, "Model directory (config.json, model.safetensors, vocab.txt)")
      ->required()->check(CLI::ExistingDirectory);
  s->add_option("--fasta", h.fasta, "FASTA files, plain or .gz")->required()->check(CLI::ExistingFile);
  s->add_option("--max-len", h.max_len, "Tokens per piece, [CLS]/[SEP] included")
      ->check(integer_in<int>(8))->capture_default_str();
  s->add_option("--batch", h.batch, "Pieces per batch")->check(integer_in<int>(1))->capture_default_str();
  s->add_option("--eval-batches", h.batches, "Batches in the held-out set")->check(integer_in<int>(1))
      ->capture_default_str();
  s->add_option("--seed", h.seed, "The pretraining run's seed (chooses the pieces)")
      ->check(integer_in<uint64_t>(0))->capture_default_str();
  auto* p = s->add_option("--mlm-probability", a->mlm_probability, "DNABERT's masking knob (probability of a span centre)")
                ->check(number_in(0, 1, "()"));
  s->add_option("--mask-rate", a->mask_rate, "Target masked fraction instead (default 0.15)")
      ->check(number_in(0, 1, "()"))->excludes(p);
  s->add_option("--heldout-fraction", h.heldout_fraction, "Last fraction of every record used")
      ->check(number_in(0, 1, "[)"))->capture_default_str();
  s->add_option("--heldout-record", h.heldout_record, "A whole record used instead");
  s->add_flag("--drop-last-kmer", h.drop_last_kmer, "Drop each piece's last k-mer, as DNABERT's scripts do");
  s->add_option("--out", a->out, "Also write the figures as JSON to this file");
  return [a] { return run(*a); };
}

}  // namespace dnabert::cli
