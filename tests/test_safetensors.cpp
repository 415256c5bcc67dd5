// io/formats/safetensors: byte-exact output against the safetensors library's own test
// vectors, round trips (non-contiguous views, bf16, i32), a file written by an
// independent Python writer (F32, F16, BF16, F64, I64, I32, rank 0, empty),
// f16/bf16 conversion, the exact message of every corruption case, and a small
// fuzz (every truncation, byte flips) that must only ever raise dnabert::Error.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/tensor.h"
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

const std::string kFixture = std::string(DNABERT_SOURCE_DIR) + "/tests/fixtures/safetensors_python.safetensors";

std::string u64le(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// A file from a header text and data bytes (header length = the text's length).
std::string make_file(const std::string& name, const std::string& header, const std::string& data) {
  return write_file(name, u64le(header.size()) + header + data);
}

std::string f32_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

std::string bytes_of(const std::vector<int>& v) {
  std::string s;
  for (int b : v) s += static_cast<char>(b);
  return s;
}

}  // namespace

TEST_CASE("writes exactly the bytes the safetensors library writes (its own test vectors)") {
  // safetensors/src/tensor.rs: test_serialization_forced_alignement.
  std::string path = temp_path("attn0.safetensors");
  write_safetensors(path, {{"attn0", Tensor::from_vector({1, 1, 2, 3}, {0, 1, 2, 3, 4, 5})}});
  CHECK(slurp(path) ==
        bytes_of({72,  0,   0,   0,   0,   0,   0,   0,   123, 34,  97,  116, 116, 110, 48,  34,  58,  123, 34,
                  100, 116, 121, 112, 101, 34,  58,  34,  70,  51,  50,  34,  44,  34,  115, 104, 97,  112, 101,
                  34,  58,  91,  49,  44,  49,  44,  50,  44,  51,  93,  44,  34,  100, 97,  116, 97,  95,  111,
                  102, 102, 115, 101, 116, 115, 34,  58,  91,  48,  44,  50,  52,  93,  125, 125, 32,  32,  32,
                  32,  32,  32,  32,  0,   0,   0,   0,   0,   0,   128, 63,  0,   0,   0,   64,  0,   0,   64,
                  64,  0,   0,   128, 64,  0,   0,   160, 64}));
  CHECK_FALSE(fs::exists(path + ".tmp." + std::to_string(::getpid())));

  // test_empty: no tensors, with and without metadata.
  write_safetensors(path, {});
  CHECK(slurp(path) == bytes_of({8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32}));
  write_safetensors(path, {}, {{"framework", "pt"}});
  CHECK(slurp(path) == bytes_of({40,  0,  0,   0,   0,   0,   0,   0,   123, 34,  95,  95,  109, 101, 116, 97,  100,
                                 97,  116, 97, 95,  95,  34,  58,  123, 34,  102, 114, 97,  109, 101, 119, 111, 114,
                                 107, 34,  58, 34,  112, 116, 34,  125, 125, 32,  32,  32,  32,  32}));
}

TEST_CASE("layout: by dtype alignment then name, views written contiguously, header padded to 8") {
  Tensor base = Tensor::from_vector({2, 3}, {0, 1, 2, 3, 4, 5});
  Tensor transposed = base.transpose(0, 1);  // [3, 2], not contiguous
  Tensor bf = Tensor::empty({3}, nullptr, DType::BF16);
  const uint16_t bf_bits[3] = {0x3f80, 0xc040, 0x0000};  // 1, -3, 0
  std::memcpy(bf.raw(), bf_bits, sizeof bf_bits);
  std::vector<NamedTensor> tensors = {{"z.bf16", bf},
                                      {"b.t", transposed},
                                      {"c.ids", Tensor::from_ints({2}, {7, -1})},
                                      {"a.col", base.slice(1, 1, 2)}};  // [2, 1] = {1, 4}
  std::string path = temp_path("layout.safetensors");
  write_safetensors(path, tensors, {{"format", "pt"}});

  std::string header =
      R"({"__metadata__":{"format":"pt"},)"
      R"("a.col":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},)"
      R"("b.t":{"dtype":"F32","shape":[3,2],"data_offsets":[8,32]},)"
      R"("c.ids":{"dtype":"I32","shape":[2],"data_offsets":[32,40]},)"
      R"("z.bf16":{"dtype":"BF16","shape":[3],"data_offsets":[40,46]}})";
  REQUIRE(header.size() == 269);
  header += "   ";  // to 272, a multiple of 8
  std::string data = f32_bytes({1, 4}) + f32_bytes({0, 3, 1, 4, 2, 5});
  const int32_t ids[2] = {7, -1};
  data += std::string(reinterpret_cast<const char*>(ids), 8);
  data += std::string(reinterpret_cast<const char*>(bf_bits), 6);
  CHECK(slurp(path) == u64le(272) + header + data);

  SafetensorsHeader h = read_safetensors_header(path);
  CHECK(h.data_start == 280);
  REQUIRE(h.tensors.size() == 4);
  CHECK(h.tensors[1].name == "b.t");
  CHECK(h.tensors[3].dtype == "BF16");
  CHECK(h.tensors[3].begin == 40);
  CHECK(h.tensors[3].end == 46);
  CHECK(h.metadata == StringMap{{"format", "pt"}});

  SafetensorsFile f = read_safetensors(path);
  REQUIRE(f.tensors.size() == 4);
  CHECK(f.tensors["b.t"].shape() == Dims{3, 2});
  CHECK(f.tensors["b.t"].to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(f.tensors["a.col"].to_vector() == std::vector<float>{1, 4});
  CHECK(f.tensors["c.ids"].dtype() == DType::I32);
  CHECK(f.tensors["c.ids"].i32()[0] == 7);
  CHECK(f.tensors["c.ids"].i32()[1] == -1);
  CHECK(f.tensors["z.bf16"].dtype() == DType::F32);  // BF16 files are read as f32
  CHECK(f.tensors["z.bf16"].to_vector() == std::vector<float>{1, -3, 0});
  CHECK(f.metadata == StringMap{{"format", "pt"}});
}

TEST_CASE("reads a file written by an independent Python writer, converting to f32 / i32") {
  SafetensorsHeader h = read_safetensors_header(kFixture);
  CHECK(h.data_start == 8 + 648);
  std::vector<std::string> names;
  for (const auto& e : h.tensors) names.push_back(e.name);
  // Data order; the zero-size tensor sits at the end, [152, 152].
  CHECK(names == std::vector<std::string>{"bert.embeddings.word_embeddings.weight", "half", "bf", "dbl", "ids", "i32",
                                          "scalar", "empty"});
  CHECK(h.tensors[1].dtype == "F16");
  CHECK(h.tensors[4].shape == Dims{5});
  CHECK(h.tensors[6].shape == Dims{});
  CHECK(h.tensors[7].begin == 152);

  SafetensorsFile f = read_safetensors(kFixture);
  CHECK(f.metadata == StringMap{{"format", "pt"}, {"source", "numpy"}});
  REQUIRE(f.tensors.size() == 8);
  const Tensor& emb = f.tensors["bert.embeddings.word_embeddings.weight"];
  CHECK(emb.shape() == Dims{3, 4});
  CHECK(emb.to_vector() == std::vector<float>{-1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5});

  std::vector<float> half = f.tensors["half"].to_vector();
  CHECK(f.tensors["half"].shape() == Dims{2, 3});
  CHECK(half == std::vector<float>{1.0f, -2.5f, 65504.0f, 0x1p-14f, 0x1p-24f, -0.0f});
  CHECK(std::signbit(half[5]));
  CHECK(f.tensors["bf"].to_vector() == std::vector<float>{1.0f, -3.140625f, 0x1p100f, 0.0f});
  CHECK(f.tensors["dbl"].to_vector() == std::vector<float>{0.1f, -1e-3f, 1e10f, 3.5f});

  const Tensor& ids = f.tensors["ids"];
  REQUIRE(ids.dtype() == DType::I32);
  CHECK(std::vector<int32_t>(ids.i32(), ids.i32() + 5) == std::vector<int32_t>{0, 1, -7, 2147483647, -2147483647 - 1});
  CHECK(std::vector<int32_t>(f.tensors["i32"].i32(), f.tensors["i32"].i32() + 2) == std::vector<int32_t>{-5, 100000});
  CHECK(f.tensors["scalar"].rank() == 0);
  CHECK(f.tensors["scalar"].to_vector() == std::vector<float>{42});
  CHECK(f.tensors["empty"].shape() == Dims{0, 3});
}

TEST_CASE("f16 and bf16 conversion values") {
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0xc000) == -2.0f);
  CHECK(f16_to_f32(0x3555) == 0.333251953125f);
  CHECK(f16_to_f32(0x7bff) == 65504.0f);
  CHECK(f16_to_f32(0x0400) == 0x1p-14f);        // smallest normal
  CHECK(f16_to_f32(0x03ff) == 1023 * 0x1p-24f);  // largest subnormal
  CHECK(f16_to_f32(0x8001) == -0x1p-24f);        // smallest negative subnormal
  CHECK(std::isinf(f16_to_f32(0x7c00)));
  CHECK(f16_to_f32(0xfc00) < 0);
  CHECK(std::isnan(f16_to_f32(0x7e00)));
  CHECK(bf16_to_f32(0x3f80) == 1.0f);
  CHECK(bf16_to_f32(0xc049) == -3.140625f);
  CHECK(bf16_to_f32(0x0001) == 0x1p-133f);  // bf16 subnormal
  CHECK(std::isinf(bf16_to_f32(0xff80)));
}

TEST_CASE("write errors name the file and the tensor") {
  std::string p = temp_path("bad_write.safetensors");
  CHECK_THROWS_WITH_AS(write_safetensors(p, {{"a", Tensor::zeros({1})}, {"a", Tensor::zeros({2})}}),
                       (p + ": tensor a given twice").c_str(), Error);
  CHECK_THROWS_WITH_AS(write_safetensors(p, {{"__metadata__", Tensor::zeros({1})}}),
                       (p + ": \"__metadata__\" cannot name a tensor").c_str(), Error);
  CHECK_THROWS_WITH_AS(write_safetensors(p, {{"u", Tensor()}}), (p + ": tensor u is undefined").c_str(), Error);
  std::string nodir = temp_path("no/such/dir/x.safetensors");
  CHECK_THROWS_WITH_AS(write_safetensors(nodir, {}),
                       (nodir + ": cannot create temporary file " + nodir + ".tmp." + std::to_string(::getpid()) +
                        ": No such file or directory")
                           .c_str(),
                       Error);
  CHECK_FALSE(fs::exists(p));
}

TEST_CASE("every corruption gives a clear error naming the file and the tensor") {
  const std::string t = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string eight = f32_bytes({1, 2});
  auto err = [](const std::string& path, bool header_only = false) -> std::string {
    try {
      if (header_only) read_safetensors_header(path);
      else read_safetensors(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  std::string p;

  p = write_file("short", std::string("\x05\0\0\0\0", 5));
  CHECK(err(p) == p + ": not a safetensors file: 5 bytes, too short for the 8-byte header length");
  p = write_file("long_header", u64le(1000) + "{}      ");
  CHECK(err(p) == p + ": header length 1000 exceeds the file size (16 bytes): truncated, or not a safetensors file");
  p = write_file("huge_header", u64le(~uint64_t{0}) + "{}");
  CHECK(err(p) == p + ": header length 18446744073709551615 exceeds the file size (10 bytes): truncated, or not a "
                      "safetensors file");
  p = make_file("not_json", "{\"t\": [1, 2", "");
  CHECK(err(p) == p + ": header is not valid JSON (at byte 12 of the header)");
  p = make_file("not_object", "[1, 2]", "");
  CHECK(err(p) == p + ": header is not a JSON object");
  p = make_file("entry", R"({"t": 3})", "");
  CHECK(err(p) == p + ": tensor t: entry is not a JSON object");
  p = make_file("no_dtype", R"({"t":{"shape":[2],"data_offsets":[0,8]}})", eight);
  CHECK(err(p) == p + ": tensor t: missing \"dtype\"");
  p = make_file("no_shape", R"({"t":{"dtype":"F32","data_offsets":[0,8]}})", eight);
  CHECK(err(p) == p + ": tensor t: missing \"shape\"");
  p = make_file("no_offsets", R"({"t":{"dtype":"F32","shape":[2]}})", eight);
  CHECK(err(p) == p + ": tensor t: missing \"data_offsets\"");
  p = make_file("bad_dtype", R"({"t":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", eight);
  CHECK(err(p) == p + ": tensor t: unknown dtype \"F33\"");
  p = make_file("dtype_type", R"({"t":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", eight);
  CHECK(err(p) == p + ": tensor t: \"dtype\" is not a string");
  p = make_file("neg_shape", R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight);
  CHECK(err(p) == p + ": tensor t: \"shape\" must be a list of non-negative integers, got [-2]");
  p = make_file("rank7", R"({"t":{"dtype":"F32","shape":[1,1,1,1,1,1,2],"data_offsets":[0,8]}})", eight);
  CHECK(err(p) == p + ": tensor t: rank 7 exceeds the engine's maximum of 6");
  p = make_file("overflow", R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", eight);
  CHECK(err(p) == p + ": tensor t: shape [4294967296,4294967296] is too large");
  // No bytes, but 2^63 elements before the 0: beyond the engine's int64 element count.
  p = make_file("count_overflow", R"({"t":{"dtype":"U8","shape":[4611686018427387904,2,0],"data_offsets":[0,0]}})", "");
  CHECK(err(p, true) == p + ": tensor t: shape [4611686018427387904,2,0] is too large");
  p = make_file("offsets_reversed", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", eight);
  CHECK(err(p) == p + ": tensor t: \"data_offsets\" must be [begin, end] with 0 <= begin <= end, got [8,0]");
  p = make_file("offsets_three", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})", eight);
  CHECK(err(p) == p + ": tensor t: \"data_offsets\" must be [begin, end] with 0 <= begin <= end, got [0,4,8]");
  p = make_file("size_mismatch", R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight);
  CHECK(err(p) == p + ": tensor t: data_offsets [0, 8] hold 8 bytes, but F32 [3] needs 12");
  p = make_file("overlap", "{" + t + R"(,"u":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight);
  CHECK(err(p) == p + ": tensor u: data_offsets [4, 8] overlap tensor t [0, 8]");
  p = make_file("gap", R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight);
  CHECK(err(p) == p + ": tensor t: data_offsets [4, 8] leave bytes [0, 4) of the data unused");
  p = make_file("far", R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[1000000,1000004]}})", eight);
  CHECK(err(p) == p + ": tensor t: data_offsets [1000000, 1000004] leave bytes [0, 1000000) of the data unused");
  p = make_file("truncated", "{" + t + "}", eight.substr(0, 6));
  CHECK(err(p) == p + ": truncated: tensor t ends at data byte 8, but the file holds only 6 bytes of data");
  CHECK(err(p, true) == err(p));  // the header-only read validates as much
  p = make_file("trailing", "{" + t + "}", eight + "xyz");
  CHECK(err(p) == p + ": the file holds 11 bytes of data, but the tensors end at byte 8");
  p = make_file("metadata", R"({"__metadata__":{"step":5},)" + t + "}", eight);
  CHECK(err(p) == p + ": __metadata__ must map strings to strings (\"step\" does not)");
  p = make_file("u8", R"({"t":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})", eight);
  CHECK(err(p, true) == "no error");  // a known dtype: the header is fine
  CHECK(err(p) == p + ": tensor t: unsupported dtype U8 (readable: F32, F16, BF16, F64, I32, I64)");
  p = make_file("i64_range", R"({"t":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", u64le(uint64_t{1} << 31));
  CHECK(err(p) == p + ": tensor t: I64 value 2147483648 at index 0 does not fit in i32");
  p = temp_path("does_not_exist.safetensors");
  CHECK(err(p) == p + ": cannot open: No such file or directory");
  p = temp_path("");
  p.pop_back();  // the temp directory itself
  CHECK(err(p) == p + ": is a directory");
  // Header padded with spaces and a valid minimal file: no error.
  p = make_file("padded", "{" + t + "}      ", eight);
  CHECK(err(p) == "no error");
}

TEST_CASE("fuzz: truncations and byte flips raise dnabert::Error or read, never crash") {
  const std::string good = slurp(kFixture);
  REQUIRE(good.size() == 8 + 648 + 152);
  auto outcome = [](const std::string& path) -> int {  // 0 = read, 1 = dnabert::Error, 2 = anything else
    try {
      read_safetensors_header(path);
      read_safetensors(path);
      return 0;
    } catch (const Error&) {
      return 1;
    } catch (...) {
      return 2;
    }
  };
  int other = 0, truncated_read = 0;
  for (size_t n = 0; n < good.size(); ++n) {
    int o = outcome(write_file("fuzz.safetensors", good.substr(0, n)));
    truncated_read += o == 0;
    other += o == 2;
  }
  CHECK(truncated_read == 0);  // every truncation is detected
  CHECK(other == 0);

  int read = 0, rejected = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (unsigned char mask : {0x01, 0x20, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      int o = outcome(write_file("fuzz.safetensors", bad));
      read += o == 0;
      rejected += o == 1;
      other += o == 2;
    }
  }
  CHECK(other == 0);
  CHECK(rejected >= 2000);    // nearly every one of the 656 header bytes matters
  CHECK(read >= 4 * 112);     // every flip in the 112 non-I64 data bytes is just another value
}
