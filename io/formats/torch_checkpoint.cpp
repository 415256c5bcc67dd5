#include "io/formats/torch_checkpoint.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "base/error.h"

namespace dnabert::io {

static_assert(std::endian::native == std::endian::little, "torch storages are read as little-endian");

namespace {

using engine::DType;
using engine::Dims;
using engine::Tensor;

uint64_t le(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(p[i]);
  return v;
}

// ---- ZIP archive (stored entries only) ---------------------------------------

class ByteFile {
 public:
  explicit ByteFile(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw Error(path + ": cannot open");
    in_.seekg(0, std::ios::end);
    size_ = static_cast<uint64_t>(in_.tellg());
  }
  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  std::string read(uint64_t offset, uint64_t n, const std::string& what) {
    if (offset > size_ || n > size_ - offset)
      throw Error(path_ + ": truncated: " + what + " at byte " + std::to_string(offset) + " needs " +
                  std::to_string(n) + " bytes but the file has " + std::to_string(size_));
    std::string s(n, '\0');
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(s.data(), static_cast<std::streamsize>(n));
    if (!in_) throw Error(path_ + ": read error at byte " + std::to_string(offset));
    return s;
  }

 private:
  std::string path_;
  std::ifstream in_;
  uint64_t size_ = 0;
};

struct ZipEntry {
  uint16_t flags = 0, method = 0;
  uint32_t crc = 0;
  uint64_t compressed = 0, size = 0, local = 0;
};

class ZipArchive {
 public:
  explicit ZipArchive(ByteFile& f) : f_(f) {
    constexpr uint64_t kEocd = 22, kMaxComment = 65535;
    if (f.size() < kEocd) fail("too short to be a zip archive (truncated?)");
    const uint64_t tail_len = std::min<uint64_t>(f.size(), kEocd + kMaxComment);
    const std::string tail = f.read(f.size() - tail_len, tail_len, "end of archive");
    int64_t at = -1;
    for (int64_t i = static_cast<int64_t>(tail_len - kEocd); i >= 0 && at < 0; --i)
      if (le(tail.data() + i, 4) == 0x06054b50) at = i;
    if (at < 0) fail("no zip end-of-central-directory record (the file is truncated or not a zip archive)");
    const char* e = tail.data() + at;
    uint64_t entries = le(e + 10, 2), cd_size = le(e + 12, 4), cd_offset = le(e + 16, 4);
    uint64_t cd_limit = f.size() - tail_len + static_cast<uint64_t>(at);  // the central directory ends before this
    if (at >= 20 && le(e - 20, 4) == 0x07064b50) {  // ZIP64 locator, then the ZIP64 end record it points to
      const uint64_t z64_at = le(e - 20 + 8, 8);
      const std::string z = f.read(z64_at, 56, "ZIP64 end-of-central-directory record");
      if (le(z.data(), 4) != 0x06064b50) fail("bad ZIP64 end-of-central-directory signature");
      entries = le(z.data() + 32, 8), cd_size = le(z.data() + 40, 8), cd_offset = le(z.data() + 48, 8);
      cd_limit = z64_at;
    }
    if (cd_offset > cd_limit || cd_size > cd_limit - cd_offset)
      fail("central directory (" + std::to_string(cd_size) + " bytes at " + std::to_string(cd_offset) +
           ") lies outside the file (truncated?)");
    const std::string cd = f.read(cd_offset, cd_size, "central directory");
    uint64_t p = 0;
    for (uint64_t n = 0; n < entries; ++n) {
      if (cd.size() - p < 46 || le(cd.data() + p, 4) != 0x02014b50) fail("corrupt central directory entry " + std::to_string(n));
      const char* h = cd.data() + p;
      ZipEntry ze;
      ze.flags = static_cast<uint16_t>(le(h + 8, 2)), ze.method = static_cast<uint16_t>(le(h + 10, 2));
      ze.crc = static_cast<uint32_t>(le(h + 16, 4));
      ze.compressed = le(h + 20, 4), ze.size = le(h + 24, 4), ze.local = le(h + 42, 4);
      const uint64_t name_len = le(h + 28, 2), extra_len = le(h + 30, 2), comment_len = le(h + 32, 2);
      if (cd.size() - p - 46 < name_len + extra_len + comment_len) fail("corrupt central directory entry " + std::to_string(n));
      std::string name(h + 46, name_len);
      read_zip64_extra(std::string_view(h + 46 + name_len, extra_len), ze, name);
      entries_[name] = ze;
      p += 46 + name_len + extra_len + comment_len;
    }
  }

  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  const std::map<std::string, ZipEntry>& entries() const { return entries_; }

  // The bytes of entry `name`, CRC-checked.
  std::string read(const std::string& name) {
    const ZipEntry& ze = entries_.at(name);
    if (ze.flags & 1) fail("entry " + name + " is encrypted");
    if (ze.method != 0)
      fail("entry " + name + " is compressed (method " + std::to_string(ze.method) +
           (ze.method == 8 ? ", deflate" : "") + "); torch.save writes stored entries only: re-save it with torch.save");
    if (ze.compressed != ze.size) fail("entry " + name + ": stored entry with differing sizes");
    const std::string local = f_.read(ze.local, 30, "local header of " + name);
    if (le(local.data(), 4) != 0x04034b50) fail("entry " + name + ": bad local header signature");
    const uint64_t data_at = ze.local + 30 + le(local.data() + 26, 2) + le(local.data() + 28, 2);
    std::string data = f_.read(data_at, ze.size, "entry " + name);
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t done = 0; done < data.size();) {  // zlib takes 32-bit lengths
      const uInt n = static_cast<uInt>(std::min<uint64_t>(data.size() - done, 1u << 30));
      crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + done), n);
      done += n;
    }
    if (static_cast<uint32_t>(crc) != ze.crc) fail("entry " + name + ": CRC-32 mismatch (corrupt file)");
    return data;
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const { throw Error(f_.path() + ": " + msg); }

  // ZIP64 extended information (id 1): the 64-bit values of the fields set to 0xFFFFFFFF, in this order.
  void read_zip64_extra(std::string_view extra, ZipEntry& ze, const std::string& name) const {
    for (size_t q = 0; q + 4 <= extra.size();) {
      const uint64_t id = le(extra.data() + q, 2), len = le(extra.data() + q + 2, 2);
      if (q + 4 + len > extra.size()) fail("entry " + name + ": corrupt extra field");
      if (id == 1) {
        size_t r = q + 4;
        for (uint64_t* field : {&ze.size, &ze.compressed, &ze.local}) {
          if (*field != 0xFFFFFFFFu) continue;
          if (r + 8 > q + 4 + len) fail("entry " + name + ": short ZIP64 extra field");
          *field = le(extra.data() + r, 8), r += 8;
        }
      }
      q += 4 + len;
    }
  }

  ByteFile& f_;
  std::map<std::string, ZipEntry> entries_;
};

// ---- the pickle machine: just what torch state dicts use --------------------

enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor };

struct PyObject;
using Obj = std::shared_ptr<PyObject>;

struct PyObject {
  Kind kind = Kind::None;
  int64_t i = 0;  // Int, Bool; Storage: its element count
  double f = 0;
  std::string s;  // Str, Bytes; Global: "module.name"; Storage: its key
  std::string storage_type;  // Storage: "torch.FloatStorage", ...
  std::vector<Obj> items;    // Tuple, List
  std::vector<std::pair<Obj, Obj>> dict;
  // Tensor: a view of a storage.
  Obj storage;
  int64_t offset = 0;
  std::vector<int64_t> size, stride;
};

// Runs a pickle. The objects it makes live as long as the Unpickler: a pickle
// can make an object refer to itself (a list appended to itself, a dict
// holding itself), which shared_ptr alone would leak, and nest objects deeper
// than the stack allows to destroy recursively. The Unpickler keeps every
// object it made and cuts all their links when it is destroyed.
class Unpickler {
 public:
  Unpickler(std::string data, std::string where) : d_(std::move(data)), where_(std::move(where)) {}
  ~Unpickler() {
    for (const Obj& o : made_) {
      o->items.clear();
      o->dict.clear();
      o->storage.reset();
    }
  }
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  Obj run() {
    while (true) {
      op_at_ = p_;
      const uint8_t op = static_cast<uint8_t>(*take(1));
      switch (op) {
        case 0x80: take(1); break;  // PROTO
        case 0x95: take(8); break;  // FRAME
        case '.': return pop();     // STOP
        case '(': marks_.push_back(stack_.size()); break;
        case '0': pop(); break;
        case '1': pop_mark(); break;
        case '2': push(top()); break;
        case 'N': push(make(Kind::None)); break;
        case 0x88: case 0x89: { Obj o = make(Kind::Bool); o->i = op == 0x88; push(o); break; }
        case 'J': push_int(static_cast<int32_t>(le(take(4), 4))); break;
        case 'K': push_int(static_cast<uint8_t>(*take(1))); break;
        case 'M': push_int(static_cast<int64_t>(le(take(2), 2))); break;
        case 0x8a: long_int(le(take(1), 1)); break;  // LONG1
        case 0x8b: long_int(le(take(4), 4)); break;  // LONG4
        case 'G': {  // BINFLOAT: big-endian double
          const char* b = take(8);
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = bits << 8 | static_cast<uint8_t>(b[k]);
          Obj o = make(Kind::Float);
          o->f = std::bit_cast<double>(bits);
          push(o);
          break;
        }
        case 'X': push_str(Kind::Str, le(take(4), 4)); break;     // BINUNICODE
        case 0x8c: push_str(Kind::Str, le(take(1), 1)); break;    // SHORT_BINUNICODE
        case 0x8d: push_str(Kind::Str, le(take(8), 8)); break;    // BINUNICODE8
        case 'T': push_str(Kind::Bytes, le(take(4), 4)); break;   // BINSTRING
        case 'U': push_str(Kind::Bytes, le(take(1), 1)); break;   // SHORT_BINSTRING
        case 'B': push_str(Kind::Bytes, le(take(4), 4)); break;   // BINBYTES
        case 'C': push_str(Kind::Bytes, le(take(1), 1)); break;   // SHORT_BINBYTES
        case ')': push(make(Kind::Tuple)); break;
        case 't': { Obj o = make(Kind::Tuple); o->items = pop_mark(); push(o); break; }
        case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
          Obj o = make(Kind::Tuple);
          o->items.resize(op - 0x84);
          for (size_t k = o->items.size(); k-- > 0;) o->items[k] = pop();
          push(o);
          break;
        }
        case ']': push(make(Kind::List)); break;
        case 'l': { Obj o = make(Kind::List); o->items = pop_mark(); push(o); break; }
        case 'a': { Obj v = pop(); expect(top(), Kind::List, "APPEND target")->items.push_back(v); break; }
        case 'e': {
          std::vector<Obj> v = pop_mark();
          auto& items = expect(top(), Kind::List, "APPENDS target")->items;
          items.insert(items.end(), v.begin(), v.end());
          break;
        }
        case '}': push(make(Kind::Dict)); break;
        case 'd': { Obj o = make(Kind::Dict); set_items(o, pop_mark()); push(o); break; }
        case 's': { Obj v = pop(), k = pop(); set_items(top(), {k, v}); break; }
        case 'u': { std::vector<Obj> kv = pop_mark(); set_items(top(), kv); break; }
        case 'c': {  // GLOBAL "module\nname\n"
          std::string module = line(), name = line();
          push_global(module + "." + name);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          Obj name = pop(), module = pop();
          push_global(expect(module, Kind::Str, "STACK_GLOBAL module")->s + "." + expect(name, Kind::Str, "STACK_GLOBAL name")->s);
          break;
        }
        case 'q': memo_[le(take(1), 1)] = top(); break;  // BINPUT
        case 'r': memo_[le(take(4), 4)] = top(); break;  // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = top(); break;   // MEMOIZE
        case 'h': push(get(le(take(1), 1))); break;      // BINGET
        case 'j': push(get(le(take(4), 4))); break;      // LONG_BINGET
        case 'Q': push(persistent(pop())); break;        // BINPERSID
        case 'R': { Obj args = pop(), fn = pop(); push(reduce(fn, args)); break; }
        case 'b': pop(); top(); break;  // BUILD: object state (OrderedDict._metadata, ...) is not needed
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          fail(std::string("unsupported pickle opcode ") + hex);
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    throw Error(where_ + ": byte " + std::to_string(op_at_) + ": " + msg);
  }
  Obj make(Kind k) {
    auto o = std::make_shared<PyObject>();
    o->kind = k;
    made_.push_back(o);
    return o;
  }
  const char* take(uint64_t n) {
    if (n > d_.size() - p_) fail("pickle ends early (truncated)");
    const char* at = d_.data() + p_;
    p_ += n;
    return at;
  }
  std::string line() {
    const size_t end = d_.find('\n', p_);
    if (end == std::string::npos) fail("pickle ends early (truncated)");
    std::string s = d_.substr(p_, end - p_);
    p_ = end + 1;
    return s;
  }
  void push(Obj o) { stack_.push_back(std::move(o)); }
  Obj pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("pickle stack underflow");
    Obj o = std::move(stack_.back());
    stack_.pop_back();
    return o;
  }
  const Obj& top() const {
    if (stack_.empty()) fail("pickle stack underflow");
    return stack_.back();
  }
  std::vector<Obj> pop_mark() {
    if (marks_.empty()) fail("pickle has no MARK to pop to");
    std::vector<Obj> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  Obj get(uint64_t key) const {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail("memo key " + std::to_string(key) + " was never stored");
    return it->second;
  }
  const Obj& expect(const Obj& o, Kind k, const char* what) const {
    if (o->kind != k) fail(std::string(what) + " has an unexpected type");
    return o;
  }
  int64_t as_int(const Obj& o, const char* what) const {
    if (o->kind != Kind::Int && o->kind != Kind::Bool) fail(std::string(what) + " is not an integer");
    return o->i;
  }
  void push_int(int64_t v) {
    Obj o = make(Kind::Int);
    o->i = v;
    push(o);
  }
  void long_int(uint64_t n) {  // little-endian two's complement of n bytes
    if (n > 8) fail("integer of " + std::to_string(n) + " bytes does not fit in 64 bits");
    const char* b = take(n);
    uint64_t v = n ? le(b, static_cast<int>(n)) : 0;
    if (n > 0 && n < 8 && (static_cast<uint8_t>(b[n - 1]) & 0x80)) v |= ~uint64_t{0} << (8 * n);
    push_int(static_cast<int64_t>(v));
  }
  void push_str(Kind k, uint64_t n) {
    Obj o = make(k);
    const char* b = take(n);
    o->s.assign(b, n);
    push(o);
  }
  void push_global(std::string name) {
    Obj o = make(Kind::Global);
    o->s = std::move(name);
    push(o);
  }
  void set_items(const Obj& target, const std::vector<Obj>& kv) {
    if (target->kind != Kind::Dict) fail("SETITEM(S) target is not a dict");
    if (kv.size() % 2) fail("SETITEMS with an odd number of items");
    for (size_t k = 0; k < kv.size(); k += 2) {
      target->dict.emplace_back(kv[k], kv[k + 1]);  // torch never repeats a key; the caller rejects repeats
    }
  }
  // ('storage', torch.FloatStorage, key, location, numel)
  Obj persistent(const Obj& pid) {
    if (pid->kind != Kind::Tuple || pid->items.size() != 5 || pid->items[0]->kind != Kind::Str ||
        pid->items[0]->s != "storage" || pid->items[1]->kind != Kind::Global || pid->items[2]->kind != Kind::Str)
      fail("persistent id is not ('storage', type, key, location, numel)");
    Obj o = make(Kind::Storage);
    o->storage_type = pid->items[1]->s;
    o->s = pid->items[2]->s;
    o->i = as_int(pid->items[4], "storage element count");
    if (o->i < 0) fail("negative storage element count");
    return o;
  }
  Obj reduce(const Obj& fn, const Obj& args) {
    if (fn->kind != Kind::Global) fail("REDUCE of something that is not a global");
    if (args->kind != Kind::Tuple) fail("REDUCE arguments are not a tuple");
    const std::string& f = fn->s;
    const auto& a = args->items;
    if (f == "collections.OrderedDict" || f == "builtins.dict") {
      Obj d = make(Kind::Dict);
      if (!a.empty()) fail(f + " with arguments is not supported");
      return d;
    }
    if (f == "torch._utils._rebuild_tensor_v2" || f == "torch._utils._rebuild_tensor") {
      if (a.size() < 4 || a[0]->kind != Kind::Storage || a[2]->kind != Kind::Tuple || a[3]->kind != Kind::Tuple)
        fail(f + ": expected (storage, storage_offset, size, stride, ...)");
      Obj t = make(Kind::Tensor);
      t->storage = a[0];
      t->offset = as_int(a[1], "storage offset");
      for (const Obj& v : a[2]->items) t->size.push_back(as_int(v, "tensor size"));
      for (const Obj& v : a[3]->items) t->stride.push_back(as_int(v, "tensor stride"));
      if (t->size.size() != t->stride.size()) fail(f + ": size and stride differ in length");
      return t;
    }
    if (f == "torch._utils._rebuild_parameter" || f == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty() || a[0]->kind != Kind::Tensor) fail(f + ": expected a tensor");
      return a[0];
    }
    fail("unsupported callable " + f + " (a torch state dict holds only tensors)");
  }

  std::string d_, where_;
  size_t p_ = 0, op_at_ = 0;
  std::vector<Obj> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Obj> memo_;
  std::vector<Obj> made_;
};

// ---- tensors from storages --------------------------------------------------

// Views may hold more elements than their storage (expanded views, stride 0),
// and several may share one storage (tied weights), each read into a tensor of
// its own. So that a small file cannot make the reader allocate without bound,
// the tensors of one file may hold kMaxExpandedElements plus two elements per
// byte of the file in all; a file whose views need more is taken for corrupt.
constexpr int64_t kMaxExpandedElements = int64_t{1} << 26;

// Element size of a storage type; 0 = not supported.
size_t storage_element_size(const std::string& type) {
  static const std::map<std::string, size_t> sizes = {
      {"torch.FloatStorage", 4}, {"torch.HalfStorage", 2}, {"torch.BFloat16Storage", 2},
      {"torch.DoubleStorage", 8}, {"torch.LongStorage", 8}, {"torch.IntStorage", 4}};
  auto it = sizes.find(type);
  return it == sizes.end() ? 0 : it->second;
}

std::string dims_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t k = 0; k < v.size(); ++k) s += (k ? ", " : "") + std::to_string(v[k]);
  return s + "]";
}

// Calls f(j, src) for output element j (row-major) and its storage element src.
template <class F>
void for_each_element(const PyObject& t, int64_t numel, F f) {
  const size_t rank = t.size.size();
  std::array<int64_t, Dims::kMaxRank> idx{};  // rank <= kMaxRank was checked
  int64_t src = t.offset;
  for (int64_t j = 0; j < numel; ++j) {
    f(j, src);
    for (size_t d = rank; d-- > 0;) {
      src += t.stride[d];
      if (++idx[d] < t.size[d]) break;
      src -= t.stride[d] * t.size[d];
      idx[d] = 0;
    }
  }
}

template <class T>
T load(const std::string& raw, int64_t k) {
  T v;
  std::memcpy(&v, raw.data() + static_cast<size_t>(k) * sizeof(T), sizeof(T));
  return v;
}

// The tensor `name` as a contiguous f32 or i32 tensor; undefined (with
// `why_skipped` set) when its type is not converted. `budget` is the number of
// elements the file's tensors may still hold (kMaxExpandedElements).
Tensor materialize(ZipArchive& zip, const std::string& prefix, const std::string& path, const std::string& name,
                   const PyObject& t, std::string& why_skipped, int64_t& budget) {
  const PyObject& st = *t.storage;
  const std::string where = path + ": tensor " + name;
  const size_t es = storage_element_size(st.storage_type);
  if (es == 0) {
    why_skipped = "storage type " + st.storage_type + " is not supported";
    return Tensor();
  }
  if (t.size.size() > static_cast<size_t>(Dims::kMaxRank))
    throw Error(where + ": rank " + std::to_string(t.size.size()) + " exceeds " + std::to_string(Dims::kMaxRank));
  const std::string entry = prefix + "data/" + st.s;
  if (!zip.contains(entry)) throw Error(where + ": storage entry " + entry + " is missing from the archive");
  const uint64_t entry_size = zip.entries().at(entry).size;
  if (entry_size / es != static_cast<uint64_t>(st.i) || entry_size % es != 0)
    throw Error(path + ": storage entry " + entry + " holds " + std::to_string(entry_size) + " bytes, expected " +
                std::to_string(st.i) + " elements of " + std::to_string(es) + " bytes (" + st.storage_type + ")");
  // Elements reached: offset + sum (size - 1) * stride, all checked for overflow.
  int64_t numel = 1, last = t.offset;
  bool bad = t.offset < 0 || t.offset > st.i;
  for (size_t d = 0; d < t.size.size() && !bad; ++d) {
    int64_t span = 0;
    bad = t.size[d] < 0 || t.stride[d] < 0 || __builtin_mul_overflow(numel, t.size[d], &numel) ||
          (t.size[d] > 0 && (__builtin_mul_overflow(t.size[d] - 1, t.stride[d], &span) ||
                             __builtin_add_overflow(last, span, &last)));
  }
  if (bad || (numel > 0 && last >= st.i))
    throw Error(where + ": storage offset " + std::to_string(t.offset) + ", size " + dims_str(t.size) + ", stride " +
                dims_str(t.stride) + " reach outside storage " + st.s + " of " + std::to_string(st.i) + " elements");
  if (numel > budget)
    throw Error(where + ": a view of " + std::to_string(numel) + " elements over a storage of " + std::to_string(st.i) +
                " is implausibly large (corrupt file?): with the tensors before it, it exceeds 2^26 elements plus two "
                "per byte of the file");
  budget -= numel;
  const std::string raw = zip.read(entry);

  Dims shape = Dims::of_rank(static_cast<int>(t.size.size()));
  for (size_t d = 0; d < t.size.size(); ++d) shape[static_cast<int>(d)] = t.size[d];
  const std::string& type = st.storage_type;
  if (type == "torch.LongStorage" || type == "torch.IntStorage") {
    Tensor out = Tensor::empty(shape, nullptr, DType::I32);
    int32_t* o = out.i32();
    bool in_range = true;
    for_each_element(t, numel, [&](int64_t j, int64_t k) {
      const int64_t v = type == "torch.IntStorage" ? load<int32_t>(raw, k) : load<int64_t>(raw, k);
      in_range = in_range && v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
      o[j] = static_cast<int32_t>(v);
    });
    if (!in_range) {
      why_skipped = "int64 values outside the int32 range";
      return Tensor();
    }
    return out;
  }
  Tensor out = Tensor::empty(shape);
  float* o = out.f32();
  if (type == "torch.FloatStorage") for_each_element(t, numel, [&](int64_t j, int64_t k) { o[j] = load<float>(raw, k); });
  if (type == "torch.DoubleStorage")
    for_each_element(t, numel, [&](int64_t j, int64_t k) { o[j] = static_cast<float>(load<double>(raw, k)); });
  if (type == "torch.HalfStorage")
    for_each_element(t, numel, [&](int64_t j, int64_t k) { o[j] = f16_to_f32(load<uint16_t>(raw, k)); });
  if (type == "torch.BFloat16Storage")
    for_each_element(t, numel, [&](int64_t j, int64_t k) { o[j] = bf16_to_f32(load<uint16_t>(raw, k)); });
  return out;
}

}  // namespace

TorchCheckpoint read_torch_checkpoint(const std::string& path) {
  ByteFile f(path);
  const std::string magic = f.read(0, std::min<uint64_t>(f.size(), 4), "signature");
  if (!magic.empty() && static_cast<uint8_t>(magic[0]) == 0x80)
    throw Error(path + ": legacy PyTorch format (torch < 1.6, a bare pickle) is not supported; re-save it with "
                "torch >= 1.6: torch.save(torch.load(f), f)");
  if (magic != std::string("PK\x03\x04", 4))
    throw Error(path + ": not a PyTorch checkpoint (expected a zip archive written by torch.save, torch >= 1.6)");
  ZipArchive zip(f);

  std::string pkl;
  for (const auto& [name, e] : zip.entries()) {
    const size_t slash = name.find('/');
    if (slash != std::string::npos && name.substr(slash + 1) == "data.pkl") {
      if (!pkl.empty()) throw Error(path + ": more than one data.pkl (" + pkl + ", " + name + ")");
      pkl = name;
    }
  }
  if (pkl.empty()) throw Error(path + ": no <name>/data.pkl entry: not an archive written by torch.save");
  const std::string prefix = pkl.substr(0, pkl.size() - 8);
  if (zip.contains(prefix + "byteorder")) {
    const std::string order = zip.read(prefix + "byteorder");
    if (order != "little") throw Error(path + ": storages are '" + order + "'-endian; only little-endian is supported");
  }

  Unpickler unpickler(zip.read(pkl), path + ": " + pkl);  // owns what root refers to
  const Obj root = unpickler.run();
  if (root->kind != Kind::Dict) throw Error(path + ": " + pkl + ": the pickled object is not a dict of tensors");
  TorchCheckpoint out;
  std::set<std::string> seen;
  int64_t budget = kMaxExpandedElements + 2 * static_cast<int64_t>(f.size());
  for (const auto& [key, value] : root->dict) {
    if (key->kind != Kind::Str) throw Error(path + ": " + pkl + ": a state-dict key is not a string");
    if (!seen.insert(key->s).second) throw Error(path + ": " + pkl + ": tensor " + key->s + " appears twice");
    if (value->kind != Kind::Tensor) {
      out.skipped.push_back(key->s + ": not a tensor");
      continue;
    }
    std::string why;
    Tensor t = materialize(zip, prefix, path, key->s, *value, why, budget);
    if (t.defined()) out.tensors.push_back({key->s, t});
    else out.skipped.push_back(key->s + ": " + why);
  }
  return out;
}

}  // namespace dnabert::io
