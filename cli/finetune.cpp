// dnabert finetune: sequence classification from a pretrained model.
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>

#include "cli/commands.h"
#include "cli/training_report.h"
#include "engine/distributed.h"
#include "io/data/dataset.h"
#include "io/formats/output_dir.h"
#include "models/training/finetune.h"
#include "models/training/gue_protocol.h"

namespace dnabert::cli {
namespace {

int run(const models::FinetuneOptions& o, bool overwrite) {
  // Only the lead rank writes, so only it claims --out; its refusal ends every rank (cli::run_job).
  std::optional<io::OutputDir> out_dir;
  if (engine::dist::is_lead()) {
    std::vector<std::string> inputs = {o.init};
    for (const std::string* spec : {&o.train, &o.dev, &o.test})
      for (const std::string& file : io::dataset_files(*spec)) inputs.push_back(file);
    out_dir.emplace(o.out, "finetune", overwrite, inputs);
    out_dir->create();
  }
  std::unique_ptr<ProgressBar> bar;
  const models::FinetuneCallbacks cb = finetune_progress(bar, o);
  models::FinetuneResult r = models::finetune(o, cb);
  if (!engine::dist::is_lead()) return 0;  // under mpirun only rank 0 reports
  if (bar) bar->finish();
  print_finetune_result(r, o);
  return 0;
}

}  // namespace

Runner finetune_command(CLI::App& app) {
  auto o = std::make_shared<models::FinetuneOptions>();
  auto protocol = std::make_shared<std::string>(), gue_task = std::make_shared<std::string>();
  auto overwrite = std::make_shared<bool>(false);
  auto* s = app.add_subcommand("finetune", "Fine-tune a pretrained model: classification (single or pair inputs), regression or multi-label");
  s->add_option("--init", o->init, "Pretrained model directory")->required()->check(CLI::ExistingDirectory);
  s->add_flag("--random-init", o->random_init,
              "Control without pretraining: use only --init's config.json and vocab.txt, seeded random weights");
  s->add_option("--train", o->train, "Training data: DNABERT TSV, GUE CSV, or labelled FASTA 'pos.fa:1,neg.fa:0'")
      ->required();
  s->add_option("--dev", o->dev, "Dev data (model selection), same formats")->required();
  s->add_option("--test", o->test, "Test data, evaluated once with the best checkpoint");
  add_output_dir_options(s, o->out, *overwrite);
  s->add_option("--protocol", *protocol,
                "gue: the GUE benchmark's fine-tuning protocol: --lr 3e-5 --batch 32 --warmup-steps 50 --eval-steps "
                "200 --metric mcc and the epochs of DNABERT-2's run_dnabert1.sh for the task family (prom_core_all, "
                "prom_core_notata, prom_300_all, prom_300_notata 4; prom_core_tata, prom_300_tata 10; tf 3; mouse 5; "
                "EMP 3; splice 5; covid 9), from --gue-task or else from a folder name in the --train path. Any of "
                "these flags given explicitly keeps its value")
      ->check(CLI::IsMember({"gue"}));
  s->add_option("--gue-task", *gue_task,
                "GUE task (or family) whose epochs --protocol gue uses, e.g. prom_core_tata, tf_human_0, mouse_1, "
                "H3K4me1, splice, covid (default: found in the --train path)");
  s->add_option("--epochs", o->epochs, "Epochs")->check(integer_in<int>(1))->capture_default_str();
  s->add_option("--lr", o->lr, "Peak learning rate")->check(number_in(0, kUnbounded, "()"))->capture_default_str();
  s->add_option("--batch", o->batch, "Batch size")->check(integer_in<int>(1))->capture_default_str();
  s->add_option("--max-len", o->max_len, "Tokens per sequence (default: the model's positions)")
      ->check(integer_in<int>(3));
  s->add_option("--warmup-ratio", o->warmup_ratio, "Fraction of steps for linear warm-up")
      ->check(number_in(0, 1, "[]"))->capture_default_str();
  s->add_option("--warmup-steps", o->warmup_steps,
                "Linear warm-up over N optimiser steps, replacing --warmup-ratio (capped at the number of steps)")
      ->check(integer_in<int64_t>(0));
  s->add_option("--eval-steps", o->eval_steps,
                "Score dev every N optimiser steps and after the last step, not at epoch ends (as HF's Trainer with "
                "evaluation_strategy=steps, plus the last step); the checkpoint best on dev over all evaluations is "
                "kept. 0 = score dev at the end of every epoch")
      ->check(integer_in<int64_t>(0))->capture_default_str();
  s->add_option("--task", o->task, "classification (cross-entropy), regression (one output, MSE) or multilabel "
                                   "(labels separated by ';', one sigmoid each, BCE)")
      ->check(CLI::IsMember({"classification", "regression", "multilabel"}))->capture_default_str();
  s->add_option("--metric", o->metric, "Dev metric for model selection: mcc|auc|acc|f1 (classification, default mcc), "
                                       "pearson|spearman|r2|mse (regression, default pearson), f1|auc (multilabel, "
                                       "default f1)");
  s->add_option("--early-stop", o->early_stop,
                "Stop after N dev evaluations (epochs, or every --eval-steps) without a better dev score (0 = never)")
      ->check(integer_in<int>(0))->capture_default_str();
  s->add_option("--freeze-layers", o->freeze_layers, "Freeze the embeddings and the first N layers")
      ->check(integer_in<int>(0));
  s->add_option("--seed", o->seed, "Seed")->check(integer_in<uint64_t>(0))->capture_default_str();
  s->add_option("--weight-decay", o->weight_decay, "AdamW weight decay")
      ->check(number_in(0, kUnbounded, "[)"))->capture_default_str();
  s->add_option("--dropout", o->dropout, "Override the config's dropout probabilities")->check(number_in(0, 1, "[)"));
  s->add_option("--shards", o->shards, "Micro-batches per batch, gradients summed in a fixed order; under mpirun a "
                                       "multiple of the ranks (default: the number of ranks)")
      ->check(integer_in<int>(0));
  return [o, s, protocol, gue_task, overwrite] {
    return run_job([&] {
      // The flags given on the command line keep their values under --protocol.
      std::set<std::string> given;
      for (const char* flag : {"lr", "batch", "epochs", "warmup-steps", "warmup-ratio", "eval-steps", "metric"})
        if (s->count(std::string("--") + flag) > 0) given.insert(flag);
      const std::string summary = models::apply_protocol(*o, *protocol, *gue_task, given);
      if (!summary.empty() && engine::dist::is_lead()) std::fprintf(stderr, "%s\n", summary.c_str());
      return run(*o, *overwrite);
    });
  };
}

}  // namespace dnabert::cli
