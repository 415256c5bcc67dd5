// io/formats/npy: headers and whole files byte-identical to numpy.save (fixtures made by
// tests/oracle/make_safetensors_fixture.py), the streaming writer's header patch,
// reading numpy's files, and the error for each malformed header.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/tensor.h"
#include "io/formats/npy.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace dnabert;
using namespace dnabert::io;
using engine::Dims;
using engine::DType;
using engine::Tensor;

using namespace dnabert::testing;

namespace {

const std::string kFixtures = std::string(DNABERT_SOURCE_DIR) + "/tests/fixtures/";

std::string raw(const Tensor& t) { return std::string(static_cast<const char*>(t.raw()), t.numel() * 4); }

// A v1.0 file around a hand-written header dict (padded like numpy's).
std::string npy_file(const std::string& dict, const std::string& data) {
  std::string h = dict;
  h.append(63 - (10 + h.size()) % 64, ' ');
  h += '\n';
  return std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(h.size() & 0xff) + static_cast<char>(h.size() >> 8) +
         h + data;
}

}  // namespace

TEST_CASE("headers and files are byte-identical to numpy.save") {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  std::string expected = std::string("\x93NUMPY\x01\x00\x76\x00", 10) + dict + std::string(117 - dict.size(), ' ') + "\n";
  CHECK(npy_header({2, 3}, DType::F32) == expected);
  CHECK(npy_header({2, 3}, DType::F32).size() == 128);

  Tensor a = Tensor::from_vector({2, 3}, {-2.5, -1.5, -0.5, 0.5, 1.5, 2.5});
  std::string path = temp_path("a.npy");
  write_npy(path, a);
  CHECK(slurp(path) == slurp(kFixtures + "npy_f32_2x3.npy"));
  CHECK_FALSE(fs::exists(path + ".tmp." + std::to_string(::getpid())));

  write_npy(path, Tensor::from_ints({4}, {3, -1, 0, 2147483647}));
  CHECK(slurp(path) == slurp(kFixtures + "npy_i32_4.npy"));
  write_npy(path, Tensor::from_vector({}, {-0.75f}));
  CHECK(slurp(path) == slurp(kFixtures + "npy_f32_scalar.npy"));

  // A non-contiguous view is written in C order; numpy's header for a 21-digit-wide first extent still fits.
  write_npy(path, a.transpose(0, 1));
  CHECK(slurp(path) == npy_header({3, 2}, DType::F32) + raw(Tensor::from_vector({3, 2}, {-2.5, 0.5, -1.5, 1.5, -0.5, 2.5})));
  CHECK(npy_header({123456789012345, 768}, DType::F32).size() == 128);
  CHECK_THROWS_WITH_AS(write_npy(path, Tensor::empty({2}, nullptr, DType::BF16)),
                       (path + ": .npy has no bf16 type; convert to f32 first").c_str(), Error);
}

TEST_CASE("reads numpy's files") {
  Tensor a = read_npy(kFixtures + "npy_f32_2x3.npy");
  CHECK(a.dtype() == DType::F32);
  CHECK(a.shape() == Dims{2, 3});
  CHECK(a.to_vector() == std::vector<float>{-2.5, -1.5, -0.5, 0.5, 1.5, 2.5});
  Tensor i = read_npy(kFixtures + "npy_i32_4.npy");
  CHECK(i.dtype() == DType::I32);
  CHECK(std::vector<int32_t>(i.i32(), i.i32() + 4) == std::vector<int32_t>{3, -1, 0, 2147483647});
  Tensor s = read_npy(kFixtures + "npy_f32_scalar.npy");
  CHECK(s.rank() == 0);
  CHECK(s.to_vector() == std::vector<float>{-0.75f});
}

TEST_CASE("streaming writer: rows as they come, N patched into the header on close") {
  std::string path = temp_path("stream.npy");
  fs::remove(path);
  NpyWriter w(path, {2, 3});
  Tensor x = Tensor::from_vector({2, 2, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  w.append(x);
  w.append(Tensor::zeros({0, 2, 3}));
  Tensor y = Tensor::from_vector({3, 2, 1}, {20, 21, 22, 23, 24, 25}).transpose(0, 2);  // [1, 2, 3], strided
  w.append(y);
  CHECK(w.rows() == 3);
  CHECK_FALSE(fs::exists(path));  // nothing visible before close
  w.close();

  std::string bytes = slurp(path);
  CHECK(bytes.substr(0, 128) == npy_header({3, 2, 3}, DType::F32));
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 3), }";
  CHECK(bytes.substr(10, dict.size()) == dict);
  CHECK(bytes.substr(128) == raw(x) + raw(Tensor::from_vector({2, 3}, {20, 22, 24, 21, 23, 25})));
  Tensor back = read_npy(path);
  CHECK(back.shape() == Dims{3, 2, 3});
  CHECK(back.to_vector()[6] == 6);
  CHECK(back.to_vector()[13] == 22);

  // Many rows: the first extent grows by digits, the header does not.
  NpyWriter big(path, {}, DType::I32);
  std::vector<int32_t> ids(12345);
  for (int k = 0; k < 12345; ++k) ids[k] = k;
  big.append(Tensor::from_ints({12345}, ids));
  big.close();
  bytes = slurp(path);
  CHECK(bytes.size() == 128 + 12345 * 4);
  CHECK(bytes.substr(0, 128) == npy_header({12345}, DType::I32));
  CHECK(read_npy(path).i32()[12344] == 12344);
}

TEST_CASE("streaming writer errors, and an unclosed writer leaves nothing") {
  std::string path = temp_path("unclosed.npy");
  fs::remove(path);
  {
    NpyWriter w(path, {3});
    w.append(Tensor::zeros({2, 3}));
    CHECK_THROWS_WITH_AS(w.append(Tensor::zeros({2, 4})),
                         (path + ": cannot append f32 [2, 4] rows to a f32 array of shape [N, 3]").c_str(), Error);
    CHECK_THROWS_WITH_AS(w.append(Tensor::from_ints({1, 3}, {1, 2, 3})),
                         (path + ": cannot append i32 [1, 3] rows to a f32 array of shape [N, 3]").c_str(), Error);
  }
  CHECK_FALSE(fs::exists(path));
  CHECK_FALSE(fs::exists(path + ".tmp." + std::to_string(::getpid())));
}

TEST_CASE("malformed .npy files give errors naming the file") {
  auto err = [](const std::string& path) -> std::string {
    try {
      read_npy(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  const std::string f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::string eight(8, '\0');
  std::string p;

  p = write_file("ok.npy", npy_file(f4, eight));
  CHECK(err(p) == "no error");
  p = write_file("magic.npy", "PK\x03\x04 not numpy at all");
  CHECK(err(p) == p + ": not a .npy file (no \\x93NUMPY magic number)");
  std::string v9 = npy_file(f4, eight);
  v9[6] = 9;
  p = write_file("version.npy", v9);
  CHECK(err(p) == p + ": unsupported .npy version 9.0");
  p = write_file("hlen.npy", npy_file(f4, eight).substr(0, 40));
  CHECK(err(p) == p + ": .npy header length 118 exceeds the file size (40 bytes)");
  p = write_file("f8.npy", npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", eight + eight));
  CHECK(err(p) == p + ": unsupported .npy dtype '<f8' (readable: '<f4', '<i4')");
  p = write_file("fortran.npy", npy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", eight));
  CHECK(err(p) == p + ": Fortran-order .npy arrays are not supported");
  p = write_file("noshape.npy", npy_file("{'descr': '<f4', 'fortran_order': False, }", eight));
  CHECK(err(p) == p + ": malformed .npy header: missing 'shape'");
  p = write_file("extra.npy", npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 'y', }", eight));
  CHECK(err(p) == p + ": malformed .npy header: unexpected key 'x'");
  p = write_file("badshape.npy", npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': 'big', }", eight));
  CHECK(err(p) == p + ": malformed .npy header: bad value for 'shape'");
  p = write_file("negshape.npy", npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", eight));
  CHECK(err(p) == p + ": malformed .npy header: expected a non-negative integer at character 51 of \"{'descr': "
                      "'<f4', 'fortran_order': False, 'shape': (-2,), }\"");
  p = write_file("unterminated.npy", npy_file("{'descr': '<f4, 'fortran_order': False}", eight));
  CHECK(err(p) == p + ": malformed .npy header: expected ',' or '}' at character 17 of \"{'descr': '<f4, "
                      "'fortran_order': False}\"");
  p = write_file("short_data.npy", npy_file(f4, eight.substr(0, 5)));
  CHECK(err(p) == p + ": .npy data hold 5 bytes, but shape [2] of '<f4' needs 8");
  p = temp_path("missing.npy");
  CHECK(err(p) == p + ": cannot open: No such file or directory");
}
