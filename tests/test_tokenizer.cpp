// Tokenizer: DNABERT vocab files byte for byte, k-mer ids, encode/decode, and
// the `dnabert tokenize` command.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "tokenizer/kmer.h"
#include "tokenizer/vocab.h"
#include "tests/test_util.h"

using namespace dnabert::tokenizer;
using Ids = std::vector<int32_t>;

using namespace dnabert::testing;

namespace {

void spit(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Runs a shell command; returns its stdout, then its stderr, and sets `status`
// to the exit code.
std::string run(const std::string& command, int& status) {
  const std::string err = temp_path("stderr.txt");
  FILE* pipe = ::popen(("(" + command + ") 2>" + err).c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  int raw = ::pclose(pipe);
  status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return out + slurp(err);
}

const std::string kBinary = DNABERT_BINARY;

}  // namespace

TEST_CASE("generated vocab equals DNABERT's vocab.txt byte for byte, k = 3..6") {
  const size_t sizes[] = {69, 261, 1029, 4101};
  for (int k = 3; k <= 6; ++k) {
    CAPTURE(k);
    const std::string path = source_path("tests/data/dnabert/vocab_" + std::to_string(k) + "mer.txt");
    const std::string file = slurp(path);
    // DNABERT's quirk: only the 6-mer file ends with a newline.
    CHECK((file.back() == '\n') == (k == 6));
    Vocab built = Vocab::kmer(k);
    CHECK(built.trailing_newline() == (k == 6));
    CHECK(built.size() == sizes[k - 3]);
    CHECK(built.to_text() == file);
    CHECK(built.canonical());

    Vocab read = Vocab::read(path);
    CHECK(read == built);
    CHECK(read.canonical());
    CHECK(read.k() == k);
    const std::string out = temp_path("vocab_" + std::to_string(k) + ".txt");
    read.write(out);
    CHECK(slurp(out) == file);
    CHECK_FALSE(std::filesystem::exists(out + ".tmp"));
  }
}

TEST_CASE("k-mer ids follow DNABERT's A,T,C,G base-4 layout") {
  Vocab v6 = Vocab::kmer(6);
  CHECK(*v6.find("[PAD]") == 0);
  CHECK(*v6.find("[UNK]") == 1);
  CHECK(*v6.find("[CLS]") == 2);
  CHECK(*v6.find("[SEP]") == 3);
  CHECK(*v6.find("[MASK]") == 4);
  CHECK(*v6.find("AAAAAA") == 5);
  CHECK(*v6.find("GGGGGG") == 4100);
  // ATCGAT = digits 0 1 2 3 0 1 = 256 + 2*64 + 3*16 + 1 = 433, id 438.
  CHECK(*v6.find("ATCGAT") == 438);
  CHECK(v6.token(438) == "ATCGAT");
  CHECK_FALSE(v6.find("ATCGAN").has_value());
  // The same id from DNABERT's own file: line 439 holds ATCGAT.
  Vocab file6 = Vocab::read(source_path("tests/data/dnabert/vocab_6mer.txt"));
  CHECK(*file6.find("ATCGAT") == 438);
  CHECK(v6.kmer_code(438) == 433);
  CHECK(v6.kmer_code(kMaskId) == -1);
  CHECK(kmer_string(433, 6) == "ATCGAT");

  for (int k : {7, 8}) {
    CAPTURE(k);
    Vocab v = Vocab::kmer(k);
    CHECK(v.size() == num_kmers(k) + 5);
    CHECK(v.token(5) == std::string(static_cast<size_t>(k), 'A'));
    CHECK(v.token(static_cast<int32_t>(v.size() - 1)) == std::string(static_cast<size_t>(k), 'G'));
    const std::string out = temp_path("vocab_" + std::to_string(k) + ".txt");
    v.write(out);
    CHECK(Vocab::read(out) == v);
  }
  CHECK(error_of([] { Vocab::kmer(2); }) == "k-mer size 2 is outside 3..8");
  CHECK(error_of([] { Vocab::kmer(9); }) == "k-mer size 9 is outside 3..8");
}

TEST_CASE("reading a bad vocab file names the file and line") {
  std::vector<std::string> good = Vocab::kmer(3).tokens();  // line n is good[n-1]
  auto write_variant = [&](std::vector<std::string> tokens) {
    std::string text;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) text += '\n';
      text += tokens[i];
    }
    const std::string path = temp_path("bad_vocab.txt");
    spit(path, text);
    return path;
  };
  auto tokens = good;
  tokens[9] = "AAT";  // line 10 repeats line 7
  std::string path = write_variant(tokens);
  CHECK(error_of([&] { Vocab::read(path); }) == path + ": line 10: duplicate token 'AAT' (first on line 7)");

  tokens = good;
  tokens.pop_back();  // GGG missing
  path = write_variant(tokens);
  CHECK(error_of([&] { Vocab::read(path); }) ==
        path + ": 68 tokens, expected 69 for k=3 (5 special + 4^3 k-mers); missing k-mer 'GGG'");

  tokens = good;
  std::swap(tokens[0], tokens[1]);
  path = write_variant(tokens);
  CHECK(error_of([&] { Vocab::read(path); }) == path + ": line 1: expected special token [PAD], found '[UNK]'");

  tokens = good;
  tokens[7] = "AAN";
  path = write_variant(tokens);
  CHECK(error_of([&] { Vocab::read(path); }) == path + ": line 8: 'AAN' is not an upper-case ACGT k-mer");

  tokens = good;
  tokens[7] = "AACA";
  path = write_variant(tokens);
  CHECK(error_of([&] { Vocab::read(path); }) == path + ": line 8: k-mer 'AACA' has length 4, but line 6 sets k=3");

  // A final newline is accepted and kept on write, so read -> write is byte-exact.
  path = write_variant(good);
  spit(path, Vocab::kmer(3).to_text() + "\n");
  Vocab with_newline = Vocab::read(path);
  CHECK(with_newline.trailing_newline());
  with_newline.write(path + ".out");
  CHECK(slurp(path + ".out") == Vocab::kmer(3).to_text() + "\n");

  path = write_variant({});
  CHECK(error_of([&] { Vocab::read(path); }) == path + ": empty vocab file");
  CHECK(error_of([] { Vocab::read("/nonexistent/vocab.txt"); }).find("cannot open vocab file") == 0);
}

TEST_CASE("a vocab with the k-mers in another order works through its table") {
  auto tokens = Vocab::kmer(3).tokens();
  std::swap(tokens[5], tokens[68]);  // AAA <-> GGG
  const std::string path = temp_path("swapped.txt");
  spit(path, Vocab::from_tokens(tokens).to_text());
  Vocab v = Vocab::read(path);
  CHECK_FALSE(v.canonical());
  CHECK(*v.find("AAA") == 68);
  CHECK(*v.find("GGG") == 5);
  KmerTokenizer tok(v);
  // AAAC: AAA (now 68), AAC (7).
  CHECK(tok.encode("AAAC").ids == Ids{2, 68, 7, 3});
  CHECK(tok.encode("GGGA").ids == Ids{2, 5, *v.find("GGA"), 3});
  CHECK(tok.decode_sequence(tok.encode("AAACGGGT").ids) == "AAACGGGT");
}

TEST_CASE("encode a raw sequence: L-k+1 overlapping k-mers in [CLS] ... [SEP]") {
  KmerTokenizer tok(3);
  // ACG = 0,2,3 -> 11 -> 16; CGT = 2,3,1 -> 45 -> 50; GTA = 3,1,0 -> 52 -> 57; TAC = 1,0,2 -> 18 -> 23.
  Encoding e = tok.encode("ACGTAC");
  CHECK(e.ids == Ids{2, 16, 50, 57, 23, 3});
  CHECK(e.token_types == Ids{0, 0, 0, 0, 0, 0});
  CHECK(e.truncated == 0);
  CHECK(tok.encode("AC").ids == Ids{2, 3});
  CHECK(tok.encode("").ids == Ids{2, 3});
  CHECK(tok.count_kmers(101) == 99);

  SUBCASE("drop_last reproduces DNABERT's pretraining scripts: L-k k-mers") {
    KmerTokenizer drop(3, {.drop_last = true});
    CHECK(drop.encode("ACGTAC").ids == Ids{2, 16, 50, 57, 3});
    CHECK(drop.encode("ACG").ids == Ids{2, 3});
    CHECK(drop.count_kmers(101) == 98);
    KmerTokenizer drop6(6, {.drop_last = true});
    CHECK(drop6.encode(std::string(510, 'A')).ids.size() == 510 - 6 + 2);
  }
  SUBCASE("any k-mer touching a non-ACGT letter is [UNK]") {
    CHECK(tok.encode("ACNTAC").ids == Ids{2, 1, 1, 1, 23, 3});
    CHECK(tok.encode("ACGRACG").ids == Ids{2, 16, 1, 1, 1, 16, 3});
    CHECK(tok.encode("NNNNN").ids == Ids{2, 1, 1, 1, 3});
  }
  SUBCASE("lower case is upper-cased, or [UNK] on request") {
    CHECK(tok.encode("acgtac").ids == Ids{2, 16, 50, 57, 23, 3});
    KmerTokenizer strict(3, {.lowercase_unknown = true});
    CHECK(strict.encode("acGTAC").ids == Ids{2, 1, 1, 57, 23, 3});
  }
  SUBCASE("k = 6 ids by hand") {
    KmerTokenizer tok6(6);
    CHECK(tok6.encode("AAAAAAT").ids == Ids{2, 5, 6, 3});
    CHECK(tok6.encode("ATCGATG").ids == Ids{2, 438, *tok6.vocab().find("TCGATG"), 3});
    CHECK(tok6.encode("GGGGGG").ids == Ids{2, 4100, 3});
  }
}

TEST_CASE("encode a DNABERT k-mer sentence") {
  KmerTokenizer tok(3);
  CHECK(detect_input("ACG CGT") == Input::Sentence);
  CHECK(detect_input("ACGCGT") == Input::Sequence);
  CHECK(tok.encode("ACG CGT GTA TAC", Input::Sentence).ids == Ids{2, 16, 50, 57, 23, 3});
  // Words of the wrong length or with other letters are [UNK]; special tokens keep their id.
  CHECK(tok.encode("ACG  [MASK] ACGT NCG acg", Input::Sentence).ids == Ids{2, 16, 4, 1, 1, 16, 3});
}

TEST_CASE("decode: k-mer sentence and overlap-merged sequence") {
  KmerTokenizer tok(3);
  Ids ids = tok.encode("ACGTAC").ids;
  CHECK(tok.decode_tokens(ids) == "ACG CGT GTA TAC");
  CHECK(tok.decode_tokens(ids, false) == "[CLS] ACG CGT GTA TAC [SEP]");
  CHECK(tok.decode_sequence(ids) == "ACGTAC");
  // Bases seen only through [UNK] k-mers are lost.
  CHECK(tok.decode_sequence(tok.encode("ACNTAC").ids) == "NNNTAC");
  CHECK(tok.decode_sequence(tok.encode("ACGTNCGTA").ids) == "ACGTNCGTA");
  Ids with_unk = tok.encode("ACGTNCGTA").ids;
  CHECK(tok.encode(tok.decode_tokens(with_unk), Input::Sentence).ids == with_unk);
  Ids padded = {2, 16, 50, 3, 0, 0};
  CHECK(tok.decode_sequence(padded) == "ACGT");
  CHECK(error_of([&] { tok.decode_sequence(tok.encode_pair("ACGT", "ACGT").ids); }) ==
        "decode_sequence: k-mers follow a [SEP]; decode each segment of a pair separately");
  CHECK(error_of([&] { tok.decode_tokens(Ids{2, 69}); }) == "token id 69 is outside the vocabulary (size 69)");

  // Round trip over every k on a real 101 bp sequence (DNABERT sample, row 1).
  const std::string seq =
      "GTGGGGAGGGAGGCCGCCCCACTGCAGGTGGGCCTGTAGCAGCTGCACCTGAGGCAGGGCTGGCAGCCCCTGTGGGGAGGGAGGCCGCCCCACTGCAGGTG";
  for (int k = 3; k <= 8; ++k) {
    CAPTURE(k);
    KmerTokenizer t(k);
    Ids e = t.encode(seq).ids;
    CHECK(e.size() == seq.size() - static_cast<size_t>(k) + 3);
    CHECK(t.decode_sequence(e) == seq);
    CHECK(t.encode(t.decode_tokens(e), Input::Sentence).ids == e);
  }
}

TEST_CASE("pairs: [CLS] a [SEP] b [SEP] with token types 0 then 1") {
  KmerTokenizer tok(3);
  Encoding e = tok.encode_pair("ACGT", "TACG");
  CHECK(e.ids == Ids{2, 16, 50, 3, 23, 16, 3});
  CHECK(e.token_types == Ids{0, 0, 0, 0, 1, 1, 1});
  Encoding s = tok.encode_pair("ACG CGT", "TAC ACG", Input::Sentence);
  CHECK(s.ids == e.ids);
}

TEST_CASE("truncation to max_len tokens, specials included") {
  KmerTokenizer tok(3, {.max_len = 5});
  Encoding e = tok.encode("ACGTACGTAC");  // 8 k-mers: keep the first 3
  CHECK(e.ids == Ids{2, 16, 50, 57, 3});
  CHECK(e.truncated == 5);
  CHECK(tok.encode("ACGTA").ids == Ids{2, 16, 50, 57, 3});
  CHECK(tok.encode("ACGTA").truncated == 0);

  auto kept = [](size_t max_len, const std::string& a, const std::string& b) {
    KmerTokenizer t(3, {.max_len = max_len});
    Encoding p = t.encode_pair(a, b);
    size_t first_sep = 1;
    while (p.ids[first_sep] != kSepId) ++first_sep;
    CHECK(p.ids.size() <= max_len);
    CHECK(p.token_types[first_sep] == 0);
    CHECK(p.token_types[first_sep + 1] == 1);
    return std::pair<size_t, size_t>{first_sep - 1, p.ids.size() - first_sep - 2};
  };
  // Longest first, b on a tie: (5, 3) in 6 -> (3, 3); (2, 6) in 5 -> (2, 3); (4, 4) in 5 -> (3, 2).
  CHECK(kept(9, "ACGTACG", "TTTAA") == std::pair<size_t, size_t>{3, 3});
  CHECK(kept(8, "ACGT", "TTTAACCG") == std::pair<size_t, size_t>{2, 3});
  CHECK(kept(8, "ACGTAC", "TTTAAC") == std::pair<size_t, size_t>{3, 2});
  CHECK(kept(20, "ACGTAC", "TTTAAC") == std::pair<size_t, size_t>{4, 4});
  KmerTokenizer cut(3, {.max_len = 9});
  Encoding p = cut.encode_pair("ACGTACG", "TTTAA");
  CHECK(p.ids ==
        Ids{2, 16, 50, 57, 3, *cut.vocab().find("TTT"), *cut.vocab().find("TTA"), *cut.vocab().find("TAA"), 3});
  CHECK(p.truncated == 2);
  CHECK(error_of([] { KmerTokenizer(3, {.max_len = 1}).encode("ACGT"); }) ==
        "max_len 1 leaves no room for [CLS] and [SEP]");
}

TEST_CASE("dnabert tokenize: exact output") {
  const std::string input = temp_path("cli_input.txt");
  spit(input, "ACGTAC\r\n\nACNTAC\nACG CGT GTA TAC\n");
  int status = -1;
  CHECK(run(kBinary + " tokenize --k 3 " + input, status) == "2 16 50 57 23 3\n2 1 1 1 23 3\n2 16 50 57 23 3\n");
  CHECK(status == 0);
  CHECK(run(kBinary + " tokenize --k 3 --format tokens " + input, status) ==
        "[CLS] ACG CGT GTA TAC [SEP]\n[CLS] [UNK] [UNK] [UNK] TAC [SEP]\n[CLS] ACG CGT GTA TAC [SEP]\n");
  CHECK(status == 0);
  CHECK(run("printf 'ACGTAC\\n' | " + kBinary + " tokenize --k 3 --drop-last", status) == "2 16 50 57 3\n");
  CHECK(run("printf 'ACGTACGTAC\\n' | " + kBinary + " tokenize --k 3 --max-len 5 -", status) == "2 16 50 57 3\n");
  CHECK(status == 0);

  // FASTA from a gzip file (multi-line records) and from stdin.
  const std::string fasta = source_path("tests/data/labelled/ecoli_prom6.fa.gz");
  std::string out = run(kBinary + " tokenize --k 6 --format tokens " + fasta + " | head -1", status);
  CHECK(out.rfind("[CLS] GCCCGG CCCGGG CCGGGA ", 0) == 0);
  REQUIRE(out.size() > 13);
  CHECK(out.substr(out.size() - 13) == "CTCCGT [SEP]\n");
  CHECK(run(kBinary + " tokenize --k 6 " + fasta + " | wc -l", status) == "6\n");
  CHECK(run("printf '>a x\\nACGT\\nAC\\n>b\\nTTTT\\n' | " + kBinary + " tokenize --k 3 --format tokens", status) ==
        "[CLS] ACG CGT GTA TAC [SEP]\n[CLS] TTT TTT [SEP]\n");
  CHECK(status == 0);
  CHECK(run("printf '>a\\nacgTAC\\n' | " + kBinary + " tokenize --k 3 --lowercase-unk", status) == "2 1 1 1 23 3\n");
  CHECK(run("printf 'acgTAC\\n' | " + kBinary + " tokenize --k 3 --lowercase-unk", status) == "2 1 1 1 23 3\n");
  CHECK(run("printf 'acgTAC\\n' | " + kBinary + " tokenize --k 3", status) == "2 16 50 57 23 3\n");

  const std::string vocab = temp_path("cli_vocab.txt");
  run(kBinary + " tokenize --k 5 --write-vocab " + vocab, status);
  CHECK(status == 0);
  CHECK(slurp(vocab) == slurp(source_path("tests/data/dnabert/vocab_5mer.txt")));
  // ACGTA, CGTAC, GTACG as base-4 numbers (A0 T1 C2 G3) plus 5.
  CHECK(run("printf 'ACGTACG\\n' | " + kBinary + " tokenize --vocab " + vocab, status) ==
        "2 " + std::to_string(5 + 0b0010110100) + " " + std::to_string(5 + 0b1011010010) + " " +
            std::to_string(5 + 0b1101001011) + " 3\n");
  CHECK(status == 0);
}

TEST_CASE("dnabert tokenize: bad input fails with a clear message") {
  const std::string input = temp_path("cli_bad.txt");
  spit(input, "ACGT\nAC#T\n");
  int status = -1;
  CHECK(run(kBinary + " tokenize --k 3 " + input, status) ==
        "2 16 50 3\ndnabert: error: " + input + ": line 2: invalid character '#' at column 3\n");
  CHECK(status == 1);
  CHECK(run("printf 'ACGT,1\\n' | " + kBinary + " tokenize --k 3", status) ==
        "dnabert: error: <stdin>: line 1: invalid character ',' at column 5\n");
  CHECK(status == 1);
  CHECK(run(kBinary + " tokenize --k 3 /nonexistent/x.txt", status) ==
        "dnabert: error: cannot open '/nonexistent/x.txt': No such file or directory\n");
  CHECK(status == 1);
  std::string out = run(kBinary + " tokenize --k 9 " + input, status);
  CHECK(status == 2);
  CHECK(out.find("--k: must be an integer in 3..8, got 9") != std::string::npos);
  run(kBinary + " tokenize --k 3 --format words " + input, status);
  CHECK(status == 2);
  out = run(kBinary + " tokenize --k 4 --vocab " + source_path("tests/data/dnabert/vocab_3mer.txt") + " " + input,
            status);
  CHECK(status == 2);
  CHECK(out ==
        "dnabert: error: --k 4 but " + source_path("tests/data/dnabert/vocab_3mer.txt") + " is a 3-mer vocabulary\n");
}

TEST_CASE("KmerStream: pieces of any size give the ids of the whole sequence") {
  std::mt19937 rng(7);
  const char letters[] = "ACGTACGTACGTNacgtR";
  for (int k : {3, 6}) {
    for (bool lower_unk : {false, true}) {
      TokenizerOptions options;
      options.lowercase_unknown = lower_unk;
      KmerTokenizer tok(k, options);
      KmerStream stream(tok);
      for (size_t length : {size_t{0}, size_t{2}, size_t{6}, size_t{7}, size_t{500}}) {
        std::string seq;
        for (size_t i = 0; i < length; ++i) seq += letters[rng() % (sizeof letters - 1)];
        Ids whole, pieces;
        tok.append_ids(seq, Input::Sequence, whole);
        CHECK(whole.size() == tok.count_kmers(length));
        stream.reset();
        for (size_t at = 0; at < seq.size();) {
          const size_t n = std::min<size_t>(seq.size() - at, rng() % 9);  // pieces of 0 to 8 bases
          stream.append(std::string_view(seq).substr(at, n), pieces);
          at += n;
        }
        CAPTURE(k);
        CAPTURE(seq);
        CHECK(pieces == whole);
        CHECK(stream.bases() == length);
      }
    }
  }
}

TEST_CASE("dnabert tokenize streams a long record: the same ids as encoding it whole") {
  // 200,003 bases: longer than the reader's pieces, so k-mers straddle them.
  std::mt19937 rng(3);
  std::string seq;
  for (int i = 0; i < 200003; ++i) seq += "ACGTN"[rng() % 5 == 4 ? 4 : rng() % 4];
  std::string fasta = ">long\n";
  for (size_t at = 0; at < seq.size(); at += 70) fasta += seq.substr(at, 70) + "\n";
  const std::string fa = temp_path("long_record.fa"), line = temp_path("long_record.txt");
  spit(fa, fasta + ">short\nACGTAC\n");
  spit(line, seq + "\n");
  auto expect = [&](const std::string& s, TokenizerOptions options) {
    KmerTokenizer tok(6, options);
    std::string out;
    for (int32_t id : tok.encode(s).ids) {
      if (!out.empty()) out += ' ';
      out += std::to_string(id);
    }
    return out + "\n";
  };
  for (const std::string& flags : {std::string(""), std::string("--max-len 100"), std::string("--drop-last"),
                                   std::string("--drop-last --max-len 20000")}) {
    TokenizerOptions options;
    options.drop_last = flags.find("--drop-last") != std::string::npos;
    options.max_len = flags.find("--max-len 100") != std::string::npos ? 100
                      : flags.find("--max-len") != std::string::npos ? 20000 : 0;
    CAPTURE(flags);
    int status = -1;
    CHECK(run(kBinary + " tokenize --k 6 " + flags + " " + fa, status) == expect(seq, options) + expect("ACGTAC", options));
    CHECK(status == 0);
    CHECK(run(kBinary + " tokenize --k 6 " + flags + " " + line, status) == expect(seq, options));
    CHECK(status == 0);
  }
}
