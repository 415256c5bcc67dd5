#include "io/formats/checkpoint.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "base/error.h"
#include "io/formats/json_read.h"
#include "io/formats/atomic_file.h"

namespace fs = std::filesystem;

namespace dnabert::io {
namespace {

constexpr const char* kConfig = "config.json";
constexpr const char* kWeights = "model.safetensors";
constexpr const char* kVocab = "vocab.txt";
constexpr const char* kOptimizer = "optimizer.safetensors";
constexpr const char* kTrainerState = "trainer_state.json";
constexpr const char* kPrefix = "checkpoint-";

std::string join(const std::string& dir, const char* name) { return (fs::path(dir) / name).string(); }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": read failed");
  return ss.str();
}

nlohmann::json read_json(const std::string& path) {
  std::string text = read_bytes(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path + ": not valid JSON (at byte " + std::to_string(e.byte) + ")");
  } catch (const nlohmann::json::exception& e) {  // e.g. a number beyond double (1e400)
    throw Error(path + ": unreadable JSON: " + json_error_text(e));
  }
}

void write_json(const std::string& path, const nlohmann::json& j) {
  std::string text;
  try {
    text = j.dump(2) + "\n";
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": cannot encode JSON: " + e.what());
  }
  write_file_atomic(path, text);
}

std::vector<NamedTensor> read_tensors(const std::string& path) {
  SafetensorsFile f = read_safetensors(path);
  std::vector<NamedTensor> out;
  out.reserve(f.tensors.size());
  for (auto& [name, t] : f.tensors) out.push_back({name, t});  // std::map: name order
  return out;
}

// The step of a directory named checkpoint-<digits>, or -1.
int64_t checkpoint_step(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return -1;
  std::string_view digits(name);
  digits.remove_prefix(std::strlen(kPrefix));
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  int64_t step = -1;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), step);
  return ec == std::errc() ? step : -1;
}

// (step, path) of every finished ROOT/checkpoint-<n>, oldest first.
std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& root) {
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  for (auto it = fs::directory_iterator(root, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    int64_t step = checkpoint_step(it->path().filename().string());
    if (step >= 0 && it->is_directory()) out.emplace_back(step, it->path().string());
  }
  if (ec) throw Error(root + ": cannot list: " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<NamedTensor> named_tensors(const engine::ParamSet& params) {
  std::vector<NamedTensor> out;
  out.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) out.push_back({params.name(i), params[i]});
  return out;
}

void write_checkpoint(const std::string& dir, const CheckpointData& data) {
  if (!data.config.is_object()) throw Error(join(dir, kConfig) + ": the config must be a JSON object");
  AtomicDir out(dir);
  write_json(out.file(kConfig), data.config);
  // transformers' from_pretrained rejects safetensors files without format metadata.
  write_safetensors(out.file(kWeights), data.weights, {{"format", "pt"}});
  write_file_atomic(out.file(kVocab), data.vocab_text);
  if (!data.optimizer.empty()) write_safetensors(out.file(kOptimizer), data.optimizer, {{"format", "pt"}});
  if (!data.trainer_state.is_null()) write_json(out.file(kTrainerState), data.trainer_state);
  for (const auto& [name, bytes] : data.extra_files) write_file_atomic(out.file(name), bytes);
  out.commit();
}

std::string write_numbered_checkpoint(const std::string& root, int64_t step, const CheckpointData& data,
                                      int keep_last) {
  if (step < 0) throw Error(root + ": checkpoint step must be >= 0, got " + std::to_string(step));
  if (keep_last < 0) throw Error(root + ": keep_last must be >= 0, got " + std::to_string(keep_last));
  std::string dir = join(root, (kPrefix + std::to_string(step)).c_str());
  write_checkpoint(dir, data);
  if (keep_last == 0) return dir;

  auto others = list_checkpoints(root);
  std::erase_if(others, [&](const auto& c) { return c.first == step; });
  // The new checkpoint counts towards keep_last even when its step is not the largest
  // (a run resumed from an older checkpoint): what was just written must survive.
  size_t keep_others = static_cast<size_t>(keep_last) - 1;
  for (size_t i = 0; i + keep_others < others.size(); ++i) {
    std::error_code ec;
    fs::remove_all(others[i].second, ec);
    if (ec) throw Error(others[i].second + ": cannot delete old checkpoint: " + ec.message());
  }
  return dir;
}

std::string latest_checkpoint(const std::string& root) {
  auto all = list_checkpoints(root);
  return all.empty() ? std::string() : all.back().second;
}

CheckpointData read_checkpoint(const std::string& dir, bool with_training_state) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(dir + ": no such checkpoint directory");
  CheckpointData data;
  data.config = read_json(join(dir, kConfig));
  if (!data.config.is_object()) throw Error(join(dir, kConfig) + ": not a JSON object");

  std::string weights = join(dir, kWeights);
  if (!fs::exists(weights, ec) && fs::exists(join(dir, "pytorch_model.bin"), ec))
    throw Error(weights + ": not found; the directory has only pytorch_model.bin (a pickle), "
                "import it with: dnabert convert --input DIR --out NEW_DIR");
  data.weights = read_tensors(weights);
  data.vocab_text = read_bytes(join(dir, kVocab));

  if (with_training_state) {
    if (fs::exists(join(dir, kOptimizer), ec)) data.optimizer = read_tensors(join(dir, kOptimizer));
    if (fs::exists(join(dir, kTrainerState), ec)) data.trainer_state = read_json(join(dir, kTrainerState));
  }
  return data;
}

void check_weights(const std::string& file, const std::vector<NamedTensor>& weights,
                   const std::vector<std::pair<std::string, engine::Dims>>& expected) {
  std::map<std::string, const engine::Tensor*> have;
  for (const auto& w : weights) have[w.name] = &w.tensor;
  std::vector<std::string> problems;
  for (const auto& [name, shape] : expected) {
    auto it = have.find(name);
    if (it == have.end()) {
      problems.push_back("missing tensor " + name);
      continue;
    }
    const engine::Tensor& t = *it->second;
    if (t.shape() != shape)
      problems.push_back("tensor " + name + " has shape " + t.shape().str() + ", expected " + shape.str());
    else if (t.dtype() != engine::DType::F32)
      problems.push_back("tensor " + name + " has dtype " + engine::dtype_name(t.dtype()) + ", expected f32");
    have.erase(it);
  }
  for (const auto& [name, t] : have) problems.push_back("unexpected tensor " + name);
  if (problems.empty()) return;
  std::string msg = file + ": ";
  for (size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
  throw Error(msg);
}

}  // namespace dnabert::io
