// io::FastaReader: counts of the bundled genomes, plain == gzip == multi-member
// == BGZF, CRLF / blank lines / line widths, FASTQ, soft-masking, the exact
// error message (file + line) of every malformed-input case, and the
// `dnabert fasta-stats` command end to end.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "io/formats/fasta.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace dnabert::io;

using namespace dnabert::testing;

namespace {

const std::string kData = std::string(DNABERT_SOURCE_DIR) + "/tests/data/";
const std::string kLambda = kData + "genomes/lambda_phage.fa.gz";
const std::string kEcoli = kData + "genomes/ecoli_K12_MG1655.fa.gz";

// One gzip member of `text` (what `gzip -c` writes).
std::string gzip_member(const std::string& text) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, text.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string gunzip(const std::string& gz) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, 15 + 32) == Z_OK);
  std::string out;
  char buf[1 << 16];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    REQUIRE((rc == Z_OK || rc == Z_STREAM_END));
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc != Z_STREAM_END);
  inflateEnd(&z);
  return out;
}

// A BGZF block as bgzip writes it: gzip member with the 'BC' extra field
// holding the block size, raw deflate inside.
std::string bgzf_block(const std::string& text) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string body(deflateBound(&z, text.size()) + 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(body.data());
  z.avail_out = static_cast<uInt>(body.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  body.resize(z.total_out);
  deflateEnd(&z);
  auto le = [](uint32_t v, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
  };
  const uint32_t bsize = static_cast<uint32_t>(18 + body.size() + 8 - 1);
  std::string block("\x1f\x8b\x08\x04\0\0\0\0\0\xff\x06\0BC\x02\0", 16);
  block += le(bsize, 2) + body;
  block += le(
      static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(text.data()), static_cast<uInt>(text.size()))), 4);
  block += le(static_cast<uint32_t>(text.size()), 4);
  return block;
}

struct Parsed {
  std::vector<SequenceRecord> records;
  std::vector<std::string> sequences;
  SequenceStats stats;
};

// Reads every record, pulling bases `chunk` at a time.
Parsed parse(FastaReader& reader, size_t chunk = 1 << 16) {
  Parsed p;
  SequenceRecord rec;
  std::vector<char> buf(chunk);
  while (reader.next_record(rec)) {
    p.records.push_back(rec);
    std::string seq;
    while (size_t got = reader.read_bases(buf.data(), buf.size())) seq.append(buf.data(), got);
    p.sequences.push_back(seq);
  }
  p.stats = reader.stats();
  return p;
}

Parsed parse_file(const std::string& path, FastaOptions options = {}, size_t chunk = 1 << 16) {
  FastaReader reader(path, options);
  return parse(reader, chunk);
}

Parsed parse_bytes(const std::string& bytes, FastaOptions options = {}) {
  FastaReader reader(MemoryInput{"mem.fa", bytes}, options);
  return parse(reader);
}

// The message of the dnabert::Error that reading `path` to the end throws.
std::string error_of(const std::string& path) {
  try {
    parse_file(path);
  } catch (const dnabert::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("lambda phage: counts, header and first line") {
  Parsed p = parse_file(kLambda);
  REQUIRE(p.records.size() == 1);
  CHECK(p.records[0].name == "gi|9626243|ref|NC_001416.1|");
  CHECK(p.records[0].description == "Enterobacteria phage lambda, complete genome");
  CHECK(p.records[0].line == 1);
  CHECK(p.records[0].index == 0);
  CHECK_FALSE(p.records[0].fastq);
  CHECK(p.sequences[0].size() == 48502);
  CHECK(p.sequences[0].substr(0, 70) == "GGGCGGCGACCTCGCGGGTTTTCGCTATTTATGAAAATTTTCCGGTTTAAGGCGTTTCCGTTCTTCTTCG");
  CHECK(p.stats.records == 1);
  CHECK(p.stats.bases == 48502);
  CHECK(p.stats.gc == 24182);
  CHECK(p.stats.n_bases == 0);
  CHECK(p.stats.soft_masked == 0);
  CHECK(p.stats.other_iupac == 0);
}

TEST_CASE("E. coli K-12: counts") {
  FastaReader reader(kEcoli);
  SequenceRecord rec;
  std::string seq;
  REQUIRE(reader.next(rec, seq));
  CHECK(rec.name == "K-12-MG1655");
  CHECK(rec.description.empty());
  CHECK(seq.size() == 4639675);
  CHECK_FALSE(reader.next(rec, seq));
  CHECK(reader.stats().gc == 2356477);
  CHECK(reader.stats().n_bases == 0);
  CHECK(reader.path() == kEcoli);
}

TEST_CASE("plain, gzip, multi-member gzip and BGZF give the same bases") {
  const std::string text = gunzip(slurp(kLambda));
  const std::string reference = parse_file(kLambda).sequences.at(0);
  CHECK(parse_file(write_file("lambda.fa", text)).sequences.at(0) == reference);
  // Members split mid-line, one of them empty.
  std::string multi = gzip_member(text.substr(0, 1001)) + gzip_member("") + gzip_member(text.substr(1001, 20000)) +
                      gzip_member(text.substr(21001));
  Parsed m = parse_file(write_file("lambda_multi.fa.gz", multi));
  CHECK(m.sequences.at(0) == reference);
  CHECK(m.stats.gc == 24182);
  // BGZF: 64 KiB-style blocks (here 4000 bytes) and the 28-byte EOF block.
  std::string bgzf;
  for (size_t at = 0; at < text.size(); at += 4000) bgzf += bgzf_block(text.substr(at, 4000));
  bgzf += std::string("\x1f\x8b\x08\x04\0\0\0\0\0\xff\x06\0BC\x02\0\x1b\0\x03\0\0\0\0\0\0\0\0\0", 28);
  CHECK(parse_file(write_file("lambda.fa.bgz", bgzf)).sequences.at(0) == reference);
  // Tiny buffers (records straddle every refill) and tiny pulls.
  for (size_t buffer : {16, 17, 333}) {
    FastaOptions o;
    o.buffer_bytes = buffer;
    CHECK(parse_file(kLambda, o, 7).sequences.at(0) == reference);
    CHECK(parse_file(write_file("lambda_multi2.fa.gz", multi), o, 1).sequences.at(0) == reference);
  }
  CHECK(parse_bytes(multi).sequences.at(0) == reference);
}

TEST_CASE("CRLF, blank lines, line widths, soft-masking and IUPAC codes") {
  const std::string path = kData + "fasta/mixed_crlf.fa";
  Parsed p = parse_file(path);
  REQUIRE(p.records.size() == 4);
  CHECK(p.records[0].name == "seq1");
  CHECK(p.records[0].description == "first record");
  CHECK(p.records[1].name == "seq2");
  CHECK(p.records[1].description == "desc with tab");
  CHECK(p.records[2].name == "empty");
  CHECK(p.records[3].name == "seq4");
  CHECK(p.records[0].line == 2);
  CHECK(p.records[1].line == 6);
  CHECK(p.records[2].line == 9);
  CHECK(p.records[3].line == 10);
  CHECK(p.records[3].index == 3);
  CHECK(p.sequences == std::vector<std::string>{"ACGTACGTNNNNNNNN", "GGGGCCCCAAAATTTTA", "", "ACGT"});
  CHECK(p.stats.records == 4);
  CHECK(p.stats.bases == 37);
  CHECK(p.stats.n_bases == 4);
  CHECK(p.stats.other_iupac == 4);
  CHECK(p.stats.soft_masked == 11);
  CHECK(p.stats.gc == 14);

  FastaOptions unknown;
  unknown.soft_mask = SoftMask::Unknown;
  Parsed u = parse_file(path, unknown);
  CHECK(u.sequences == std::vector<std::string>{"ACGTNNNNNNNNNNNN", "GGGGCCCCAAAATTTTA", "", "NNNT"});
  CHECK(u.stats.soft_masked == 11);
  // Same bytes gzipped, and read one base at a time through 16-byte buffers.
  FastaOptions tiny;
  tiny.buffer_bytes = 16;
  CHECK(parse_file(write_file("mixed.fa.gz", gzip_member(slurp(path))), tiny, 1).sequences == p.sequences);
}

TEST_CASE("generated records agree with a per-letter reference, whatever the buffer and pull sizes") {
  // Runs of one letter class (so the 16-byte fast path and the table loop both
  // get long stretches), random line widths, CRLF or LF, blank lines.
  std::mt19937 rng(42);
  const std::string classes[] = {"ACGT", "N", "acgt", "n", "RYKMSWBDHVrykmswbdhv", "ACGTacgtNn"};
  std::string text, expect_upper, expect_unknown;
  SequenceStats expect;
  for (int r = 0; r < 60; ++r) {
    text += ">rec" + std::to_string(r) + "\n";
    ++expect.records;
    std::string seq;
    while (seq.size() < 2000 + static_cast<size_t>(r) * 37) {
      const std::string& cls = classes[rng() % 6];
      size_t run = 1 + rng() % 90;
      for (size_t i = 0; i < run; ++i) seq += cls[rng() % cls.size()];
    }
    const size_t width = 1 + rng() % 150;
    const bool crlf = rng() % 2;
    for (size_t at = 0; at < seq.size(); at += width) {
      text += seq.substr(at, width) + (crlf ? "\r\n" : "\n");
      if (rng() % 20 == 0) text += "\n";
    }
    for (char c : seq) {
      const char up = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      const bool acgt = std::string("ACGT").find(up) != std::string::npos;
      const bool lower = c != up;
      expect_upper += acgt ? up : 'N';
      expect_unknown += acgt && !lower ? up : 'N';
      ++expect.bases;
      expect.n_bases += up == 'N';
      expect.other_iupac += !acgt && up != 'N';
      expect.soft_masked += lower;
      expect.gc += up == 'G' || up == 'C';
    }
  }
  const std::string path = write_file("generated.fa", text);
  const std::string gz = write_file("generated.fa.gz", gzip_member(text));
  for (size_t buffer : {size_t{16}, size_t{1000}, size_t{1} << 20}) {
    for (size_t chunk : {size_t{1}, size_t{33}, size_t{1} << 16}) {
      CAPTURE(buffer);
      CAPTURE(chunk);
      FastaOptions o;
      o.buffer_bytes = buffer;
      Parsed p = parse_file(buffer == 1000 ? gz : path, o, chunk);
      std::string all;
      for (const auto& s : p.sequences) all += s;
      CHECK(all == expect_upper);
      CHECK(p.stats.records == expect.records);
      CHECK(p.stats.bases == expect.bases);
      CHECK(p.stats.n_bases == expect.n_bases);
      CHECK(p.stats.other_iupac == expect.other_iupac);
      CHECK(p.stats.soft_masked == expect.soft_masked);
      CHECK(p.stats.gc == expect.gc);
      o.soft_mask = SoftMask::Unknown;
      all.clear();
      for (const auto& s : parse_file(path, o, chunk).sequences) all += s;
      CHECK(all == expect_unknown);
    }
  }
}

TEST_CASE("skipping unread records still counts and validates everything") {
  FastaReader reader(kData + "fasta/mixed_crlf.fa");
  SequenceRecord rec;
  std::vector<std::string> names;
  char two[2];
  while (reader.next_record(rec)) {
    names.push_back(rec.name);
    if (rec.name == "seq2") CHECK(reader.read_bases(two, 2) == 2);
  }
  CHECK(names == std::vector<std::string>{"seq1", "seq2", "empty", "seq4"});
  CHECK(reader.stats().bases == 37);
  CHECK(reader.stats().gc == 14);
  CHECK(std::string(two, 2) == "GG");
  CHECK_FALSE(reader.next_record(rec));
  CHECK(reader.read_bases(two, 2) == 0);
}

TEST_CASE("FASTQ: multi-line, CRLF, '+name', quality starting with '@', empty read") {
  Parsed p = parse_file(kData + "fasta/reads.fq");
  REQUIRE(p.records.size() == 4);
  CHECK(p.records[0].fastq);
  CHECK(p.records[0].name == "read1");
  CHECK(p.records[0].description == "sample=1");
  CHECK(p.records[1].name == "read2");
  CHECK(p.records[1].line == 6);
  CHECK(p.records[2].line == 12);
  CHECK(p.records[3].line == 16);
  CHECK(p.sequences == std::vector<std::string>{"ACGTNACGTN", "GGCCAATT", "", "TTTT"});
  CHECK(p.stats.bases == 22);
  CHECK(p.stats.n_bases == 2);
  CHECK(p.stats.soft_masked == 5);
  CHECK(p.stats.gc == 8);
  FastaOptions tiny;
  tiny.buffer_bytes = 16;
  CHECK(parse_file(write_file("reads.fq.gz", gzip_member(slurp(kData + "fasta/reads.fq"))), tiny, 3).sequences ==
        p.sequences);
}

TEST_CASE("errors name the file and the line") {
  SUBCASE("missing file") {
    CHECK(error_of(kData + "fasta/no_such.fa") == kData + "fasta/no_such.fa: cannot open: No such file or directory");
  }
  SUBCASE("directory") {
    std::string dir = fs::path(temp_path("x")).parent_path().string();
    CHECK(error_of(dir) == dir + ": cannot read: Is a directory");
  }
  SUBCASE("empty files") {
    std::string p = write_file("empty.fa", "");
    CHECK(error_of(p) == p + ": empty file");
    p = write_file("blank.fa", "\n \r\n\t\n");
    CHECK(error_of(p) == p + ": empty file (no FASTA/FASTQ records)");
    p = write_file("empty.fa.gz", gzip_member(""));
    CHECK(error_of(p) == p + ": empty file (no FASTA/FASTQ records)");
  }
  SUBCASE("not FASTA/FASTQ") {
    std::string p = write_file("x.json", "\n{\"a\": 1}\n");
    CHECK(error_of(p) == p + ": line 2: not a FASTA or FASTQ file (starts with '{', expected '>' or '@')");
    p = write_file("x.bin", std::string("\x7f"
                                        "ELF\x02\x01",
                                        6));
    CHECK(error_of(p) == p + ": line 1: not a FASTA or FASTQ file (starts with '\\x7f', expected '>' or '@')");
    p = write_file("x.bz2", "BZh91AY&SY");
    CHECK(error_of(p) == p + ": bzip2-compressed input is not supported (use gzip)");
  }
  SUBCASE("record without a header") {
    std::string p = write_file("nohead.fa", "\n\nACGT\n>a\nAC\n");
    CHECK(error_of(p) == p + ": line 3: sequence before the first '>' header (a record without a header)");
  }
  SUBCASE("binary junk and invalid letters inside a sequence") {
    std::string p = write_file("nul.fa", std::string(">a\nACGT\nAC\0GT\n", 14));
    CHECK(error_of(p) == p + ": line 3: unexpected character '\\x00' in the sequence of record 'a'");
    {
      FastaReader failed(p);
      SequenceRecord rec;
      CHECK(failed.next_record(rec));
      char buf[64];
      const std::string message = p + ": line 3: unexpected character '\\x00' in the sequence of record 'a'";
      CHECK_THROWS_WITH_AS(failed.read_bases(buf, 64), message.c_str(), dnabert::Error);
      CHECK_THROWS_WITH_AS(failed.next_record(rec), message.c_str(), dnabert::Error);  // stays failed
    }
    p = write_file("rna.fa", ">a\nACGT\n>b x\nACGU\n");
    CHECK(error_of(p) == p + ": line 4: unexpected character 'U' in the sequence of record 'b'");
    p = write_file("gt.fa", ">a\nAC>GT\n");
    CHECK(error_of(p) == p + ": line 2: unexpected character '>' in the sequence of record 'a'");
    p = write_file("head.fa", std::string(">a\x01\nAC\n", 7));
    CHECK(error_of(p) == p + ": line 1: unexpected character '\\x01' in header");
    // Deep in a real genome, through the gzip path.
    std::string text = gunzip(slurp(kLambda));
    size_t line300 = 0;
    for (int i = 1; i < 300; ++i) line300 = text.find('\n', line300) + 1;
    text[line300 + 5] = '!';
    p = write_file("lambda_bang.fa.gz", gzip_member(text));
    CHECK(error_of(p) ==
          p + ": line 300: unexpected character '!' in the sequence of record 'gi|9626243|ref|NC_001416.1|'");
  }
  SUBCASE("truncated gzip") {
    std::string gz = slurp(kLambda);
    std::string text = gunzip(gz);
    // Trailer missing: every base was delivered, the error comes at the end.
    std::string p = write_file("no_trailer.fa.gz", gz.substr(0, gz.size() - 4));
    const auto lines = std::count(text.begin(), text.end(), '\n');
    CHECK(error_of(p) == p + ": line " + std::to_string(lines + 1) +
                             ": truncated gzip file (compressed data ends inside a gzip member)");
    p = kData + "fasta/truncated.fa.gz";
    std::string e = error_of(p);
    CHECK(std::regex_match(
        e, std::regex(std::regex_replace(p, std::regex(R"([.|+])"), R"(\$&)") +
                      ": line [0-9]+: truncated gzip file \\(compressed data ends inside a gzip member\\)")));
    p = write_file("header_only.fa.gz", gz.substr(0, 5));
    CHECK(error_of(p) == p + ": line 1: truncated gzip file (compressed data ends inside a gzip member)");
  }
  SUBCASE("corrupt gzip") {
    std::string gz = slurp(kLambda);
    gz[gz.size() - 6] ^= 0x55;  // CRC-32 of the trailer
    std::string p = write_file("bad_crc.fa.gz", gz);
    CHECK(error_of(p) == p + ": line 1: corrupt gzip data (incorrect data check)");
    p = write_file("garbage_after.fa.gz", slurp(kLambda) + "garbage");
    CHECK(error_of(p) == p + ": line 1: corrupt gzip data (incorrect header check)");
    std::string bad = slurp(kLambda);
    for (size_t i = 100; i < 140; ++i) bad[i] = static_cast<char>(0xff);
    p = write_file("bad_body.fa.gz", bad);
    CHECK(error_of(p).rfind(p + ": line 1: corrupt gzip data (", 0) == 0);
  }
  SUBCASE("FASTQ quality length") {
    std::string p = kData + "fasta/bad_quality.fq.gz";
    CHECK(error_of(p) == p + ": line 12: quality length 9 != sequence length 10");
    p = write_file("long_q.fq", "@r\nACG\n+\nIIII\n");
    CHECK(error_of(p) == p + ": line 4: quality length 4 != sequence length 3");
    p = write_file("eof_q.fq", "@r\nACG\n+\n");
    CHECK(error_of(p) == p + ": line 3: quality length 0 != sequence length 3");
    p = write_file("bad_q.fq", "@r\nACG\n+\nI I\n");
    CHECK(error_of(p) == p + ": line 4: invalid quality character '\\x20'");
  }
  SUBCASE("FASTQ missing '+' line") {
    std::string p = write_file("noplus.fq", "@r1\nACGT\n@r2\nACGT\n+\nIIII\n");
    CHECK(error_of(p) == p + ": line 3: FASTQ record 'r1' has no '+' line (found a line starting with '@')");
    p = write_file("noplus_eof.fq", "@r1\nACGT\n+\nIIII\n@r2\nACGT\n");
    CHECK(error_of(p) == p + ": line 5: FASTQ record 'r2' has no '+' line (end of file)");
    p = write_file("junk_after.fq", "@r1\nA\n+\nI\nxyz\n");
    CHECK(error_of(p) == p + ": line 5: expected '@' at the start of a FASTQ record, found 'x'");
  }
}

TEST_CASE("an in-memory input behaves like the file") {
  const std::string bytes = slurp(kData + "fasta/mixed_crlf.fa");
  CHECK(parse_bytes(bytes).sequences == parse_file(kData + "fasta/mixed_crlf.fa").sequences);
  CHECK_THROWS_WITH_AS(parse_bytes("ACGT"),
                       "mem.fa: line 1: sequence before the first '>' header (a record without a header)",
                       dnabert::Error);
}

namespace {
}  // namespace

TEST_CASE("dnabert fasta-stats") {
  auto [code, out] = run_cli("fasta-stats '" + kLambda + "' '" + kData + "fasta/mixed_crlf.fa'");
  CHECK(code == 0);
  CHECK(out == "file\trecords\tbases\tN\tsoft_masked\tgc_fraction\n" + kLambda + "\t1\t48502\t0\t0\t0.498577\n" +
                   kData + "fasta/mixed_crlf.fa\t4\t37\t4\t11\t0.482759\n");

  auto [code2, out2] = run_cli("fasta-stats '" + kData + "fasta/no_such.fa.gz'");
  CHECK(code2 == 1);
  CHECK(out2 == "file\trecords\tbases\tN\tsoft_masked\tgc_fraction\ndnabert: error: " + kData +
                    "fasta/no_such.fa.gz: cannot open: No such file or directory\n");

  auto [code3, out3] = run_cli("fasta-stats '" + kData + "fasta/truncated.fa.gz'");
  CHECK(code3 == 1);
  CHECK(out3.find("dnabert: error: " + kData + "fasta/truncated.fa.gz: line ") != std::string::npos);
  CHECK(out3.find(": truncated gzip file (compressed data ends inside a gzip member)\n") != std::string::npos);
}
