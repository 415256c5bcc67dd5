#include "models/finetune.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/error.h"
#include "io/atomic_file.h"
#include "io/batcher.h"
#include "io/checkpoint.h"
#include "models/bert.h"
#include "models/loading.h"
#include "models/optimizer.h"
#include "ops/ops.h"

namespace dnabert::models {

namespace {

namespace fs = std::filesystem;

std::vector<std::string> split_inputs(const std::string& spec) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    if (comma > start) parts.push_back(spec.substr(start, comma - start));
    start = comma + 1;
  }
  return parts;
}

io::LabelledDataset read(const std::string& spec, const std::optional<io::LabelMap>& map) {
  io::DatasetOptions opt;
  opt.label_map = map;
  return io::read_dataset(split_inputs(spec), opt);
}

// Class probabilities [N, C] of every example, in dataset order.
std::vector<float> predict_probs(const Bert& model, const std::vector<io::Example>& examples, int batch,
                                 engine::Arena& arena) {
  const int C = model.config().num_labels;
  std::vector<float> probs(examples.size() * static_cast<size_t>(C));
  io::BatcherOptions bo;
  bo.batch_size = static_cast<size_t>(batch);
  bo.shuffle = false;
  io::Batcher batcher(examples, bo);
  io::Batch b;
  for (const auto& rows : batcher.plan(0)) {
    batcher.make_batch(rows, b);
    const int64_t B = static_cast<int64_t>(b.B), T = static_cast<int64_t>(b.T);
    engine::Tape tape(arena, engine::Tape::Mode::Inference);
    BertInputs in{Tensor::from_ints({B, T}, b.input_ids, &arena), Tensor::from_ints({B, T}, b.token_types, &arena),
                  Tensor::from_ints({B, T}, b.attention_mask, &arena)};
    Tensor p = ops::softmax(tape, model.classify(tape, model.encode(tape, in, {}), {}));
    const float* pp = p.f32();
    for (int64_t r = 0; r < B; ++r)
      std::copy(pp + r * C, pp + (r + 1) * C, probs.begin() + static_cast<int64_t>(b.example_indices[r]) * C);
  }
  return probs;
}

ClassificationMetrics evaluate(const Bert& model, const std::vector<io::Example>& examples, int batch,
                               engine::Arena& arena) {
  std::vector<int32_t> labels;
  for (const auto& e : examples) labels.push_back(e.label);
  return compute_classification_metrics(labels, predict_probs(model, examples, batch, arena),
                                        model.config().num_labels);
}

}  // namespace

FinetuneResult finetune(const FinetuneOptions& o, const FinetuneCallbacks& cb) {
  auto say = [&](const std::string& m) {
    if (cb.on_message) cb.on_message(m);
  };
  if (o.init.empty() || o.train.empty() || o.dev.empty() || o.out.empty())
    throw UsageError("finetune: --init, --train, --dev and --out are required");
  if (o.epochs < 1 || o.batch < 1 || !(o.lr > 0)) throw UsageError("finetune: epochs, batch and lr must be positive");
  metric_by_name(ClassificationMetrics{}, o.metric);  // validates the name
  fs::create_directories(o.out);

  // Data: the label map comes from the training set and is reused for dev/test.
  io::LabelledDataset train = read(o.train, std::nullopt);
  io::LabelledDataset dev = read(o.dev, train.label_map);
  std::optional<io::LabelledDataset> test;
  if (!o.test.empty()) test = read(o.test, train.label_map);
  const int C = static_cast<int>(train.label_map.size());
  if (C < 2) throw Error(o.train + ": fine-tuning needs at least two classes, found " + std::to_string(C));

  // Model: the pretrained encoder, a new pooler and classifier (as HF does).
  io::CheckpointData ck = io::read_checkpoint(o.init, false);
  BertConfig config = BertConfig::from_json(ck.config, o.init + "/config.json");
  config.num_labels = C;
  if (o.dropout >= 0) config.hidden_dropout_prob = config.attention_probs_dropout_prob = o.dropout;
  config.extra["architectures"] = {"BertForSequenceClassification"};
  nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
  for (int i = 0; i < C; ++i) {
    id2label[std::to_string(i)] = train.label_map.name(i);
    label2id[train.label_map.name(i)] = i;
  }
  config.extra["id2label"] = id2label;
  config.extra["label2id"] = label2id;
  tokenizer::Vocab vocab = vocab_from_text(ck.vocab_text, o.init + "/vocab.txt");
  Bert model(config, Heads::Classification);
  model.init(o.seed);
  std::vector<std::string> fresh =
      model.load_weights(ck.weights, o.init + "/model.safetensors", {"bert.pooler.", "classifier."});
  if (!fresh.empty()) say("new head (not in the pretrained model, initialised N(0, 0.02)): " + std::to_string(fresh.size()) + " tensors");

  const int max_len = o.max_len > 0 ? o.max_len : config.max_position_embeddings;
  if (max_len > config.max_position_embeddings)
    throw UsageError("--max-len " + std::to_string(max_len) + " exceeds the model's max_position_embeddings " +
                     std::to_string(config.max_position_embeddings));
  tokenizer::TokenizerOptions topt;
  topt.max_len = static_cast<size_t>(max_len);
  tokenizer::KmerTokenizer tok(vocab, topt);
  auto tokenize = [&](const io::LabelledDataset& d, const std::string& name) {
    if (d.sentence_k && d.sentence_k != vocab.k())
      throw Error(name + ": the data holds " + std::to_string(d.sentence_k) + "-mer sentences but the model uses k=" +
                  std::to_string(vocab.k()));
    return io::tokenize_dataset(d, tok);
  };
  std::vector<io::Example> train_ex = tokenize(train, o.train), dev_ex = tokenize(dev, o.dev), test_ex;
  if (test) test_ex = tokenize(*test, o.test);
  say("data: train " + std::to_string(train_ex.size()) + ", dev " + std::to_string(dev_ex.size()) +
      (test ? ", test " + std::to_string(test_ex.size()) : std::string()) + " examples, " + std::to_string(C) +
      " classes, k=" + std::to_string(vocab.k()) + ", max-len " + std::to_string(max_len));

  io::BatcherOptions bo;
  bo.batch_size = static_cast<size_t>(o.batch);
  bo.seed = o.seed;
  io::Batcher batcher(train_ex, bo);
  const int64_t steps_per_epoch = static_cast<int64_t>(batcher.num_batches());
  const int64_t total = steps_per_epoch * o.epochs;
  AdamWOptions ao;
  ao.lr = o.lr;
  ao.weight_decay = o.weight_decay;
  ao.total_steps = total;
  ao.warmup_steps = static_cast<int64_t>(std::llround(o.warmup_ratio * static_cast<double>(total)));
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
  std::ofstream log((fs::path(o.out) / "log.jsonl").string(), std::ios::trunc);
  FinetuneResult result;
  double best_score = -INFINITY;
  int since_best = 0;
  int64_t step = 0;
  io::Batch b;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    batcher.start_epoch(static_cast<uint64_t>(epoch));
    double loss_sum = 0;
    int64_t n = 0;
    while (batcher.next(b)) {
      const int64_t B = static_cast<int64_t>(b.B), T = static_cast<int64_t>(b.T);
      engine::Tape tape(arena);
      BertInputs in{Tensor::from_ints({B, T}, b.input_ids, &arena), Tensor::from_ints({B, T}, b.token_types, &arena),
                    Tensor::from_ints({B, T}, b.attention_mask, &arena)};
      const DropoutKey key{o.seed, static_cast<uint64_t>(step)};
      Tensor logits = model.classify(tape, model.encode(tape, in, key), key);
      Tensor loss = ops::cross_entropy(tape, logits, Tensor::from_ints({B}, b.labels, &arena));
      params.zero_grad();
      tape.backward(loss);
      opt.step();
      for (size_t j = 0; j < frozen.size(); ++j) params[frozen[j]].copy_from(frozen_values[j]);
      ++step;
      loss_sum += loss.to_vector()[0];
      ++n;
      if (cb.on_step) cb.on_step(step, total, loss_sum / static_cast<double>(n));
    }
    FinetuneEpoch ep;
    ep.epoch = epoch;
    ep.epochs = o.epochs;
    ep.train_loss = n ? loss_sum / static_cast<double>(n) : 0;
    ep.dev = evaluate(model, dev_ex, o.batch, arena);
    const double score = metric_by_name(ep.dev, o.metric);
    ep.best = score > best_score || (std::isnan(best_score) && !std::isnan(score));
    nlohmann::json line = {{"epoch", epoch}, {"step", step}, {"train_loss", ep.train_loss}, {"dev", ep.dev.to_json()}};
    log << line.dump() << "\n" << std::flush;
    if (ep.best) {
      best_score = score;
      since_best = 0;
      result.best_dev = ep.dev;
      result.best_epoch = epoch;
      io::CheckpointData out;
      out.config = config.to_json();
      for (size_t i = 0; i < params.size(); ++i) out.weights.push_back({params.name(i), params[i]});
      out.vocab_text = ck.vocab_text;
      io::write_checkpoint(best_dir, out);
      train.label_map.save(best_dir + "/label_map.json");
    } else {
      ++since_best;
    }
    if (cb.on_epoch) cb.on_epoch(ep);
    if (o.early_stop > 0 && since_best >= o.early_stop) {
      say("early stop: no better dev " + o.metric + " for " + std::to_string(since_best) + " epochs");
      break;
    }
  }

  // The best checkpoint on test.
  result.best_dir = best_dir;
  nlohmann::json results = {{"metric", o.metric}, {"best_epoch", result.best_epoch}, {"dev", result.best_dev.to_json()}};
  std::string tsv = "split\t" + ClassificationMetrics::to_tsv_header() + "\n" + "dev\t" + result.best_dev.to_tsv_row() + "\n";
  std::string confusion = "dev (best epoch " + std::to_string(result.best_epoch) + "):\n" +
                          format_confusion_matrix(result.best_dev.confusion, C, train.label_map.names());
  if (test) {
    LoadedModel best = load_model(best_dir, Heads::Classification);
    result.test = evaluate(*best.model, test_ex, o.batch, arena);
    result.has_test = true;
    results["test"] = result.test.to_json();
    tsv += "test\t" + result.test.to_tsv_row() + "\n";
    confusion += "\ntest:\n" + format_confusion_matrix(result.test.confusion, C, train.label_map.names());
  }
  io::write_file_atomic((fs::path(o.out) / "eval_results.json").string(), results.dump(2) + "\n");
  io::write_file_atomic((fs::path(o.out) / "eval_results.tsv").string(), tsv);
  io::write_file_atomic((fs::path(o.out) / "confusion_matrix.txt").string(), confusion);
  return result;
}

}  // namespace dnabert::models
