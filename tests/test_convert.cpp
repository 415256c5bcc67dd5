// io::read_torch_checkpoint and `dnabert convert` on checkpoints torch itself
// wrote (tests/oracle/make_torch_fixture.py): the reader returns exactly the
// tensors torch saved, the conversion renames HF/TF names to ours, the
// converted model embeds as torch computes, and every malformed input is an
// error naming the file.
#include <doctest/doctest.h>

#include <bit>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "io/formats/npy.h"
#include "io/formats/safetensors.h"
#include "io/formats/torch_checkpoint.h"
#include "models/network/convert.h"
#include "models/network/loading.h"
#include "tests/stored_zip.h"
#include "tests/test_util.h"

using namespace dnabert;
using namespace dnabert::testing;
using namespace std::string_literals;
namespace fs = std::filesystem;

namespace {

const std::string kFixtures = std::string(DNABERT_SOURCE_DIR) + "/tests/fixtures";

void spit(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

bool same(const engine::Tensor& a, const engine::Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  if (a.dtype() == engine::DType::I32)
    return std::equal(a.i32(), a.i32() + a.numel(), b.i32());
  return a.to_vector() == b.to_vector();  // exact: f16/bf16 widen exactly, f64 rounds as numpy does
}

// An HF directory: config.json and vocab.txt of hf_tiny, and `weights` under `file`.
std::string hf_dir(const std::string& name, const std::string& file, const std::string& weights) {
  const std::string dir = scratch_dir(name);
  fs::create_directories(dir);
  fs::copy_file(kFixtures + "/hf_tiny/config.json", dir + "/config.json");
  fs::copy_file(kFixtures + "/hf_tiny/vocab.txt", dir + "/vocab.txt");
  spit(dir + "/" + file, weights);
  return dir;
}

std::string pickle_str(const std::string& s) {
  std::string o = "X";
  put(o, s.size(), 4);
  return o + s;
}
std::string pickle_int(int64_t v) {  // LONG1, 8 bytes
  std::string o = "\x8a\x08";
  put(o, static_cast<uint64_t>(v), 8);
  return o;
}
std::string pickle_global(const std::string& module, const std::string& name) { return "c" + module + "\n" + name + "\n"; }

// <callable>(storage '0' of 6 elements, offset, size, stride, False, OrderedDict()) as torch
// writes it; with `parameter`, wrapped in _rebuild_parameter(tensor, False, OrderedDict()).
std::string tensor_value(int64_t offset, std::vector<int64_t> size, std::vector<int64_t> stride,
                         const std::string& callable = "_rebuild_tensor_v2", bool parameter = false,
                         const std::string& storage_type = "FloatStorage") {
  std::string t = pickle_global("torch._utils", callable) + "((" + pickle_str("storage") +
                  pickle_global("torch", storage_type) + pickle_str("0") + pickle_str("cpu") + pickle_int(6) + "tQ" +
                  pickle_int(offset) + "(";
  for (int64_t v : size) t += pickle_int(v);
  t += "t(";
  for (int64_t v : stride) t += pickle_int(v);
  t += "t\x89h\x00)RtR"s;
  if (parameter) t = pickle_global("torch._utils", "_rebuild_parameter") + "(" + t + "\x89h\x00)RtR"s;
  return t;
}

// OrderedDict {name: value, ...} as torch writes it (memo 0 is OrderedDict, which tensor_value uses).
std::string state_dict(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string p = "\x80\x02" + pickle_global("collections", "OrderedDict") + "q\x00)R("s;
  for (const auto& [name, value] : items) p += pickle_str(name) + value;
  return p + "u.";
}

// OrderedDict {"w": tensor_value(...)}.
std::string tensor_pickle(int64_t offset, std::vector<int64_t> size, std::vector<int64_t> stride,
                          const std::string& callable = "_rebuild_tensor_v2", bool parameter = false,
                          const std::string& storage_type = "FloatStorage") {
  return state_dict({{"w", tensor_value(offset, std::move(size), std::move(stride), callable, parameter, storage_type)}});
}

std::string storage_0to5() {
  std::string s;
  for (int i = 0; i < 6; ++i) {
    float v = static_cast<float>(i);
    s.append(reinterpret_cast<const char*>(&v), 4);
  }
  return s;
}

}  // namespace

TEST_CASE("read_torch_checkpoint returns exactly the tensors torch saved") {
  for (const char* variant : {"hf_tiny", "hf_tiny_tf"}) {
    CAPTURE(variant);
    const std::string path = kFixtures + "/" + variant + "/pytorch_model.bin";
    io::TorchCheckpoint ck = io::read_torch_checkpoint(path);
    const std::string expected_path = kFixtures + "/hf_tiny_expected/" + variant + ".safetensors";
    io::SafetensorsHeader header = io::read_safetensors_header(expected_path);
    io::SafetensorsFile expected = io::read_safetensors(expected_path);
    CHECK(ck.skipped.empty());
    // Same names in the same (the state dict's) order, same shapes, same values.
    REQUIRE(ck.tensors.size() == header.tensors.size());
    for (size_t i = 0; i < ck.tensors.size(); ++i) {
      CAPTURE(ck.tensors[i].name);
      CHECK(ck.tensors[i].name == header.tensors[i].name);
      CHECK(ck.tensors[i].tensor.is_contiguous());
      CHECK(same(ck.tensors[i].tensor, expected.tensors.at(ck.tensors[i].name)));
    }
  }
  // Spot checks of what the fixture exercises: the int64 buffer with stride 0
  // (expand), q/k/v at storage offsets of one storage, a float16 tensor.
  io::TorchCheckpoint ck = io::read_torch_checkpoint(kFixtures + "/hf_tiny/pytorch_model.bin");
  std::map<std::string, engine::Tensor> t;
  for (auto& nt : ck.tensors) t[nt.name] = nt.tensor;
  const engine::Tensor& pos = t.at("bert.embeddings.position_ids");
  CHECK(pos.dtype() == engine::DType::I32);
  CHECK(pos.shape() == engine::Dims{1, 16});
  CHECK(pos.i32()[15] == 15);
  const std::string layer = "bert.encoder.layer.0.attention.self.";
  CHECK(t.at(layer + "query.weight").to_vector() != t.at(layer + "key.weight").to_vector());
  // Values that went through float16 / bfloat16 have no mantissa bits those types lack.
  for (float v : t.at("bert.embeddings.LayerNorm.weight").to_vector()) CHECK((std::bit_cast<uint32_t>(v) & 0x1FFF) == 0);
  for (float v : t.at("cls.predictions.transform.LayerNorm.bias").to_vector())
    CHECK((std::bit_cast<uint32_t>(v) & 0xFFFF) == 0);
}

TEST_CASE("views, ZIP64 archives and the hand-made pickle subset") {
  const std::string dir = scratch_dir("handmade");
  fs::create_directories(dir);
  // offset 1, size [2, 2], stride [1, 2] over 0..5: [[1, 3], [2, 4]]
  for (bool zip64 : {false, true}) {
    CAPTURE(zip64);
    const std::string path = dir + (zip64 ? "/zip64.bin" : "/plain.bin");
    spit(path, make_zip({{"archive/data.pkl", tensor_pickle(1, {2, 2}, {1, 2})},
                         {"archive/data/0", storage_0to5()},
                         {"archive/version", "3\n"}},
                        zip64));
    io::TorchCheckpoint ck = io::read_torch_checkpoint(path);
    REQUIRE(ck.tensors.size() == 1);
    CHECK(ck.tensors[0].name == "w");
    CHECK(ck.tensors[0].tensor.shape() == engine::Dims{2, 2});
    CHECK(ck.tensors[0].tensor.to_vector() == std::vector<float>{1, 3, 2, 4});
  }
  // A parameter wrapper is unwrapped.
  spit(dir + "/param.bin", make_zip({{"archive/data.pkl", tensor_pickle(0, {6}, {1}, "_rebuild_tensor_v2", true)},
                                     {"archive/data/0", storage_0to5()}},
                                    true));
  CHECK(io::read_torch_checkpoint(dir + "/param.bin").tensors.at(0).tensor.to_vector() ==
        std::vector<float>{0, 1, 2, 3, 4, 5});

  // Tensors the reader does not convert are listed, not fatal: int64 beyond
  // the i32 range, and storage types other than float/half/bf16/double/long/int.
  std::string longs;
  for (int64_t v : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{1} << 40, int64_t{5}, int64_t{6}}) put(longs, static_cast<uint64_t>(v), 8);
  spit(dir + "/long.bin", make_zip({{"archive/data.pkl", tensor_pickle(0, {6}, {1}, "_rebuild_tensor_v2", false,
                                                                       "LongStorage")},
                                    {"archive/data/0", longs}},
                                   false));
  io::TorchCheckpoint longs_ck = io::read_torch_checkpoint(dir + "/long.bin");
  CHECK(longs_ck.tensors.empty());
  CHECK(longs_ck.skipped == std::vector<std::string>{"w: int64 values outside the int32 range"});
  spit(dir + "/bool.bin", make_zip({{"archive/data.pkl", tensor_pickle(0, {6}, {1}, "_rebuild_tensor_v2", false,
                                                                       "BoolStorage")},
                                    {"archive/data/0", "\x01\x00\x01\x00\x01\x00"s}},
                                   false));
  CHECK(io::read_torch_checkpoint(dir + "/bool.bin").skipped ==
        std::vector<std::string>{"w: storage type torch.BoolStorage is not supported"});

  // Views may hold more elements than their storage (stride 0), each read
  // into a tensor of its own; in all at most 2^26 elements plus two per byte
  // of the file, so that a small file cannot make the reader allocate without
  // bound (a 2 KB file of such views asked for 256 MB each before).
  spit(dir + "/expanded.bin", make_zip({{"archive/data.pkl", tensor_pickle(0, {4096}, {0})},
                                        {"archive/data/0", storage_0to5()}},
                                       false));
  CHECK(io::read_torch_checkpoint(dir + "/expanded.bin").tensors.at(0).tensor.to_vector() ==
        std::vector<float>(4096, 0.0f));
  spit(dir + "/expanded2.bin",
       make_zip({{"archive/data.pkl", state_dict({{"a", tensor_value(0, {4096}, {0})},
                                                  {"b", tensor_value(5, {int64_t{1} << 26}, {0})}})},
                 {"archive/data/0", storage_0to5()}},
                false));
  CHECK(error_of([&] { io::read_torch_checkpoint(dir + "/expanded2.bin"); }) ==
        dir + "/expanded2.bin: tensor b: a view of 67108864 elements over a storage of 6 is implausibly large (corrupt "
              "file?): with the tensors before it, it exceeds 2^26 elements plus two per byte of the file");

  struct Bad {
    const char* what;
    std::string pickle, storage;
    const char* message;
  };
  const std::vector<Bad> bad = {
      {"view beyond the storage", tensor_pickle(3, {2, 2}, {1, 2}), storage_0to5(), "reach outside storage 0 of 6"},
      {"negative stride", tensor_pickle(0, {2}, {-1}), storage_0to5(), "reach outside storage"},
      {"foreign callable", tensor_pickle(0, {2}, {1}, "_rebuild_qtensor"), storage_0to5(),
       "unsupported callable torch._utils._rebuild_qtensor"},
      {"truncated pickle", tensor_pickle(0, {2}, {1}).substr(0, 60), storage_0to5(), "pickle ends early"},
  };
  for (const Bad& b : bad) {
    CAPTURE(b.what);
    const std::string path = dir + "/bad.bin";
    spit(path, make_zip({{"archive/data.pkl", b.pickle}, {"archive/data/0", b.storage}}, true));
    const std::string msg = error_of([&] { io::read_torch_checkpoint(path); });
    CHECK(msg.find(path) == 0);
    CHECK_MESSAGE(msg.find(b.message) != std::string::npos, msg);
  }
  // A flipped byte in a storage fails its CRC.
  std::string zip = make_zip({{"archive/data.pkl", tensor_pickle(0, {6}, {1})}, {"archive/data/0", storage_0to5()}}, false);
  zip[zip.find(storage_0to5()) + 5] ^= 0x40;
  spit(dir + "/crc.bin", zip);
  CHECK(error_of([&] { io::read_torch_checkpoint(dir + "/crc.bin"); }).find("CRC-32 mismatch") != std::string::npos);
}

TEST_CASE("pickles whose objects refer to themselves or nest deeply are freed, without recursion") {
  const std::string dir = scratch_dir("torch_pickle_graphs");
  fs::create_directories(dir);
  struct Case {
    const char* what;
    std::string pickle;
    const char* message;
  };
  // The first two leaked (make asan-test reports it); the third, a 2 MB file,
  // overflowed the stack when its million nested lists were destroyed.
  const std::vector<Case> cases = {
      {"a list appended to itself", "\x80\x02]2a."s, "the pickled object is not a dict of tensors"},
      {"a dict holding itself", "\x80\x02}22s."s, "a state-dict key is not a string"},
      {"a million nested lists", "\x80\x02"s + std::string(1000000, ']') + std::string(999999, 'a') + ".",
       "the pickled object is not a dict of tensors"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const std::string path = dir + "/graph.bin";
    spit(path, make_zip({{"archive/data.pkl", c.pickle}}, false));
    CHECK(error_of([&] { io::read_torch_checkpoint(path); }) == path + ": archive/data.pkl: " + c.message);
  }
}

TEST_CASE("malformed torch files are errors naming the file and the cause") {
  const std::string bad = kFixtures + "/hf_tiny_bad/";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {bad + "deflated.bin", "is compressed (method 8, deflate)"},
      {bad + "bad_opcode.bin", "unsupported pickle opcode 0xff"},
      {bad + "missing_storage.bin", "storage entry archive/data/1 is missing"},
      {bad + "short_storage.bin", "holds 8 bytes, expected 6 elements of 4 bytes"},
      {bad + "legacy.bin", "legacy PyTorch format"},
      {kFixtures + "/hf_tiny/config.json", "not a PyTorch checkpoint"},
  };
  for (const auto& [path, cause] : cases) {
    CAPTURE(path);
    const std::string msg = error_of([&] { io::read_torch_checkpoint(path); });
    CHECK(msg.find(path) == 0);
    CHECK_MESSAGE(msg.find(cause) != std::string::npos, msg);
  }
  // Truncated anywhere: an error, never a crash.
  const std::string good = slurp(kFixtures + "/hf_tiny/pytorch_model.bin");
  const std::string cut = scratch_dir("truncated.bin");
  for (size_t n : {size_t{0}, size_t{3}, size_t{100}, good.size() / 2, good.size() - 30, good.size() - 1}) {
    CAPTURE(n);
    spit(cut, good.substr(0, n));
    const std::string msg = error_of([&] { io::read_torch_checkpoint(cut); });
    CHECK(msg.find(cut) == 0);
  }
}

TEST_CASE("dnabert convert writes a model that embeds as torch computes") {
  const nlohmann::json cls = nlohmann::json::parse(slurp(kFixtures + "/hf_tiny_expected/cls_embeddings.json"));
  const std::string seqs = scratch_dir("seqs.txt");
  std::ofstream(seqs) << "ACGTACGTTGCA\nTTTTGGGGCCCCAAAA\nACG\n";
  REQUIRE(cls["sequences"] == nlohmann::json({"ACGTACGTTGCA", "TTTTGGGGCCCCAAAA", "ACG"}));

  struct Variant {
    const char* name;
    std::set<std::string> dropped;                // names in the file
    std::map<std::string, std::string> renamed;   // name in the file -> ours (a sample)
    std::vector<const char*> summary;
  };
  const std::vector<Variant> variants = {
      {"hf_tiny",
       {"bert.embeddings.position_ids", "cls.predictions.decoder.weight", "cls.predictions.decoder.bias"},
       {},
       {"read 31 tensors", "renamed 0", "dropped 3", "tied to bert.embeddings.word_embeddings.weight (equal)",
        "the same as cls.predictions.bias", "28 tensors", "k = 3 (69 tokens)", "heads: masked LM, pooler"}},
      {"hf_tiny_tf",
       {"cls.seq_relationship.weight", "cls.seq_relationship.bias",
        "encoder.layer.0.attention.self.distance_embedding.weight"},
       {{"embeddings.LayerNorm.gamma", "bert.embeddings.LayerNorm.weight"},
        {"encoder.layer.0.output.LayerNorm.beta", "bert.encoder.layer.0.output.LayerNorm.bias"},
        {"pooler.dense.weight", "bert.pooler.dense.weight"}},
       {"renamed 23", "LayerNorm gamma/beta -> weight/bias: 6", "added the bert. prefix: 23",
        "next-sentence-prediction head", "distance_embedding.weight: unknown to BERT", "heads: pooler"}},
  };
  for (const Variant& v : variants) {
    CAPTURE(v.name);
    const std::string in = kFixtures + "/" + v.name, out = scratch_dir(std::string(v.name) + "_out");
    int status = 0;
    const std::string text = run_cli("convert --input " + in + " --out " + out, status);
    INFO(text);
    REQUIRE(status == 0);
    for (const char* s : v.summary) CHECK_MESSAGE(text.find(s) != std::string::npos, s);

    // Every tensor torch saved is in the output under our name, with torch's values, but the dropped ones.
    io::SafetensorsFile expected = io::read_safetensors(kFixtures + "/hf_tiny_expected/" + v.name + ".safetensors");
    io::SafetensorsFile written = io::read_safetensors(out + "/model.safetensors");
    std::set<std::string> names;
    for (const auto& [name, t] : expected.tensors) {
      if (v.dropped.count(name)) continue;
      std::string ours = name;
      if (ours.rfind("bert.", 0) != 0 && ours.rfind("cls.", 0) != 0) ours = "bert." + ours;
      if (ours.size() > 6 && ours.compare(ours.size() - 6, 6, ".gamma") == 0) ours.replace(ours.size() - 5, 5, "weight");
      if (ours.size() > 5 && ours.compare(ours.size() - 5, 5, ".beta") == 0) ours.replace(ours.size() - 4, 4, "bias");
      if (v.renamed.count(name)) CHECK(v.renamed.at(name) == ours);
      names.insert(ours);
      CAPTURE(ours);
      REQUIRE(written.tensors.count(ours));
      CHECK(same(written.tensors.at(ours), t));
    }
    CHECK(names.size() == written.tensors.size());
    CHECK(slurp(out + "/vocab.txt") == slurp(in + "/vocab.txt"));
    const auto config = nlohmann::json::parse(slurp(out + "/config.json"));
    CHECK(config["vocab_size"] == 69);
    CHECK(config["rnn"] == "lstm");  // DNABERT's own keys are kept
    CHECK_NOTHROW(models::load_model(out, models::Heads::None));

    // embed runs on it and gives the [CLS] vectors of a torch forward pass.
    const std::string npy = out + "/emb.npy";
    const std::string etext = run_cli("embed --model " + out + " --input " + seqs + " --out " + npy, status);
    INFO(etext);
    REQUIRE(status == 0);
    engine::Tensor e = io::read_npy(npy);
    REQUIRE(e.shape() == engine::Dims{3, 8});
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t c = 0; c < 8; ++c)
        CHECK(e.f32()[i * 8 + c] == doctest::Approx(cls[v.name][i][c].get<double>()).epsilon(1e-4));
    // The MLM head came along from hf_tiny; hf_tiny_tf (a bare BertModel) has none.
    if (std::string(v.name) == "hf_tiny") CHECK_NOTHROW(models::load_model(out, models::Heads::MaskedLM));
    else CHECK_THROWS_AS(models::load_model(out, models::Heads::MaskedLM), Error);
  }
}

TEST_CASE("import_hf_checkpoint reads model.safetensors and lists missing tensors") {
  io::SafetensorsFile expected = io::read_safetensors(kFixtures + "/hf_tiny_expected/hf_tiny.safetensors");
  std::vector<io::NamedTensor> all, partial;
  for (const auto& [name, t] : expected.tensors) {
    all.push_back({name, t});
    if (name != "bert.encoder.layer.0.output.dense.weight" && name != "cls.predictions.transform.dense.bias") partial.push_back({name, t});
  }
  // The whole set, from safetensors instead of the pickle: the same output weights.
  std::string dir = hf_dir("st_in", "model.safetensors", "");
  io::write_safetensors(dir + "/model.safetensors", all);
  const models::ImportedCheckpoint in = models::import_hf_checkpoint(dir);
  CHECK(in.weights_file == dir + "/model.safetensors");
  CHECK(in.tensors_read == all.size());
  CHECK(in.converted.weights.size() == 28);

  // One encoder tensor and part of the MLM head missing: both are listed.
  dir = hf_dir("st_partial", "model.safetensors", "");
  io::write_safetensors(dir + "/model.safetensors", partial);
  try {
    models::import_hf_checkpoint(dir);
    FAIL("a checkpoint with missing tensors was accepted");
  } catch (const Error& e) {
    const std::string text = e.what();
    CHECK(text.find(dir + "/model.safetensors: missing tensor bert.encoder.layer.0.output.dense.weight") !=
          std::string::npos);
    CHECK(text.find("missing tensor cls.predictions.transform.dense.bias") != std::string::npos);
  }
}

TEST_CASE("dnabert convert fails with exit 1 and names the file on corrupt input") {
  const std::string good = slurp(kFixtures + "/hf_tiny/pytorch_model.bin");
  std::vector<std::pair<std::string, std::string>> cases = {
      {"truncated", good.substr(0, good.size() / 2)},
      {"deflated", slurp(kFixtures + "/hf_tiny_bad/deflated.bin")},
      {"bad_opcode", slurp(kFixtures + "/hf_tiny_bad/bad_opcode.bin")},
      {"missing_storage", slurp(kFixtures + "/hf_tiny_bad/missing_storage.bin")},
  };
  int status = 0;
  for (const auto& [name, bytes] : cases) {
    CAPTURE(name);
    const std::string dir = hf_dir("corrupt_" + name, "pytorch_model.bin", bytes);
    const std::string text = run_cli("convert --input " + dir + " --out " + dir + "_out", status);
    INFO(text);
    CHECK(status == 1);
    CHECK(text.find("dnabert: error: " + dir + "/pytorch_model.bin: ") != std::string::npos);
  }
  // No vocab.txt.
  std::string dir = hf_dir("no_vocab", "pytorch_model.bin", good);
  fs::remove(dir + "/vocab.txt");
  std::string text = run_cli("convert --input " + dir + " --out " + dir + "_out", status);
  CHECK(status == 1);
  CHECK(text.find(dir + "/vocab.txt: not found") != std::string::npos);
  // A 4-mer vocabulary for a model of 69 tokens (k = 3).
  dir = hf_dir("wrong_k", "pytorch_model.bin", good);
  fs::copy_file(std::string(DNABERT_SOURCE_DIR) + "/tests/data/dnabert/vocab_4mer.txt", dir + "/vocab.txt",
                fs::copy_options::overwrite_existing);
  text = run_cli("convert --input " + dir + " --out " + dir + "_out", status);
  CHECK(status == 1);
  CHECK(text.find(dir + "/vocab.txt: 261 tokens (k = 4) but") != std::string::npos);
  // Not a k-mer vocabulary at all.
  dir = hf_dir("not_kmer", "pytorch_model.bin", good);
  spit(dir + "/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nof\n");
  text = run_cli("convert --input " + dir + " --out " + dir + "_out", status);
  CHECK(status == 1);
  CHECK(text.find(dir + "/vocab.txt") != std::string::npos);
}
