// dnabert finetune: sequence classification from a pretrained model.
#include <cmath>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/progress.h"
#include "engine/distributed.h"
#include "models/finetune.h"

namespace dnabert::cli {
namespace {

int run(const models::FinetuneOptions& o) {
  std::unique_ptr<ProgressBar> bar;
  models::FinetuneCallbacks cb;
  cb.on_message = [&](const std::string& m) {
    if (bar) bar->message(m);
    else std::fprintf(stderr, "%s\n", m.c_str());
  };
  cb.on_step = [&](int64_t step, int64_t total, double loss) {
    if (!bar) bar = std::make_unique<ProgressBar>("finetune", total, "step");
    char extra[64];
    std::snprintf(extra, sizeof extra, "loss %.4f", loss);
    bar->update(step, extra);
  };
  cb.on_epoch = [&](const models::FinetuneEpoch& e) {
    char line[256];
    if (o.task == "classification")
      std::snprintf(line, sizeof line, "epoch %d/%d: train loss %.4f | dev acc %.4f f1 %.4f mcc %.4f auc %.4f%s",
                    e.epoch, e.epochs, e.train_loss, e.dev.accuracy, e.dev.num_classes == 2 ? e.dev.f1 : e.dev.f1_macro,
                    e.dev.mcc, e.dev.auc, e.best ? "  (best so far, saved)" : "");
    else
      std::snprintf(line, sizeof line, "epoch %d/%d: train loss %.4f | dev %s%s", e.epoch, e.epochs, e.train_loss,
                    e.dev_json.dump().c_str(), e.best ? "  (best so far, saved)" : "");
    cb.on_message(line);
  };
  models::FinetuneResult r = models::finetune(o, cb);
  if (!engine::dist::is_lead()) return 0;  // under mpirun only rank 0 reports
  if (bar) bar->finish();
  auto show = [](const char* split, const models::ClassificationMetrics& m) {
    std::printf("%-5s acc %.4f  f1 %.4f  f1_macro %.4f  mcc %.4f  auc %.4f  aupr %.4f  (%lld examples)\n", split,
                m.accuracy, m.f1, m.f1_macro, m.mcc, m.auc, m.aupr, static_cast<long long>(m.num_examples));
  };
  std::printf("best epoch %d by dev %s; model: %s\n", r.best_epoch, r.metric.c_str(), r.best_dir.c_str());
  if (o.task == "classification") {
    show("dev", r.best_dev);
    if (r.has_test) show("test", r.test);
  } else {
    std::printf("dev   %s\n", r.best_dev_json.dump().c_str());
    if (r.has_test) std::printf("test  %s\n", r.test_json.dump().c_str());
  }
  std::printf("results: %s/eval_results.json, %s/eval_results.tsv, %s/confusion_matrix.txt\n", o.out.c_str(),
              o.out.c_str(), o.out.c_str());
  return 0;
}

Registration reg([](CLI::App& app) {
  auto o = std::make_shared<models::FinetuneOptions>();
  auto* s = app.add_subcommand("finetune", "Fine-tune a pretrained model: classification (single or pair inputs), regression or multi-label");
  s->add_option("--init", o->init, "Pretrained model directory")->required()->check(CLI::ExistingDirectory);
  s->add_flag("--random-init", o->random_init,
              "Control without pretraining: use only --init's config.json and vocab.txt, seeded random weights");
  s->add_option("--train", o->train, "Training data: DNABERT TSV, GUE CSV, or labelled FASTA 'pos.fa:1,neg.fa:0'")
      ->required();
  s->add_option("--dev", o->dev, "Dev data (model selection), same formats")->required();
  s->add_option("--test", o->test, "Test data, evaluated once with the best checkpoint");
  s->add_option("--out", o->out, "Output directory")->required();
  s->add_option("--epochs", o->epochs, "Epochs")->check(CLI::PositiveNumber)->capture_default_str();
  s->add_option("--lr", o->lr, "Peak learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  s->add_option("--batch", o->batch, "Batch size")->check(CLI::PositiveNumber)->capture_default_str();
  s->add_option("--max-len", o->max_len, "Tokens per sequence (default: the model's positions)");
  s->add_option("--warmup-ratio", o->warmup_ratio, "Fraction of steps for linear warm-up")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  s->add_option("--task", o->task, "classification (cross-entropy), regression (one output, MSE) or multilabel "
                                   "(labels separated by ';', one sigmoid each, BCE)")
      ->check(CLI::IsMember({"classification", "regression", "multilabel"}))->capture_default_str();
  s->add_option("--metric", o->metric, "Dev metric for model selection: mcc|auc|acc|f1 (classification, default mcc), "
                                       "pearson|spearman|r2|mse (regression, default pearson), f1|auc (multilabel, "
                                       "default f1)");
  s->add_option("--early-stop", o->early_stop, "Stop after N epochs without a better dev score (0 = never)")
      ->capture_default_str();
  s->add_option("--freeze-layers", o->freeze_layers, "Freeze the embeddings and the first N layers")
      ->check(CLI::NonNegativeNumber);
  s->add_option("--seed", o->seed, "Seed")->capture_default_str();
  s->add_option("--weight-decay", o->weight_decay, "AdamW weight decay")->capture_default_str();
  s->add_option("--dropout", o->dropout, "Override the config's dropout probabilities");
  s->add_option("--shards", o->shards, "Micro-batches per batch, gradients summed in a fixed order; under mpirun a "
                                       "multiple of the ranks (default: the number of ranks)")
      ->check(CLI::NonNegativeNumber);
  return std::function<int()>([o] { return engine::dist::run_job([o] { return run(*o); }); });
});

}  // namespace
}  // namespace dnabert::cli
