#include "io/formats/npy.h"

#include <bit>
#include <cerrno>
#include <cctype>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "base/error.h"

namespace dnabert::io {

static_assert(std::endian::native == std::endian::little, "npy data are written as '<' (little-endian)");

namespace {

using engine::DType;
using engine::Dims;
using engine::Tensor;

// numpy.lib.format: headers are padded so the data start at a multiple of 64,
// and leave room for a first extent of up to 21 digits (GROWTH_AXIS_MAX_DIGITS).
constexpr size_t kAlign = 64;
constexpr size_t kGrowthDigits = 21;
const std::string kMagic = "\x93NUMPY";

std::string descr(DType t, const std::string& where) {
  if (t == DType::F32) return "<f4";
  if (t == DType::I32) return "<i4";
  throw Error(where + ": .npy has no " + engine::dtype_name(t) + " type; convert to f32 first");
}

// Python's repr of a shape tuple: (), (5,), (2, 3).
std::string shape_repr(const Dims& shape) {
  std::string s = "(";
  for (int i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  s += shape.size() == 1 ? ",)" : ")";
  return s;
}

// A minimal reader for the Python dict literal numpy writes: strings, True/False, tuples of ints.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::string where) : s_(text), where_(std::move(where)) {}

  struct Value {
    std::string str;
    bool boolean = false;
    std::vector<int64_t> ints;
    char kind = 0;  // 's', 'b', 't'
  };

  std::map<std::string, Value> dict() {
    std::map<std::string, Value> out;
    expect('{');
    while (peek() != '}') {
      std::string key = string_literal();
      expect(':');
      out[key] = value();
      if (peek() == ',') ++i_;
      else if (peek() != '}') fail("expected ',' or '}'");
    }
    ++i_;
    if (peek() != '\0') fail("unexpected text after the dict");
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    std::string_view text = s_.substr(0, s_.find_last_not_of(" \n") + 1);  // without numpy's padding
    throw Error(where_ + ": malformed .npy header: " + why + " at character " + std::to_string(i_) + " of \"" +
                std::string(text) + "\"");
  }
  char peek() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    return i_ < s_.size() ? s_[i_] : '\0';
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string string_literal() {
    char q = peek();
    if (q != '\'' && q != '"') fail("expected a string");
    size_t end = s_.find(q, ++i_);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string r(s_.substr(i_, end - i_));
    i_ = end + 1;
    return r;
  }
  int64_t integer() {
    size_t start = i_;
    int64_t v = 0;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
      if (v > (INT64_MAX - 9) / 10) fail("integer too large");
      v = v * 10 + (s_[i_++] - '0');
    }
    if (i_ == start) fail("expected a non-negative integer");
    return v;
  }
  Value value() {
    Value v;
    char c = peek();
    if (c == '\'' || c == '"') {
      v.kind = 's';
      v.str = string_literal();
    } else if (s_.substr(i_, 4) == "True" || s_.substr(i_, 5) == "False") {
      v.kind = 'b';
      v.boolean = s_[i_] == 'T';
      i_ += v.boolean ? 4 : 5;
    } else if (c == '(') {
      v.kind = 't';
      ++i_;
      while (peek() != ')') {
        v.ints.push_back(integer());
        if (peek() == ',') ++i_;
        else if (peek() != ')') fail("expected ',' or ')'");
      }
      ++i_;
    } else {
      fail("unexpected value");
    }
    return v;
  }

  std::string_view s_;
  std::string where_;
  size_t i_ = 0;
};

}  // namespace

std::string npy_header(const Dims& shape, DType dtype) {
  std::string dict = "{'descr': '" + descr(dtype, "npy") + "', 'fortran_order': False, 'shape': " + shape_repr(shape) + ", }";
  if (shape.size() > 0) dict.append(kGrowthDigits - std::to_string(shape[0]).size(), ' ');
  size_t hlen = dict.size() + 1;  // + '\n'
  size_t pad = kAlign - (kMagic.size() + 2 + 2 + hlen) % kAlign;
  size_t total = hlen + pad;
  std::string out = kMagic;
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(total & 0xff);
  out += static_cast<char>(total >> 8);
  out += dict;
  out.append(pad, ' ');
  out += '\n';
  return out;
}

void write_npy(const std::string& path, const Tensor& tensor) {
  if (!tensor.defined()) throw Error(path + ": cannot write an undefined tensor");
  descr(tensor.dtype(), path);
  Tensor c = tensor.contiguous();
  AtomicFile f(path);
  f.write(npy_header(c.shape(), c.dtype()));
  f.write(std::string_view(static_cast<const char*>(c.raw()), static_cast<size_t>(c.numel()) * 4));
  f.commit();
}

NpyWriter::NpyWriter(const std::string& path, const Dims& row_shape, DType dtype)
    : file_(path), row_shape_(row_shape), dtype_(dtype) {
  descr(dtype, path);
  if (row_shape.size() >= Dims::kMaxRank) throw Error(path + ": row shape " + row_shape.str() + " has too many dims");
  Dims shape{0};
  for (int64_t e : row_shape) shape.push_back(e);
  file_.write(npy_header(shape, dtype));
}

void NpyWriter::append(const Tensor& rows) {
  if (closed_) throw Error(file_.path() + ": append after close");
  bool ok = rows.dtype() == dtype_ && rows.rank() == row_shape_.size() + 1;
  for (int i = 0; ok && i < row_shape_.size(); ++i) ok = rows.dim(i + 1) == row_shape_[i];
  if (!ok) {
    std::string expected = "[N";
    for (int64_t e : row_shape_) expected += ", " + std::to_string(e);
    throw Error(file_.path() + ": cannot append " + rows.str() + " rows to a " + engine::dtype_name(dtype_) +
                " array of shape " + expected + "]");
  }
  Tensor c = rows.contiguous();
  file_.write(std::string_view(static_cast<const char*>(c.raw()), static_cast<size_t>(c.numel()) * 4));
  rows_ += rows.dim(0);
}

void NpyWriter::close() {
  if (closed_) return;
  Dims shape{rows_};
  for (int64_t e : row_shape_) shape.push_back(e);
  file_.write_at(0, npy_header(shape, dtype_));
  file_.commit();
  closed_ = true;
}

Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();

  if (bytes.size() < 10 || bytes.compare(0, kMagic.size(), kMagic) != 0)
    throw Error(path + ": not a .npy file (no \\x93NUMPY magic number)");
  int major = static_cast<unsigned char>(bytes[6]), minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0)
    throw Error(path + ": unsupported .npy version " + std::to_string(major) + "." + std::to_string(minor));
  size_t len_bytes = major == 1 ? 2 : 4;
  if (bytes.size() < 8 + len_bytes) throw Error(path + ": truncated .npy header");
  uint64_t hlen = 0;
  for (size_t i = 0; i < len_bytes; ++i) hlen |= uint64_t{static_cast<unsigned char>(bytes[8 + i])} << (8 * i);
  size_t data_start = 8 + len_bytes + hlen;
  if (data_start > bytes.size())
    throw Error(path + ": .npy header length " + std::to_string(hlen) + " exceeds the file size (" +
                std::to_string(bytes.size()) + " bytes)");

  auto dict = HeaderParser(std::string_view(bytes).substr(8 + len_bytes, hlen), path).dict();
  for (const auto& [key, v] : dict)
    if (key != "descr" && key != "fortran_order" && key != "shape")
      throw Error(path + ": malformed .npy header: unexpected key '" + key + "'");
  auto get = [&](const char* key, char kind) -> const HeaderParser::Value& {
    auto it = dict.find(key);
    if (it == dict.end()) throw Error(path + ": malformed .npy header: missing '" + key + "'");
    if (it->second.kind != kind) throw Error(path + ": malformed .npy header: bad value for '" + key + "'");
    return it->second;
  };
  const std::string& d = get("descr", 's').str;
  if (d != "<f4" && d != "<i4")
    throw Error(path + ": unsupported .npy dtype '" + d + "' (readable: '<f4', '<i4')");
  if (get("fortran_order", 'b').boolean) throw Error(path + ": Fortran-order .npy arrays are not supported");
  const auto& extents = get("shape", 't').ints;
  if (extents.size() > static_cast<size_t>(Dims::kMaxRank))
    throw Error(path + ": .npy rank " + std::to_string(extents.size()) + " exceeds the engine's maximum of 6");
  Dims shape;
  uint64_t numel = 1;
  for (int64_t e : extents) {
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(e), &numel) || numel > (uint64_t{1} << 60))
      throw Error(path + ": .npy shape too large");
    shape.push_back(e);
  }
  uint64_t have = bytes.size() - data_start;
  if (have != numel * 4)
    throw Error(path + ": .npy data hold " + std::to_string(have) + " bytes, but shape " + shape.str() + " of '" + d +
                "' needs " + std::to_string(numel * 4));
  Tensor t = Tensor::empty(shape, nullptr, d == "<f4" ? DType::F32 : DType::I32);
  std::memcpy(t.raw(), bytes.data() + data_start, have);
  return t;
}

}  // namespace dnabert::io
