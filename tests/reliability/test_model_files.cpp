// Hostile model files: config.json values that are out of range, wrap or do not
// match the weights; NaN weights; a trainer_state.json with fields of the wrong
// length, type or range. Each must end in a clear error naming the file and
// the field, a non-zero exit and no crash, and must leave the user's files as
// they were.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "io/formats/safetensors.h"
#include "models/network/config.h"
#include "tests/test_util.h"
#include "tests/tiny_model.h"

using namespace dnabert;
using namespace dnabert::testing;
namespace fs = std::filesystem;

namespace {

const std::string kLambda = source_path("tests/data/genomes/lambda_phage.fa.gz");

// Every file under `dir` with its bytes: what "unchanged" is checked against.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).string()] = slurp(e.path().string());
  return files;
}

nlohmann::json read_json_file(const std::string& path) { return nlohmann::json::parse(slurp(path)); }
void write_json_file(const std::string& path, const nlohmann::json& j) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << j.dump(1);
}

// A copy of a tiny model directory whose config.json has `key` set to `value` (raw JSON text).
std::string model_with_config(const std::string& name, const std::string& key, const std::string& value) {
  const std::string dir = tiny_model_dir(name, 0, 7);
  std::string text = slurp(dir + "/config.json");
  nlohmann::json j = nlohmann::json::parse(text);
  j.erase(key);
  std::string body = j.dump(1);
  body.insert(body.rfind('}'), ",\"" + key + "\": " + value + "\n");
  std::ofstream(dir + "/config.json", std::ios::binary | std::ios::trunc) << body;
  return dir;
}

std::string seqs_file() { return write_file("seqs.txt", "ACGTACGTTGCAACGT\nTTTTGGGGCCCCAAAA\n"); }

// Runs `embed` on `dir`; expects a clean failure naming every string of `names`.
void expect_embed_refused(const std::string& dir, const std::vector<std::string>& names) {
  const auto before = snapshot(dir);
  const std::string npy = temp_path("refused.npy");
  CliRun r = run_cli("embed --model " + dir + " --input " + seqs_file() + " --out " + npy);
  INFO(r.output);
  CHECK(r.status != 0);
  CHECK(r.status < 128);  // an error, not a signal
  for (const auto& n : names) CHECK_MESSAGE(r.output.find(n) != std::string::npos, "message lacks " << n);
  CHECK(r.output.find("json.exception") == std::string::npos);
  CHECK_FALSE(fs::exists(npy));
  CHECK(snapshot(dir) == before);
}

}  // namespace

TEST_CASE("config.json: integers that would wrap, fractions and wrong types are refused by field") {
  struct Case {
    const char* key;
    const char* value;
  };
  for (Case c : {Case{"hidden_size", "4294967552"}, Case{"num_hidden_layers", "4294967298"},
                 Case{"num_attention_heads", "4294967300"}, Case{"hidden_size", "256.5"},
                 Case{"vocab_size", "-69"}, Case{"intermediate_size", "\"64\""},
                 Case{"hidden_dropout_prob", "1e400"}, Case{"layer_norm_eps", "\"tiny\""},
                 Case{"num_hidden_layers", "18446744073709551616"}}) {
    const std::string key = c.key, value = c.value;
    CAPTURE(key);
    CAPTURE(value);
    const std::string dir = model_with_config(std::string("cfg_") + c.key, c.key, c.value);
    // A number beyond double fails while parsing, before any field is known: the value is named instead.
    expect_embed_refused(dir, {"config.json", value == "1e400" ? value : key});
  }
}

TEST_CASE("config.json: the in-range parser accepts integral floats and keeps the values") {
  nlohmann::json j = tiny_config(0).to_json();
  j["hidden_size"] = 32.0;
  const models::BertConfig c = models::BertConfig::from_json(j, "x/config.json");
  CHECK(c.hidden_size == 32);
  CHECK(c.num_hidden_layers == 2);
}

TEST_CASE("config.json: a model too large for memory, or unlike its weights, is refused before it is built") {
  // 10^6 layers: over any machine's memory; named by field before any allocation.
  expect_embed_refused(model_with_config("cfg_huge", "num_hidden_layers", "1000000"),
                       {"config.json", "num_hidden_layers", "too large"});
  // 1,000 layers would fit, but the weights hold 2: refused by comparing them, not after building.
  expect_embed_refused(model_with_config("cfg_1000", "num_hidden_layers", "1000"),
                       {"config.json", "num_hidden_layers", "model.safetensors", "2 encoder layers"});
  // A vocabulary the embedding table does not have.
  expect_embed_refused(model_with_config("cfg_vocab", "hidden_size", "64"), {"config.json", "hidden_size"});
}

TEST_CASE("model.safetensors: NaN or infinite weights are refused on load") {
  for (float bad : {std::nanf(""), INFINITY}) {
    CAPTURE(bad);
    const std::string dir = tiny_model_dir("nan_model", 0, 7);
    io::SafetensorsFile file = io::read_safetensors(dir + "/model.safetensors");
    const std::string victim = "bert.encoder.layer.1.output.dense.weight";
    REQUIRE(file.tensors.count(victim) == 1);
    file.tensors.at(victim).f32()[5] = bad;
    std::vector<io::NamedTensor> tensors;
    for (const auto& [name, t] : file.tensors) tensors.push_back({name, t});
    io::write_safetensors(dir + "/model.safetensors", tensors);
    expect_embed_refused(dir, {"model.safetensors", victim, "NaN or infinite"});
  }
}

TEST_CASE("trainer_state.json: every field is checked before --resume uses it") {
  const std::string run = scratch_dir("state_run");
  const std::string common = "pretrain --fasta " + kLambda +
                             " --k 3 --config tiny --max-len 24 --batch 2 --warmup 1 --eval-every 0 --eval-batches 1";
  CliRun first = run_cli(common + " --steps 2 --save-every 1 --out " + run);
  INFO(first.output);
  REQUIRE(first.status == 0);
  const std::string ckpt = run + "/checkpoint-2", state_file = ckpt + "/trainer_state.json";
  REQUIRE(fs::exists(state_file));
  const nlohmann::json good = read_json_file(state_file);
  REQUIRE(good["unigram_counts"].size() == 69);

  struct Case {
    const char* what;
    std::function<void(nlohmann::json&)> edit;
    const char* field;
  };
  const std::vector<Case> cases = {
      {"empty unigram_counts", [](nlohmann::json& j) { j["unigram_counts"] = nlohmann::json::array(); }, "unigram_counts"},
      {"two unigram_counts", [](nlohmann::json& j) { j["unigram_counts"] = {1, 2}; }, "unigram_counts"},
      {"one count short", [](nlohmann::json& j) { j["unigram_counts"].erase(68); }, "unigram_counts"},
      {"a negative count", [](nlohmann::json& j) { j["unigram_counts"][3] = -1; }, "unigram_counts"},
      {"unigram_counts not an array", [](nlohmann::json& j) { j["unigram_counts"] = "x"; }, "unigram_counts"},
      {"step a string", [](nlohmann::json& j) { j["step"] = "two"; }, "step"},
      {"step negative", [](nlohmann::json& j) { j["step"] = -5; }, "step"},
      {"step missing", [](nlohmann::json& j) { j.erase("step"); }, "step"},
      {"sampler not an object", [](nlohmann::json& j) { j["sampler"] = 3; }, "sampler"},
      {"cursor file negative", [](nlohmann::json& j) { j["sampler"]["cursor"]["file"] = -1; }, "sampler.cursor.file"},
      {"cursor record fractional", [](nlohmann::json& j) { j["sampler"]["cursor"]["record"] = 0.5; },
       "sampler.cursor.record"},
      {"state not an object", [](nlohmann::json& j) { j = nlohmann::json::array({1, 2}); }, "trainer_state.json"},
  };
  for (const auto& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    nlohmann::json bad = good;
    c.edit(bad);
    write_json_file(state_file, bad);
    const auto before = snapshot(run);
    CliRun r = run_cli(common + " --steps 4 --out " + run + " --resume " + ckpt);
    INFO(r.output);
    CHECK(r.status != 0);
    CHECK(r.status < 128);
    CHECK(r.output.find("trainer_state.json") != std::string::npos);
    CHECK(r.output.find(c.field) != std::string::npos);
    CHECK(r.output.find("json.exception") == std::string::npos);
    CHECK(snapshot(run) == before);
  }

  // A checkpoint past --steps: refused, naming both, and nothing written.
  write_json_file(state_file, good);
  const auto before = snapshot(run);
  CliRun past = run_cli(common + " --steps 1 --out " + run + " --resume " + ckpt);
  INFO(past.output);
  CHECK(past.status == 2);
  CHECK(past.output.find("past --steps 1") != std::string::npos);
  CHECK(snapshot(run) == before);

  // The intact state still resumes.
  CliRun ok = run_cli(common + " --steps 3 --out " + run + " --resume " + ckpt);
  INFO(ok.output);
  CHECK(ok.status == 0);
}
