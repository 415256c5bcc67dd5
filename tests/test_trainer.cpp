// The one training step (models/training/trainer.h) against the computation it stands
// for, written out by hand: zero the gradients, one backward pass per
// micro-batch, their sum, one AdamW update. Also: a trainer resumed from its
// checkpoint continues bit-identically, frozen parameters stay put, the
// divergence guard stops before the update, and the run log keeps its lines
// across a resume.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/rng.h"
#include "io/data/batch.h"
#include "io/formats/checkpoint.h"
#include "models/training/trainer.h"
#include "ops/ops.h"
#include "tests/test_util.h"
#include "tests/tiny_model.h"

using namespace dnabert;
using namespace dnabert::testing;
using engine::Tape;
using engine::Tensor;

namespace {

// A classifier with dropout, so the micro-batch keys matter.
models::BertConfig config() {
  models::BertConfig c = tiny_config(2);
  c.hidden_dropout_prob = c.attention_probs_dropout_prob = 0.1f;
  return c;
}

// Rows of random k-mer ids, different lengths, labels from the step and row.
io::Batch data(uint64_t seed, int rows) {
  engine::Rng rng(seed, 0);
  std::vector<std::vector<int32_t>> ids(static_cast<size_t>(rows));
  std::vector<io::Row> r;
  for (auto& row : ids) {
    row.push_back(tokenizer::kClsId);
    for (uint64_t j = 0, n = 3 + rng.below(8); j < n; ++j)
      row.push_back(tokenizer::kNumSpecial + static_cast<int32_t>(rng.below(64)));
    row.push_back(tokenizer::kSepId);
    r.push_back({row});
  }
  io::Batch b;
  io::pad(r, b);
  for (int i = 0; i < rows; ++i) b.labels.push_back(static_cast<int32_t>(rng.below(2)));
  return b;
}

Tensor loss_of(const models::Bert& model, Tape& tape, const io::Batch& b, uint64_t key) {
  engine::Arena& arena = tape.arena();
  const auto B = static_cast<int64_t>(b.B), T = static_cast<int64_t>(b.T);
  const models::DropoutKey dk{9, key};
  Tensor logits =
      model.classify(tape, model.encode(tape, models::bert_inputs(b, arena), dk, nullptr, models::Bert::cls_rows(tape, B, T)), dk);
  return ops::cross_entropy(tape, logits, Tensor::from_ints({B}, b.labels, &arena));
}

models::TrainerOptions trainer_options() {
  models::TrainerOptions t;
  t.adamw.lr = 1e-3;
  t.adamw.warmup_steps = 1;
  t.adamw.total_steps = 10;
  t.command = "test";
  t.divergence_advice = [] { return std::string("lower the learning rate"); };
  t.config = config().to_json();
  t.vocab_text = tokenizer::Vocab::kmer(3).to_text();
  return t;
}

// Micro-batch m of step s: its own rows.
io::Batch micro_data(int64_t step, int micro) { return data(static_cast<uint64_t>(step * 10 + micro), 3 + micro); }

models::LossFn loss_fn(models::Trainer& trainer) {
  return [&trainer](const models::MicroBatch& m, Tape& tape) {
    return models::MicroLoss{loss_of(trainer.model(), tape, micro_data(trainer.step_count(), m.index), m.key)};
  };
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() && std::memcmp(a.f32(), b.f32(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("a step of 2 micro-batches is their gradients' sum, scaled by 1/2, and one AdamW update") {
  models::Bert a(config(), models::Heads::Classification, 3), b(config(), models::Heads::Classification, 3);
  models::Trainer trainer(a, trainer_options());
  // By hand on `b`: each micro-batch's gradient alone, their sum, the mean loss, the update.
  models::AdamW opt(b.params(), trainer_options().adamw);
  engine::Arena arena;
  for (int64_t step = 0; step < 3; ++step) {
    std::vector<float> sum(static_cast<size_t>(b.params().numel()));
    double loss = 0;
    for (int micro = 0; micro < 2; ++micro) {
      b.params().zero_grad();
      Tape tape(arena);
      Tensor l = loss_of(b, tape, micro_data(step, micro), static_cast<uint64_t>(step * 2 + micro));
      loss += l.to_vector()[0];
      tape.backward(l);
      const float* g = b.params().grads().f32();
      for (size_t i = 0; i < sum.size(); ++i) sum[i] = micro == 0 ? g[i] : sum[i] + g[i];
    }
    std::memcpy(b.params().grads().f32(), sum.data(), sum.size() * sizeof(float));
    const models::StepStats want = opt.step(1.0 / 2);

    const models::TrainStep got = trainer.step(2, loss_fn(trainer));
    CHECK(got.step == step + 1);
    CHECK(got.loss == loss / 2);
    REQUIRE(got.micro_losses.size() == 2);
    CHECK(got.micro_losses[0] + got.micro_losses[1] == loss);
    CHECK(got.lr == want.lr);
    CHECK(got.grad_norm == want.grad_norm);
    CHECK(same_bits(a.params().values(), b.params().values()));
  }
  CHECK(trainer.step_count() == 3);
}

TEST_CASE("Reduction::Sum weighs each micro-batch; counts are summed; empty micro-batches add nothing") {
  models::Bert a(config(), models::Heads::Classification, 4), b(config(), models::Heads::Classification, 4);
  models::TrainerOptions t = trainer_options();
  t.reduction = models::Reduction::Sum;
  models::Trainer trainer(a, t);
  models::AdamW opt(b.params(), t.adamw);
  engine::Arena arena;
  // By hand: micro-batch 0 with weight 0.25 (the only non-empty one), then the update with scale 1.
  b.params().zero_grad();
  Tape tape(arena);
  Tensor l = loss_of(b, tape, micro_data(0, 0), 0);
  tape.backward(l, Tensor::full(l.shape(), 0.25f, &arena));
  opt.step();

  double counts[2] = {1, 2};
  const models::TrainStep got = trainer.step(
      3,
      [&](const models::MicroBatch& m, Tape& tp) {
        counts[0] += 10;
        if (m.index > 0) return models::MicroLoss{};
        return models::MicroLoss{loss_of(a, tp, micro_data(0, 0), m.key), 0.25f};
      },
      counts);
  CHECK(counts[0] == 31);  // this rank's tallies, summed over the one rank
  CHECK(counts[1] == 2);
  CHECK(got.micro_losses == std::vector<double>{0.25 * static_cast<double>(l.to_vector()[0]), 0, 0});
  CHECK(got.loss == got.micro_losses[0]);
  CHECK(same_bits(a.params().values(), b.params().values()));
}

TEST_CASE("a trainer resumed from its checkpoint ends bit-identical to one that never stopped") {
  models::Bert whole(config(), models::Heads::Classification, 5);
  models::Trainer uninterrupted(whole, trainer_options());
  for (int i = 0; i < 4; ++i) uninterrupted.step(2, loss_fn(uninterrupted));

  const std::string root = scratch_dir("trainer_resume");
  std::string dir;
  {
    models::Bert first(config(), models::Heads::Classification, 5);
    models::Trainer before(first, trainer_options());
    for (int i = 0; i < 2; ++i) before.step(2, loss_fn(before));
    dir = before.save_checkpoint(root, {{"step", 2}}, 0);
  }
  CHECK(dir == root + "/checkpoint-2");
  const io::CheckpointData ck = io::read_checkpoint(dir);
  CHECK(ck.trainer_state["step"] == 2);
  CHECK(ck.vocab_text == tokenizer::Vocab::kmer(3).to_text());
  models::Bert second(config(), models::Heads::Classification, 99);  // other initial weights, all replaced
  models::Trainer after(second, trainer_options());
  after.load_checkpoint(ck, dir, 2);
  after.broadcast_state(2);
  CHECK(after.step_count() == 2);
  for (int i = 0; i < 2; ++i) after.step(2, loss_fn(after));
  CHECK(same_bits(whole.params().values(), second.params().values()));
  CHECK(same_bits(uninterrupted.optimizer().exp_avg(), after.optimizer().exp_avg()));
  CHECK(same_bits(uninterrupted.optimizer().exp_avg_sq(), after.optimizer().exp_avg_sq()));

  // The final model directory holds the weights alone; a checkpoint without moments is refused.
  after.save_model(root + "/model");
  const io::CheckpointData model = io::read_checkpoint(root + "/model");
  CHECK(model.optimizer.empty());
  CHECK(model.weights.size() == second.params().size());
  CHECK(error_of([&] { after.load_checkpoint(model, root + "/model", 4); }) ==
        root + "/model/optimizer.safetensors: missing tensor exp_avg or exp_avg_sq");
}

TEST_CASE("frozen parameters keep their values; a diverged loss stops before the update") {
  models::Bert a(config(), models::Heads::Classification, 6);
  models::TrainerOptions t = trainer_options();
  t.frozen = {0, 1};
  models::Trainer trainer(a, t);
  const Tensor frozen0 = a.params()[0].clone(), frozen1 = a.params()[1].clone(), other = a.params()[2].clone();
  for (int i = 0; i < 2; ++i) trainer.step(1, loss_fn(trainer));  // the first update has lr 0 (models/training/optimizer.h)
  CHECK(same_bits(a.params()[0], frozen0));
  CHECK(same_bits(a.params()[1], frozen1));
  CHECK_FALSE(same_bits(a.params()[2], other));

  const Tensor before = a.params().values().clone();
  const std::string message = error_of([&] {
    trainer.step(1, [&](const models::MicroBatch& m, Tape& tape) {
      Tensor l = loss_of(a, tape, micro_data(0, 0), m.key);
      return models::MicroLoss{ops::mul_scalar(tape, l, NAN)};
    });
  });
  CHECK(message == "test: training diverged at step 3: the loss is nan; lower the learning rate");
  CHECK(same_bits(a.params().values(), before));
  CHECK(trainer.step_count() == 2);
}

TEST_CASE("RunLog: a resumed run keeps its lines up to the step, drops later and foreign ones, and plots") {
  const std::string dir = scratch_dir("runlog");
  std::filesystem::create_directories(dir);
  const models::RunLog::Plot plot{"loss", "nats", {{"loss", "train", "#000000", false}}};
  {
    models::RunLog log(dir, 0, plot);
    for (int step = 1; step <= 4; ++step) log.write({{"step", step}, {"loss", 1.0 / step}});
  }
  std::ofstream(dir + "/log.jsonl", std::ios::app) << "{\"step\": 1, \"loss\": \"x\"}\n{\"step\": 2, \"lo\n";
  models::RunLog resumed(dir, 2, plot);
  resumed.write({{"step", 3}, {"loss", 0.5}});
  resumed.plot();
  CHECK(slurp(dir + "/log.jsonl") == "{\"loss\":1.0,\"step\":1}\n{\"loss\":0.5,\"step\":2}\n{\"loss\":0.5,\"step\":3}\n");
  CHECK(slurp(dir + "/loss.svg").find("<svg") == 0);
  // A new run starts the log afresh.
  models::RunLog fresh(dir);
  fresh.write({{"step", 1}});
  CHECK(slurp(dir + "/log.jsonl") == "{\"step\":1}\n");
}
