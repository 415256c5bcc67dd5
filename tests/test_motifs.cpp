// DNABERT-viz motif discovery, piece by piece against hand-checked values and
// scipy, then end to end on a planted motif, and `dnabert motifs` on files.
#include <doctest/doctest.h>

#include <filesystem>

#include "engine/rng.h"
#include "io/report/logo.h"
#include "io/formats/npy.h"
#include "models/analysis/motifs.h"
#include "tests/test_util.h"

using namespace dnabert;
using namespace dnabert::testing;
using models::Candidate;
using models::Region;

TEST_CASE("hypergeometric survival function agrees with scipy.stats.hypergeom.sf") {
  // hypergeom.sf(k, N, K, n), scipy 1.10.1 (Debian python3-scipy):
  //   /usr/bin/python3 -c "from scipy.stats import hypergeom; print(repr(hypergeom.sf(4, 20, 7, 12)))"
  struct Case {
    int64_t k, N, K, n;
    double sf;
  };
  const Case cases[] = {
      {4, 20, 7, 12, 0.39164086687306504},       {0, 10, 5, 3, 0.9166666666666666},
      {9, 100, 30, 20, 0.0306964293543367},      {49, 1000, 100, 120, 4.176694545408589e-24},
      {2, 50, 10, 5, 0.0482603031962091},        {29, 613, 300, 30, 2.2471344459088488e-10},
      {-1, 10, 5, 3, 1.0},                       {2, 10, 5, 3, 0.08333333333333333},
      {14, 60, 30, 15, 2.9160668479164215e-06},
  };
  for (const Case& c : cases) {
    INFO(c.k << " " << c.N << " " << c.K << " " << c.n);
    CHECK(models::hypergeom_sf(c.k, c.N, c.K, c.n) == doctest::Approx(c.sf).epsilon(1e-9));
  }
  // By hand: P(X > 2) for 3 draws from 5 marked of 10 is C(5,3)/C(10,3) = 10/120.
  CHECK(models::hypergeom_sf(2, 10, 5, 3) == doctest::Approx(1.0 / 12).epsilon(1e-12));
  CHECK(models::hypergeom_sf(3, 10, 5, 3) == 0.0);  // more than all draws
}

TEST_CASE("Benjamini-Hochberg as statsmodels fdr_bh") {
  // Sorted: .005 .01 .03 .04 .04 .2 .9 -> p·7/rank = .035 .035 .07 .07 .056 .2333 .9,
  // then the running minimum from the largest rank down (hand-computed; numpy gives the same).
  const std::vector<double> p = {0.01, 0.04, 0.03, 0.005, 0.2, 0.04, 0.9};
  const std::vector<double> want = {0.035, 0.056, 0.056, 0.035, 0.2 * 7 / 6, 0.056, 0.9};
  const auto got = models::benjamini_hochberg(p);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < p.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
  CHECK(models::benjamini_hochberg({0.9, 0.8})[0] == doctest::Approx(0.9));  // never above 1, monotone
}

TEST_CASE("high-attention regions: > mean, > 10 x min, at least min_len long") {
  // mean = 50.1 / 19 = 2.64, 10 x min = 1: the 2s are below the mean, the 3s (5 long) and the 4s (6, at the end) qualify.
  const std::vector<float> s = {0.1f, 2, 2, 2, 2, 2, 0.5f, 3, 3, 3, 3, 3, 0.5f, 4, 4, 4, 4, 4, 4};
  CHECK(models::high_attention_regions(s, 5) == std::vector<Region>{{7, 12}, {13, 19}});
  CHECK(models::high_attention_regions(s, 6) == std::vector<Region>{{13, 19}});
  // A region at the very start; the 10 x min rule removes everything when scores are flat.
  const std::vector<float> t = {5, 5, 5, 5, 5, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f};
  CHECK(models::high_attention_regions(t, 5) == std::vector<Region>{{0, 5}});
  const std::vector<float> flat = {1, 2, 1, 2, 2, 2, 2, 2, 1};
  CHECK(models::high_attention_regions(flat, 3).empty());
  CHECK(models::high_attention_regions(flat, 3, 1.5) == std::vector<Region>{{3, 8}});  // mean 1.67, > 1.5
}

TEST_CASE("alignment with end gaps only: the best ungapped overlap") {
  auto a = models::align_end_gaps("TATAAAAG", "TATAAA");
  CHECK(a.score == 6);
  CHECK(a.query_start == 0);
  CHECK(a.key_start == 0);
  a = models::align_end_gaps("GTATAAAA", "TATAAA");
  CHECK(a.score == 6);
  CHECK(a.query_start == 1);
  CHECK(a.key_start == 0);
  a = models::align_end_gaps("CCTATA", "TATAGG");  // key hangs over the query's end
  CHECK(a.score == 4);
  CHECK(a.query_start == 2);
  CHECK(a.key_start == 0);
  CHECK(a.length == 4);
  a = models::align_end_gaps("TTTTT", "CCTTTTT");  // query inside the key
  CHECK(a.score == 5);
  CHECK(a.query_start == 0);
  CHECK(a.key_start == 2);
}

TEST_CASE("merging: shortest first, score >= max(min_len - 1, half the shorter), instances move to the key's frame") {
  std::vector<Candidate> c(4);
  c[0] = {"GTATAAAA", {{1, {5, 13}}}, 0, 0, 1, 1};
  c[1] = {"TATAAA", {{0, {10, 16}}}, 0, 0, 1, 1};
  c[2] = {"CCCCCGGG", {{2, {0, 8}}}, 0, 0, 1, 1};
  c[3] = {"CCCCCGGGA", {{3, {4, 13}}}, 0, 0, 1, 1};
  const auto m = models::merge_candidates(c, 5, false);
  REQUIRE(m.size() == 2);
  CHECK(m[0].motif == "TATAAA");
  REQUIRE(m[0].instances.size() == 2);
  CHECK(m[0].instances[1].seq == 1);
  CHECK(m[0].instances[1].region == Region{6, 12});  // GTATAAAA at 5: TATAAA starts one base later
  CHECK(m[1].motif == "CCCCCGGG");
  CHECK(m[1].instances[1].region == Region{4, 12});

  // The threshold for two 10-mers is max(4, 5) = 5: 5 matches merge, 4 do not.
  CHECK(models::merge_candidates({{"AAAAACCCCC", {}, 0, 0, 1, 1}, {"AAAAAGGGGG", {}, 0, 0, 1, 1}}, 5, false).size() == 1);
  CHECK(models::merge_candidates({{"AAAACCCCCC", {}, 0, 0, 1, 1}, {"AAAAGGGGGG", {}, 0, 0, 1, 1}}, 5, false).size() == 2);

  // A tie between two keys: the first key only, or both with align_all_ties.
  const std::vector<Candidate> tie = {{"ACGTAC", {{0, {0, 6}}}, 0, 0, 1, 1},
                                      {"TTTTTT", {{1, {0, 6}}}, 0, 0, 1, 1},
                                      {"ACGTACTTTTTT", {{2, {3, 15}}}, 0, 0, 1, 1}};
  auto first = models::merge_candidates(tie, 5, false);
  REQUIRE(first.size() == 2);
  CHECK(first[0].instances.size() == 2);
  CHECK(first[1].instances.size() == 1);
  auto all = models::merge_candidates(tie, 5, true);
  CHECK(all[0].instances.back().region == Region{3, 9});
  CHECK(all[1].instances.back().region == Region{9, 15});
}

TEST_CASE("windows: centred, the odd base to the right, dropped at the edges (DNABERT's strict end)") {
  const std::string s26(26, 'A'), s25(25, 'C');
  Candidate c{"X", {{0, {10, 16}}, {0, {10, 15}}, {0, {0, 6}}, {1, {1, 7}}, {0, {0, 27}}}, 0, 0, 1, 1};
  const std::string s30 = std::string(30, 'G');
  const models::Motif m = models::make_windows(c, {s26, s25}, 24);
  // (10,16): 18 more bases, 9 each side -> (1,25). (10,15): 19 more, 9 left, 10 right -> (1,25).
  // (0,6) would start at -9. (1,7) in a 25-base sequence ends at 25, not < 25: dropped.
  // (0,27): 3 too many, Python's floor division takes 2 from the left and 1 from the right -> (2,26), not < 26.
  REQUIRE(m.windows.size() == 2);
  CHECK(m.windows[0].region == Region{1, 25});
  CHECK(m.windows[1].region == Region{1, 25});
  CHECK(m.sites[0] == std::string(24, 'A'));
  const models::Motif wide = models::make_windows({"X", {{0, {0, 27}}}, 0, 0, 1, 1}, {s30}, 24);
  REQUIRE(wide.windows.size() == 1);
  CHECK(wide.windows[0].region == Region{2, 26});
  // --shift-windows: (0,6) and (1,7) would start at -9 and -8 and move to (0,24); (3,9) of a 20-base
  // sequence cannot hold 24 bases and still goes. A window may end at the last base: (20,26) in the
  // 26-base sequence would end at 32 and moves to (2,26).
  const models::Motif shifted =
      models::make_windows({"X", {{0, {0, 6}}, {1, {1, 7}}, {2, {3, 9}}, {0, {20, 26}}}, 0, 0, 1, 1},
                           {s26, s25, std::string(20, 'T')}, 24, true);
  REQUIRE(shifted.windows.size() == 3);
  CHECK(shifted.windows[0].region == Region{0, 24});
  CHECK(shifted.windows[1].region == Region{0, 24});
  CHECK(shifted.sites[1] == std::string(24, 'C'));
  CHECK(shifted.windows[2].region == Region{2, 26});
}

TEST_CASE("MEME file: frequencies per column, nsites, background; logo information content") {
  models::Motif m;
  m.key = {"ACG", {}, 3, 3, 1e-5, 2e-5};
  m.sites = {"ACGT", "ACGA", "ACGT"};
  const std::string meme = models::meme_text({m}, {0.3, 0.2, 0.2, 0.3});
  CHECK(meme ==
        "MEME version 4\n\nALPHABET= ACGT\n\nstrands: +\n\nBackground letter frequencies\n"
        "A 0.3000 C 0.2000 G 0.2000 T 0.3000\n\n"
        "MOTIF ACG motif_ACG_3\nletter-probability matrix: alength= 4 w= 4 nsites= 3 E= 2e-05\n"
        " 1.000000 0.000000 0.000000 0.000000\n 0.000000 1.000000 0.000000 0.000000\n"
        " 0.000000 0.000000 1.000000 0.000000\n 0.333333 0.000000 0.000000 0.666667\n\n");
  CHECK(io::information_bits({1, 0, 0, 0}) == doctest::Approx(2.0));
  CHECK(io::information_bits({0.25, 0.25, 0.25, 0.25}) == doctest::Approx(0.0));
  CHECK(io::information_bits({0.5, 0.5, 0, 0}) == doctest::Approx(1.0));
  const std::string svg = io::render_logo_svg(models::position_frequencies(m.sites), "t");
  CHECK(svg.find(">A</text>") != std::string::npos);
  CHECK(svg.find(">C</text>") != std::string::npos);
}

namespace {

// 20 positives with TATAAAA at 15 and high attention on it; 20 negatives without it.
struct Planted {
  std::vector<std::string> pos, neg;
  std::vector<std::vector<float>> scores;
};
Planted planted() {
  engine::Rng rng(9, 2);
  Planted p;
  auto random_seq = [&] {
    for (;;) {
      std::string s;
      for (int j = 0; j < 40; ++j) s += "ACGT"[rng.below(4)];
      if (s.find("TATAAAA") == std::string::npos && s.find("TATA") == std::string::npos) return s;
    }
  };
  for (int i = 0; i < 20; ++i) {
    std::string s = random_seq();
    s.replace(15, 7, "TATAAAA");
    p.pos.push_back(s);
    std::vector<float> sc(40, 0.1f);
    std::fill(sc.begin() + 15, sc.begin() + 22, 2.0f);
    p.scores.push_back(sc);
    p.neg.push_back(random_seq());
  }
  return p;
}

}  // namespace

TEST_CASE("find_motifs recovers a planted motif with the exact hypergeometric p-value") {
  const Planted p = planted();
  const models::MotifReport r = models::find_motifs(p.pos, p.neg, p.scores, {});
  CHECK(r.candidates == 1);
  CHECK(r.significant == 1);
  REQUIRE(r.motifs.size() == 1);
  const models::Motif& m = r.motifs[0];
  CHECK(m.key.motif == "TATAAAA");
  CHECK(m.key.positives == 20);
  CHECK(m.key.all == 20);
  // All 20 holders positive out of 20 of 40: 1 / C(40, 20) = 1 / 137846528820.
  CHECK(m.key.p == doctest::Approx(1.0 / 137846528820.0).epsilon(1e-9));
  CHECK(m.sites.size() == 20);
  for (size_t i = 0; i < 20; ++i) CHECK(m.sites[i] == p.pos[i].substr(7, 24));  // (15,22) widened by 8 | 9
}

TEST_CASE("dnabert motifs writes DNABERT's motif files, logos, a MEME file and rejects mismatched inputs") {
  const Planted p = planted();
  std::string csv = "sequence,label\n";
  std::vector<float> rows;
  for (size_t i = 0; i < p.pos.size(); ++i) {
    csv += p.neg[i] + ",0\n" + p.pos[i] + ",1\n";
    rows.insert(rows.end(), 40, 0.1f);  // negatives' scores are ignored
    rows.insert(rows.end(), p.scores[i].begin(), p.scores[i].end());
  }
  const std::string input = write_file("motifs.csv", csv), atten = temp_path("motifs_atten.npy");
  io::write_npy(atten, engine::Tensor::from_vector({40, 40}, rows));
  const std::string out = temp_path("motifs_out");
  const CliRun r = run_cli("motifs --input " + input + " --atten " + atten + " --out " + out);
  REQUIRE_MESSAGE(r.status == 0, r.output);
  const std::string txt = slurp(out + "/motif_TATAAAA_20.txt");
  CHECK(txt.substr(0, 25) == p.pos[0].substr(7, 24) + "\n");
  CHECK(std::count(txt.begin(), txt.end(), '\n') == 20);
  CHECK(std::filesystem::exists(out + "/motif_TATAAAA_20_logo.svg"));
  CHECK(slurp(out + "/motifs.meme").find("MOTIF TATAAAA motif_TATAAAA_20\nletter-probability matrix: alength= 4 w= 24 nsites= 20") !=
        std::string::npos);
  CHECK(slurp(out + "/motifs.tsv").find("TATAAAA\t20\t20\t20\t7.254e-12\t7.254e-12\n") != std::string::npos);

  io::write_npy(atten, engine::Tensor::from_vector({39, 40}, std::vector<float>(rows.begin(), rows.end() - 40)));
  const CliRun bad = run_cli("motifs --input " + input + " --atten " + atten + " --out " + out);
  CHECK(bad.status == 1);
  CHECK(bad.output.find("has 39 rows but " + input + " has 40 sequences") != std::string::npos);
}
