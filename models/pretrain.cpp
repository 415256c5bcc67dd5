#include "models/pretrain.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/rng.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/json_read.h"
#include "io/plot.h"
#include "io/sampler.h"
#include "models/bert.h"
#include "models/divergence.h"
#include "models/init_schemes.h"
#include "models/loading.h"
#include "models/masking.h"
#include "models/mlm_eval.h"
#include "models/optimizer.h"
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

struct Curves {
  std::vector<double> step, loss, eval_step, eval_loss;
};

void write_plot(const std::string& path, const Curves& c) {
  io::Chart chart;
  chart.title = "Masked-LM loss";
  chart.x_label = "step";
  chart.y_label = "cross-entropy (nats)";
  chart.series.push_back({"train (per step)", "#1f77b4", c.step, c.loss, false});
  chart.series.push_back({"held-out", "#d62728", c.eval_step, c.eval_loss, true});
  io::write_svg(path, chart);
}

// Every field of a trainer_state.json that resuming reads, checked for type
// and range before any of it is used (a wrong-length unigram_counts would
// otherwise write out of bounds). Errors name the file and the field.
void check_resume_state(const nlohmann::json& st, const std::string& file, const PretrainOptions& o) {
  const io::JsonFields f(st, file);
  f.string("fingerprint");
  const int64_t step = f.integer("step", 0, INT64_MAX);
  if (step > o.steps)
    throw UsageError(file + ": the checkpoint is at step " + std::to_string(step) + ", past --steps " +
                     std::to_string(o.steps) + "; resume with --steps " + std::to_string(step) + " or more");
  f.integers("unigram_counts", static_cast<size_t>(o.config.vocab_size), 0, INT64_MAX);
  const io::JsonFields sampler = f.object("sampler");
  sampler.string("fingerprint");
  for (const char* key : {"samples", "block", "position"}) sampler.unsigned_integer(key);
  const io::JsonFields cursor = sampler.object("cursor");
  for (const char* key : {"epoch", "file", "record", "offset", "rng_counter"}) cursor.unsigned_integer(key);
}

// The lead rank's part of --resume: finds and checks the checkpoint, loads the
// weights and Adam moments, and returns its training state (also as text, for
// the other ranks).
nlohmann::json read_resume_state(const PretrainOptions& o, Bert& model, AdamW& opt, std::string& text) {
  std::string dir = o.resume;
  if (!fs::exists(fs::path(dir) / "trainer_state.json")) {
    std::string latest = io::latest_checkpoint(dir);
    if (latest.empty()) throw Error(o.resume + ": no checkpoint to resume from");
    dir = latest;
  }
  io::CheckpointData ck = io::read_checkpoint(dir, true);
  if (ck.trainer_state.is_null()) throw Error(dir + ": checkpoint has no training state to resume from");
  const auto& st = ck.trainer_state;
  check_resume_state(st, dir + "/trainer_state.json", o);
  if (st.value("fingerprint", std::string()) != fingerprint(o))
    throw Error(dir + ": checkpoint was written with different settings (k, max-len, batch, grad-accum, seed, "
                      "mlm-probability or model config); resume with the same ones");
  model.load_weights(ck.weights, dir + "/model.safetensors");
  const Tensor* m = nullptr;
  const Tensor* v = nullptr;
  for (const auto& nt : ck.optimizer) {
    if (nt.name == "exp_avg") m = &nt.tensor;
    if (nt.name == "exp_avg_sq") v = &nt.tensor;
  }
  if (!m || !v) throw Error(dir + "/optimizer.safetensors: missing tensor exp_avg or exp_avg_sq");
  opt.load_state(*m, *v, st.at("step").get<int64_t>());
  nlohmann::json state = st;
  state["resumed_from"] = dir;
  text = state.dump();
  return state;
}

}  // namespace

PretrainResult pretrain(const PretrainOptions& o, const PretrainCallbacks& cb_all) {
  // Data parallelism (engine/distributed.h): rank r runs micro-batches
  // [r·m, (r+1)·m) of every step, m = grad_accum / ranks. Every rank walks the
  // whole sample stream (cutting pieces is cheap) and tokenizes only its own,
  // so the global order of samples, masks and dropout keys does not depend on
  // the rank count. Only the lead rank logs, evaluates and writes.
  const int ranks = engine::dist::size();
  const bool lead = engine::dist::is_lead();
  const PretrainCallbacks cb = lead ? cb_all : PretrainCallbacks{};
  auto say = [&](const std::string& m) {
    if (cb.on_message) cb.on_message(m);
  };
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
  const int per_rank = o.grad_accum / ranks, first_micro = engine::dist::rank() * per_rank;
  if (lead) fs::create_directories(o.out);

  tokenizer::TokenizerOptions topt;
  topt.drop_last = o.drop_last_kmer;
  topt.max_len = static_cast<size_t>(o.max_len);
  tokenizer::KmerTokenizer tok(o.k, topt);

  io::SamplerOptions so;
  so.files = o.fasta;
  so.seed = o.seed;
  so.k = o.k;
  so.max_tokens = o.max_len;
  so.shuffle_buffer = o.shuffle_buffer;
  so.heldout_fraction = o.heldout_fraction;
  so.heldout_record = o.heldout_record;
  so.split = io::Split::Train;

  if (o.dropout >= 1) throw UsageError("pretrain: --dropout must be in [0, 1)");
  BertConfig train_config = o.config;
  if (o.dropout >= 0) train_config.hidden_dropout_prob = train_config.attention_probs_dropout_prob = o.dropout;
  Bert model(train_config, Heads::MaskedLM, o.seed);
  if (o.init.empty()) {
    apply_init_schemes(model, o.k, o.seed, o.embedding_init, o.position_init);
  } else {
    if (o.embedding_init != "normal" || o.position_init != "normal")
      throw UsageError("pretrain: --embedding-init and --position-init choose a new model's start; with --init the "
                       "weights come from " + o.init);
    io::CheckpointData ck = io::read_checkpoint(o.init, false);
    if (BertConfig::from_json(ck.config, o.init + "/config.json").to_json() != o.config.to_json())
      throw UsageError("pretrain: --init " + o.init + ": its config.json is not the model config of this run");
    check_weights_match_config(ck.weights, o.config, o.init + "/config.json", o.init + "/model.safetensors");
    // A model without the masked-LM head (a fine-tuned one) gets a new head.
    model.load_weights(ck.weights, o.init + "/model.safetensors", {"cls.predictions."});
    say("initialised from " + o.init);
  }
  engine::ParamSet& params = model.params();
  AdamWOptions ao;
  ao.lr = o.lr;
  ao.weight_decay = o.weight_decay;
  ao.warmup_steps = std::min(o.warmup, o.steps);  // a short run warms up over all of it
  ao.total_steps = o.steps;
  ao.max_grad_norm = o.max_grad_norm;
  AdamW opt(params, ao);
  MaskingOptions mo;
  mo.k = o.k;
  mo.mlm_probability = o.mlm_probability;
  mo.vocab_size = o.config.vocab_size;
  mo.seed = o.seed;

  int64_t step = 0;
  std::vector<int64_t> unigram(static_cast<size_t>(o.config.vocab_size), 0);
  std::unique_ptr<io::Sampler> sampler;
  if (!o.resume.empty()) {
    // The lead rank reads the checkpoint and sends it to the others, so only
    // its file system needs to hold it and every rank starts from the same bits.
    nlohmann::json st;
    std::string state_text;
    if (lead) st = read_resume_state(o, model, opt, state_text);
    engine::dist::broadcast(state_text);
    if (!lead) st = nlohmann::json::parse(state_text);
    step = st.at("step").get<int64_t>();
    Tensor exp_avg = opt.exp_avg().clone(), exp_avg_sq = opt.exp_avg_sq().clone();
    engine::dist::broadcast(params.values());
    engine::dist::broadcast(exp_avg);
    engine::dist::broadcast(exp_avg_sq);
    opt.load_state(exp_avg, exp_avg_sq, step);
    unigram = st.at("unigram_counts").get<std::vector<int64_t>>();
    sampler = std::make_unique<io::Sampler>(so, st.at("sampler").get<io::SamplerState>());
    say("resumed from " + st.at("resumed_from").get<std::string>() + " at step " + std::to_string(step));
  } else {
    sampler = std::make_unique<io::Sampler>(so);
  }

  // A fixed held-out set, cut and masked once, identical across resumes.
  std::vector<io::Batch> eval_set;
  if (lead) {
    HeldOutOptions ho;
    ho.fasta = o.fasta;
    ho.k = o.k;
    ho.max_len = o.max_len;
    ho.batch = o.batch;
    ho.batches = o.eval_batches;
    ho.seed = o.seed;
    ho.masking = mo;
    ho.heldout_fraction = o.heldout_fraction;
    ho.heldout_record = o.heldout_record;
    ho.drop_last_kmer = o.drop_last_kmer;
    eval_set = held_out_set(ho);
  }

  engine::Arena arena;
  const std::string log_path = (fs::path(o.out) / "log.jsonl").string();
  Curves curves;
  if (lead && step > 0 && fs::exists(log_path)) {
    // A resumed run keeps the log (and the curve) up to its step and drops what came after it.
    std::ifstream old(log_path);
    std::string line, kept;
    while (std::getline(old, line)) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      // A line that is not one of ours (torn, edited) is dropped rather than trusted.
      if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j["step"].is_number_integer() ||
          j["step"].get<int64_t>() > step || (j.contains("loss") && !j["loss"].is_number()) ||
          (j.contains("eval_loss") && !j["eval_loss"].is_number()))
        continue;
      kept += line + "\n";
      if (j.contains("loss")) curves.step.push_back(j["step"].get<double>()), curves.loss.push_back(j["loss"].get<double>());
      if (j.contains("eval_loss"))
        curves.eval_step.push_back(j["step"].get<double>()), curves.eval_loss.push_back(j["eval_loss"].get<double>());
    }
    io::write_file_atomic(log_path, kept);
  }
  std::ofstream log;
  if (lead) {
    log.open(log_path, step > 0 ? std::ios::app : std::ios::trunc);
    if (!log) throw Error(log_path + ": cannot open for writing");
  }
  PretrainResult result;

  auto evaluate = [&]() {
    EvalReport r = evaluate_mlm(model, eval_set, arena, unigram);
    r.step = step;
    return r;
  };

  auto save = [&](bool final_model) {
    io::CheckpointData ck;
    ck.config = o.config.to_json();
    for (size_t i = 0; i < params.size(); ++i) ck.weights.push_back({params.name(i), params[i]});
    ck.vocab_text = tok.vocab().to_text();
    if (final_model) {
      io::write_checkpoint((fs::path(o.out) / "model").string(), ck);
      return;
    }
    ck.optimizer = {{"exp_avg", opt.exp_avg()}, {"exp_avg_sq", opt.exp_avg_sq()}};
    ck.trainer_state = {{"step", step},
                        {"fingerprint", fingerprint(o)},
                        {"sampler", sampler->state()},
                        {"unigram_counts", unigram}};
    std::string dir = io::write_numbered_checkpoint(o.out, step, ck, o.keep_last);
    say("saved " + dir);
  };

  DivergenceGuard divergence("pretrain", [&] {
    char lr[32];
    std::snprintf(lr, sizeof lr, "%g", o.lr);
    const std::string kept = io::latest_checkpoint(o.out);
    return "no model is written for this run. Lower --lr (now " + std::string(lr) + ") or lengthen --warmup (now " +
           std::to_string(o.warmup) + ")" + (kept.empty() ? "" : "; the checkpoints written so far are kept, the last " + kept);
  });
  const auto run_start = Clock::now();
  say("model: " + std::to_string(params.numel()) + " parameters; training steps " + std::to_string(step) + " -> " +
      std::to_string(o.steps));
  if (cb.on_start) cb.on_start(step, o.steps);
  engine::dist::GradientSum gradient(params, model.layer_offsets());
  if (engine::dist::size() > 1)
    say(gradient.overlapping() ? "gradient exchange: overlapped with the backward pass, layer by layer"
                               : "gradient exchange: after the backward pass");
  // This rank's label counts since the last sync (summed over ranks when needed).
  std::vector<int64_t> unigram_new(unigram.size(), 0);
  auto sync_unigram = [&] {
    engine::dist::allreduce_sum(unigram_new.data(), static_cast<int64_t>(unigram_new.size()));
    for (size_t i = 0; i < unigram.size(); ++i) unigram[i] += unigram_new[i];
    std::fill(unigram_new.begin(), unigram_new.end(), 0);
  };
  while (step < o.steps) {
    const auto t0 = Clock::now();
    arena.reset_peak();
    params.zero_grad();
    // [loss of each micro-batch..., tokens, masked]: each entry set by one rank, so summing over ranks is exact.
    std::vector<double> totals(static_cast<size_t>(o.grad_accum) + 2, 0.0);
    for (int micro = 0; micro < o.grad_accum; ++micro) {
      const bool mine = micro >= first_micro && micro < first_micro + per_rank;
      std::vector<std::string> pieces;
      for (int j = 0; j < o.batch; ++j) pieces.push_back(sampler->next().sequence);
      if (!mine) continue;
      const auto key = static_cast<uint64_t>(step * o.grad_accum + micro);  // global micro-batch index
      io::Batch b = make_mlm_batch(pieces, tok);
      const int64_t masked = mask_mlm_batch(b, mo, key);
      for (int32_t l : b.labels)
        if (l != kIgnoreLabel) ++unigram_new[static_cast<size_t>(l)];
      engine::Tape tape(arena);
      // This rank's last micro-batch: its gradients go to the other ranks while its backward pass runs.
      if (micro + 1 == first_micro + per_rank) tape.set_grads_ready_hook(gradient.ready_hook());
      const auto B = static_cast<int64_t>(b.B), T = static_cast<int64_t>(b.T);
      Tensor loss =
          model.mlm_forward(tape, bert_inputs(b, arena), Tensor::from_ints({B, T}, b.labels, &arena), {o.seed, key});
      totals[static_cast<size_t>(micro)] = loss.to_vector()[0];
      tape.backward(loss);
      // The micro-batch gradients are summed in the fixed pairwise order; step() scales by 1/grad_accum.
      if (micro + 1 < first_micro + per_rank) gradient.add();
      totals[totals.size() - 2] += static_cast<double>(b.real_tokens);
      totals[totals.size() - 1] += static_cast<double>(masked);
    }
    gradient.finish();
    engine::dist::allreduce_sum(totals.data(), static_cast<int64_t>(totals.size()));
    double loss_sum = 0;
    for (int micro = 0; micro < o.grad_accum; ++micro) loss_sum += totals[static_cast<size_t>(micro)];
    divergence.check(step + 1, loss_sum / o.grad_accum);  // before the update it would apply
    const StepStats st = opt.step(1.0 / o.grad_accum);  // warm-up/decay schedule, clipping, AdamW
    StepReport rep;
    rep.tokens = static_cast<int64_t>(totals[totals.size() - 2]);
    rep.masked = static_cast<int64_t>(totals[totals.size() - 1]);
    rep.grad_norm = st.grad_norm;
    rep.lr = st.lr;
    ++step;
    rep.step = step;
    rep.total_steps = o.steps;
    rep.loss = loss_sum / o.grad_accum;
    rep.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    rep.tokens_per_second = static_cast<double>(rep.tokens) / rep.seconds;
    rep.arena_peak_bytes = arena.stats().peak_bytes;
    const bool last = step == o.steps;
    const bool eval_now = (o.eval_every > 0 && step % o.eval_every == 0) || last;
    const bool save_now = (o.save_every > 0 && step % o.save_every == 0) || last;
    if (eval_now || save_now) sync_unigram();
    if (!lead) continue;
    curves.step.push_back(static_cast<double>(step));
    curves.loss.push_back(rep.loss);
    log << nlohmann::json{{"step", step},         {"loss", rep.loss},        {"lr", rep.lr},
                          {"grad_norm", rep.grad_norm}, {"tokens", rep.tokens}, {"masked", rep.masked},
                          {"seconds", rep.seconds}}
               .dump()
        << "\n"
        << std::flush;
    if (cb.on_step) cb.on_step(rep);
    if (eval_now) {
      EvalReport er = evaluate();
      if (er.masked > 0) {
        result.last_eval = er;
        curves.eval_step.push_back(static_cast<double>(step));
        curves.eval_loss.push_back(er.loss);
        log << nlohmann::json{{"step", step},
                              {"eval_loss", er.loss},
                              {"eval_accuracy", er.accuracy},
                              {"unigram_accuracy", er.unigram_accuracy},
                              {"eval_masked", er.masked}}
                   .dump()
            << "\n"
            << std::flush;
        if (cb.on_eval) cb.on_eval(er);
      }
      write_plot((fs::path(o.out) / "loss.svg").string(), curves);
    }
    if (save_now) save(false);
  }
  if (lead) save(true);
  result.steps_done = step;
  result.seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
  result.model_dir = (fs::path(o.out) / "model").string();
  return result;
}

}  // namespace dnabert::models
