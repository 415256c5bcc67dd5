#include "io/formats/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"
#include "io/formats/json_read.h"
#include "io/formats/atomic_file.h"

namespace dnabert::io {

static_assert(std::endian::native == std::endian::little, "safetensors data are little-endian");

namespace {

using engine::DType;
using engine::Dims;
using engine::Tensor;

// HF refuses headers above 100 MB; a larger length means a corrupt file.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Element size of every dtype the format defines (0 = unknown name).
size_t file_dtype_size(const std::string& d) {
  static const std::map<std::string, size_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"F8_E8M0", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2},  {"BF16", 2},    {"I32", 4},     {"U32", 4},
      {"F32", 4},  {"F64", 8}, {"I64", 8},  {"U64", 8}};
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

const char* file_dtype(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
  }
  return "?";
}

// HF orders data by descending alignment, ties by its Dtype enum order (F32 > I32 > BF16).
int write_rank(DType t) { return t == DType::F32 ? 0 : t == DType::I32 ? 1 : 2; }

// A read-only file descriptor that closes itself.
class InputFile {
 public:
  explicit InputFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw Error(path + ": cannot stat: " + std::strerror(errno));
    if (S_ISDIR(st.st_mode)) throw Error(path + ": is a directory");
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~InputFile() { ::close(fd_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  uint64_t size() const { return size_; }
  void read_at(uint64_t offset, void* dst, size_t n) const {
    auto* p = static_cast<char*>(dst);
    while (n > 0) {
      ssize_t r = ::pread(fd_, p, n, static_cast<off_t>(offset));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw Error(path_ + ": read failed: " + std::strerror(errno));
      if (r == 0) throw Error(path_ + ": truncated while reading (file changed?)");
      p += r;
      offset += static_cast<uint64_t>(r);
      n -= static_cast<size_t>(r);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

std::string range_str(uint64_t b, uint64_t e) { return "[" + std::to_string(b) + ", " + std::to_string(e) + "]"; }

SafetensorsEntry parse_entry(const std::string& where, const std::string& name, const nlohmann::json& v) {
  const std::string ctx = where + ": tensor " + name + ": ";
  if (!v.is_object()) throw Error(ctx + "entry is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!v.contains(key)) throw Error(ctx + "missing \"" + key + "\"");
  SafetensorsEntry e;
  e.name = name;
  if (!v["dtype"].is_string()) throw Error(ctx + "\"dtype\" is not a string");
  e.dtype = v["dtype"].get<std::string>();
  size_t esize = file_dtype_size(e.dtype);
  if (esize == 0) throw Error(ctx + "unknown dtype \"" + e.dtype + "\"");

  const auto& shape = v["shape"];
  if (!shape.is_array() || !std::all_of(shape.begin(), shape.end(), [](auto& x) { return x.is_number_unsigned(); }))
    throw Error(ctx + "\"shape\" must be a list of non-negative integers, got " + shape.dump());
  if (shape.size() > static_cast<size_t>(Dims::kMaxRank))
    throw Error(ctx + "rank " + std::to_string(shape.size()) + " exceeds the engine's maximum of 6");
  // The element count's partial products must fit in int64 too (Dims::numel
  // multiplies from the left): a 1-byte dtype can have [2^62, 2, 0], 0 bytes.
  constexpr auto kMaxCount = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t nbytes = esize, count = 1;
  for (const auto& x : shape) {
    uint64_t extent = x.get<uint64_t>();
    if (extent > kMaxCount || __builtin_mul_overflow(count, extent, &count) || count > kMaxCount ||
        __builtin_mul_overflow(nbytes, extent, &nbytes))
      throw Error(ctx + "shape " + shape.dump() + " is too large");
    e.shape.push_back(static_cast<int64_t>(extent));
  }

  const auto& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned() ||
      off[0].get<uint64_t>() > off[1].get<uint64_t>())
    throw Error(ctx + "\"data_offsets\" must be [begin, end] with 0 <= begin <= end, got " + off.dump());
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.end - e.begin != nbytes)
    throw Error(ctx + "data_offsets " + range_str(e.begin, e.end) + " hold " + std::to_string(e.end - e.begin) +
                " bytes, but " + e.dtype + " " + e.shape.str() + " needs " + std::to_string(nbytes));
  return e;
}

// Parses and validates a header; `data_bytes` is the size of the data section.
SafetensorsHeader parse_header(const std::string& path, const std::string& text, uint64_t data_bytes) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path + ": header is not valid JSON (at byte " + std::to_string(e.byte) + " of the header)");
  } catch (const nlohmann::json::exception& e) {  // e.g. a number beyond double (1e400)
    throw Error(path + ": header is unreadable JSON: " + json_error_text(e));
  }
  if (!j.is_object()) throw Error(path + ": header is not a JSON object");

  SafetensorsHeader h;
  for (const auto& [name, v] : j.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) throw Error(path + ": __metadata__ must map strings to strings");
      for (const auto& [k, s] : v.items()) {
        if (!s.is_string()) throw Error(path + ": __metadata__ must map strings to strings (\"" + k + "\" does not)");
        h.metadata[k] = s.get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_entry(path, name, v));
  }

  // The data must be tiled exactly: no overlap, no gap, nothing after the last tensor.
  std::sort(h.tensors.begin(), h.tensors.end(),
            [](const auto& a, const auto& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  uint64_t expected = 0;
  for (size_t i = 0; i < h.tensors.size(); ++i) {
    const auto& e = h.tensors[i];
    if (e.begin < expected) {
      const auto& prev = h.tensors[i - 1];
      throw Error(path + ": tensor " + e.name + ": data_offsets " + range_str(e.begin, e.end) + " overlap tensor " +
                  prev.name + " " + range_str(prev.begin, prev.end));
    }
    if (e.begin > expected)
      throw Error(path + ": tensor " + e.name + ": data_offsets " + range_str(e.begin, e.end) + " leave bytes [" +
                  std::to_string(expected) + ", " + std::to_string(e.begin) + ") of the data unused");
    if (e.end > data_bytes)
      throw Error(path + ": truncated: tensor " + e.name + " ends at data byte " + std::to_string(e.end) +
                  ", but the file holds only " + std::to_string(data_bytes) + " bytes of data");
    expected = e.end;
  }
  if (expected != data_bytes)
    throw Error(path + ": the file holds " + std::to_string(data_bytes) + " bytes of data, but the tensors end at byte " +
                std::to_string(expected));
  return h;
}

SafetensorsHeader read_header(const std::string& path, const InputFile& f) {
  if (f.size() < 8)
    throw Error(path + ": not a safetensors file: " + std::to_string(f.size()) +
                " bytes, too short for the 8-byte header length");
  unsigned char len_bytes[8];
  f.read_at(0, len_bytes, 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > f.size() - 8)
    throw Error(path + ": header length " + std::to_string(n) + " exceeds the file size (" + std::to_string(f.size()) +
                " bytes): truncated, or not a safetensors file");
  if (n > kMaxHeaderBytes) throw Error(path + ": header length " + std::to_string(n) + " exceeds 100 MB");
  std::string text(n, '\0');
  f.read_at(8, text.data(), n);
  SafetensorsHeader h = parse_header(path, text, f.size() - 8 - n);
  h.data_start = 8 + n;
  return h;
}

}  // namespace

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000 | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // rebias 15 -> 127
  } else {
    // Zero or subnormal: mant × 2^-24, exact in float.
    float v = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -v : v;
  }
  return std::bit_cast<float>(bits);
}

float bf16_to_f32(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors, const StringMap& metadata) {
  std::vector<const NamedTensor*> order;
  std::set<std::string> seen;
  for (const auto& nt : tensors) {
    if (!nt.tensor.defined()) throw Error(path + ": tensor " + nt.name + " is undefined");
    if (nt.name == "__metadata__") throw Error(path + ": \"__metadata__\" cannot name a tensor");
    if (!seen.insert(nt.name).second) throw Error(path + ": tensor " + nt.name + " given twice");
    order.push_back(&nt);
  }
  std::sort(order.begin(), order.end(), [](const NamedTensor* a, const NamedTensor* b) {
    int ra = write_rank(a->tensor.dtype()), rb = write_rank(b->tensor.dtype());
    return ra != rb ? ra < rb : a->name < b->name;
  });

  // ordered_json keeps HF's key order: __metadata__ first, then data order; dtype, shape, data_offsets.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const NamedTensor* nt : order) {
    const Tensor& t = nt->tensor;
    uint64_t n = static_cast<uint64_t>(t.numel()) * engine::dtype_size(t.dtype());
    std::vector<int64_t> shape(t.shape().begin(), t.shape().end());
    header[nt->name] = {{"dtype", file_dtype(t.dtype())}, {"shape", shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": cannot encode the header (tensor names must be UTF-8): " + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  AtomicFile out(path);
  char len_bytes[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out.write(std::string_view(len_bytes, 8));
  out.write(text);
  for (const NamedTensor* nt : order) {
    Tensor c = nt->tensor.contiguous();
    out.write(std::string_view(static_cast<const char*>(c.raw()),
                               static_cast<size_t>(c.numel()) * engine::dtype_size(c.dtype())));
  }
  out.commit();
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  InputFile f(path);
  return read_header(path, f);
}

SafetensorsFile read_safetensors(const std::string& path) {
  InputFile f(path);
  SafetensorsHeader h = read_header(path, f);
  SafetensorsFile out;
  out.metadata = h.metadata;
  for (const auto& e : h.tensors) {
    const std::string& d = e.dtype;
    const uint64_t at = h.data_start + e.begin;
    const int64_t n = e.shape.numel();
    if (d == "F32" || d == "I32") {
      Tensor t = Tensor::empty(e.shape, nullptr, d == "F32" ? DType::F32 : DType::I32);
      f.read_at(at, t.raw(), e.end - e.begin);
      out.tensors[e.name] = t;
    } else if (d == "F16" || d == "BF16") {
      std::vector<uint16_t> raw(n);
      f.read_at(at, raw.data(), e.end - e.begin);
      Tensor t = Tensor::empty(e.shape);
      float* p = t.f32();
      for (int64_t i = 0; i < n; ++i) p[i] = d == "F16" ? f16_to_f32(raw[i]) : bf16_to_f32(raw[i]);
      out.tensors[e.name] = t;
    } else if (d == "F64") {
      std::vector<double> raw(n);
      f.read_at(at, raw.data(), e.end - e.begin);
      Tensor t = Tensor::empty(e.shape);
      std::transform(raw.begin(), raw.end(), t.f32(), [](double x) { return static_cast<float>(x); });
      out.tensors[e.name] = t;
    } else if (d == "I64") {
      std::vector<int64_t> raw(n);
      f.read_at(at, raw.data(), e.end - e.begin);
      Tensor t = Tensor::empty(e.shape, nullptr, DType::I32);
      int32_t* p = t.i32();
      for (int64_t i = 0; i < n; ++i) {
        if (raw[i] < std::numeric_limits<int32_t>::min() || raw[i] > std::numeric_limits<int32_t>::max())
          throw Error(path + ": tensor " + e.name + ": I64 value " + std::to_string(raw[i]) + " at index " +
                      std::to_string(i) + " does not fit in i32");
        p[i] = static_cast<int32_t>(raw[i]);
      }
      out.tensors[e.name] = t;
    } else {
      throw Error(path + ": tensor " + e.name + ": unsupported dtype " + d +
                  " (readable: F32, F16, BF16, F64, I32, I64)");
    }
  }
  return out;
}

}  // namespace dnabert::io
