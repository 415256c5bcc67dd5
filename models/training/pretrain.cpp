#include "models/training/pretrain.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "engine/distributed.h"
#include "base/error.h"
#include "io/formats/checkpoint.h"
#include "io/data/sampler.h"
#include "models/network/bert.h"
#include "models/network/init_schemes.h"
#include "models/network/loading.h"
#include "models/training/masking.h"
#include "models/training/mlm_eval.h"
#include "models/training/resume_state.h"
#include "models/training/trainer.h"
#include "tokenizer/kmer.h"

namespace dnabert::models {

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

std::string fingerprint(const PretrainOptions& o) {
  nlohmann::json j = {{"k", o.k},         {"max_len", o.max_len}, {"batch", o.batch},
                      {"grad_accum", o.grad_accum}, {"seed", o.seed}, {"mlm_probability", o.mlm_probability},
                      {"config", o.config.to_json()}};
  // Older checkpoints have no init keys: the defaults leave the fingerprint as it was.
  if (o.embedding_init != "normal") j["embedding_init"] = o.embedding_init;
  if (o.position_init != "normal") j["position_init"] = o.position_init;
  if (o.dropout >= 0) j["dropout"] = o.dropout;
  if (!o.init.empty()) j["init"] = o.init;
  return j.dump();
}

// The options' own checks, before anything is read or written; returns `o`.
const PretrainOptions& checked(const PretrainOptions& o) {
  const int ranks = engine::dist::size();
  if (o.fasta.empty()) throw UsageError("pretrain: give at least one FASTA file (--fasta)");
  if (o.out.empty()) throw UsageError("pretrain: give an output directory (--out)");
  if (o.k < 3 || o.k > 8) throw UsageError("pretrain: --k must be in 3..8");
  const int expected_vocab = (1 << (2 * o.k)) + 5;
  if (o.config.vocab_size != expected_vocab)
    throw UsageError("pretrain: the config's vocab_size " + std::to_string(o.config.vocab_size) + " does not match k=" +
                     std::to_string(o.k) + " (4^k + 5 = " + std::to_string(expected_vocab) + ")");
  if (o.max_len < 8 || o.max_len > o.config.max_position_embeddings)
    throw UsageError("pretrain: --max-len must be in 8.." + std::to_string(o.config.max_position_embeddings));
  if (o.batch < 1 || o.grad_accum < 1 || o.steps < 1) throw UsageError("pretrain: batch, grad-accum and steps must be >= 1");
  if (o.grad_accum % ranks != 0)
    throw UsageError("pretrain: --grad-accum " + std::to_string(o.grad_accum) + " is not a multiple of the " +
                     std::to_string(ranks) + " ranks (each rank runs grad-accum / ranks micro-batches of every step)");
  if (o.dropout >= 1) throw UsageError("pretrain: --dropout must be in [0, 1)");
  if (!o.init.empty() && (o.embedding_init != "normal" || o.position_init != "normal"))
    throw UsageError("pretrain: --embedding-init and --position-init choose a new model's start; with --init the "
                     "weights come from " + o.init);
  return o;
}

// The lead rank's part of --resume: finds and checks the checkpoint, loads the
// weights and Adam moments, and returns its training state (also as text, for
// the other ranks).
nlohmann::json read_resume_state(const PretrainOptions& o, Trainer& trainer, std::string& text) {
  std::string dir = o.resume;
  if (!fs::exists(fs::path(dir) / "trainer_state.json")) {
    std::string latest = io::latest_checkpoint(dir);
    if (latest.empty()) throw Error(o.resume + ": no checkpoint to resume from");
    dir = latest;
  }
  io::CheckpointData ck = io::read_checkpoint(dir, true);
  if (ck.trainer_state.is_null()) throw Error(dir + ": checkpoint has no training state to resume from");
  const auto& st = ck.trainer_state;
  check_resume_state(st, dir + "/trainer_state.json", o.steps, o.config.vocab_size);
  if (st.value("fingerprint", std::string()) != fingerprint(o))
    throw Error(dir + ": checkpoint was written with different settings (k, max-len, batch, grad-accum, seed, "
                      "mlm-probability or model config); resume with the same ones");
  trainer.load_checkpoint(ck, dir, st.at("step").get<int64_t>());
  nlohmann::json state = st;
  state["resumed_from"] = dir;
  text = state.dump();
  return state;
}

tokenizer::TokenizerOptions tokenizer_options(const PretrainOptions& o) {
  tokenizer::TokenizerOptions t;
  t.drop_last = o.drop_last_kmer;
  t.max_len = static_cast<size_t>(o.max_len);
  return t;
}

io::SamplerOptions sampler_options(const PretrainOptions& o) {
  io::SamplerOptions so;
  so.files = o.fasta;
  so.seed = o.seed;
  so.k = o.k;
  so.max_tokens = o.max_len;
  so.shuffle_buffer = o.shuffle_buffer;
  so.heldout_fraction = o.heldout_fraction;
  so.heldout_record = o.heldout_record;
  so.split = io::Split::Train;
  return so;
}

MaskingOptions masking_options(const PretrainOptions& o) {
  MaskingOptions mo;
  mo.k = o.k;
  mo.mlm_probability = o.mlm_probability;
  mo.vocab_size = o.config.vocab_size;
  mo.seed = o.seed;
  return mo;
}

// The model as it trains: the config with --dropout applied.
BertConfig train_config(const PretrainOptions& o) {
  BertConfig c = o.config;
  if (o.dropout >= 0) c.hidden_dropout_prob = c.attention_probs_dropout_prob = o.dropout;
  return c;
}

// A fixed held-out set, cut and masked once, identical across resumes.
std::vector<io::Batch> held_out(const PretrainOptions& o, const MaskingOptions& mo) {
  return held_out_set({.fasta = o.fasta,
                       .k = o.k,
                       .max_len = o.max_len,
                       .batch = o.batch,
                       .batches = o.eval_batches,
                       .seed = o.seed,
                       .masking = mo,
                       .heldout_fraction = o.heldout_fraction,
                       .heldout_record = o.heldout_record,
                       .drop_last_kmer = o.drop_last_kmer});
}

// One pretraining run. Data parallelism (engine/distributed.h): rank r runs
// micro-batches [r·m, (r+1)·m) of every step, m = grad_accum / ranks. Every
// rank walks the whole sample stream (cutting pieces is cheap) and tokenizes
// only its own, so the global order of samples, masks and dropout keys does
// not depend on the rank count. Only the lead rank logs, evaluates and writes.
class Pretraining {
 public:
  Pretraining(const PretrainOptions& o, const PretrainCallbacks& cb);
  PretrainResult run();

 private:
  void say(const std::string& m) const {
    if (cb_.on_message) cb_.on_message(m);
  }
  TrainerOptions trainer_options() const;
  void initialise_model();
  void resume();
  StepReport train_step();
  void sync_unigram();
  void log_step(const StepReport& r);
  void evaluate();
  void save_checkpoint();

  const PretrainOptions& o_;
  const bool lead_;
  const PretrainCallbacks cb_;  // empty on all but the lead rank
  const tokenizer::KmerTokenizer tok_;
  const MaskingOptions mo_;
  Bert model_;
  Trainer trainer_;
  std::unique_ptr<io::Sampler> sampler_;
  // Label counts of the training data: synced over ranks (unigram_) and this rank's since the last sync.
  std::vector<int64_t> unigram_, unigram_new_;
  std::vector<io::Batch> eval_set_;
  std::optional<RunLog> log_;
  PretrainResult result_;
};

Pretraining::Pretraining(const PretrainOptions& o, const PretrainCallbacks& cb)
    : o_(checked(o)),
      lead_(engine::dist::is_lead()),
      cb_(lead_ ? cb : PretrainCallbacks{}),
      tok_(o.k, tokenizer_options(o)),
      mo_(masking_options(o)),
      model_(train_config(o), Heads::MaskedLM, o.seed),
      trainer_(model_, trainer_options()),
      unigram_(static_cast<size_t>(o.config.vocab_size), 0),
      unigram_new_(unigram_.size(), 0) {
  if (lead_) fs::create_directories(o_.out);
  initialise_model();
  if (o_.resume.empty())
    sampler_ = std::make_unique<io::Sampler>(sampler_options(o_));
  else
    resume();
  if (lead_) eval_set_ = held_out(o_, mo_);
  log_.emplace(o_.out, trainer_.step_count(),
               RunLog::Plot{"Masked-LM loss",
                            "cross-entropy (nats)",
                            {{"loss", "train (per step)", "#1f77b4", false}, {"eval_loss", "held-out", "#d62728", true}}});
}

TrainerOptions Pretraining::trainer_options() const {
  TrainerOptions t;
  t.adamw.lr = o_.lr;
  t.adamw.weight_decay = o_.weight_decay;
  t.adamw.warmup_steps = std::min(o_.warmup, o_.steps);  // a short run warms up over all of it
  t.adamw.total_steps = o_.steps;
  t.adamw.max_grad_norm = o_.max_grad_norm;
  t.reduction = Reduction::Mean;
  t.command = "pretrain";
  t.divergence_advice = [&o = o_] {
    char lr[32];
    std::snprintf(lr, sizeof lr, "%g", o.lr);
    const std::string kept = io::latest_checkpoint(o.out);
    return "no model is written for this run. Lower --lr (now " + std::string(lr) + ") or lengthen --warmup (now " +
           std::to_string(o.warmup) + ")" + (kept.empty() ? "" : "; the checkpoints written so far are kept, the last " + kept);
  };
  t.config = o_.config.to_json();  // the config's dropout, which fine-tuning uses, not --dropout
  t.vocab_text = tok_.vocab().to_text();
  t.on_message = [this](const std::string& m) { say(m); };
  return t;
}

void Pretraining::initialise_model() {
  if (o_.init.empty()) {
    apply_init_schemes(model_, o_.k, o_.seed, o_.embedding_init, o_.position_init);
    return;
  }
  io::CheckpointData ck = io::read_checkpoint(o_.init, false);
  if (BertConfig::from_json(ck.config, o_.init + "/config.json").to_json() != o_.config.to_json())
    throw UsageError("pretrain: --init " + o_.init + ": its config.json is not the model config of this run");
  check_weights_match_config(ck.weights, o_.config, o_.init + "/config.json", o_.init + "/model.safetensors");
  // A model without the masked-LM head (a fine-tuned one) gets a new head.
  model_.load_weights(ck.weights, o_.init + "/model.safetensors", {"cls.predictions."});
  say("initialised from " + o_.init);
}

// The lead rank reads the checkpoint and sends it to the others, so only its
// file system needs to hold it and every rank starts from the same bits.
void Pretraining::resume() {
  nlohmann::json st;
  std::string state_text;
  if (lead_) st = read_resume_state(o_, trainer_, state_text);
  engine::dist::broadcast(state_text);
  if (!lead_) st = nlohmann::json::parse(state_text);
  const auto step = st.at("step").get<int64_t>();
  trainer_.broadcast_state(step);
  unigram_ = st.at("unigram_counts").get<std::vector<int64_t>>();
  sampler_ = std::make_unique<io::Sampler>(sampler_options(o_), st.at("sampler").get<io::SamplerState>());
  say("resumed from " + st.at("resumed_from").get<std::string>() + " at step " + std::to_string(step));
}

StepReport Pretraining::train_step() {
  const auto t0 = Clock::now();
  // Every rank cuts every micro-batch's pieces, so the sample stream is the same for any rank count.
  std::vector<std::vector<std::string>> pieces(static_cast<size_t>(o_.grad_accum));
  for (auto& micro : pieces)
    for (int j = 0; j < o_.batch; ++j) micro.push_back(sampler_->next().sequence);
  double counts[2] = {0, 0};  // real tokens, masked tokens
  const TrainStep st = trainer_.step(
      o_.grad_accum,
      [&](const MicroBatch& m, Tape& tape) {
        io::Batch b = make_mlm_batch(pieces[static_cast<size_t>(m.index)], tok_);
        counts[1] += static_cast<double>(mask_mlm_batch(b, mo_, m.key));
        counts[0] += static_cast<double>(b.real_tokens);
        for (int32_t l : b.labels)
          if (l != kIgnoreLabel) ++unigram_new_[static_cast<size_t>(l)];
        engine::Arena& arena = tape.arena();
        const auto B = static_cast<int64_t>(b.B), T = static_cast<int64_t>(b.T);
        return MicroLoss{model_.mlm_forward(tape, bert_inputs(b, arena), Tensor::from_ints({B, T}, b.labels, &arena),
                                            {o_.seed, m.key})};
      },
      counts);
  StepReport rep{.step = st.step,
                 .total_steps = o_.steps,
                 .loss = st.loss,
                 .lr = st.lr,
                 .grad_norm = st.grad_norm,
                 .tokens = static_cast<int64_t>(counts[0]),
                 .masked = static_cast<int64_t>(counts[1]),
                 .seconds = std::chrono::duration<double>(Clock::now() - t0).count(),
                 .arena_peak_bytes = trainer_.arena().stats().peak_bytes};
  rep.tokens_per_second = static_cast<double>(rep.tokens) / rep.seconds;
  return rep;
}

// Adds every rank's label counts since the last sync to unigram_.
void Pretraining::sync_unigram() {
  engine::dist::allreduce_sum(unigram_new_.data(), static_cast<int64_t>(unigram_new_.size()));
  for (size_t i = 0; i < unigram_.size(); ++i) unigram_[i] += unigram_new_[i];
  std::fill(unigram_new_.begin(), unigram_new_.end(), 0);
}

void Pretraining::log_step(const StepReport& r) {
  log_->write({{"step", r.step},
               {"loss", r.loss},
               {"lr", r.lr},
               {"grad_norm", r.grad_norm},
               {"tokens", r.tokens},
               {"masked", r.masked},
               {"seconds", r.seconds}});
  if (cb_.on_step) cb_.on_step(r);
}

void Pretraining::evaluate() {
  EvalReport er = evaluate_mlm(model_, eval_set_, trainer_.arena(), unigram_);
  er.step = trainer_.step_count();
  if (er.masked > 0) {
    result_.last_eval = er;
    log_->write({{"step", er.step},
                 {"eval_loss", er.loss},
                 {"eval_accuracy", er.accuracy},
                 {"unigram_accuracy", er.unigram_accuracy},
                 {"eval_masked", er.masked}});
    if (cb_.on_eval) cb_.on_eval(er);
  }
  log_->plot();
}

void Pretraining::save_checkpoint() {
  const nlohmann::json state = {{"step", trainer_.step_count()},
                                {"fingerprint", fingerprint(o_)},
                                {"sampler", sampler_->state()},
                                {"unigram_counts", unigram_}};
  say("saved " + trainer_.save_checkpoint(o_.out, state, o_.keep_last));
}

PretrainResult Pretraining::run() {
  const auto run_start = Clock::now();
  say("model: " + std::to_string(model_.params().numel()) + " parameters; training steps " +
      std::to_string(trainer_.step_count()) + " -> " + std::to_string(o_.steps));
  if (cb_.on_start) cb_.on_start(trainer_.step_count(), o_.steps);
  while (trainer_.step_count() < o_.steps) {
    const StepReport rep = train_step();
    const int64_t step = rep.step;
    const bool last = step == o_.steps;
    const bool eval_now = (o_.eval_every > 0 && step % o_.eval_every == 0) || last;
    const bool save_now = (o_.save_every > 0 && step % o_.save_every == 0) || last;
    if (eval_now || save_now) sync_unigram();
    if (!lead_) continue;
    log_step(rep);
    if (eval_now) evaluate();
    if (save_now) save_checkpoint();
  }
  result_.model_dir = (fs::path(o_.out) / "model").string();
  if (lead_) trainer_.save_model(result_.model_dir);
  result_.steps_done = trainer_.step_count();
  result_.seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
  return result_;
}

}  // namespace

PretrainResult pretrain(const PretrainOptions& o, const PretrainCallbacks& callbacks) {
  return Pretraining(o, callbacks).run();
}

std::string describe(const PretrainOptions& o) {
  char line[400];
  std::snprintf(line, sizeof line,
                "pretrain: k=%d, %d layers x %d hidden, %d heads, max-len %d, batch %d x %d, %lld steps, "
                "mlm-probability %.4f (masked fraction ~%.3f), %d rank%s",
                o.k, o.config.num_hidden_layers, o.config.hidden_size, o.config.num_attention_heads, o.max_len, o.batch,
                o.grad_accum, static_cast<long long>(o.steps), o.mlm_probability,
                mask_rate_for_mlm_probability(o.mlm_probability, o.k), engine::dist::size(),
                engine::dist::size() > 1 ? "s" : "");
  return line;
}

}  // namespace dnabert::models
