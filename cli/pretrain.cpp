// dnabert pretrain: masked-LM pretraining on FASTA files.
#include <cstdio>
#include <memory>
#include <optional>
#include <set>

#include "cli/commands.h"
#include "cli/training_report.h"
#include "engine/distributed.h"
#include "base/error.h"
#include "io/formats/output_dir.h"
#include "models/training/pretrain.h"
#include "models/training/recipes.h"

namespace dnabert::cli {
namespace {

struct PretrainArgs {
  models::PretrainOptions o;
  std::string config = "tiny";
  double mask_rate = -1;
  std::string recipe;
  bool overwrite = false;
  std::set<std::string> given;  // the flags given on the command line
};

int run(PretrainArgs& a) {
  models::PretrainOptions& o = a.o;
  const std::string recipe = models::settle_pretrain_options(o, a.config, a.mask_rate, a.recipe, a.given);
  if (!recipe.empty()) std::fprintf(stderr, "%s\n", recipe.c_str());
  // Checks against the model, before any file is written.
  check_max_len(o.max_len, 8, o.config.max_position_embeddings, o.init.empty() ? a.config : o.init);
  for (const std::string& f : o.fasta)
    require_regular_file("--fasta", f, "pretraining reads it once per pass and once for the record lengths");
  // Only the lead rank writes, so only it claims --out; its refusal ends every
  // rank (cli::run_job). --resume is no input here: it reads what
  // pretrain wrote into its own --out.
  std::optional<io::OutputDir> out_dir;
  if (engine::dist::is_lead()) {
    std::vector<std::string> inputs = o.fasta;
    inputs.push_back(o.init);
    inputs.push_back(a.config);
    out_dir.emplace(o.out, "pretrain", a.overwrite, inputs);
    out_dir->create();
  }
  std::unique_ptr<ProgressBar> bar;
  const models::PretrainCallbacks cb = pretrain_progress(bar);
  // Under mpirun only rank 0 talks; models::pretrain calls no callback on the others.
  if (!engine::dist::is_lead()) {
    models::pretrain(o, cb);
    return 0;
  }
  std::fprintf(stderr, "%s\n", models::describe(o).c_str());
  models::PretrainResult res = models::pretrain(o, cb);
  if (bar) bar->finish();
  print_pretrain_result(res, o.out);
  return 0;
}

}  // namespace

Runner pretrain_command(CLI::App& app) {
  auto a = std::make_shared<PretrainArgs>();
  auto* s = app.add_subcommand("pretrain", "Masked-LM pretraining of a DNABERT-style model on FASTA files");
  auto& o = a->o;
  s->add_option("--fasta", o.fasta, "FASTA files, plain or .gz (several allowed)")->required()->check(CLI::ExistingFile);
  s->add_option("--k", o.k, "k-mer size")->check(integer_in<int>(3, 8))->capture_default_str();
  auto* cfg = s->add_option("--config", a->config, "Model: tiny, small, base, or a config.json")->capture_default_str();
  s->add_option("--init", o.init,
                "Start from this model directory's weights (config.json, model.safetensors) instead of a new model: "
                "continued pretraining, with a new optimiser")
      ->check(CLI::ExistingDirectory)->excludes(cfg);
  s->add_option("--max-len", o.max_len, "Tokens per sequence, [CLS]/[SEP] included")
      ->check(integer_in<int>(8))->capture_default_str();
  s->add_option("--batch", o.batch, "Sequences per micro-batch")->check(integer_in<int>(1))->capture_default_str();
  s->add_option("--grad-accum", o.grad_accum,
                "Micro-batches per optimiser step (under mpirun a multiple of the ranks; each runs its share)")
      ->check(integer_in<int>(1))->capture_default_str();
  s->add_option("--steps", o.steps, "Optimiser steps")->check(integer_in<int64_t>(1))->capture_default_str();
  s->add_option("--lr", o.lr, "Peak learning rate (AdamW)")->check(number_in(0, kUnbounded, "()"))->capture_default_str();
  s->add_option("--warmup", o.warmup, "Linear warm-up steps, then linear decay to 0")
      ->check(integer_in<int64_t>(0))->capture_default_str();
  s->add_option("--seed", o.seed, "Seed of sampling, masking, dropout and initialisation")
      ->check(integer_in<uint64_t>(0))->capture_default_str();
  add_output_dir_options(s, o.out, a->overwrite);
  s->add_option("--resume", o.resume, "Resume from a checkpoint directory (or the latest one under a directory)");
  s->add_option("--eval-every", o.eval_every, "Evaluate on held-out data every M steps (0 = at the end)")
      ->check(integer_in<int64_t>(0))->capture_default_str();
  s->add_option("--eval-batches", o.eval_batches, "Held-out batches per evaluation (0 = no held-out evaluation)")
      ->check(integer_in<int>(0))->capture_default_str();
  s->add_option("--save-every", o.save_every, "Checkpoint every N steps (0 = at the end)")
      ->check(integer_in<int64_t>(0))->capture_default_str();
  s->add_option("--keep-last", o.keep_last, "Checkpoints to keep (0 = all)")
      ->check(integer_in<int>(0))->capture_default_str();
  auto* p = s->add_option("--mlm-probability", o.mlm_probability, "DNABERT's masking knob: probability of a span centre")
                ->check(number_in(0, 1, "()"))->capture_default_str();
  s->add_option("--mask-rate", a->mask_rate, "Target masked fraction r instead (p = 1 - (1 - r)^(1/k))")
      ->check(number_in(0, 1, "()"))->excludes(p);
  s->add_option("--heldout-fraction", o.heldout_fraction, "Last fraction of every record kept out for evaluation")
      ->check(number_in(0, 1, "[)"))->capture_default_str();
  s->add_option("--heldout-record", o.heldout_record, "A record kept out for evaluation");
  s->add_option("--shuffle-buffer", o.shuffle_buffer, "Pieces shuffled together")
      ->check(integer_in<size_t>(1))->capture_default_str();
  s->add_flag("--drop-last-kmer", o.drop_last_kmer, "Drop each piece's last k-mer, as DNABERT's scripts do");
  s->add_option("--embedding-init", o.embedding_init,
                 "k-mer embeddings: normal (HF) or composed (sum of per-position base vectors)")
      ->check(CLI::IsMember({"normal", "composed"}))->capture_default_str();
  s->add_option("--position-init", o.position_init, "Position embeddings: normal (HF) or sinusoidal")
      ->check(CLI::IsMember({"normal", "sinusoidal"}))->capture_default_str();
  s->add_option("--dropout", o.dropout,
                 "Hidden and attention dropout while pretraining (default: the config's; model/config.json keeps "
                 "the config's for fine-tuning)")
      ->check(number_in(0, 1, "[)"));
  s->add_option("--weight-decay", o.weight_decay, "AdamW weight decay")
      ->check(number_in(0, kUnbounded, "[)"))->capture_default_str();
  std::string recipes;
  for (const auto& r : models::pretrain_recipes()) recipes += "\n  " + r.name + ": " + r.summary;
  s->add_option("--recipe", a->recipe,
                "A named set of the settings above, measured to learn (flags given here win):" + recipes);
  return [a, s] {
    for (const CLI::Option* opt : s->get_options())
      if (opt->count() > 0) a->given.insert(opt->get_name());
    return run_job([a] { return run(*a); });
  };
}

}  // namespace dnabert::cli
