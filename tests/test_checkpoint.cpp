// io/formats/atomic_file and io/formats/checkpoint: atomic files and directories (no temp
// left, old content kept when a write is abandoned), the checkpoint round trip,
// keep_last, latest_checkpoint ignoring unfinished writes, check_weights'
// message, and the error naming the file for each missing or corrupt file.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/tensor.h"
#include "io/formats/atomic_file.h"
#include "io/formats/checkpoint.h"
#include "io/formats/safetensors.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace dnabert;
using namespace dnabert::io;
using engine::Dims;
using engine::DType;
using engine::Tensor;

using namespace dnabert::testing;

namespace {

const std::string kPid = std::to_string(::getpid());

// A fresh directory per test case.
std::string fresh_dir(const std::string& name) {
  static struct TempDir {  // removed at exit
    fs::path path = fs::temp_directory_path() / ("dnabert_test_checkpoint_" + kPid);
    ~TempDir() { fs::remove_all(path); }
  } root;
  fs::path d = root.path / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

std::set<std::string> listing(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

CheckpointData sample(float scale) {
  CheckpointData d;
  d.config = {{"model_type", "bert"}, {"hidden_size", 4}, {"vocab_size", 3}, {"architectures", {"BertForMaskedLM"}}};
  Tensor emb = Tensor::from_vector({3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  Tensor dense = Tensor::from_vector({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}).transpose(0, 1);  // [4, 2] view
  for (float* p = emb.f32(); p != emb.f32() + 12; ++p) *p *= scale;
  d.weights = {{"bert.embeddings.word_embeddings.weight", emb}, {"bert.pooler.dense.weight", dense}};
  d.vocab_text = "[PAD]\r\n[UNK]\nAAAAAA";  // bytes kept exactly, no newline added
  return d;
}

void add_training_state(CheckpointData& d) {
  d.optimizer = {{"m.bert.pooler.dense.weight", Tensor::full({4, 2}, 0.25f)},
                 {"v.bert.pooler.dense.weight", Tensor::full({4, 2}, 0.5f)}};
  d.trainer_state = {{"step", 1200}, {"rng", {{"seed", 42}, {"counter", 987654321012LL}}}, {"sampler_cursor", 77}};
}

}  // namespace

TEST_CASE("write_file_atomic replaces the file and leaves no temporary") {
  std::string dir = fresh_dir("atomic_file");
  std::string path = dir + "/out.bin";
  write_file_atomic(path, std::string("first\0bytes", 11));
  CHECK(slurp(path) == std::string("first\0bytes", 11));
  write_file_atomic(path, "second");
  CHECK(slurp(path) == "second");
  CHECK(listing(dir) == std::set<std::string>{"out.bin"});

  {
    AtomicFile f(path);
    f.write("abandoned");
    CHECK(fs::exists(f.temp_path()));
    CHECK(f.temp_path() == path + ".tmp." + kPid);
  }  // destroyed uncommitted
  CHECK(slurp(path) == "second");
  CHECK(listing(dir) == std::set<std::string>{"out.bin"});

  AtomicFile g(path);
  g.write("header....");
  g.write("data");
  g.write_at(0, "HEADER");
  CHECK(g.size() == 14);
  CHECK_THROWS_WITH_AS(g.write_at(12, "xyz"), (path + ": write_at past the end of the data written so far").c_str(),
                       Error);
  g.commit();
  CHECK(slurp(path) == "HEADER....data");

  std::string missing = dir + "/no/such/out.bin";
  CHECK(error_of([&] { write_file_atomic(missing, "x"); }) ==
        missing + ": cannot create temporary file " + missing + ".tmp." + kPid + ": No such file or directory");
}

TEST_CASE("AtomicDir replaces a directory whole, or not at all") {
  std::string root = fresh_dir("atomic_dir");
  std::string path = root + "/ckpt";
  {
    AtomicDir d(path);
    write_file_atomic(d.file("a.txt"), "one");
    write_file_atomic(d.file("old_only.txt"), "gone later");
    d.commit();
  }
  CHECK(listing(path) == std::set<std::string>{"a.txt", "old_only.txt"});
  {
    AtomicDir d(path + "/");  // a trailing slash names the same directory
    write_file_atomic(d.file("a.txt"), "two");
    CHECK(slurp(path + "/a.txt") == "one");  // the old version is still complete
    d.commit();
  }
  CHECK(listing(path) == std::set<std::string>{"a.txt"});
  CHECK(slurp(path + "/a.txt") == "two");
  CHECK(listing(root) == std::set<std::string>{"ckpt"});  // no .tmp or .old left
  {
    AtomicDir d(path);
    write_file_atomic(d.file("a.txt"), "three");
  }  // abandoned
  CHECK(slurp(path + "/a.txt") == "two");
  CHECK(listing(root) == std::set<std::string>{"ckpt"});
}

TEST_CASE("checkpoint round trip, with and without training state") {
  std::string root = fresh_dir("round_trip");
  std::string dir = root + "/ckpt";
  CheckpointData d = sample(1.0f);
  write_checkpoint(dir, d);
  CHECK(listing(dir) == std::set<std::string>{"config.json", "model.safetensors", "vocab.txt"});
  CHECK(slurp(dir + "/vocab.txt") == d.vocab_text);
  CHECK(read_safetensors_header(dir + "/model.safetensors").metadata == StringMap{{"format", "pt"}});

  add_training_state(d);
  write_checkpoint(dir, d);
  CHECK(listing(dir) == std::set<std::string>{"config.json", "model.safetensors", "vocab.txt", "optimizer.safetensors",
                                              "trainer_state.json"});

  CheckpointData r = read_checkpoint(dir);
  CHECK(r.config == d.config);
  CHECK(r.vocab_text == d.vocab_text);
  REQUIRE(r.weights.size() == 2);
  CHECK(r.weights[0].name == "bert.embeddings.word_embeddings.weight");
  CHECK(r.weights[0].tensor.shape() == Dims{3, 4});
  CHECK(r.weights[0].tensor.to_vector() == d.weights[0].tensor.to_vector());
  CHECK(r.weights[1].name == "bert.pooler.dense.weight");
  CHECK(r.weights[1].tensor.shape() == Dims{4, 2});
  CHECK(r.weights[1].tensor.to_vector() == std::vector<float>{1, 5, 2, 6, 3, 7, 4, 8});
  REQUIRE(r.optimizer.size() == 2);
  CHECK(r.optimizer[1].name == "v.bert.pooler.dense.weight");
  CHECK(r.optimizer[1].tensor.to_vector() == std::vector<float>(8, 0.5f));
  CHECK(r.trainer_state["step"] == 1200);
  CHECK(r.trainer_state["rng"]["counter"].get<int64_t>() == 987654321012LL);
  CHECK(r.has_training_state());

  CheckpointData w = read_checkpoint(dir, /*with_training_state=*/false);
  CHECK(w.optimizer.empty());
  CHECK(w.trainer_state.is_null());
  CHECK_FALSE(w.has_training_state());
  CHECK(w.weights.size() == 2);

  CHECK(error_of([&] { write_checkpoint(root + "/bad", CheckpointData{}); }) ==
        root + "/bad/config.json: the config must be a JSON object");
  CHECK_FALSE(fs::exists(root + "/bad"));
}

TEST_CASE("numbered checkpoints: keep_last deletes the oldest, latest is numeric, unfinished writes ignored") {
  std::string root = fresh_dir("numbered") + "/run";  // created on first write
  CHECK(latest_checkpoint(root) == "");
  CHECK(write_numbered_checkpoint(root, 10, sample(1), 2) == root + "/checkpoint-10");
  write_numbered_checkpoint(root, 20, sample(2), 2);
  write_numbered_checkpoint(root, 100, sample(3), 2);
  CHECK(listing(root) == std::set<std::string>{"checkpoint-20", "checkpoint-100"});
  CHECK(latest_checkpoint(root) == root + "/checkpoint-100");  // 100 > 20, though "100" < "20"
  CHECK(read_checkpoint(latest_checkpoint(root)).weights[0].tensor.to_vector()[1] == 3.0f);

  // Leftovers of an interrupted write and unrelated names are not checkpoints.
  fs::create_directories(root + "/checkpoint-500.tmp.123");
  fs::create_directories(root + "/checkpoint-600.old.123");
  fs::create_directories(root + "/checkpoint-abc");
  fs::create_directories(root + "/checkpoint-");
  std::ofstream(root + "/checkpoint-700") << "a file, not a directory";
  CHECK(latest_checkpoint(root) == root + "/checkpoint-100");

  // Rewriting a step replaces it; keep_last = 0 keeps everything.
  write_numbered_checkpoint(root, 100, sample(4), 0);
  write_numbered_checkpoint(root, 200, sample(5), 0);
  CHECK(read_checkpoint(root + "/checkpoint-100").weights[0].tensor.to_vector()[1] == 4.0f);
  CHECK(fs::exists(root + "/checkpoint-20"));

  // A run resumed from an older step keeps what it just wrote.
  write_numbered_checkpoint(root, 50, sample(6), 2);
  std::set<std::string> left;
  for (const auto& n : listing(root))
    if (n == "checkpoint-20" || n == "checkpoint-50" || n == "checkpoint-100" || n == "checkpoint-200") left.insert(n);
  CHECK(left == std::set<std::string>{"checkpoint-50", "checkpoint-200"});
  CHECK(fs::exists(root + "/checkpoint-500.tmp.123"));  // not ours to delete

  CHECK(error_of([&] { write_numbered_checkpoint(root, -1, sample(1), 2); }) ==
        root + ": checkpoint step must be >= 0, got -1");
}

TEST_CASE("check_weights lists every missing, unexpected, mis-shaped and mis-typed tensor") {
  std::vector<NamedTensor> w = {{"bert.embeddings.word_embeddings.weight", Tensor::zeros({4101, 8})},
                                {"bert.encoder.layer.0.attention.self.query.bias", Tensor::zeros({8})},
                                {"cls.predictions.bias", Tensor::zeros({69}, nullptr, DType::I32)},
                                {"extra.weight", Tensor::zeros({1})}};
  std::vector<std::pair<std::string, Dims>> expected = {{"bert.embeddings.word_embeddings.weight", {69, 8}},
                                                        {"bert.encoder.layer.0.attention.self.query.bias", {8}},
                                                        {"bert.pooler.dense.weight", {8, 8}},
                                                        {"cls.predictions.bias", {69}}};
  CHECK(error_of([&] { check_weights("model.safetensors", w, expected); }) ==
        "model.safetensors: tensor bert.embeddings.word_embeddings.weight has shape [4101, 8], expected [69, 8]; "
        "missing tensor bert.pooler.dense.weight; tensor cls.predictions.bias has dtype i32, expected f32; "
        "unexpected tensor extra.weight");
  w.erase(w.begin() + 3);
  w[0].tensor = Tensor::zeros({69, 8});
  w[2].tensor = Tensor::zeros({69});
  w.push_back({"bert.pooler.dense.weight", Tensor::zeros({8, 8})});
  CHECK_NOTHROW(check_weights("model.safetensors", w, expected));
}

TEST_CASE("reading a damaged checkpoint names the file") {
  std::string root = fresh_dir("damaged");
  std::string dir = root + "/ckpt";
  CheckpointData d = sample(1);
  add_training_state(d);
  auto fresh = [&] { write_checkpoint(dir, d); };
  auto read_err = [&] { return error_of([&] { read_checkpoint(dir); }); };

  CHECK(error_of([&] { read_checkpoint(root + "/nope"); }) == root + "/nope: no such checkpoint directory");

  fresh();
  fs::remove(dir + "/config.json");
  CHECK(read_err() == dir + "/config.json: cannot open: No such file or directory");
  fresh();
  std::ofstream(dir + "/config.json") << "{\"hidden_size\": 4,";
  CHECK(read_err() == dir + "/config.json: not valid JSON (at byte 19)");
  fresh();
  std::ofstream(dir + "/config.json") << "[4]";
  CHECK(read_err() == dir + "/config.json: not a JSON object");

  fresh();
  fs::remove(dir + "/model.safetensors");
  CHECK(read_err() == dir + "/model.safetensors: cannot open: No such file or directory");
  std::ofstream(dir + "/pytorch_model.bin") << "PK";
  CHECK(read_err() == dir + "/model.safetensors: not found; the directory has only pytorch_model.bin (a pickle), "
                            "import it with: dnabert convert --input DIR --out NEW_DIR");

  fresh();
  std::string model = slurp(dir + "/model.safetensors");
  std::ofstream(dir + "/model.safetensors", std::ios::binary) << model.substr(0, model.size() - 4);
  CHECK(read_err() == dir + "/model.safetensors: truncated: tensor bert.pooler.dense.weight ends at data byte 80, "
                            "but the file holds only 76 bytes of data");

  fresh();
  fs::remove(dir + "/vocab.txt");
  CHECK(read_err() == dir + "/vocab.txt: cannot open: No such file or directory");

  fresh();
  std::ofstream(dir + "/optimizer.safetensors") << "garbage";
  CHECK(read_err() == dir + "/optimizer.safetensors: not a safetensors file: 7 bytes, too short for the 8-byte "
                            "header length");
  CHECK(read_checkpoint(dir, false).weights.size() == 2);  // training state not read, not checked
  fresh();
  std::ofstream(dir + "/trainer_state.json") << "{\"step\": }";
  CHECK(read_err() == dir + "/trainer_state.json: not valid JSON (at byte 10)");

  // Wrong shapes after a correct read: check_weights names the file the caller passes.
  fresh();
  CheckpointData r = read_checkpoint(dir);
  CHECK(error_of([&] {
          check_weights(dir + "/model.safetensors", r.weights,
                        {{"bert.embeddings.word_embeddings.weight", {3, 4}}, {"bert.pooler.dense.weight", {2, 4}}});
        }) == dir + "/model.safetensors: tensor bert.pooler.dense.weight has shape [4, 2], expected [2, 4]");
}
