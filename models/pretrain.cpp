#include "models/pretrain.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/rng.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/plot.h"
#include "io/sampler.h"
#include "models/bert.h"
#include "models/init_schemes.h"
#include "models/masking.h"
#include "models/optimizer.h"
#include "tokenizer/kmer.h"

namespace dnabert::models {

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// One micro-batch: padded ids [B, T], mask, MLM labels.
struct MlmBatch {
  int64_t B = 0, T = 0;
  std::vector<int32_t> ids, mask, labels;
  int64_t real_tokens = 0, masked = 0;
};

// Tokenizes pieces and pads them to the longest ([PAD] = 0).
MlmBatch make_batch(const std::vector<std::string>& pieces, const tokenizer::KmerTokenizer& tok) {
  MlmBatch b;
  std::vector<tokenizer::Encoding> enc(pieces.size());
  for (size_t i = 0; i < pieces.size(); ++i) {
    tok.encode(pieces[i], tokenizer::Input::Sequence, enc[i]);
    b.T = std::max<int64_t>(b.T, static_cast<int64_t>(enc[i].ids.size()));
  }
  b.B = static_cast<int64_t>(pieces.size());
  b.ids.assign(static_cast<size_t>(b.B * b.T), tokenizer::kPadId);
  b.mask.assign(static_cast<size_t>(b.B * b.T), 0);
  for (int64_t r = 0; r < b.B; ++r) {
    const auto& ids = enc[static_cast<size_t>(r)].ids;
    std::copy(ids.begin(), ids.end(), b.ids.begin() + r * b.T);
    std::fill(b.mask.begin() + r * b.T, b.mask.begin() + r * b.T + static_cast<int64_t>(ids.size()), 1);
    b.real_tokens += static_cast<int64_t>(ids.size());
  }
  return b;
}

void apply_masking(MlmBatch& b, const MaskingOptions& mo, uint64_t key) {
  b.labels = mask_tokens(mo, key, b.B, b.T, b.ids);
  b.masked = std::count_if(b.labels.begin(), b.labels.end(), [](int32_t l) { return l != kIgnoreLabel; });
}

BertInputs to_inputs(const MlmBatch& b, engine::Arena& arena) {
  BertInputs in;
  in.input_ids = Tensor::from_ints({b.B, b.T}, b.ids, &arena);
  in.attention_mask = Tensor::from_ints({b.B, b.T}, b.mask, &arena);
  return in;
}

std::string fingerprint(const PretrainOptions& o) {
  nlohmann::json j = {{"k", o.k},         {"max_len", o.max_len}, {"batch", o.batch},
                      {"grad_accum", o.grad_accum}, {"seed", o.seed}, {"mlm_probability", o.mlm_probability},
                      {"config", o.config.to_json()}};
  // Older checkpoints have no init keys: the defaults leave the fingerprint as it was.
  if (o.embedding_init != "normal") j["embedding_init"] = o.embedding_init;
  if (o.position_init != "normal") j["position_init"] = o.position_init;
  if (o.dropout >= 0) j["dropout"] = o.dropout;
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
  apply_init_schemes(model, o.k, o.seed, o.embedding_init, o.position_init);
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
  io::SamplerOptions eo = so;
  eo.split = io::Split::Eval;
  eo.seed = o.seed ^ 0x5eed5eedull;
  eo.shuffle_buffer = 0;
  std::vector<MlmBatch> eval_set;
  if (lead && o.eval_batches > 0 && (o.heldout_fraction > 0 || !o.heldout_record.empty())) {
    io::Sampler es(eo);
    for (int i = 0; i < o.eval_batches; ++i) {
      std::vector<std::string> pieces;
      for (int j = 0; j < o.batch; ++j) pieces.push_back(es.next().sequence);
      MlmBatch b = make_batch(pieces, tok);
      apply_masking(b, mo, 0xE7A1000000000000ull + static_cast<uint64_t>(i));
      eval_set.push_back(std::move(b));
    }
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
      if (j.is_discarded() || !j.contains("step") || j["step"].get<int64_t>() > step) continue;
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
    EvalReport r;
    r.step = step;
    if (eval_set.empty()) return r;
    const auto top = std::max_element(unigram.begin(), unigram.end()) - unigram.begin();
    double loss_sum = 0;
    int64_t correct = 0, unigram_correct = 0;
    for (const MlmBatch& b : eval_set) {
      engine::Tape tape(arena, engine::Tape::Mode::Inference);
      Tensor logits, labels;
      Tensor loss = model.mlm_forward(tape, to_inputs(b, arena), Tensor::from_ints({b.B, b.T}, b.labels, &arena), {},
                                      &logits, &labels);
      const int64_t n = labels.numel(), V = logits.dim(1);
      const float* pl = logits.f32();
      const int32_t* lab = labels.i32();
      int64_t counted = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (lab[i] == kIgnoreLabel) continue;
        ++counted;
        const float* row = pl + i * V;
        correct += (std::max_element(row, row + V) - row) == lab[i];
        unigram_correct += lab[i] == top;
      }
      loss_sum += static_cast<double>(loss.to_vector()[0]) * static_cast<double>(counted);
      r.masked += counted;
    }
    r.loss = r.masked ? loss_sum / static_cast<double>(r.masked) : 0;
    r.accuracy = r.masked ? static_cast<double>(correct) / static_cast<double>(r.masked) : 0;
    r.unigram_accuracy = r.masked ? static_cast<double>(unigram_correct) / static_cast<double>(r.masked) : 0;
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
      MlmBatch b = make_batch(pieces, tok);
      apply_masking(b, mo, key);
      for (int32_t l : b.labels)
        if (l != kIgnoreLabel) ++unigram_new[static_cast<size_t>(l)];
      engine::Tape tape(arena);
      // This rank's last micro-batch: its gradients go to the other ranks while its backward pass runs.
      if (micro + 1 == first_micro + per_rank) tape.set_grads_ready_hook(gradient.ready_hook());
      Tensor loss =
          model.mlm_forward(tape, to_inputs(b, arena), Tensor::from_ints({b.B, b.T}, b.labels, &arena), {o.seed, key});
      totals[static_cast<size_t>(micro)] = loss.to_vector()[0];
      tape.backward(loss);
      // The micro-batch gradients are summed in the fixed pairwise order; step() scales by 1/grad_accum.
      if (micro + 1 < first_micro + per_rank) gradient.add();
      totals[totals.size() - 2] += static_cast<double>(b.real_tokens);
      totals[totals.size() - 1] += static_cast<double>(b.masked);
    }
    gradient.finish();
    engine::dist::allreduce_sum(totals.data(), static_cast<int64_t>(totals.size()));
    const StepStats st = opt.step(1.0 / o.grad_accum);  // warm-up/decay schedule, clipping, AdamW
    StepReport rep;
    double loss_sum = 0;
    for (int micro = 0; micro < o.grad_accum; ++micro) loss_sum += totals[static_cast<size_t>(micro)];
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
