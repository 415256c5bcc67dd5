// Two piece sources behind one block buffer: a consecutive walk (cut pieces
// left to right, permute each block of B) and random-window rounds. A block is
// always rebuilt from (cursor, block index) alone, which is what makes the
// state small: resuming replays one block instead of storing its pieces.
#include "io/data/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <sstream>
#include <tuple>

#include "base/error.h"
#include "engine/rng.h"

namespace dnabert::io {
namespace {

// Rng streams (mixed with the block or round index where one is needed).
constexpr uint64_t kLengthStream = 1;
constexpr uint64_t kShuffleStream = 2;
constexpr uint64_t kWindowStream = 3;
constexpr uint64_t kNoEnd = std::numeric_limits<uint64_t>::max();
constexpr size_t kChunk = size_t{1} << 16;

struct RecordSpan {
  std::string name;
  uint64_t length = 0;
};

struct Region {
  uint64_t begin = 0, end = kNoEnd;
};

std::string fingerprint(const SamplerOptions& o) {
  std::ostringstream s;
  s.precision(17);
  s << "v1 mode=" << (o.mode == SamplerMode::Consecutive ? "consecutive" : "random-window")
    << " split=" << (o.split == Split::Train ? "train" : "eval") << " seed=" << o.seed << " k=" << o.k
    << " max_tokens=" << o.max_tokens << " min=" << o.min_length << " p_full=" << o.full_length_probability
    << " window=" << o.window_length << " per_round=" << o.windows_per_round << " shuffle=" << o.shuffle_buffer
    << " heldout_record=" << o.heldout_record << " heldout_fraction=" << o.heldout_fraction
    << " soft_mask=" << (o.soft_mask == SoftMask::Upper ? "upper" : "unknown");
  for (const auto& f : o.files) s << " file=" << f;
  return s.str();
}

// One draw of DNABERT's length law (see sampler.h); both modes use it.
uint64_t draw_length(engine::Rng& rng, const SamplerOptions& o) {
  const uint64_t full = o.max_length();
  if (rng.uniform_double() < o.full_length_probability) return full;
  auto x = static_cast<uint64_t>(std::floor(rng.uniform_double() * static_cast<double>(full)));
  return std::max<uint64_t>(x, o.min_length);
}

}  // namespace

struct Sampler::Impl {
  SamplerOptions opt;
  std::string fp;
  std::vector<std::vector<RecordSpan>> spans;  // per file; empty unless lengths are needed
  bool have_spans = false;

  // ---- consecutive walk -----------------------------------------------------
  engine::Rng length_rng;
  SamplerCursor cur;  // epoch, file, record (offset/rng filled in by cursor())
  std::unique_ptr<FastaReader> reader;
  SequenceRecord rec;
  bool in_record = false, fresh_epoch = true;
  uint64_t pieces_this_epoch = 0;
  Region region;
  std::vector<char> chunk = std::vector<char>(kChunk);
  size_t chunk_pos = 0, chunk_len = 0;
  uint64_t chunk_offset = 0, read_offset = 0;  // record coordinates

  // ---- block buffer shared by both modes -------------------------------------
  std::vector<DnaPiece> block;
  size_t block_pos = 0;
  uint64_t blocks_started = 0;
  SamplerCursor block_start;
  uint64_t samples = 0;

  explicit Impl(SamplerOptions o) : opt(std::move(o)), fp(fingerprint(opt)) {
    if (opt.files.empty()) throw Error("sampler: no input files");
    if (opt.k < 1 || opt.max_tokens < 3) throw Error("sampler: need k >= 1 and max_tokens >= 3");
    if (opt.min_length < 1 || opt.min_length > opt.max_length())
      throw Error("sampler: min_length must be in [1, " + std::to_string(opt.max_length()) + "]");
    if (!(opt.heldout_fraction >= 0.0 && opt.heldout_fraction < 1.0))
      throw Error("sampler: heldout_fraction must be in [0, 1)");
    if (opt.split == Split::Eval && opt.heldout_record.empty() && opt.heldout_fraction == 0.0)
      throw Error("sampler: the eval split needs a held-out record or fraction");
    if (opt.mode == SamplerMode::RandomWindow && opt.windows_per_round == 0)
      throw Error("sampler: windows_per_round must be positive");
    length_rng = engine::Rng(opt.seed, kLengthStream, 0);
    if (opt.heldout_fraction > 0.0 || opt.mode == SamplerMode::RandomWindow || !opt.heldout_record.empty())
      scan_lengths();
    if (!opt.heldout_record.empty()) check_heldout_record();
  }

  // A misspelt record name would hold nothing out: the evaluation would find
  // no data, or the run would train on what it meant to keep apart.
  void check_heldout_record() const {
    std::string files;
    for (size_t f = 0; f < spans.size(); ++f) {
      for (const RecordSpan& r : spans[f])
        if (r.name == opt.heldout_record) return;
      files += (f ? ", " : "") + opt.files[f];
    }
    throw UsageError("--heldout-record '" + opt.heldout_record + "' names no record of " + files);
  }

  FastaOptions fasta_options() const {
    FastaOptions f;
    f.soft_mask = opt.soft_mask;
    return f;
  }

  void scan_lengths() {
    for (const auto& path : opt.files) {
      FastaReader r(path, fasta_options());
      auto& list = spans.emplace_back();
      SequenceRecord h;
      while (r.next_record(h)) {
        uint64_t before = r.stats().bases;
        while (r.read_bases(chunk.data(), chunk.size()) > 0) {
        }
        list.push_back({h.name, r.stats().bases - before});
      }
    }
    have_spans = true;
  }

  // The part of a record this split may read, or nothing.
  std::optional<Region> region_of(uint64_t file, const SequenceRecord& h) const {
    const bool named = !opt.heldout_record.empty() && h.name == opt.heldout_record;
    const bool train = opt.split == Split::Train;
    if (named) return train ? std::nullopt : std::optional<Region>(Region{});
    if (opt.heldout_fraction == 0.0) return train ? std::optional<Region>(Region{}) : std::nullopt;
    const auto& list = spans.at(file);
    if (h.index >= list.size() || list[h.index].name != h.name)
      throw Error(opt.files[file] + ": records changed since the sampler scanned the file");
    const uint64_t length = list[h.index].length;
    const uint64_t cut = length - static_cast<uint64_t>(std::floor(static_cast<double>(length) * opt.heldout_fraction));
    return train ? Region{0, cut} : Region{cut, length};
  }

  // Pulls the next bases of the current record into the chunk; false at the region end.
  bool fill() {
    if (read_offset >= region.end) return false;
    size_t want = static_cast<size_t>(std::min<uint64_t>(chunk.size(), region.end - read_offset));
    size_t got = reader->read_bases(chunk.data(), want);
    chunk_offset = read_offset;
    chunk_pos = 0;
    chunk_len = got;
    read_offset += got;
    return got > 0;
  }

  void skip_to(uint64_t offset) {
    while (read_offset < offset) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(chunk.size(), offset - read_offset));
      size_t got = reader->read_bases(chunk.data(), want);
      if (got == 0) break;
      read_offset += got;
    }
    chunk_offset = read_offset;
    chunk_pos = chunk_len = 0;
  }

  // Moves to the next allowed record, crossing files and epochs.
  void advance_record() {
    for (;;) {
      if (!reader) {
        if (cur.file >= opt.files.size()) {
          if (fresh_epoch && pieces_this_epoch == 0)
            throw Error("sampler: a whole pass over the input yielded no piece of at least " +
                        std::to_string(opt.min_length) + " bp outside N runs in the " +
                        (opt.split == Split::Train ? "training" : "held-out") + " region");
          ++cur.epoch;
          cur.file = 0;
          pieces_this_epoch = 0;
          fresh_epoch = true;
        }
        reader = std::make_unique<FastaReader>(opt.files[cur.file], fasta_options());
      }
      if (!reader->next_record(rec)) {
        reader.reset();
        ++cur.file;
        continue;
      }
      cur.record = rec.index;
      auto r = region_of(cur.file, rec);
      if (!r) continue;
      region = *r;
      read_offset = 0;
      skip_to(region.begin);
      in_record = true;
      return;
    }
  }

  SamplerCursor cursor() const {
    SamplerCursor c = cur;
    c.offset = in_record ? chunk_offset + chunk_pos : kNoEnd;
    c.rng_counter = length_rng.counter();
    return c;
  }

  void seek(const SamplerCursor& c) {
    if (c.file >= opt.files.size())
      throw Error("sampler: state names file " + std::to_string(c.file) + " of " + std::to_string(opt.files.size()));
    cur = c;
    length_rng.set_counter(c.rng_counter);
    fresh_epoch = false;
    pieces_this_epoch = 0;
    in_record = false;
    reader = std::make_unique<FastaReader>(opt.files[c.file], fasta_options());
    while (reader->next_record(rec)) {
      if (rec.index < c.record) continue;
      auto r = region_of(c.file, rec);
      if (!r) throw Error("sampler: state points into a record this split does not read");
      region = *r;
      read_offset = 0;
      skip_to(std::max(region.begin, c.offset == kNoEnd ? region.end : c.offset));
      in_record = true;
      return;
    }
    throw Error(opt.files[c.file] + ": has no record " + std::to_string(c.record) + " named in the sampler state");
  }

  DnaPiece next_consecutive() {
    DnaPiece piece;
    for (;;) {
      if (!in_record) advance_record();
      // Skip the N run (or nothing) before the piece.
      for (;;) {
        if (chunk_pos == chunk_len && !fill()) {
          in_record = false;
          break;
        }
        const char* p = chunk.data() + chunk_pos;
        const char* e = chunk.data() + chunk_len;
        while (p < e && *p == 'N') ++p;
        chunk_pos = static_cast<size_t>(p - chunk.data());
        if (p < e) break;
      }
      if (!in_record) continue;
      const uint64_t target = draw_length(length_rng, opt);
      piece.offset = chunk_offset + chunk_pos;
      piece.sequence.clear();
      while (piece.sequence.size() < target) {
        if (chunk_pos == chunk_len && !fill()) {
          in_record = false;
          break;
        }
        size_t take = static_cast<size_t>(std::min<uint64_t>(target - piece.sequence.size(), chunk_len - chunk_pos));
        const char* s = chunk.data() + chunk_pos;
        const char* n = static_cast<const char*>(std::memchr(s, 'N', take));
        size_t len = n ? static_cast<size_t>(n - s) : take;
        piece.sequence.append(s, len);
        chunk_pos += len;
        if (n) break;
      }
      if (piece.sequence.size() >= opt.min_length) {
        ++pieces_this_epoch;
        piece.file = opt.files[cur.file];
        piece.record = rec.name;
        piece.epoch = cur.epoch;
        return piece;
      }
    }
  }

  // ---- random-window rounds ---------------------------------------------------
  void build_round(uint64_t round) {
    struct Allowed {
      uint64_t file, record, begin, end;
    };
    std::vector<Allowed> allowed;
    std::vector<uint64_t> starts;  // prefix sums of allowed lengths
    uint64_t total = 0;
    for (uint64_t f = 0; f < spans.size(); ++f)
      for (uint64_t r = 0; r < spans[f].size(); ++r) {
        SequenceRecord h;
        h.name = spans[f][r].name;
        h.index = r;
        auto reg = region_of(f, h);
        if (!reg) continue;
        Region g{reg->begin, std::min(reg->end, spans[f][r].length)};
        if (g.end <= g.begin) continue;
        allowed.push_back({f, r, g.begin, g.end});
        starts.push_back(total);
        total += g.end - g.begin;
      }
    if (total == 0) throw Error("sampler: no bases to sample windows from in the chosen split");

    struct Want {
      size_t allowed;
      uint64_t offset, length;
    };
    engine::Rng rng(opt.seed, engine::mix_stream(kWindowStream, round), 0);
    std::vector<Want> wants(opt.windows_per_round);
    for (auto& w : wants) {
      uint64_t g = rng.below(total);
      w.allowed = static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), g) - starts.begin() - 1);
      const Allowed& a = allowed[w.allowed];
      w.offset = a.begin + (g - starts[w.allowed]);
      uint64_t len =
          opt.window_length ? std::min<uint64_t>(opt.window_length, opt.max_length()) : draw_length(rng, opt);
      w.length = std::min(len, a.end - w.offset);
    }
    std::sort(wants.begin(), wants.end(), [](const Want& x, const Want& y) {
      return std::tie(x.allowed, x.offset, x.length) < std::tie(y.allowed, y.offset, y.length);
    });

    std::vector<std::string> cut(wants.size());
    std::unique_ptr<FastaReader> r;  // kept open across the records of one file
    uint64_t r_file = 0;
    SequenceRecord h;
    size_t first = 0;
    while (first < wants.size()) {
      const Allowed& a = allowed[wants[first].allowed];
      size_t last = first;
      uint64_t need_end = 0;
      while (last < wants.size() && wants[last].allowed == wants[first].allowed) {
        need_end = std::max(need_end, wants[last].offset + wants[last].length);
        ++last;
      }
      if (!r || r_file != a.file) {
        r = std::make_unique<FastaReader>(opt.files[a.file], fasta_options());
        r_file = a.file;
      }
      bool found = false;
      while ((found = r->next_record(h)) && h.index < a.record) {
      }
      if (!found || h.index != a.record)
        throw Error(opt.files[a.file] + ": records changed since the sampler scanned the file");
      uint64_t offset = 0;
      size_t open = first;  // wants before `open` are complete
      while (offset < need_end) {
        size_t got =
            r->read_bases(chunk.data(), static_cast<size_t>(std::min<uint64_t>(chunk.size(), need_end - offset)));
        if (got == 0) break;
        const uint64_t chunk_end = offset + got;
        for (size_t j = open; j < last && wants[j].offset < chunk_end; ++j) {
          uint64_t lo = std::max(offset, wants[j].offset), hi = std::min(chunk_end, wants[j].offset + wants[j].length);
          if (lo < hi) cut[j].append(chunk.data() + (lo - offset), hi - lo);
        }
        while (open < last && wants[open].offset + wants[open].length <= chunk_end) ++open;
        offset = chunk_end;
      }
      first = last;
    }

    block.clear();
    for (size_t j = 0; j < wants.size(); ++j) {
      std::string& s = cut[j];
      s.resize(std::min(s.size(), s.find('N')));
      if (s.size() < opt.min_length) continue;
      const Allowed& a = allowed[wants[j].allowed];
      block.push_back({std::move(s), opt.files[a.file], spans[a.file][a.record].name, wants[j].offset, round});
    }
    if (block.empty())
      throw Error("sampler: round " + std::to_string(round) + " found no window of at least " +
                  std::to_string(opt.min_length) + " bp outside N runs");
    for (size_t i = block.size(); i > 1; --i) std::swap(block[i - 1], block[rng.below(i)]);
  }

  // ---- blocks -------------------------------------------------------------------
  void build_block(uint64_t index) {
    if (opt.mode == SamplerMode::RandomWindow) return build_round(index);
    block.clear();
    const size_t size = std::max<size_t>(opt.shuffle_buffer, 1);
    for (size_t i = 0; i < size; ++i) block.push_back(next_consecutive());
    engine::Rng rng(opt.seed, engine::mix_stream(kShuffleStream, index), 0);
    for (size_t i = block.size(); i > 1; --i) std::swap(block[i - 1], block[rng.below(i)]);
  }

  DnaPiece next() {
    if (block_pos == block.size()) {
      if (opt.mode == SamplerMode::Consecutive) block_start = cursor();
      build_block(blocks_started++);
      block_pos = 0;
    }
    ++samples;
    return std::move(block[block_pos++]);
  }

  SamplerState state() const {
    SamplerState s;
    s.fingerprint = fp;
    s.samples = samples;
    if (block_pos == block.size()) {  // between blocks: the next one starts here
      s.block = blocks_started;
      s.position = 0;
      if (opt.mode == SamplerMode::Consecutive) s.cursor = cursor();
    } else {
      s.block = blocks_started - 1;
      s.position = block_pos;
      s.cursor = block_start;
    }
    return s;
  }

  void restore(const SamplerState& s) {
    if (s.fingerprint != fp)
      throw Error("sampler: state was taken with other options:\n  state:   " + s.fingerprint + "\n  options: " + fp);
    samples = s.samples;
    blocks_started = s.block;
    block.clear();
    block_pos = 0;
    if (opt.mode == SamplerMode::Consecutive) {
      if (s.cursor.offset == kNoEnd && s.cursor.epoch == 0 && s.cursor.file == 0 && s.cursor.record == 0 &&
          s.cursor.rng_counter == 0) {
        // never started: the fresh walk is already in place
      } else {
        seek(s.cursor);
      }
      block_start = s.cursor;
    }
    if (s.position > 0) {
      build_block(blocks_started++);
      if (s.position > block.size()) throw Error("sampler: state position beyond its block");
      block_pos = static_cast<size_t>(s.position);
    }
  }
};

Sampler::Sampler(SamplerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Sampler::Sampler(SamplerOptions options, const SamplerState& state) : Sampler(std::move(options)) {
  impl_->restore(state);
}
Sampler::~Sampler() = default;
DnaPiece Sampler::next() { return impl_->next(); }
SamplerState Sampler::state() const { return impl_->state(); }
const SamplerOptions& Sampler::options() const { return impl_->opt; }

void to_json(nlohmann::json& j, const SamplerCursor& c) {
  j = {
      {"epoch", c.epoch}, {"file", c.file}, {"record", c.record}, {"offset", c.offset}, {"rng_counter", c.rng_counter}};
}
void from_json(const nlohmann::json& j, SamplerCursor& c) {
  j.at("epoch").get_to(c.epoch);
  j.at("file").get_to(c.file);
  j.at("record").get_to(c.record);
  j.at("offset").get_to(c.offset);
  j.at("rng_counter").get_to(c.rng_counter);
}
void to_json(nlohmann::json& j, const SamplerState& s) {
  j = {{"fingerprint", s.fingerprint},
       {"samples", s.samples},
       {"block", s.block},
       {"position", s.position},
       {"cursor", s.cursor}};
}
void from_json(const nlohmann::json& j, SamplerState& s) {
  j.at("fingerprint").get_to(s.fingerprint);
  j.at("samples").get_to(s.samples);
  j.at("block").get_to(s.block);
  j.at("position").get_to(s.position);
  j.at("cursor").get_to(s.cursor);
}

}  // namespace dnabert::io
