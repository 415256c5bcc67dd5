#include "cli/training_report.h"

#include <cstdio>

#include "engine/profile.h"

namespace dnabert::cli {
namespace {
// A line above the bar, or on its own before the bar exists.
void say(const std::unique_ptr<ProgressBar>& bar, const std::string& m) {
  if (bar) bar->message(m);
  else std::fprintf(stderr, "%s\n", m.c_str());
}
}  // namespace

models::PretrainCallbacks pretrain_progress(std::unique_ptr<ProgressBar>& bar) {
  models::PretrainCallbacks cb;
  cb.on_message = [&bar](const std::string& m) { say(bar, m); };
  cb.on_start = [&bar](int64_t first, int64_t total) {
    bar = std::make_unique<ProgressBar>("pretrain", total, "step", first);
  };
  cb.on_step = [&bar](const models::StepReport& r) {
    char extra[200];
    std::snprintf(extra, sizeof extra, "loss %.4f | lr %.2e | %.0f tok/s | mem %s", r.loss, r.lr, r.tokens_per_second,
                  format_bytes(static_cast<double>(resident_bytes())).c_str());
    bar->update(r.step, extra);
  };
  cb.on_eval = [&bar](const models::EvalReport& r) {
    char line[200];
    std::snprintf(line, sizeof line,
                  "step %lld: held-out MLM loss %.4f, masked-token accuracy %.4f (unigram baseline %.4f, %lld tokens)",
                  static_cast<long long>(r.step), r.loss, r.accuracy, r.unigram_accuracy,
                  static_cast<long long>(r.masked));
    say(bar, line);
  };
  return cb;
}

void print_pretrain_result(const models::PretrainResult& res, const std::string& out) {
  std::printf("done: %lld steps in %s; model written to %s\n", static_cast<long long>(res.steps_done),
              format_duration(res.seconds).c_str(), res.model_dir.c_str());
  if (res.last_eval.masked > 0)
    std::printf("held-out masked-token accuracy %.4f (unigram baseline %.4f), MLM loss %.4f, %lld masked tokens\n",
                res.last_eval.accuracy, res.last_eval.unigram_accuracy, res.last_eval.loss,
                static_cast<long long>(res.last_eval.masked));
  std::printf("log: %s/log.jsonl, loss curve: %s/loss.svg\n", out.c_str(), out.c_str());
  if (engine::profile::enabled()) {  // DNABERT_PROFILE=1: rank 0's wall time per region, whole run
    std::fprintf(stderr, "profile (rank 0, whole run, wall time of the calling thread, inclusive):\n");
    for (const auto& r : engine::profile::regions())
      std::fprintf(stderr, "  %-28s %8llu calls %10.3f s\n", r.name.c_str(), static_cast<unsigned long long>(r.calls),
                   r.seconds);
  }
}

models::FinetuneCallbacks finetune_progress(std::unique_ptr<ProgressBar>& bar, const models::FinetuneOptions& o) {
  models::FinetuneCallbacks cb;
  cb.on_message = [&bar](const std::string& m) { say(bar, m); };
  cb.on_step = [&bar](int64_t step, int64_t total, double loss) {
    if (!bar) bar = std::make_unique<ProgressBar>("finetune", total, "step");
    char extra[64];
    std::snprintf(extra, sizeof extra, "loss %.4f", loss);
    bar->update(step, extra);
  };
  cb.on_evaluation = [&bar, by_steps = o.eval_steps > 0, classification = o.task == "classification"](
                         const models::FinetuneEvaluation& e) {
    char when[64], line[320];
    if (by_steps)
      std::snprintf(when, sizeof when, "step %lld/%lld (epoch %d/%d)", static_cast<long long>(e.step),
                    static_cast<long long>(e.total_steps), e.epoch, e.epochs);
    else
      std::snprintf(when, sizeof when, "epoch %d/%d", e.epoch, e.epochs);
    if (classification)
      std::snprintf(line, sizeof line, "%s: train loss %.4f | dev acc %.4f f1 %.4f mcc %.4f auc %.4f%s", when,
                    e.train_loss, e.dev.accuracy, e.dev.num_classes == 2 ? e.dev.f1 : e.dev.f1_macro, e.dev.mcc,
                    e.dev.auc, e.best ? "  (best so far, saved)" : "");
    else
      std::snprintf(line, sizeof line, "%s: train loss %.4f | dev %s%s", when, e.train_loss, e.dev_json.dump().c_str(),
                    e.best ? "  (best so far, saved)" : "");
    say(bar, line);
  };
  return cb;
}

void print_finetune_result(const models::FinetuneResult& r, const models::FinetuneOptions& o) {
  auto show = [](const char* split, const models::ClassificationMetrics& m) {
    std::printf("%-5s acc %.4f  f1 %.4f  f1_macro %.4f  mcc %.4f  auc %.4f  aupr %.4f  (%lld examples)\n", split,
                m.accuracy, m.f1, m.f1_macro, m.mcc, m.auc, m.aupr, static_cast<long long>(m.num_examples));
  };
  std::printf("best checkpoint: epoch %d, step %lld, by dev %s; model: %s\n", r.best_epoch,
              static_cast<long long>(r.best_step), r.metric.c_str(), r.best_dir.c_str());
  if (o.task == "classification") {
    show("dev", r.best_dev);
    if (r.has_test) show("test", r.test);
  } else {
    std::printf("dev   %s\n", r.best_dev_json.dump().c_str());
    if (r.has_test) std::printf("test  %s\n", r.test_json.dump().c_str());
  }
  std::printf("results: %s/eval_results.json, %s/eval_results.tsv, %s/confusion_matrix.txt\n", o.out.c_str(),
              o.out.c_str(), o.out.c_str());
}

}  // namespace dnabert::cli
