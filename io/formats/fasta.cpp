// FASTA/FASTQ parsing over a refillable byte window. The decoded window is
// filled either straight from the file (plain) or by zlib's inflate (gzip,
// multi-member, BGZF); the parser never sees which. Sequence lines go through
// one branch-free table loop per line (see convert_line), which is what makes
// parsing cheaper than the inflate in front of it.
#include "io/formats/fasta.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "base/error.h"

namespace dnabert::io {
namespace {

// Per byte: low 8 bits = the base to emit, kKeep = emit it, kBad = not allowed
// inside a sequence line. Line feeds never reach the table (memchr splits lines).
constexpr uint16_t kKeep = 0x100;
constexpr uint16_t kBad = 0x200;

// Statistics increments packed in 12-bit fields so a line costs one add per
// byte; a chunk is at most kMaxChunk bytes so no field can overflow.
constexpr int kFieldBits = 12;
constexpr size_t kMaxChunk = (size_t{1} << kFieldBits) - 1;
enum Field { kBases, kN, kIupac, kSoft, kGc };

struct Tables {
  uint16_t code[2][256] = {};  // [SoftMask][byte]
  uint64_t inc[256] = {};
  Tables() {
    for (int c = 0; c < 256; ++c) code[0][c] = code[1][c] = kBad;
    for (unsigned char c : {'\r', ' ', '\t'}) code[0][c] = code[1][c] = 0;
    auto add = [&](char upper, char out, Field kind) {
      for (int lower = 0; lower < 2; ++lower) {
        auto c = static_cast<unsigned char>(lower ? upper + ('a' - 'A') : upper);
        code[0][c] = kKeep | static_cast<unsigned char>(out);
        code[1][c] = kKeep | static_cast<unsigned char>(lower ? 'N' : out);
        uint64_t v = uint64_t{1} << (kBases * kFieldBits);
        if (kind != kBases) v += uint64_t{1} << (kind * kFieldBits);
        if (lower) v += uint64_t{1} << (kSoft * kFieldBits);
        inc[c] = v;
      }
    };
    add('A', 'A', kBases);
    add('T', 'T', kBases);
    add('C', 'C', kGc);
    add('G', 'G', kGc);
    add('N', 'N', kN);
    for (char c : std::string("RYKMSWBDHV")) add(c, 'N', kIupac);
  }
};
const Tables kTables;

bool is_iupac_letter(unsigned char c) { return kTables.inc[c] != 0; }

}  // namespace

std::string show_char(unsigned char c) {
  if (c > 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
  char hex[16];
  std::snprintf(hex, sizeof hex, "'\\x%02x'", c);
  return hex;
}

struct FastaReader::Impl {
  enum class State { kBetween, kSequence, kEnd };

  FastaOptions options;
  std::string path, display;  // display: how messages name the input
  int fd = -1;
  bool own_fd = false;
  std::string memory;  // MemoryInput bytes, or the head of a StreamInput
  size_t memory_pos = 0;
  bool from_memory = false;
  std::function<size_t(char*, size_t)> stream;  // the rest of a StreamInput

  std::vector<char> raw, window;  // compressed input, decoded bytes
  const char* pos = nullptr;
  const char* end = nullptr;
  bool gzip = false, zinit = false, member_open = false, raw_eof = false;
  z_stream z{};

  bool fastq = false;
  State state = State::kBetween;
  bool at_line_start = true;
  uint64_t line = 1;
  uint64_t record_bases = 0;
  SequenceRecord current;
  SequenceStats stats;
  std::string header;
  std::vector<char> scratch;

  ~Impl() {
    if (zinit) inflateEnd(&z);
    if (own_fd && fd >= 0) ::close(fd);
  }

  // After an error the position is meaningless: every later call repeats it.
  std::string failure;
  void check_not_failed() const {
    if (!failure.empty()) throw Error(failure);
  }
  [[noreturn]] void fail(const std::string& what) {
    failure = display + ": " + what;
    throw Error(failure);
  }
  [[noreturn]] void fail_at(uint64_t at_line, const std::string& what) {
    fail("line " + std::to_string(at_line) + ": " + what);
  }

  size_t read_raw(char* dst, size_t n) {
    if (from_memory) {
      size_t k = std::min(n, memory.size() - memory_pos);
      std::memcpy(dst, memory.data() + memory_pos, k);
      memory_pos += k;
      return k == 0 && stream ? stream(dst, n) : k;
    }
    for (;;) {
      ssize_t k = ::read(fd, dst, n);
      if (k >= 0) return static_cast<size_t>(k);
      if (errno != EINTR) fail(std::string("cannot read: ") + std::strerror(errno));
    }
  }

  void open() {
    // zlib counts in 32 bits: keep a buffer well inside that.
    options.buffer_bytes = std::clamp<size_t>(options.buffer_bytes, 16, size_t{1} << 30);
    raw.resize(options.buffer_bytes);
    window.resize(options.buffer_bytes);
    if (!from_memory) {
      if (path == "-") {
        fd = 0;
      } else {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail(std::string("cannot open: ") + std::strerror(errno));
        own_fd = true;
      }
    }
    // Enough bytes to see a magic number, even from a pipe that trickles.
    size_t n = 0;
    while (n < 4) {
      size_t k = read_raw(raw.data() + n, raw.size() - n);
      if (k == 0) break;
      n += k;
    }
    if (n == 0) fail("empty file");
    auto u = [&](size_t i) { return i < n ? static_cast<unsigned char>(raw[i]) : 0; };
    if (u(0) == 0x1f && u(1) == 0x8b) {
      gzip = true;
      if (inflateInit2(&z, 15 + 32) != Z_OK) fail("cannot initialise zlib");
      zinit = true;
      member_open = true;
      z.next_in = reinterpret_cast<Bytef*>(raw.data());
      z.avail_in = static_cast<uInt>(n);
      pos = end = window.data();
    } else {
      if (u(0) == 'B' && u(1) == 'Z' && u(2) == 'h') fail("bzip2-compressed input is not supported (use gzip)");
      if (u(0) == 0xfd && u(1) == '7' && u(2) == 'z' && u(3) == 'X')
        fail("xz-compressed input is not supported (use gzip)");
      if (u(0) == 0x28 && u(1) == 0xb5 && u(2) == 0x2f && u(3) == 0xfd)
        fail("zstd-compressed input is not supported (use gzip)");
      std::swap(raw, window);
      std::vector<char>().swap(raw);  // plain input needs no second buffer
      pos = window.data();
      end = pos + n;
    }
    detect_format();
  }

  // Refills the decoded window; false at the end of the input.
  bool refill() {
    if (!gzip) {
      size_t n = raw_eof ? 0 : read_raw(window.data(), window.size());
      if (n == 0) raw_eof = true;
      pos = window.data();
      end = pos + n;
      return n > 0;
    }
    z.next_out = reinterpret_cast<Bytef*>(window.data());
    z.avail_out = static_cast<uInt>(window.size());
    while (z.avail_out > 0) {
      if (z.avail_in == 0) {
        size_t n = raw_eof ? 0 : read_raw(raw.data(), raw.size());
        if (n == 0) {
          raw_eof = true;
          break;
        }
        z.next_in = reinterpret_cast<Bytef*>(raw.data());
        z.avail_in = static_cast<uInt>(n);
      }
      if (!member_open) {  // another gzip member (multi-member gzip, BGZF block) follows
        inflateReset(&z);
        member_open = true;
      }
      int rc = inflate(&z, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        member_open = false;
      } else if (rc != Z_OK && !(rc == Z_BUF_ERROR && z.avail_in == 0)) {
        fail_at(line, std::string("corrupt gzip data (") + (z.msg ? z.msg : "zlib error " + std::to_string(rc)) + ")");
      }
    }
    size_t n = window.size() - z.avail_out;
    if (n == 0 && member_open) fail_at(line, "truncated gzip file (compressed data ends inside a gzip member)");
    pos = window.data();
    end = pos + n;
    return n > 0;
  }

  // Skips white space and blank lines; returns the next byte or -1 at the end.
  int skip_blank() {
    for (;;) {
      if (pos == end && !refill()) return -1;
      char c = *pos;
      if (c == '\n') {
        ++line;
      } else if (c != ' ' && c != '\t' && c != '\r') {
        return static_cast<unsigned char>(c);
      }
      ++pos;
    }
  }

  void detect_format() {
    // A UTF-8 byte order mark, as some Windows editors write, carries no content.
    if (pos == end) refill();
    if (end - pos >= 3 && std::memcmp(pos, "\xef\xbb\xbf", 3) == 0) pos += 3;
    int c = skip_blank();
    if (c < 0) fail("empty file (no FASTA/FASTQ records)");
    if (c == '>' || c == '@') {
      fastq = c == '@';
      return;
    }
    if (is_iupac_letter(static_cast<unsigned char>(c)))
      fail_at(line, "sequence before the first '>' header (a record without a header)");
    fail_at(line, "not a FASTA or FASTQ file (starts with " + show_char(static_cast<unsigned char>(c)) +
                      ", expected '>' or '@')");
  }

  // pos is at the '>' or '@'. Reads the header line into `current`.
  void read_header() {
    uint64_t header_line = line;
    header.clear();
    ++pos;
    for (;;) {
      if (pos == end && !refill()) break;
      const char* nl = static_cast<const char*>(std::memchr(pos, '\n', end - pos));
      const char* stop = nl ? nl : end;
      header.append(pos, stop);
      if (header.size() > (size_t{1} << 20)) fail_at(header_line, "header line longer than 1 MiB");
      pos = stop;
      if (nl) {
        ++pos;
        ++line;
        break;
      }
    }
    if (!header.empty() && header.back() == '\r') header.pop_back();
    for (unsigned char c : header)
      if (c < 0x20 && c != '\t') fail_at(header_line, "unexpected character " + show_char(c) + " in header");
    // The name is the header's first word; blanks before it are skipped, as
    // in "> 6400" (CNNProm's files). A header with no word at all is refused:
    // it would become an empty id or chromosome column downstream.
    const size_t name_start = header.find_first_not_of(" \t");
    if (name_start == std::string::npos) fail_at(header_line, "a record with no name (a header line with nothing after its '>')");
    size_t name_end = header.find_first_of(" \t", name_start);
    current.name = header.substr(name_start, name_end == std::string::npos ? std::string::npos : name_end - name_start);
    size_t desc = name_end == std::string::npos ? std::string::npos : header.find_first_not_of(" \t", name_end);
    current.description = desc == std::string::npos ? "" : header.substr(desc);
    current.line = header_line;
    current.index = stats.records;
    current.fastq = fastq;
  }

  void add_stats(uint64_t packed) {
    auto field = [&](Field f) { return (packed >> (f * kFieldBits)) & kMaxChunk; };
    stats.bases += field(kBases);
    stats.n_bases += field(kN);
    stats.other_iupac += field(kIupac);
    stats.soft_masked += field(kSoft);
    stats.gc += field(kGc);
  }

  // One piece of a sequence line (no '\n' inside, at most kMaxChunk bytes):
  // writes the bases to out, returns how many.
  size_t convert_line(const char* begin, size_t len, char* out) {
    const uint16_t* code = kTables.code[options.soft_mask == SoftMask::Unknown ? 1 : 0];
    const auto* p = reinterpret_cast<const unsigned char*>(begin);
    size_t kept = 0, i = 0;
#ifdef __SSE2__
    // Fast path for the common case, 16 bytes of upper-case ACGT (or of N) at a
    // time; it stops at the first other block and the table loop takes over.
    uint64_t fast_gc = 0, fast_n = 0;
    for (; i + 16 <= len; i += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
      const __m128i gc = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('C')), _mm_cmpeq_epi8(v, _mm_set1_epi8('G')));
      const __m128i at = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('A')), _mm_cmpeq_epi8(v, _mm_set1_epi8('T')));
      if (_mm_movemask_epi8(_mm_or_si128(gc, at)) == 0xffff) {
        fast_gc += static_cast<uint64_t>(__builtin_popcount(static_cast<unsigned>(_mm_movemask_epi8(gc))));
      } else if (_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('N'))) == 0xffff) {
        fast_n += 16;
      } else {
        break;
      }
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), v);  // kept == i so far
    }
    kept = i;
    stats.bases += i;
    stats.gc += fast_gc;
    stats.n_bases += fast_n;
#endif
    uint16_t flags = 0;
    uint64_t packed = 0;
    for (; i < len; ++i) {
      uint16_t v = code[p[i]];
      out[kept] = static_cast<char>(v);  // kept <= i < len: always inside the caller's room
      kept += (v >> 8) & 1;
      flags |= v;
      packed += kTables.inc[p[i]];
    }
    if (flags & kBad) {
      for (size_t i = 0; i < len; ++i)
        if (code[p[i]] & kBad)
          fail_at(line,
                  "unexpected character " + show_char(p[i]) + " in the sequence of record '" + current.name + "'");
    }
    add_stats(packed);
    return kept;
  }

  std::string quality_mismatch(uint64_t q) const {
    return "quality length " + std::to_string(q) + " != sequence length " + std::to_string(record_bases);
  }

  // pos is at the '+' line. Reads quality lines until they cover the sequence;
  // a line starting with '@' once some quality was read begins the next record.
  void read_quality() {
    uint64_t last_line = line;
    while (pos != end || refill()) {  // the '+' line itself: contents ignored
      const char* nl = static_cast<const char*>(std::memchr(pos, '\n', end - pos));
      pos = nl ? nl + 1 : end;
      if (nl) break;
    }
    ++line;
    uint64_t q = 0;
    while (q < record_bases) {
      if (pos == end && !refill()) fail_at(last_line, quality_mismatch(q));
      if (q > 0 && *pos == '@') fail_at(last_line, quality_mismatch(q));
      last_line = line;
      uint64_t len = 0;
      for (;;) {
        if (pos == end && !refill()) break;
        const char* nl = static_cast<const char*>(std::memchr(pos, '\n', end - pos));
        const char* stop = nl ? nl : end;
        for (const char* p = pos; p < stop; ++p) {
          auto c = static_cast<unsigned char>(*p);
          if (c == '\r') continue;
          if (c < '!' || c > '~') fail_at(line, "invalid quality character " + show_char(c));
          ++len;
        }
        pos = stop;
        if (nl) {
          ++pos;
          ++line;
          break;
        }
      }
      if (len == 0) fail_at(last_line, quality_mismatch(q));
      q += len;
    }
    if (q != record_bases) fail_at(last_line, quality_mismatch(q));
  }

  size_t read_bases(char* out, size_t n) {
    size_t produced = 0;
    while (state == State::kSequence && produced < n) {
      if (pos == end && !refill()) {
        if (fastq) fail_at(current.line, "FASTQ record '" + current.name + "' has no '+' line (end of file)");
        state = State::kEnd;
        break;
      }
      if (at_line_start) {
        char c = *pos;
        if (c == '\n') {
          ++pos;
          ++line;
          continue;
        }
        if (!fastq && c == '>') {
          state = State::kBetween;
          break;
        }
        if (fastq && c == '+') {
          read_quality();
          state = State::kBetween;
          break;
        }
        if (fastq && c == '@')
          fail_at(line, "FASTQ record '" + current.name + "' has no '+' line (found a line starting with '@')");
        at_line_start = false;
      }
      size_t avail = std::min({static_cast<size_t>(end - pos), n - produced, kMaxChunk});
      const char* nl = static_cast<const char*>(std::memchr(pos, '\n', avail));
      size_t len = nl ? static_cast<size_t>(nl - pos) : avail;
      size_t kept = convert_line(pos, len, out + produced);
      produced += kept;
      record_bases += kept;
      pos += len;
      if (nl) {
        ++pos;
        ++line;
        at_line_start = true;
      }
    }
    return produced;
  }

  bool next_record() {
    if (state == State::kSequence) {
      scratch.resize(size_t{1} << 16);
      while (read_bases(scratch.data(), scratch.size()) > 0) {
      }
    }
    if (state == State::kEnd) return false;
    int c = skip_blank();
    if (c < 0) {
      state = State::kEnd;
      return false;
    }
    if (c != (fastq ? '@' : '>'))  // only FASTQ can get here: FASTA sequence stops at '>' or the end
      fail_at(line, "expected '@' at the start of a FASTQ record, found " + show_char(static_cast<unsigned char>(c)));
    read_header();
    ++stats.records;
    record_bases = 0;
    state = State::kSequence;
    at_line_start = true;
    return true;
  }
};

FastaReader::FastaReader(const std::string& path, FastaOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->path = path;
  impl_->display = path == "-" ? "<stdin>" : path;
  impl_->open();
}

FastaReader::FastaReader(MemoryInput input, FastaOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->path = impl_->display = std::move(input.name);
  impl_->memory = std::move(input.bytes);
  impl_->from_memory = true;
  impl_->open();
}

FastaReader::FastaReader(StreamInput input, FastaOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->path = impl_->display = std::move(input.name);
  impl_->memory = std::move(input.head);
  impl_->stream = std::move(input.read);
  impl_->from_memory = true;
  impl_->open();
}

FastaReader::~FastaReader() = default;

bool FastaReader::next_record(SequenceRecord& record) {
  impl_->check_not_failed();
  if (!impl_->next_record()) return false;
  record = impl_->current;
  return true;
}

size_t FastaReader::read_bases(char* out, size_t n) {
  impl_->check_not_failed();
  return impl_->read_bases(out, n);
}

bool FastaReader::next(SequenceRecord& record, std::string& sequence) {
  sequence.clear();
  if (!next_record(record)) return false;
  for (;;) {
    size_t old = sequence.size();
    sequence.resize(old + (size_t{1} << 16));
    size_t got = read_bases(sequence.data() + old, size_t{1} << 16);
    sequence.resize(old + got);
    if (got == 0) return true;
  }
}

const SequenceStats& FastaReader::stats() const { return impl_->stats; }
const std::string& FastaReader::path() const { return impl_->path; }

uint64_t count_bases(const std::string& path) {
  FastaReader reader(path);
  SequenceRecord rec;
  std::vector<char> chunk(1 << 20);
  uint64_t total = 0;
  while (reader.next_record(rec))
    while (size_t n = reader.read_bases(chunk.data(), chunk.size())) total += n;
  return total;
}

}  // namespace dnabert::io
