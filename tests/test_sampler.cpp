// io::Sampler: pieces are exact substrings of the genome at their stated
// offsets, the consecutive walk tiles the genome, DNABERT's length law, N and
// soft-mask splitting, epochs, shuffling, held-out regions (no training piece
// touches them), random windows, and exact resume from a JSON state.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "io/formats/fasta.h"
#include "io/data/sampler.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace dnabert::io;

using namespace dnabert::testing;

namespace {

const std::string kData = std::string(DNABERT_SOURCE_DIR) + "/tests/data/";
const std::string kLambda = kData + "genomes/lambda_phage.fa.gz";
const std::string kEcoli = kData + "genomes/ecoli_K12_MG1655.fa.gz";

// record name -> sequence (soft-masked letters kept as N with Unknown).
std::map<std::string, std::string> load(const std::string& path, SoftMask mask = SoftMask::Upper) {
  FastaOptions o;
  o.soft_mask = mask;
  FastaReader reader(path, o);
  std::map<std::string, std::string> out;
  SequenceRecord rec;
  std::string seq;
  while (reader.next(rec, seq)) out[rec.name] = seq;
  return out;
}

std::vector<DnaPiece> take(Sampler& s, size_t n) {
  std::vector<DnaPiece> v;
  for (size_t i = 0; i < n; ++i) v.push_back(s.next());
  return v;
}

bool same(const DnaPiece& a, const DnaPiece& b) {
  return a.sequence == b.sequence && a.file == b.file && a.record == b.record && a.offset == b.offset &&
         a.epoch == b.epoch;
}

SamplerOptions lambda_options(uint64_t seed = 7) {
  SamplerOptions o;
  o.files = {kLambda};
  o.seed = seed;
  return o;
}

// A two-record file with N runs and soft-masked bases (see the N test).
std::string small_genome() {
  return write_file("small.fa", ">r1\nACGTACGTACNNNNACGn" + std::string(30, 'T') + "\n>r2 soft\nAAAAAAaaaaaaCCCCCC\n");
}

}  // namespace

TEST_CASE("consecutive pieces tile the genome at their offsets, then the next epoch starts over") {
  const std::string genome = load(kLambda).begin()->second;
  Sampler s(lambda_options());
  uint64_t expected_offset = 0, covered = 0;
  DnaPiece p = s.next();
  size_t pieces = 0;
  while (p.epoch == 0) {
    CHECK(p.file == kLambda);
    CHECK(p.record == "gi|9626243|ref|NC_001416.1|");
    CHECK(p.offset == expected_offset);  // no N in lambda: nothing is skipped
    CHECK(p.sequence == genome.substr(p.offset, p.sequence.size()));
    CHECK(p.sequence.size() >= 5);
    CHECK(p.sequence.size() <= 515);
    expected_offset = p.offset + p.sequence.size();
    covered += p.sequence.size();
    ++pieces;
    p = s.next();
  }
  // Only a tail shorter than 5 bp may have been dropped.
  CHECK(covered <= genome.size());
  CHECK(genome.size() - covered < 5);
  CHECK(pieces > 90);
  CHECK(pieces < 200);
  CHECK(p.epoch == 1);
  CHECK(p.offset == 0);
  CHECK(p.sequence == genome.substr(0, p.sequence.size()));
}

TEST_CASE("length law: half full length (509+k), the rest floor(U*L) with a floor of 5") {
  SamplerOptions o;
  o.files = {kEcoli};
  o.seed = 3;
  Sampler s(o);
  size_t full = 0, n = 0, five = 0;
  double partial_sum = 0;
  for (; n < 8000; ++n) {
    DnaPiece p = s.next();
    REQUIRE(p.sequence.size() <= 515);
    if (p.sequence.size() == 515) {
      ++full;
    } else {
      partial_sum += static_cast<double>(p.sequence.size());
      if (p.sequence.size() == 5) ++five;
    }
  }
  const double full_fraction = static_cast<double>(full) / static_cast<double>(n);
  CHECK(full_fraction > 0.47);
  CHECK(full_fraction < 0.53);
  const double partial_mean = partial_sum / static_cast<double>(n - full);
  CHECK(partial_mean > 247);  // E[max(floor(U*515), 5)] = 257.1
  CHECK(partial_mean < 267);
  CHECK(five > 10);  // P(floor(U*515) <= 5) = 6/515: ~47 expected

  SamplerOptions small = lambda_options();
  small.max_tokens = 64;  // 64 - 2 + 6 - 1 = 67 bp
  CHECK(small.max_length() == 67);
  Sampler t(small);
  size_t at_max = 0;
  for (int i = 0; i < 300; ++i) {
    size_t len = t.next().sequence.size();
    CHECK(len <= 67);
    at_max += len == 67;
  }
  CHECK(at_max > 120);
}

TEST_CASE("N runs split pieces, short fragments are dropped, soft-masking can act as N") {
  const std::string path = small_genome();
  SamplerOptions o;
  o.files = {path};
  o.k = 3;
  o.max_tokens = 12;  // 12 - 2 + 3 - 1 = 12 bp
  o.full_length_probability = 1.0;
  Sampler s(o);
  std::vector<DnaPiece> got = take(s, 7);
  std::vector<std::pair<uint64_t, std::string>> seen;
  for (const auto& p : got) seen.push_back({p.offset, p.record + ":" + p.sequence});
  std::vector<std::pair<uint64_t, std::string>> expected = {
      {0, "r1:ACGTACGTAC"},  // cut by the N run; "ACG" (3 bp) before the next N is dropped
      {18, "r1:" + std::string(12, 'T')},
      {30, "r1:" + std::string(12, 'T')},
      {42, "r1:" + std::string(6, 'T')},  // record end
      {0, "r2:AAAAAAAAAAAA"},
      {12, "r2:CCCCCC"},
      {0, "r1:ACGTACGTAC"}};  // epoch 1
  CHECK(seen == expected);
  CHECK(got[6].epoch == 1);

  o.soft_mask = SoftMask::Unknown;
  Sampler u(o);
  got = take(u, 6);
  CHECK(got[4].sequence == "AAAAAA");
  CHECK(got[4].offset == 0);
  CHECK(got[5].sequence == "CCCCCC");
  CHECK(got[5].offset == 12);
}

TEST_CASE("same seed, same stream; another seed, other cuts") {
  Sampler a(lambda_options(11)), b(lambda_options(11)), c(lambda_options(12));
  auto x = take(a, 50), y = take(b, 50), z = take(c, 50);
  bool all_same = true, any_diff = false;
  for (size_t i = 0; i < 50; ++i) {
    all_same = all_same && same(x[i], y[i]);
    any_diff = any_diff || !same(x[i], z[i]);
  }
  CHECK(all_same);
  CHECK(any_diff);
}

TEST_CASE("block shuffle permutes the same pieces") {
  SamplerOptions o = lambda_options();
  Sampler plain(o);
  o.shuffle_buffer = 64;
  Sampler shuffled(o);
  auto a = take(plain, 64), b = take(shuffled, 64);
  std::vector<uint64_t> offsets_a, offsets_b;
  size_t in_place = 0;
  for (size_t i = 0; i < 64; ++i) {
    offsets_a.push_back(a[i].offset);
    offsets_b.push_back(b[i].offset);
    in_place += a[i].offset == b[i].offset;
  }
  CHECK(in_place < 10);
  CHECK_FALSE(std::is_sorted(offsets_b.begin(), offsets_b.end()));
  std::sort(offsets_b.begin(), offsets_b.end());
  CHECK(offsets_a == offsets_b);
}

TEST_CASE("held-out tail fraction: train never touches it, eval reads only it") {
  const std::string genome = load(kLambda).begin()->second;
  const uint64_t cut = 48502 - 4850;  // last floor(48502 * 0.1) bases held out
  for (auto mode : {SamplerMode::Consecutive, SamplerMode::RandomWindow}) {
    SamplerOptions o = lambda_options();
    o.mode = mode;
    o.windows_per_round = 200;
    o.heldout_fraction = 0.1;
    Sampler train(o);
    uint64_t max_end = 0;
    for (int i = 0; i < 400; ++i) {  // more than two epochs / rounds
      DnaPiece p = train.next();
      CHECK(p.offset + p.sequence.size() <= cut);
      CHECK(p.sequence == genome.substr(p.offset, p.sequence.size()));
      max_end = std::max<uint64_t>(max_end, p.offset + p.sequence.size());
    }
    CHECK(max_end > cut - 600);
    o.split = Split::Eval;
    Sampler eval(o);
    for (int i = 0; i < 100; ++i) {
      DnaPiece p = eval.next();
      CHECK(p.offset >= cut);
      CHECK(p.offset + p.sequence.size() <= genome.size());
      CHECK(p.sequence == genome.substr(p.offset, p.sequence.size()));
    }
  }
}

TEST_CASE("held-out record by name") {
  const std::string small = small_genome();
  for (auto mode : {SamplerMode::Consecutive, SamplerMode::RandomWindow}) {
    SamplerOptions o;
    o.files = {small};
    o.mode = mode;
    o.windows_per_round = 100;
    o.heldout_record = "r2";
    Sampler train(o);
    std::map<std::string, int> records;
    for (int i = 0; i < 300; ++i) records[train.next().record]++;
    CHECK(records.count("r2") == 0);
    CHECK(records["r1"] == 300);
    o.split = Split::Eval;
    Sampler eval(o);
    for (int i = 0; i < 20; ++i) {
      DnaPiece p = eval.next();
      CHECK(p.record == "r2");
      CHECK(p.file == small);
    }
  }
}

TEST_CASE("random windows: uniform starts, fixed or law lengths, never an N") {
  const auto genomes = load(small_genome());
  const std::string lambda = load(kLambda).begin()->second;
  SamplerOptions o;
  o.files = {kLambda, small_genome()};
  o.mode = SamplerMode::RandomWindow;
  o.window_length = 100;
  o.windows_per_round = 500;
  o.seed = 5;
  Sampler s(o);
  size_t exact = 0;
  uint64_t min_offset = ~0ull, max_offset = 0, last_round = 0;
  for (int i = 0; i < 1000; ++i) {
    DnaPiece p = s.next();
    CHECK(p.sequence.find('N') == std::string::npos);
    CHECK(p.sequence.size() >= 5);
    CHECK(p.sequence.size() <= 100);
    CHECK(p.epoch >= last_round);  // round r is emitted whole before round r+1
    last_round = p.epoch;
    const std::string& g = p.record == "r1" || p.record == "r2" ? genomes.at(p.record) : lambda;
    CHECK(p.sequence == g.substr(p.offset, p.sequence.size()));
    exact += p.sequence.size() == 100;
    if (p.file == kLambda) {
      min_offset = std::min(min_offset, p.offset);
      max_offset = std::max(max_offset, p.offset);
    }
  }
  CHECK(exact > 950);  // only windows near a record end or an N are shorter
  CHECK(last_round >= 1);
  CHECK(min_offset < 1000);
  CHECK(max_offset > 47000);
}

TEST_CASE("resume from a JSON state yields exactly the uninterrupted stream") {
  std::vector<SamplerOptions> configs;
  SamplerOptions o = lambda_options();
  configs.push_back(o);  // genome order
  o.shuffle_buffer = 16;
  configs.push_back(o);  // shuffled blocks
  o.heldout_fraction = 0.2;
  configs.push_back(o);
  o.split = Split::Eval;
  configs.push_back(o);
  SamplerOptions w = lambda_options();
  w.files.push_back(small_genome());
  w.mode = SamplerMode::RandomWindow;
  w.windows_per_round = 37;
  configs.push_back(w);
  for (size_t c = 0; c < configs.size(); ++c) {
    CAPTURE(c);
    Sampler reference(configs[c]);
    const auto stream = take(reference, 340);  // crosses epochs / rounds and blocks
    for (size_t n : {0, 1, 15, 16, 17, 36, 37, 128, 131, 300}) {
      CAPTURE(n);
      Sampler first(configs[c]);
      take(first, n);
      const std::string saved = nlohmann::json(first.state()).dump();
      SamplerState state = nlohmann::json::parse(saved).get<SamplerState>();
      CHECK(state.samples == n);
      Sampler resumed(configs[c], state);
      bool equal = true;
      for (size_t i = n; i < n + 40; ++i) equal = equal && same(resumed.next(), stream[i]);
      CHECK(equal);
    }
  }
}

TEST_CASE("sampler errors") {
  SamplerOptions o = lambda_options();
  o.split = Split::Eval;
  CHECK_THROWS_WITH_AS(Sampler{o}, "sampler: the eval split needs a held-out record or fraction", dnabert::Error);
  SamplerOptions other = lambda_options(8);
  Sampler a(lambda_options());
  a.next();
  CHECK_THROWS_AS(Sampler(other, a.state()), dnabert::Error);
  SamplerOptions all_n;
  all_n.files = {write_file("all_n.fa", ">n\nNNNNNNNNNN\nACG\n")};
  Sampler n(all_n);
  CHECK_THROWS_WITH_AS(n.next(),
                       "sampler: a whole pass over the input yielded no piece of at least 5 bp outside N runs in the "
                       "training region",
                       dnabert::Error);
  SamplerOptions missing;
  missing.files = {kData + "genomes/none.fa.gz"};
  Sampler m(missing);
  CHECK_THROWS_WITH_AS(m.next(), (kData + "genomes/none.fa.gz: cannot open: No such file or directory").c_str(),
                       dnabert::Error);
}
