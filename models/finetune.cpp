#include "models/finetune.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "engine/distributed.h"
#include "engine/error.h"
#include "io/atomic_file.h"
#include "io/batcher.h"
#include "io/checkpoint.h"
#include "models/bert.h"
#include "models/divergence.h"
#include "models/loading.h"
#include "models/optimizer.h"
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

}  // namespace

FinetuneResult finetune(const FinetuneOptions& o, const FinetuneCallbacks& cb_all) {
  // Data parallelism as in pretraining: every rank plans the same batches and
  // trains on its shards of each; only the lead rank evaluates and writes.
  const int ranks = engine::dist::size();
  const bool lead = engine::dist::is_lead();
  const FinetuneCallbacks cb = lead ? cb_all : FinetuneCallbacks{};
  const int shards = o.shards > 0 ? o.shards : ranks;
  if (shards % ranks != 0)
    throw UsageError("finetune: --shards " + std::to_string(shards) + " is not a multiple of the " +
                     std::to_string(ranks) + " ranks");
  const int first_shard = engine::dist::rank() * (shards / ranks), end_shard = first_shard + shards / ranks;
  auto say = [&](const std::string& m) {
    if (cb.on_message) cb.on_message(m);
  };
  if (o.init.empty() || o.train.empty() || o.dev.empty() || o.out.empty())
    throw UsageError("finetune: --init, --train, --dev and --out are required");
  if (o.epochs < 1 || o.batch < 1 || !(o.lr > 0)) throw UsageError("finetune: epochs, batch and lr must be positive");
  const Task task = parse_task(o.task);
  const std::string metric = o.metric.empty() ? default_metric(task) : o.metric;
  check_metric(task, metric);
  if (lead) fs::create_directories(o.out);

  // The model's config first: options that must fit it fail before the data is read.
  io::CheckpointData ck = io::read_checkpoint(o.init, false);
  BertConfig config = BertConfig::from_json(ck.config, o.init + "/config.json");
  const int max_len = o.max_len > 0 ? o.max_len : config.max_position_embeddings;
  if (max_len < 3 || max_len > config.max_position_embeddings)
    throw UsageError("--max-len: must be an integer in 3.." + std::to_string(config.max_position_embeddings) +
                     " (max_position_embeddings of " + o.init + "/config.json), got " + std::to_string(max_len));
  if (o.freeze_layers > config.num_hidden_layers)
    throw UsageError("--freeze-layers: must be an integer in 0.." + std::to_string(config.num_hidden_layers) +
                     " (num_hidden_layers of " + o.init + "/config.json), got " + std::to_string(o.freeze_layers));
  if (!(o.dropout < 1))  // NaN too
    throw UsageError("--dropout: must be a finite number in [0, 1), got " + std::to_string(o.dropout));

  // Data. Classification reuses the training set's label map for dev and test;
  // regression and multi-label read their label strings themselves.
  io::LabelledDataset train = read(o.train, std::nullopt);
  const bool shared_map = task == Task::Classification;
  io::LabelledDataset dev = read(o.dev, shared_map ? std::optional(train.label_map) : std::nullopt);
  std::optional<io::LabelledDataset> test;
  if (!o.test.empty()) test = read(o.test, shared_map ? std::optional(train.label_map) : std::nullopt);
  std::vector<std::string> label_names;
  if (task == Task::MultiLabel) {
    std::set<std::string> names;
    for (const auto& entry : train.label_map.names())
      for (const auto& n : split(entry, ';')) names.insert(n);
    label_names.assign(names.begin(), names.end());
  }
  const Targets train_t = make_targets(task, train, o.train, label_names), dev_t = make_targets(task, dev, o.dev, label_names);
  Targets test_t;
  if (test) test_t = make_targets(task, *test, o.test, label_names);
  if (task == Task::Classification) warn_rare_classes(train, dev, o.train, o.dev, say);
  const int C = train_t.outputs;
  if (task == Task::Classification && C < 2)
    throw Error(o.train + ": fine-tuning needs at least two classes, found " + std::to_string(C));
  if (task == Task::MultiLabel && C < 1) throw Error(o.train + ": no labels found");

  // Model: the pretrained encoder, a new pooler and head (as HF does).
  config.num_labels = C;
  if (o.dropout >= 0) config.hidden_dropout_prob = config.attention_probs_dropout_prob = o.dropout;
  config.extra["architectures"] = {"BertForSequenceClassification"};
  config.extra["problem_type"] = task == Task::Classification ? "single_label_classification"
                                 : task == Task::Regression   ? "regression"
                                                              : "multi_label_classification";
  const std::vector<std::string>& names = task == Task::Classification ? train_t.names : label_names;
  if (!names.empty()) {
    nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
    for (int i = 0; i < C; ++i) {
      id2label[std::to_string(i)] = names[static_cast<size_t>(i)];
      label2id[names[static_cast<size_t>(i)]] = i;
    }
    config.extra["id2label"] = id2label;
    config.extra["label2id"] = label2id;
  }
  tokenizer::Vocab vocab = vocab_from_text(ck.vocab_text, o.init + "/vocab.txt");
  if (!o.random_init) check_weights_match_config(ck.weights, config, o.init + "/config.json", o.init + "/model.safetensors");
  Bert model(config, Heads::Classification, o.seed);
  std::vector<std::string> fresh;
  if (o.random_init)
    say("random initialisation (--random-init): only config.json and vocab.txt of " + o.init + " are used");
  else
    fresh = model.load_weights(ck.weights, o.init + "/model.safetensors", {"bert.pooler.", "classifier."});
  if (!fresh.empty())
    say("new head (not in the pretrained model, initialised N(0, 0.02)): " + std::to_string(fresh.size()) + " tensors");

  tokenizer::TokenizerOptions topt;
  topt.max_len = static_cast<size_t>(max_len);
  tokenizer::KmerTokenizer tok(vocab, topt);
  auto tokenize = [&](const io::LabelledDataset& d, const std::string& name) {
    if (d.sentence_k && d.sentence_k != vocab.k())
      throw Error(name + ": the data holds " + std::to_string(d.sentence_k) + "-mer sentences but the model uses k=" +
                  std::to_string(vocab.k()));
    // A sequence shorter than k has no k-mer: it would be trained on or scored as [CLS] [SEP] alone.
    if (d.input == tokenizer::Input::Sequence)
      for (const std::vector<std::string>* texts : {&d.texts, &d.texts_b})
        for (size_t i = 0; i < texts->size(); ++i)
          if ((*texts)[i].size() < static_cast<size_t>(vocab.k()))
            throw Error(name + ": example " + std::to_string(i + 1) + ": a sequence of " +
                        std::to_string((*texts)[i].size()) + " bases is shorter than k=" + std::to_string(vocab.k()) +
                        ", so it has no k-mer");
    return io::tokenize_dataset(d, tok);
  };
  std::vector<io::Example> train_ex = tokenize(train, o.train), dev_ex = tokenize(dev, o.dev), test_ex;
  if (test) test_ex = tokenize(*test, o.test);
  say("data: train " + std::to_string(train_ex.size()) + ", dev " + std::to_string(dev_ex.size()) +
      (test ? ", test " + std::to_string(test_ex.size()) : std::string()) + " examples; task " + o.task + " with " +
      std::to_string(C) + " output" + (C > 1 ? "s" : "") + "; k=" + std::to_string(vocab.k()) + ", max-len " +
      std::to_string(max_len) + "; selecting by dev " + metric);

  io::BatcherOptions bo;
  bo.batch_size = static_cast<size_t>(o.batch);
  bo.seed = o.seed;
  io::Batcher batcher(train_ex, bo);
  const int64_t steps_per_epoch = static_cast<int64_t>(batcher.num_batches());
  const int64_t total = steps_per_epoch * o.epochs;
  if (o.eval_steps < 0) throw UsageError("finetune: --eval-steps must not be negative");
  AdamWOptions ao;
  ao.lr = o.lr;
  ao.weight_decay = o.weight_decay;
  ao.total_steps = total;
  ao.warmup_steps = o.warmup_steps >= 0 ? std::min(o.warmup_steps, total)
                                        : static_cast<int64_t>(std::llround(o.warmup_ratio * static_cast<double>(total)));
  if (o.warmup_steps > total)
    say("warm-up: " + std::to_string(o.warmup_steps) + " steps asked, but training has only " + std::to_string(total) +
        ": warming up over all of them");
  engine::ParamSet& params = model.params();
  AdamW opt(params, ao);

  // Frozen parameters: the embeddings and the first N layers are restored after every update.
  std::vector<size_t> frozen;
  for (size_t i = 0; i < params.size() && o.freeze_layers >= 0; ++i) {
    const std::string& n = params.name(i);
    bool f = n.rfind("bert.embeddings.", 0) == 0;
    for (int l = 0; l < o.freeze_layers; ++l) f = f || n.rfind("bert.encoder.layer." + std::to_string(l) + ".", 0) == 0;
    if (f) frozen.push_back(i);
  }
  std::vector<Tensor> frozen_values;
  for (size_t i : frozen) frozen_values.push_back(params[i].clone());

  engine::Arena arena;
  const std::string best_dir = (fs::path(o.out) / "best").string();
  std::ofstream log;
  if (lead) log.open((fs::path(o.out) / "log.jsonl").string(), std::ios::trunc);
  FinetuneResult result;
  result.metric = metric;
  double best_score = -INFINITY;
  int since_best = 0;
  int64_t step = 0;
  double last_lr = 0;  // the learning rate of the latest update
  Evaluation best_eval;
  io::Batch b;
  engine::dist::GradientSum gradient(params, model.layer_offsets());
  if (engine::dist::size() > 1)
    say(gradient.overlapping() ? "gradient exchange: overlapped with the backward pass, layer by layer"
                               : "gradient exchange: after the backward pass");
  // The loss of rows `rows` of a batch of `batch_rows`, backpropagated with
  // the weight rows/batch_rows (the shards' losses add up to the batch mean).
  auto shard_loss = [&](std::span<const size_t> rows, size_t batch_rows, uint64_t dropout_counter, bool last) {
    batcher.make_batch(rows, b);
    const int64_t B = static_cast<int64_t>(b.B), T = static_cast<int64_t>(b.T);
    engine::Tape tape(arena);
    // This rank's last shard: its gradients go to the other ranks while its backward pass runs.
    if (last) tape.set_grads_ready_hook(gradient.ready_hook());
    const DropoutKey key{o.seed, dropout_counter};
    Tensor logits =
        model.classify(tape, model.encode(tape, bert_inputs(b, arena), key, nullptr, Bert::cls_rows(tape, B, T)), key);
    Tensor loss;
    if (task == Task::Classification) {
      loss = ops::cross_entropy(tape, logits, Tensor::from_ints({B}, b.labels, &arena));
    } else {
      std::vector<float> target(static_cast<size_t>(B * C));
      for (int64_t r = 0; r < B; ++r)
        std::copy_n(train_t.values.begin() + static_cast<int64_t>(b.example_indices[r]) * C, C,
                    target.begin() + r * C);
      Tensor tt = Tensor::from_vector({B, C}, target, &arena);
      loss = task == Task::Regression ? ops::mse_loss(tape, logits, tt) : ops::bce_with_logits(tape, logits, tt);
    }
    const float weight = static_cast<float>(rows.size()) / static_cast<float>(batch_rows);
    tape.backward(loss, Tensor::full(loss.shape(), weight, &arena));
    return static_cast<double>(weight) * loss.to_vector()[0];
  };
  // Scores dev after optimiser step `step` of epoch `epoch`, keeps the checkpoint if it is the best so far,
  // and tells whether to stop early. train_loss: the mean loss since the previous evaluation.
  auto evaluate_now = [&](int epoch, double train_loss) {
    // The lead rank scores dev; every rank needs the score to agree on the best checkpoint and early stopping.
    Evaluation ev;
    if (lead) ev = evaluate(model, dev_t, dev_ex, o.batch, metric, arena);
    engine::dist::broadcast(&ev.score, sizeof ev.score);
    FinetuneEvaluation e;
    e.epoch = epoch;
    e.epochs = o.epochs;
    e.step = step;
    e.total_steps = total;
    e.train_loss = train_loss;
    e.lr = last_lr;
    e.dev = ev.classification;
    e.dev_json = ev.json;
    e.score = ev.score;
    e.best = ev.score > best_score || (std::isinf(best_score) && !std::isnan(ev.score) && result.best_step == 0);
    if (lead)
      log << nlohmann::json{{"epoch", epoch},
                            {"step", step},
                            {"epochs_done", static_cast<double>(step) / static_cast<double>(steps_per_epoch)},
                            {"lr", last_lr},
                            {"train_loss", train_loss},
                            {"dev", ev.json}}
                 .dump()
          << "\n"
          << std::flush;
    if (e.best && lead) {
      best_eval = ev;
      io::CheckpointData out;
      out.config = config.to_json();
      for (size_t i = 0; i < params.size(); ++i) out.weights.push_back({params.name(i), params[i]});
      out.vocab_text = ck.vocab_text;
      io::write_checkpoint(best_dir, out);
      if (!names.empty()) io::LabelMap::from_labels(names).save(best_dir + "/label_map.json");
    }
    if (e.best) {
      best_score = ev.score;
      since_best = 0;
      result.best_epoch = epoch;
      result.best_step = step;
    } else {
      ++since_best;
    }
    if (cb.on_evaluation) cb.on_evaluation(e);
    if (o.early_stop > 0 && since_best >= o.early_stop) {
      say("early stop: no better dev " + metric + " for " + std::to_string(since_best) +
          (o.eval_steps > 0 ? " evaluations" : " epochs"));
      return true;
    }
    return false;
  };
  DivergenceGuard divergence("finetune", [&] {
    char lr[32];
    std::snprintf(lr, sizeof lr, "%g", o.lr);
    const bool kept = fs::exists(best_dir + "/model.safetensors");
    return "lower --lr (now " + std::string(lr) + ")" +
           (task == Task::Regression ? " or rescale the labels (regression targets far from 1 make huge losses)" : "") +
           (kept ? "; the best checkpoint so far, " + best_dir + ", is kept" : "; no model is written");
  });
  double eval_loss_sum = 0;  // training loss since the previous evaluation
  int64_t eval_loss_n = 0;
  bool stop = false;
  for (int epoch = 1; epoch <= o.epochs && !stop; ++epoch) {
    double loss_sum = 0;
    int64_t n = 0;
    for (const std::vector<size_t>& rows : batcher.plan(static_cast<uint64_t>(epoch))) {
      // Each shard's weighted loss, set by the rank that ran it (so summing over ranks is exact).
      std::vector<double> losses(static_cast<size_t>(shards), 0.0);
      params.zero_grad();
      for (int s = first_shard; s < end_shard; ++s) {
        const size_t r0 = rows.size() * s / shards, r1 = rows.size() * (s + 1) / shards;
        if (r1 > r0)
          losses[s] = shard_loss(std::span(rows).subspan(r0, r1 - r0), rows.size(), step * shards + s,
                                 s + 1 == end_shard);
        if (s + 1 < end_shard) gradient.add();
      }
      gradient.finish();
      engine::dist::allreduce_sum(losses.data(), shards);
      double batch_loss = 0;
      for (double l : losses) batch_loss += l;
      divergence.check(step + 1, batch_loss);  // before the update it would apply
      last_lr = opt.step().lr;
      for (size_t j = 0; j < frozen.size(); ++j) params[frozen[j]].copy_from(frozen_values[j]);
      ++step;
      for (double l : losses) {
        loss_sum += l;
        eval_loss_sum += l;
      }
      ++n;
      ++eval_loss_n;
      if (cb.on_step) cb.on_step(step, total, loss_sum / static_cast<double>(n));
      // With eval_steps, as HF's evaluation_strategy "steps": every eval_steps steps, and after the last one.
      if (o.eval_steps > 0 && (step % o.eval_steps == 0 || step == total)) {
        stop = evaluate_now(epoch, eval_loss_sum / static_cast<double>(eval_loss_n));
        eval_loss_sum = 0;
        eval_loss_n = 0;
        if (stop) break;
      }
    }
    if (o.eval_steps == 0) {
      stop = evaluate_now(epoch, n ? loss_sum / static_cast<double>(n) : 0);
      eval_loss_sum = 0;
      eval_loss_n = 0;
    }
  }

  // The best checkpoint on test.
  result.best_dir = best_dir;
  if (!lead) return result;
  result.best_dev = best_eval.classification;
  result.best_dev_json = best_eval.json;
  result.best_score = best_score;
  nlohmann::json results = {{"task", o.task}, {"metric", metric}, {"best_epoch", result.best_epoch},
                            {"best_step", result.best_step}, {"dev", best_eval.json}};
  std::string tsv = "split\t" + best_eval.tsv_header + "\n" + "dev\t" + best_eval.tsv_row + "\n";
  std::string confusion;
  if (task == Task::Classification)
    confusion = "dev (best checkpoint: epoch " + std::to_string(result.best_epoch) + ", step " +
                std::to_string(result.best_step) + "):\n" +
                format_confusion_matrix(best_eval.classification.confusion, C, names);
  if (test) {
    LoadedModel best = load_model(best_dir, Heads::Classification);
    Evaluation te = evaluate(*best.model, test_t, test_ex, o.batch, metric, arena);
    result.test = te.classification;
    result.test_json = te.json;
    result.has_test = true;
    results["test"] = te.json;
    tsv += "test\t" + te.tsv_row + "\n";
    if (task == Task::Classification)
      confusion += "\ntest:\n" + format_confusion_matrix(te.classification.confusion, C, names);
  }
  io::write_file_atomic((fs::path(o.out) / "eval_results.json").string(), results.dump(2) + "\n");
  io::write_file_atomic((fs::path(o.out) / "eval_results.tsv").string(), tsv);
  if (!confusion.empty()) io::write_file_atomic((fs::path(o.out) / "confusion_matrix.txt").string(), confusion);
  return result;
}

}  // namespace dnabert::models
