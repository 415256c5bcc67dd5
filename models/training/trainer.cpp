#include "models/training/trainer.h"

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "io/formats/atomic_file.h"

namespace dnabert::models {

namespace fs = std::filesystem;

Trainer::Trainer(Bert& model, TrainerOptions options)
    : model_(model),
      options_(std::move(options)),
      opt_(model.params(), options_.adamw),
      divergence_(options_.command, options_.divergence_advice) {
  for (size_t i : options_.frozen) frozen_values_.push_back(model_.params()[i].clone());
}

TrainStep Trainer::step(int micro_batches, const LossFn& loss_fn, std::span<double> counts) {
  const int S = micro_batches, ranks = engine::dist::size();
  if (S < 1 || S % ranks != 0)
    throw Error("Trainer::step: " + std::to_string(S) + " micro-batches do not split evenly over " +
                std::to_string(ranks) + " ranks");
  engine::ParamSet& params = model_.params();
  if (!gradient_) {
    gradient_ = std::make_unique<engine::dist::GradientSum>(params, model_.layer_offsets());
    if (ranks > 1 && options_.on_message)
      options_.on_message(gradient_->overlapping() ? "gradient exchange: overlapped with the backward pass, layer by layer"
                                                   : "gradient exchange: after the backward pass");
  }
  const int first = engine::dist::rank() * (S / ranks), end = first + S / ranks;
  const auto step = static_cast<uint64_t>(opt_.step_count());
  arena_.reset_peak();
  params.zero_grad();
  // [weighted loss of each micro-batch..., counts...]: each loss set by one rank, so summing over ranks is exact.
  std::vector<double> totals(static_cast<size_t>(S) + counts.size(), 0.0);
  for (int micro = first; micro < end; ++micro) {
    engine::Tape tape(arena_);
    // This rank's last micro-batch: its gradients go to the other ranks while its backward pass runs.
    if (micro + 1 == end) tape.set_grads_ready_hook(gradient_->ready_hook());
    const MicroLoss m = loss_fn({micro, step * static_cast<uint64_t>(S) + static_cast<uint64_t>(micro)}, tape);
    if (m.loss.defined()) {
      totals[static_cast<size_t>(micro)] = static_cast<double>(m.weight) * m.loss.to_vector()[0];
      tape.backward(m.loss, Tensor::full(m.loss.shape(), m.weight, &arena_));
    }
    // The micro-batch gradients are summed in the fixed pairwise order.
    if (micro + 1 < end) gradient_->add();
  }
  gradient_->finish();
  std::copy(counts.begin(), counts.end(), totals.begin() + S);
  engine::dist::allreduce_sum(totals.data(), static_cast<int64_t>(totals.size()));
  std::copy(totals.begin() + S, totals.end(), counts.begin());
  TrainStep r;
  r.micro_losses.assign(totals.begin(), totals.begin() + S);
  for (double l : r.micro_losses) r.loss += l;
  const bool mean = options_.reduction == Reduction::Mean;
  if (mean) r.loss /= S;
  divergence_.check(opt_.step_count() + 1, r.loss);  // before the update it would apply
  const StepStats st = opt_.step(mean ? 1.0 / S : 1.0);  // schedule, clipping, AdamW
  for (size_t j = 0; j < options_.frozen.size(); ++j) params[options_.frozen[j]].copy_from(frozen_values_[j]);
  r.step = st.step;
  r.lr = st.lr;
  r.grad_norm = st.grad_norm;
  return r;
}

io::CheckpointData Trainer::checkpoint_data() const {
  io::CheckpointData ck;
  ck.config = options_.config;
  ck.weights = io::named_tensors(model_.params());
  ck.vocab_text = options_.vocab_text;
  return ck;
}

void Trainer::save_model(const std::string& dir) const { io::write_checkpoint(dir, checkpoint_data()); }

std::string Trainer::save_checkpoint(const std::string& root, const nlohmann::json& trainer_state,
                                     int keep_last) const {
  io::CheckpointData ck = checkpoint_data();
  ck.optimizer = {{"exp_avg", opt_.exp_avg()}, {"exp_avg_sq", opt_.exp_avg_sq()}};
  ck.trainer_state = trainer_state;
  return io::write_numbered_checkpoint(root, opt_.step_count(), ck, keep_last);
}

void Trainer::load_checkpoint(const io::CheckpointData& ck, const std::string& dir, int64_t step) {
  model_.load_weights(ck.weights, dir + "/model.safetensors");
  const Tensor* m = nullptr;
  const Tensor* v = nullptr;
  for (const auto& nt : ck.optimizer) {
    if (nt.name == "exp_avg") m = &nt.tensor;
    if (nt.name == "exp_avg_sq") v = &nt.tensor;
  }
  if (!m || !v) throw Error(dir + "/optimizer.safetensors: missing tensor exp_avg or exp_avg_sq");
  opt_.load_state(*m, *v, step);
}

void Trainer::broadcast_state(int64_t step) {
  Tensor exp_avg = opt_.exp_avg().clone(), exp_avg_sq = opt_.exp_avg_sq().clone();
  engine::dist::broadcast(model_.params().values());
  engine::dist::broadcast(exp_avg);
  engine::dist::broadcast(exp_avg_sq);
  opt_.load_state(exp_avg, exp_avg_sq, step);
}

RunLog::RunLog(const std::string& dir, int64_t resumed_step, Plot plot)
    : dir_(dir), path_((fs::path(dir) / "log.jsonl").string()), plot_(std::move(plot)) {
  if (!engine::dist::is_lead()) return;
  for (const Curve& c : plot_.curves) series_.push_back({c.label, c.color, {}, {}, c.markers});
  if (resumed_step > 0 && fs::exists(path_)) {
    std::ifstream old(path_);
    std::string line, kept;
    while (std::getline(old, line)) {
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (!keep(j, resumed_step)) continue;
      kept += line + "\n";
      add_points(j);
    }
    io::write_file_atomic(path_, kept);
  }
  out_.open(path_, resumed_step > 0 ? std::ios::app : std::ios::trunc);
  if (!out_) throw Error(path_ + ": cannot open for writing");
}

// A line that is not one of ours (torn, edited) is dropped rather than trusted.
bool RunLog::keep(const nlohmann::json& j, int64_t resumed_step) const {
  if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j["step"].is_number_integer() ||
      j["step"].get<int64_t>() > resumed_step)
    return false;
  for (const Curve& c : plot_.curves)
    if (j.contains(c.field) && !j[c.field].is_number()) return false;
  return true;
}

void RunLog::add_points(const nlohmann::json& j) {
  for (size_t i = 0; i < plot_.curves.size(); ++i)
    if (j.contains(plot_.curves[i].field)) {
      series_[i].x.push_back(j["step"].get<double>());
      series_[i].y.push_back(j[plot_.curves[i].field].get<double>());
    }
}

void RunLog::write(const nlohmann::json& line) {
  if (!engine::dist::is_lead()) return;
  out_ << line.dump() << "\n" << std::flush;
  add_points(line);
}

void RunLog::plot() const {
  if (!engine::dist::is_lead()) return;
  io::Chart chart;
  chart.title = plot_.title;
  chart.x_label = "step";
  chart.y_label = plot_.y_label;
  chart.series = series_;
  io::write_svg((fs::path(dir_) / "loss.svg").string(), chart);
}

}  // namespace dnabert::models
