#include "models/training/finetune.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>

#include "engine/distributed.h"
#include "base/error.h"
#include "io/formats/atomic_file.h"
#include "io/data/batcher.h"
#include "io/formats/checkpoint.h"
#include "models/network/bert.h"
#include "models/network/loading.h"
#include "models/training/trainer.h"
#include "ops/ops.h"

namespace dnabert::models {

namespace {

namespace fs = std::filesystem;

enum class Task { Classification, Regression, MultiLabel };

Task parse_task(const std::string& t) {
  if (t == "classification") return Task::Classification;
  if (t == "regression") return Task::Regression;
  if (t == "multilabel") return Task::MultiLabel;
  throw UsageError("unknown task '" + t + "' (choose classification, regression or multilabel)");
}

std::string default_metric(Task t) {
  return t == Task::Classification ? "mcc" : t == Task::Regression ? "pearson" : "f1";
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string::npos) end = text.size();
    if (end > start) parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

io::LabelledDataset read(const std::string& spec, const std::optional<io::LabelMap>& map) {
  io::DatasetOptions opt;
  opt.label_map = map;
  return io::read_dataset(split(spec, ','), opt);
}

// What the model is trained to output for each example: a class id, a number, or a multi-hot row.
struct Targets {
  Task task = Task::Classification;
  int outputs = 0;                 // model outputs per example
  std::vector<std::string> names;  // class or label names; empty for regression
  std::vector<int32_t> classes;    // [N] classification
  std::vector<float> values;       // [N] regression, [N, L] multi-label (0/1)
};

Targets make_targets(Task task, const io::LabelledDataset& d, const std::string& file,
                     const std::vector<std::string>& label_names) {
  Targets t;
  t.task = task;
  const size_t n = d.size();
  if (task == Task::Classification) {
    t.outputs = static_cast<int>(d.label_map.size());
    t.names = d.label_map.names();
    t.classes = d.labels;
  } else if (task == Task::Regression) {
    t.outputs = 1;
    for (size_t i = 0; i < n; ++i) {
      const std::string& s = d.label_map.name(d.labels[i]);
      size_t used = 0;
      double v = 0;
      try {
        v = std::stod(s, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != s.size() || !std::isfinite(v))
        throw Error(file + ": example " + std::to_string(i + 1) + ": label '" + s + "' is not a number (task regression)");
      t.values.push_back(static_cast<float>(v));
    }
  } else {
    t.names = label_names;
    t.outputs = static_cast<int>(label_names.size());
    t.values.assign(n * label_names.size(), 0.0f);
    for (size_t i = 0; i < n; ++i)
      for (const std::string& name : split(d.label_map.name(d.labels[i]), ';')) {
        auto it = std::find(label_names.begin(), label_names.end(), name);
        if (it == label_names.end())
          throw Error(file + ": example " + std::to_string(i + 1) + ": label '" + name + "' does not occur in training");
        t.values[i * label_names.size() + static_cast<size_t>(it - label_names.begin())] = 1.0f;
      }
  }
  return t;
}

// A class with a handful of examples is most often a stray value in the label
// column ("abc" among 0/1), which would silently add an output; a class that
// dev lacks cannot be measured there. Both are warned of, naming the examples.
void warn_rare_classes(const io::LabelledDataset& train, const io::LabelledDataset& dev, const std::string& train_file,
                       const std::string& dev_file, const std::function<void(const std::string&)>& say) {
  const size_t classes = train.label_map.size(), n = train.size();
  std::vector<std::vector<size_t>> examples(classes);
  std::vector<size_t> in_dev(classes, 0);
  for (size_t i = 0; i < n; ++i) examples[static_cast<size_t>(train.labels[i])].push_back(i + 1);
  for (int32_t l : dev.labels) ++in_dev[static_cast<size_t>(l)];
  constexpr size_t kFew = 5, kShown = 5;
  for (size_t c = 0; c < classes; ++c) {
    const std::vector<size_t>& rows = examples[c];
    const std::string name = "'" + train.label_map.name(static_cast<int32_t>(c)) + "'";
    if (rows.size() < kFew || rows.size() * 100 < n) {
      std::string list;
      for (size_t j = 0; j < std::min(rows.size(), kShown); ++j) list += (j ? ", " : "") + std::to_string(rows[j]);
      if (rows.size() > kShown) list += ", ...";
      say("warning: " + train_file + ": class " + name + " has only " + std::to_string(rows.size()) + " of " +
          std::to_string(n) + " examples (example" + (rows.size() > 1 ? "s " : " ") + list +
          "); a stray value in the label column adds a class of its own");
    }
    if (in_dev[c] == 0)
      say("warning: " + dev_file + ": class " + name + " of the training set never occurs here, so dev scores cannot "
          "reflect it");
  }
}

// Model outputs [N, outputs] for every example, in dataset order: class
// probabilities, the regression value, or per-label sigmoid probabilities.
std::vector<float> predict_all(const Bert& model, Task task, const std::vector<io::Example>& examples, int batch,
                               engine::Arena& arena) {
  const int C = model.config().num_labels;
  std::vector<float> out(examples.size() * static_cast<size_t>(C));
  io::BatcherOptions bo;
  bo.batch_size = static_cast<size_t>(batch);
  bo.shuffle = false;
  io::Batcher batcher(examples, bo);
  io::Batch b;
  for (const auto& rows : batcher.plan(0)) {
    batcher.make_batch(rows, b);
    const int64_t B = static_cast<int64_t>(b.B), T = static_cast<int64_t>(b.T);
    engine::Tape tape(arena, engine::Tape::Mode::Inference);
    Tensor logits =
        model.classify(tape, model.encode(tape, bert_inputs(b, arena), {}, nullptr, Bert::cls_rows(tape, B, T)), {});
    if (task == Task::Classification) logits = ops::softmax(tape, logits);
    std::vector<float> v = logits.to_vector();
    if (task == Task::MultiLabel)
      for (float& x : v) x = 1.0f / (1.0f + std::exp(-x));
    for (int64_t r = 0; r < B; ++r)
      std::copy(v.begin() + r * C, v.begin() + (r + 1) * C, out.begin() + static_cast<int64_t>(b.example_indices[r]) * C);
  }
  return out;
}

struct Evaluation {
  ClassificationMetrics classification;
  nlohmann::json json;
  double score = 0;
  std::string tsv_header, tsv_row;
};

std::string tsv_of(const nlohmann::json& j, const std::vector<std::string>& keys, std::string& header) {
  std::string row;
  header.clear();
  for (const auto& k : keys) {
    header += (header.empty() ? "" : "\t") + k;
    char buf[32];
    const nlohmann::json& v = j.at(k);
    if (v.is_null()) std::snprintf(buf, sizeof buf, "nan");
    else std::snprintf(buf, sizeof buf, "%.6f", v.get<double>());
    row += (row.empty() ? "" : "\t") + std::string(buf);
  }
  return row;
}

Evaluation evaluate(const Bert& model, const Targets& t, const std::vector<io::Example>& examples, int batch,
                    const std::string& metric, engine::Arena& arena) {
  Evaluation e;
  const std::vector<float> out = predict_all(model, t.task, examples, batch, arena);
  if (t.task == Task::Classification) {
    e.classification = compute_classification_metrics(t.classes, out, t.outputs);
    e.json = e.classification.to_json();
    e.score = metric_by_name(e.classification, metric);
    e.tsv_header = ClassificationMetrics::to_tsv_header();
    e.tsv_row = e.classification.to_tsv_row();
    return e;
  }
  if (t.task == Task::Regression) {
    RegressionMetrics m = compute_regression_metrics(t.values, out);
    e.json = m.to_json();
    e.score = metric == "pearson" ? m.pearson : metric == "spearman" ? m.spearman : metric == "r2" ? m.r2 : -m.mse;
    e.tsv_row = tsv_of(e.json, {"mse", "mae", "r2", "pearson", "spearman"}, e.tsv_header);
    return e;
  }
  std::vector<int32_t> labels(t.values.size());
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = t.values[i] > 0.5f;
  MultiLabelMetrics m = compute_multilabel_metrics(labels, out, t.outputs);
  e.json = m.to_json();
  e.score = metric == "auc" ? m.auc_macro : m.f1_macro;
  e.tsv_row = tsv_of(e.json, {"f1_macro", "auc_macro"}, e.tsv_header);
  return e;
}

void check_metric(Task task, const std::string& metric) {
  static const std::map<Task, std::set<std::string>> allowed = {
      {Task::Classification, {"mcc", "auc", "acc", "f1"}},
      {Task::Regression, {"pearson", "spearman", "r2", "mse"}},
      {Task::MultiLabel, {"f1", "auc"}}};
  if (!allowed.at(task).count(metric)) {
    std::string list;
    for (const auto& m : allowed.at(task)) list += (list.empty() ? "" : ", ") + m;
    throw UsageError("--metric " + metric + " does not fit this task (choose " + list + ")");
  }
}

// The options' own checks, before anything is read; returns `o`.
const FinetuneOptions& checked(const FinetuneOptions& o) {
  const int ranks = engine::dist::size();
  const int shards = o.shards > 0 ? o.shards : ranks;
  if (shards % ranks != 0)
    throw UsageError("finetune: --shards " + std::to_string(shards) + " is not a multiple of the " +
                     std::to_string(ranks) + " ranks");
  if (o.init.empty() || o.train.empty() || o.dev.empty() || o.out.empty())
    throw UsageError("finetune: --init, --train, --dev and --out are required");
  if (o.epochs < 1 || o.batch < 1 || !(o.lr > 0)) throw UsageError("finetune: epochs, batch and lr must be positive");
  check_metric(parse_task(o.task), o.metric.empty() ? default_metric(parse_task(o.task)) : o.metric);
  return o;
}

// The options that must fit the pretrained model's config (init/config.json).
void check_against_config(const FinetuneOptions& o, const BertConfig& config, int max_len) {
  if (max_len < 3 || max_len > config.max_position_embeddings)
    throw UsageError("--max-len: must be an integer in 3.." + std::to_string(config.max_position_embeddings) +
                     " (max_position_embeddings of " + o.init + "/config.json), got " + std::to_string(max_len));
  if (o.freeze_layers > config.num_hidden_layers)
    throw UsageError("--freeze-layers: must be an integer in 0.." + std::to_string(config.num_hidden_layers) +
                     " (num_hidden_layers of " + o.init + "/config.json), got " + std::to_string(o.freeze_layers));
  if (!(o.dropout < 1))  // NaN too
    throw UsageError("--dropout: must be a finite number in [0, 1), got " + std::to_string(o.dropout));
}

// The labelled sets of a run and what the model learns to output for them.
struct Sets {
  io::LabelledDataset train, dev;
  std::optional<io::LabelledDataset> test;
  Targets train_t, dev_t, test_t;
  // Class names (classification) or label names (multi-label), in output
  // order; empty for regression.
  std::vector<std::string> names;
  int outputs = 0;
};

// Classification reuses the training set's label map for dev and test;
// regression and multi-label read their label strings themselves.
Sets read_sets(const FinetuneOptions& o, Task task, const std::function<void(const std::string&)>& say) {
  Sets s;
  s.train = read(o.train, std::nullopt);
  const bool shared_map = task == Task::Classification;
  s.dev = read(o.dev, shared_map ? std::optional(s.train.label_map) : std::nullopt);
  if (!o.test.empty()) s.test = read(o.test, shared_map ? std::optional(s.train.label_map) : std::nullopt);
  std::vector<std::string> label_names;
  if (task == Task::MultiLabel) {
    std::set<std::string> names;
    for (const auto& entry : s.train.label_map.names())
      for (const auto& n : split(entry, ';')) names.insert(n);
    label_names.assign(names.begin(), names.end());
  }
  s.train_t = make_targets(task, s.train, o.train, label_names);
  s.dev_t = make_targets(task, s.dev, o.dev, label_names);
  if (s.test) s.test_t = make_targets(task, *s.test, o.test, label_names);
  if (task == Task::Classification) warn_rare_classes(s.train, s.dev, o.train, o.dev, say);
  s.outputs = s.train_t.outputs;
  if (task == Task::Classification && s.outputs < 2)
    throw Error(o.train + ": fine-tuning needs at least two classes, found " + std::to_string(s.outputs));
  if (task == Task::MultiLabel && s.outputs < 1) throw Error(o.train + ": no labels found");
  s.names = task == Task::Classification ? s.train_t.names : label_names;
  return s;
}

// The pretrained config with the new head: outputs, dropout, and HF's
// architecture, problem type and label names.
BertConfig head_config(BertConfig config, const FinetuneOptions& o, Task task, const Sets& s) {
  config.num_labels = s.outputs;
  if (o.dropout >= 0) config.hidden_dropout_prob = config.attention_probs_dropout_prob = o.dropout;
  config.extra["architectures"] = {"BertForSequenceClassification"};
  config.extra["problem_type"] = task == Task::Classification ? "single_label_classification"
                                 : task == Task::Regression   ? "regression"
                                                              : "multi_label_classification";
  if (!s.names.empty()) {
    nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
    for (int i = 0; i < s.outputs; ++i) {
      id2label[std::to_string(i)] = s.names[static_cast<size_t>(i)];
      label2id[s.names[static_cast<size_t>(i)]] = i;
    }
    config.extra["id2label"] = id2label;
    config.extra["label2id"] = label2id;
  }
  return config;
}

// The examples of a set, checked against the tokenizer's k. `name` is its file.
std::vector<io::Example> tokenize(const io::LabelledDataset& d, const std::string& name,
                                  const tokenizer::KmerTokenizer& tok) {
  const int k = tok.k();
  if (d.sentence_k && d.sentence_k != k)
    throw Error(name + ": the data holds " + std::to_string(d.sentence_k) + "-mer sentences but the model uses k=" +
                std::to_string(k));
  // A sequence shorter than k has no k-mer: it would be trained on or scored as [CLS] [SEP] alone.
  if (d.input == tokenizer::Input::Sequence)
    for (const std::vector<std::string>* texts : {&d.texts, &d.texts_b})
      for (size_t i = 0; i < texts->size(); ++i)
        if ((*texts)[i].size() < static_cast<size_t>(k))
          throw Error(name + ": example " + std::to_string(i + 1) + ": a sequence of " +
                      std::to_string((*texts)[i].size()) + " bases is shorter than k=" + std::to_string(k) +
                      ", so it has no k-mer");
  return io::tokenize_dataset(d, tok);
}

// The embeddings and the first `layers` encoder layers (none if layers < 0).
std::vector<size_t> frozen_params(const engine::ParamSet& params, int layers) {
  std::vector<size_t> frozen;
  for (size_t i = 0; i < params.size() && layers >= 0; ++i) {
    const std::string& n = params.name(i);
    bool f = n.rfind("bert.embeddings.", 0) == 0;
    for (int l = 0; l < layers; ++l) f = f || n.rfind("bert.encoder.layer." + std::to_string(l) + ".", 0) == 0;
    if (f) frozen.push_back(i);
  }
  return frozen;
}

// One fine-tuning run. Data parallelism as in pretraining: every rank plans
// the same batches and trains on its shards of each; only the lead rank
// evaluates and writes.
class Finetuning {
 public:
  Finetuning(const FinetuneOptions& o, const FinetuneCallbacks& cb);
  FinetuneResult run();

 private:
  void say(const std::string& m) const {
    if (cb_.on_message) cb_.on_message(m);
  }
  void build_model();
  void tokenize_sets();
  void make_trainer();
  MicroLoss shard_loss(std::span<const size_t> rows, const MicroBatch& m, Tape& tape);
  bool train_epoch(int epoch);
  bool evaluate_dev(int epoch, double train_loss);
  void write_results();

  const FinetuneOptions& o_;
  const bool lead_;
  const FinetuneCallbacks cb_;  // empty on all but the lead rank
  const Task task_;
  const std::string metric_;
  const int shards_;  // micro-batches a batch is cut into
  const std::string best_dir_;
  io::CheckpointData init_;  // the pretrained model
  BertConfig config_;
  int max_len_ = 0;
  Sets sets_;
  std::unique_ptr<Bert> model_;
  std::unique_ptr<tokenizer::KmerTokenizer> tok_;
  std::vector<io::Example> train_ex_, dev_ex_, test_ex_;
  std::unique_ptr<io::Batcher> batcher_;
  io::Batch batch_;
  int64_t steps_per_epoch_ = 0, total_ = 0;
  std::unique_ptr<Trainer> trainer_;
  std::optional<RunLog> log_;
  FinetuneResult result_;
  double best_score_ = -INFINITY;
  int since_best_ = 0;
  double last_lr_ = 0;       // the learning rate of the latest update
  double eval_loss_sum_ = 0;  // training loss since the previous evaluation
  int64_t eval_loss_n_ = 0;
  Evaluation best_eval_;
};

Finetuning::Finetuning(const FinetuneOptions& o, const FinetuneCallbacks& cb)
    : o_(checked(o)),
      lead_(engine::dist::is_lead()),
      cb_(lead_ ? cb : FinetuneCallbacks{}),
      task_(parse_task(o.task)),
      metric_(o.metric.empty() ? default_metric(task_) : o.metric),
      shards_(o.shards > 0 ? o.shards : engine::dist::size()),
      best_dir_((fs::path(o.out) / "best").string()) {
  if (lead_) fs::create_directories(o_.out);
  // The model's config first: options that must fit it fail before the data is read.
  init_ = io::read_checkpoint(o_.init, false);
  config_ = BertConfig::from_json(init_.config, o_.init + "/config.json");
  max_len_ = o_.max_len > 0 ? o_.max_len : config_.max_position_embeddings;
  check_against_config(o_, config_, max_len_);
  sets_ = read_sets(o_, task_, [this](const std::string& m) { say(m); });
  build_model();
  tokenize_sets();
  make_trainer();
  log_.emplace(o_.out);
}

// The pretrained encoder, a new pooler and head (as HF does).
void Finetuning::build_model() {
  config_ = head_config(config_, o_, task_, sets_);
  tokenizer::Vocab vocab = vocab_from_text(init_.vocab_text, o_.init + "/vocab.txt");
  if (!o_.random_init)
    check_weights_match_config(init_.weights, config_, o_.init + "/config.json", o_.init + "/model.safetensors");
  model_ = std::make_unique<Bert>(config_, Heads::Classification, o_.seed);
  std::vector<std::string> fresh;
  if (o_.random_init)
    say("random initialisation (--random-init): only config.json and vocab.txt of " + o_.init + " are used");
  else
    fresh = model_->load_weights(init_.weights, o_.init + "/model.safetensors", {"bert.pooler.", "classifier."});
  if (!fresh.empty())
    say("new head (not in the pretrained model, initialised N(0, 0.02)): " + std::to_string(fresh.size()) + " tensors");
  tokenizer::TokenizerOptions topt;
  topt.max_len = static_cast<size_t>(max_len_);
  tok_ = std::make_unique<tokenizer::KmerTokenizer>(std::move(vocab), topt);
}

void Finetuning::tokenize_sets() {
  train_ex_ = tokenize(sets_.train, o_.train, *tok_);
  dev_ex_ = tokenize(sets_.dev, o_.dev, *tok_);
  if (sets_.test) test_ex_ = tokenize(*sets_.test, o_.test, *tok_);
  const int C = sets_.outputs;
  say("data: train " + std::to_string(train_ex_.size()) + ", dev " + std::to_string(dev_ex_.size()) +
      (sets_.test ? ", test " + std::to_string(test_ex_.size()) : std::string()) + " examples; task " + o_.task +
      " with " + std::to_string(C) + " output" + (C > 1 ? "s" : "") + "; k=" + std::to_string(tok_->k()) +
      ", max-len " + std::to_string(max_len_) + "; selecting by dev " + metric_);
}

void Finetuning::make_trainer() {
  io::BatcherOptions bo;
  bo.batch_size = static_cast<size_t>(o_.batch);
  bo.seed = o_.seed;
  batcher_ = std::make_unique<io::Batcher>(train_ex_, bo);
  steps_per_epoch_ = static_cast<int64_t>(batcher_->num_batches());
  total_ = steps_per_epoch_ * o_.epochs;
  if (o_.eval_steps < 0) throw UsageError("finetune: --eval-steps must not be negative");
  TrainerOptions t;
  t.adamw.lr = o_.lr;
  t.adamw.weight_decay = o_.weight_decay;
  t.adamw.total_steps = total_;
  t.adamw.warmup_steps = o_.warmup_steps >= 0
                             ? std::min(o_.warmup_steps, total_)
                             : static_cast<int64_t>(std::llround(o_.warmup_ratio * static_cast<double>(total_)));
  if (o_.warmup_steps > total_)
    say("warm-up: " + std::to_string(o_.warmup_steps) + " steps asked, but training has only " +
        std::to_string(total_) + ": warming up over all of them");
  t.reduction = Reduction::Sum;
  t.frozen = frozen_params(model_->params(), o_.freeze_layers);
  t.command = "finetune";
  t.divergence_advice = [this] {
    char lr[32];
    std::snprintf(lr, sizeof lr, "%g", o_.lr);
    const bool kept = fs::exists(best_dir_ + "/model.safetensors");
    return "lower --lr (now " + std::string(lr) + ")" +
           (task_ == Task::Regression ? " or rescale the labels (regression targets far from 1 make huge losses)" : "") +
           (kept ? "; the best checkpoint so far, " + best_dir_ + ", is kept" : "; no model is written");
  };
  t.config = config_.to_json();
  t.vocab_text = init_.vocab_text;
  t.on_message = [this](const std::string& m) { say(m); };
  trainer_ = std::make_unique<Trainer>(*model_, std::move(t));
}

// Micro-batch m of a batch of `rows`: its shard of the rows, whose loss is
// weighted by its share of them, so the shards' losses add up to the batch mean.
MicroLoss Finetuning::shard_loss(std::span<const size_t> rows, const MicroBatch& m, Tape& tape) {
  const size_t r0 = rows.size() * static_cast<size_t>(m.index) / static_cast<size_t>(shards_),
               r1 = rows.size() * static_cast<size_t>(m.index + 1) / static_cast<size_t>(shards_);
  if (r1 <= r0) return {};
  batcher_->make_batch(rows.subspan(r0, r1 - r0), batch_);
  const io::Batch& b = batch_;
  const int64_t B = static_cast<int64_t>(b.B), T = static_cast<int64_t>(b.T), C = sets_.outputs;
  engine::Arena& arena = tape.arena();
  const DropoutKey key{o_.seed, m.key};
  Tensor logits =
      model_->classify(tape, model_->encode(tape, bert_inputs(b, arena), key, nullptr, Bert::cls_rows(tape, B, T)), key);
  Tensor loss;
  if (task_ == Task::Classification) {
    loss = ops::cross_entropy(tape, logits, Tensor::from_ints({B}, b.labels, &arena));
  } else {
    std::vector<float> target(static_cast<size_t>(B * C));
    for (int64_t r = 0; r < B; ++r)
      std::copy_n(sets_.train_t.values.begin() + static_cast<int64_t>(b.example_indices[r]) * C, C,
                  target.begin() + r * C);
    Tensor tt = Tensor::from_vector({B, C}, target, &arena);
    loss = task_ == Task::Regression ? ops::mse_loss(tape, logits, tt) : ops::bce_with_logits(tape, logits, tt);
  }
  return {loss, static_cast<float>(r1 - r0) / static_cast<float>(rows.size())};
}

// One epoch; true when early stopping ends the run.
bool Finetuning::train_epoch(int epoch) {
  double loss_sum = 0;
  int64_t n = 0;
  for (const std::vector<size_t>& rows : batcher_->plan(static_cast<uint64_t>(epoch))) {
    const TrainStep st = trainer_->step(
        shards_, [&](const MicroBatch& m, Tape& tape) { return shard_loss(rows, m, tape); });
    last_lr_ = st.lr;
    for (double l : st.micro_losses) {
      loss_sum += l;
      eval_loss_sum_ += l;
    }
    ++n;
    ++eval_loss_n_;
    if (cb_.on_step) cb_.on_step(st.step, total_, loss_sum / static_cast<double>(n));
    // With eval_steps, as HF's evaluation_strategy "steps": every eval_steps steps, and after the last one.
    if (o_.eval_steps > 0 && (st.step % o_.eval_steps == 0 || st.step == total_) &&
        evaluate_dev(epoch, eval_loss_sum_ / static_cast<double>(eval_loss_n_)))
      return true;
  }
  return o_.eval_steps == 0 && evaluate_dev(epoch, n ? loss_sum / static_cast<double>(n) : 0);
}

// Scores dev after the latest update, keeps the checkpoint if it is the best
// so far, and tells whether to stop early. train_loss: the mean loss since the
// previous evaluation.
bool Finetuning::evaluate_dev(int epoch, double train_loss) {
  eval_loss_sum_ = 0;
  eval_loss_n_ = 0;
  // The lead rank scores dev; every rank needs the score to agree on the best checkpoint and early stopping.
  Evaluation ev;
  if (lead_) ev = evaluate(*model_, sets_.dev_t, dev_ex_, o_.batch, metric_, trainer_->arena());
  engine::dist::broadcast(&ev.score, sizeof ev.score);
  FinetuneEvaluation e;
  e.epoch = epoch;
  e.epochs = o_.epochs;
  e.step = trainer_->step_count();
  e.total_steps = total_;
  e.train_loss = train_loss;
  e.lr = last_lr_;
  e.dev = ev.classification;
  e.dev_json = ev.json;
  e.score = ev.score;
  e.best = ev.score > best_score_ || (std::isinf(best_score_) && !std::isnan(ev.score) && result_.best_step == 0);
  log_->write({{"epoch", epoch},
               {"step", e.step},
               {"epochs_done", static_cast<double>(e.step) / static_cast<double>(steps_per_epoch_)},
               {"lr", last_lr_},
               {"train_loss", train_loss},
               {"dev", ev.json}});
  if (e.best && lead_) {
    best_eval_ = ev;
    trainer_->save_model(best_dir_);
    if (!sets_.names.empty()) io::LabelMap::from_labels(sets_.names).save(best_dir_ + "/label_map.json");
  }
  if (e.best) {
    best_score_ = ev.score;
    since_best_ = 0;
    result_.best_epoch = epoch;
    result_.best_step = e.step;
  } else {
    ++since_best_;
  }
  if (cb_.on_evaluation) cb_.on_evaluation(e);
  if (o_.early_stop == 0 || since_best_ < o_.early_stop) return false;
  say("early stop: no better dev " + metric_ + " for " + std::to_string(since_best_) +
      (o_.eval_steps > 0 ? " evaluations" : " epochs"));
  return true;
}

// The best checkpoint on test, and the results files.
void Finetuning::write_results() {
  const int C = sets_.outputs;
  result_.best_dev = best_eval_.classification;
  result_.best_dev_json = best_eval_.json;
  result_.best_score = best_score_;
  nlohmann::json results = {{"task", o_.task}, {"metric", metric_}, {"best_epoch", result_.best_epoch},
                            {"best_step", result_.best_step}, {"dev", best_eval_.json}};
  std::string tsv = "split\t" + best_eval_.tsv_header + "\n" + "dev\t" + best_eval_.tsv_row + "\n";
  std::string confusion;
  if (task_ == Task::Classification)
    confusion = "dev (best checkpoint: epoch " + std::to_string(result_.best_epoch) + ", step " +
                std::to_string(result_.best_step) + "):\n" +
                format_confusion_matrix(best_eval_.classification.confusion, C, sets_.names);
  if (sets_.test) {
    LoadedModel best = load_model(best_dir_, Heads::Classification);
    Evaluation te = evaluate(*best.model, sets_.test_t, test_ex_, o_.batch, metric_, trainer_->arena());
    result_.test = te.classification;
    result_.test_json = te.json;
    result_.has_test = true;
    results["test"] = te.json;
    tsv += "test\t" + te.tsv_row + "\n";
    if (task_ == Task::Classification)
      confusion += "\ntest:\n" + format_confusion_matrix(te.classification.confusion, C, sets_.names);
  }
  io::write_file_atomic((fs::path(o_.out) / "eval_results.json").string(), results.dump(2) + "\n");
  io::write_file_atomic((fs::path(o_.out) / "eval_results.tsv").string(), tsv);
  if (!confusion.empty()) io::write_file_atomic((fs::path(o_.out) / "confusion_matrix.txt").string(), confusion);
}

FinetuneResult Finetuning::run() {
  for (int epoch = 1; epoch <= o_.epochs; ++epoch)
    if (train_epoch(epoch)) break;
  result_.metric = metric_;
  result_.best_dir = best_dir_;
  if (lead_) write_results();
  return result_;
}

}  // namespace

FinetuneResult finetune(const FinetuneOptions& o, const FinetuneCallbacks& callbacks) {
  return Finetuning(o, callbacks).run();
}

}  // namespace dnabert::models
