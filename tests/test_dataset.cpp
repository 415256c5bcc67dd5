// Labelled datasets (DNABERT TSV, GUE CSV, labelled FASTA), label maps, and
// the length-bucketed batcher.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "io/data/batcher.h"
#include "io/data/dataset.h"
#include "io/data/sequence_source.h"
#include "tokenizer/kmer.h"
#include "tests/test_util.h"

using namespace dnabert::io;
using dnabert::tokenizer::Input;
using dnabert::tokenizer::KmerTokenizer;
using Ids = std::vector<int32_t>;

using namespace dnabert::testing;

namespace {

std::string labelled(const std::string& name) {
  return std::string(DNABERT_SOURCE_DIR) + "/tests/data/labelled/" + name;
}

// Error message for a table file with these contents, its path shown as FILE.
std::string table_error(const std::string& name, const std::string& text) {
  const std::string path = write_file(name, text);
  std::string message = error_of([&] { read_table(path); });
  for (size_t at = message.find(path); at != std::string::npos; at = message.find(path))
    message.replace(at, path.size(), "FILE");
  return message;
}

}  // namespace

TEST_CASE("format detection") {
  CHECK(detect_format(labelled("dnabert_6mer_dev.tsv.gz")) == DatasetFormat::DnabertTsv);
  CHECK(detect_format(labelled("gue_prom_core_tata_dev200.csv.gz")) == DatasetFormat::GueCsv);
  CHECK(detect_format(labelled("ecoli_prom6.fa.gz")) == DatasetFormat::Fasta);
  CHECK(detect_format(labelled("ecoli_nonprom6.fa")) == DatasetFormat::Fasta);
  CHECK(std::string(format_name(DatasetFormat::GueCsv)) == "GUE CSV");
  const std::string empty = write_file("empty.csv", "");
  CHECK(error_of([&] { detect_format(empty); }) == empty + ": empty file");
  const std::string blank = write_file("blank.csv", "\n  \n");
  CHECK(error_of([&] { detect_format(blank); }) == blank + ": empty file");
}

TEST_CASE("DNABERT TSV: 6-mer sentences with CRLF decode to 101 bp") {
  LabelledDataset ds = read_table(labelled("dnabert_6mer_dev.tsv.gz"));
  CHECK(ds.format == DatasetFormat::DnabertTsv);
  CHECK(ds.input == Input::Sentence);
  CHECK(ds.sentence_k == 6);
  REQUIRE(ds.size() == 1000);
  CHECK(ds.label_map.names() == std::vector<std::string>{"0", "1"});
  CHECK(std::count(ds.labels.begin(), ds.labels.end(), 0) == 500);
  CHECK(std::count(ds.labels.begin(), ds.labels.end(), 1) == 500);
  CHECK(ds.labels[0] == 0);
  CHECK(ds.texts[0].rfind("GTGGGG TGGGGA GGGGAG ", 0) == 0);
  CHECK(ds.texts[0].back() != '\r');

  KmerTokenizer tok(6);
  auto examples = tokenize_dataset(ds, tok);
  REQUIRE(examples.size() == 1000);
  for (const auto& e : examples) REQUIRE(e.ids.size() == 98);  // [CLS] + 96 6-mers + [SEP]
  CHECK(tok.decode_sequence(examples[0].ids) ==
        "GTGGGGAGGGAGGCCGCCCCACTGCAGGTGGGCCTGTAGCAGCTGCACCTGAGGCAGGGCTGGCAGCCCCTGTGGGGAGGGAGGCCGCCCCACTGCAGGTG");
  // Every row is a consistent overlap: re-encoding its merged 101 bp gives the same ids.
  for (size_t i = 0; i < examples.size(); ++i) {
    std::string seq = tok.decode_sequence(examples[i].ids);
    REQUIRE(seq.size() == 101);
    REQUIRE(tok.encode(seq).ids == examples[i].ids);
  }
  CHECK(error_of([&] { tokenize_dataset(ds, KmerTokenizer(3)); }) ==
        "the dataset holds 6-mer sentences but the tokenizer has k=3");
}

TEST_CASE("GUE CSV: plain 70 bp sequences") {
  LabelledDataset ds = read_table(labelled("gue_prom_core_tata_dev200.csv.gz"));
  CHECK(ds.format == DatasetFormat::GueCsv);
  CHECK(ds.input == Input::Sequence);
  CHECK(ds.sentence_k == 0);
  REQUIRE(ds.size() == 200);
  CHECK(ds.texts[0] == "TGCTTAAATACCCGACCTTGCTGCACCAGAGAAAGAAGCAGCGATTCCTCAGTAAACACATCTCTCACCG");
  CHECK(ds.labels[0] == 0);
  CHECK(ds.texts[1] == "TATAAAACAGCTCAATCGGGGAGTACAACCTTCGGTTTCTCTTCGGGGAAAGCTGCTTTCAGCGCACACG");
  CHECK(ds.labels[1] == 1);
  CHECK(std::count(ds.labels.begin(), ds.labels.end(), 1) == 100);
  for (const auto& t : ds.texts) REQUIRE(t.size() == 70);
  auto examples = tokenize_dataset(ds, KmerTokenizer(6));
  CHECK(examples[1].ids.size() == 67);
  CHECK(examples[1].label == 1);
  CHECK(examples[1].ids[1] == 5 + 0b010001000000);  // TATAAA = 1 0 1 0 0 0
  // read_dataset with one table path is the same thing.
  CHECK(read_dataset({labelled("gue_prom_core_tata_dev200.csv.gz")}).texts == ds.texts);
  CHECK(error_of([] { read_dataset({"/nonexistent/dev.csv"}); }) ==
        "cannot open '/nonexistent/dev.csv': No such file or directory");
}

TEST_CASE("FASTA files with one label each") {
  LabelledFasta spec = parse_labelled_fasta("dir:with:colons/pos.fa.gz:1");
  CHECK(spec.path == "dir:with:colons/pos.fa.gz");
  CHECK(spec.label == "1");
  CHECK(error_of([] { parse_labelled_fasta("pos.fa.gz"); }) == "'pos.fa.gz': expected FASTA:LABEL, e.g. pos.fa.gz:1");
  CHECK_THROWS_AS(parse_labelled_fasta("pos.fa.gz:"), dnabert::UsageError);

  LabelledDataset ds =
      read_dataset({labelled("ecoli_prom6.fa.gz") + ":prom", labelled("ecoli_nonprom6.fa") + ":nonprom"});
  CHECK(ds.format == DatasetFormat::Fasta);
  REQUIRE(ds.size() == 12);
  CHECK(ds.label_map.names() == std::vector<std::string>{"nonprom", "prom"});  // sorted
  CHECK(ds.labels == Ids{1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0});
  // Record 1 spans two lines (60 + 21) in the file.
  CHECK(ds.texts[0] == "GCCCGGGAAAAATATGCTCGCGGGCTTGCTATCTCGCTGACGGACAGGCAAATTGATGACCAGCTTTTAAACCGACTCCGT");
  CHECK(ds.texts[6] == "TTCCGCGCCTCATGGATCAACTGCTGGGAATTGTCTAACAGCTCCGGCAGCGTATAGCGCGTGGTGGTCAACGGGCTTTGG");
  for (const auto& t : ds.texts) CHECK(t.size() == 81);

  DatasetOptions with_map;
  with_map.label_map = LabelMap::from_labels({"0", "1"});
  LabelledDataset numeric =
      read_dataset({labelled("ecoli_prom6.fa.gz") + ":1", labelled("ecoli_nonprom6.fa") + ":0"}, with_map);
  CHECK(numeric.labels == ds.labels);
  CHECK(error_of([&] { read_dataset({labelled("ecoli_prom6.fa.gz") + ":2"}, with_map); }) ==
        labelled("ecoli_prom6.fa.gz") + ": label '2' is not in the label map");
  const std::string prom = labelled("ecoli_prom6.fa.gz");
  std::string expected = "'";  // built in steps: GCC 12 warns (-Wrestrict) on "'" + std::string
  expected += prom + "' is FASTA: give its label as " + prom + ":LABEL";
  CHECK(error_of([&] { read_dataset({prom}); }) == expected);
  CHECK(error_of([&] { read_table(labelled("ecoli_nonprom6.fa")); }) ==
        labelled("ecoli_nonprom6.fa") + ": this is FASTA, which has no label column; give it as " +
            labelled("ecoli_nonprom6.fa") + ":LABEL");
}

TEST_CASE("label maps: numeric 0..n-1 keep their number, others are sorted") {
  CHECK(LabelMap::from_labels({"pos", "neg", "pos"}).names() == std::vector<std::string>{"neg", "pos"});
  CHECK(LabelMap::from_labels({"1", "2", "1"}).names() == std::vector<std::string>{"1", "2"});
  std::vector<std::string> eleven;
  for (int i = 10; i >= 0; --i) eleven.push_back(std::to_string(i));
  LabelMap numeric = LabelMap::from_labels(eleven);
  CHECK(*numeric.find("10") == 10);
  CHECK(*numeric.find("2") == 2);  // byte order would put "10" before "2"
  CHECK(LabelMap::from_labels({"0", "01"}).names() == std::vector<std::string>{"0", "01"});
  CHECK(LabelMap::from_labels({"1", "0", "b"}).names() == std::vector<std::string>{"0", "1", "b"});

  LabelMap map = LabelMap::from_labels({"pos", "neg"});
  CHECK(map.to_json() ==
        "{\n  \"num_labels\": 2,\n  \"id2label\": {\n    \"0\": \"neg\",\n    \"1\": \"pos\"\n  },\n"
        "  \"label2id\": {\n    \"neg\": 0,\n    \"pos\": 1\n  }\n}\n");
  const std::string path = temp_path("label_map.json");
  map.save(path);
  CHECK(LabelMap::load(path) == map);
  CHECK(LabelMap::load(path).name(1) == "pos");
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

  CHECK(error_of([] { LabelMap::from_json("{", "m.json"); }).rfind("m.json: invalid JSON", 0) == 0);
  CHECK(error_of([] { LabelMap::from_json("{\"id2label\": {\"0\": \"a\", \"2\": \"b\"}}", "m.json"); }) ==
        "m.json: id2label key \"2\": ids must be 0..1, each once");
  CHECK(error_of([] {
          LabelMap::from_json("{\"id2label\": {\"0\": \"a\", \"1\": \"b\"}, \"label2id\": {\"a\": 1, \"b\": 0}}",
                              "m.json");
        }) == "m.json: label2id is not the inverse of id2label");
  CHECK(error_of([] { LabelMap::from_labels({"a"}).name(3); }) == "label id 3 is outside the label map (1 labels)");
}

TEST_CASE("table errors name the file and line") {
  CHECK(table_error("e1.csv", "") == "FILE: empty file");
  CHECK(table_error("e2.csv", "ACGT,1\n") == "FILE: line 1: missing header: expected 'sequence,label' (or 'sequence1,sequence2,label' for pairs), found 'ACGT,1'");
  CHECK(table_error("e3.txt", "ACGT\n") ==
        "FILE: line 1: missing header: expected a header 'sequence<TAB>label' (DNABERT TSV) or 'sequence,label' "
        "(GUE CSV), found 'ACGT'");
  CHECK(table_error("e4.csv", "sequence,label\nACGT,1\nACGT,1,2\n") ==
        "FILE: line 3: expected 2 columns 'sequence,label', found 3");
  CHECK(table_error("e5.csv", "sequence,label\nACGT,1\n\nACGT\n") ==
        "FILE: line 4: missing label: expected 2 columns 'sequence,label', found 1");
  CHECK(table_error("e6.csv", "sequence,label\nACGT, \n") == "FILE: line 2: missing label");
  CHECK(table_error("e7.csv", "sequence,label\nACGT,1\n,0\n") == "FILE: line 3: empty sequence");
  CHECK(table_error("e8.csv", "sequence,label\nACXT,1\n") ==
        "FILE: line 2: invalid character 'X' in sequence at column 3");
  const std::string four = write_file("ok9.csv", "sequence,label\nACGT CGTA,1\n");
  CHECK(read_table(four).sentence_k == 4);
  CHECK(table_error("e10.tsv", "sequence\tlabel\r\nACGTAC CGTACG\t0\r\nACGTA CGTAC\t1\r\n") ==
        "FILE: line 3: k-mer 'ACGTA' has length 5, but the first row has 6-mers");
  CHECK(table_error("e11.tsv", "sequence\tlabel\nACGTAC\t0\nACGTAC CGTACG\t1\n") ==
        "FILE: line 3: invalid character ' ' in sequence at column 7");
  CHECK(table_error("e12.csv", "sequence,label\n\n") == "FILE: no examples after the header");
  CHECK(table_error("e13.tsv", "sequence\tlabel\nAC\tGT\t0\n") ==
        "FILE: line 2: expected 2 columns 'sequence<TAB>label', found 3");
  CHECK(table_error("e14.csv", "sequence,label\nAC\x01T,1\n") ==
        "FILE: line 2: invalid character '\\x01' in sequence at column 3");
  // label_map.json must hold every label, and JSON holds only UTF-8 text.
  CHECK(table_error("e16.tsv", "sequence\tlabel\nACGT\tpos\xdc\n") == "FILE: line 2: label 'pos\\xdc' is not UTF-8 text");
  CHECK(table_error("e17.csv", "sequence,label\nACGT,\xed\xa0\x80\n") ==  // a surrogate, U+D800
        "FILE: line 2: label '\\xed\\xa0\\x80' is not UTF-8 text");
  CHECK(table_error("e18.csv", "sequence,label\nACGT,\xc0\xaf\n") ==  // '/' in an overlong form
        "FILE: line 2: label '\\xc0\\xaf' is not UTF-8 text");
  CHECK(read_table(write_file("ok19.csv", "sequence,label\nACGT,caf\xc3\xa9\nACGT,\xf0\x9f\xa7\xac\n"))
            .label_map.names() == std::vector<std::string>{"caf\xc3\xa9", "\xf0\x9f\xa7\xac"});

  // A label outside a given map is an error with its line.
  std::string path = write_file("e15.csv", "sequence,label\nACGT,1\nACGT,2\n");
  DatasetOptions options;
  options.label_map = LabelMap::from_labels({"0", "1"});
  CHECK(error_of([&] { read_table(path, options); }) == path + ": line 3: label '2' is not in the label map");

  // Truncated gzip: the first half of a real file.
  std::ifstream in(labelled("gue_prom_core_tata_dev200.csv.gz"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  path = write_file("truncated.csv.gz", bytes.substr(0, bytes.size() / 2));
  CHECK(error_of([&] { read_table(path); }).find("corrupt or truncated gzip data") != std::string::npos);
  CHECK(error_of([] { read_table("/nonexistent/x.csv"); }) ==
        "cannot open '/nonexistent/x.csv': No such file or directory");
}

TEST_CASE("lenient but exact: CRLF, blank lines, spaces around fields, lower case, gzip") {
  const std::string path = temp_path("ok.csv.gz");
  gzFile gz = gzopen(path.c_str(), "wb");
  REQUIRE(gz != nullptr);
  const std::string text = " Sequence , Label \r\n\r\nacgtn,b\r\n ACGT ,a\r\n";
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  LabelledDataset ds = read_table(path);
  CHECK(ds.texts == std::vector<std::string>{"acgtn", "ACGT"});
  CHECK(ds.labels == Ids{1, 0});
  CHECK(ds.label_map.names() == std::vector<std::string>{"a", "b"});
}

namespace {
// Examples whose ids encode their own index, with varied lengths.
std::vector<Example> make_examples(size_t n) {
  std::vector<Example> examples(n);
  for (size_t i = 0; i < n; ++i) {
    size_t length = 3 + (i * 7) % 11;
    examples[i].ids.assign(length, static_cast<int32_t>(100 + i));
    examples[i].ids.front() = 2;
    examples[i].ids.back() = 3;
    examples[i].token_types.assign(length, 0);
    examples[i].label = static_cast<int32_t>(i % 3);
  }
  return examples;
}
}  // namespace

TEST_CASE("batcher: padding, mask and labels of one batch") {
  std::vector<Example> examples(2);
  examples[0] = {{2, 10, 11, 3}, {0, 0, 0, 0}, 1};
  examples[1] = {{2, 12, 3, 13, 3}, {0, 0, 0, 1, 1}, 0};
  Batcher batcher(examples, {.batch_size = 2});
  Batch b;
  batcher.make_batch(std::vector<size_t>{1, 0}, b);
  CHECK(b.B == 2);
  CHECK(b.T == 5);
  CHECK(b.input_ids == Ids{2, 12, 3, 13, 3, /**/ 2, 10, 11, 3, 0});
  CHECK(b.token_types == Ids{0, 0, 0, 1, 1, /**/ 0, 0, 0, 0, 0});
  CHECK(b.attention_mask == Ids{1, 1, 1, 1, 1, /**/ 1, 1, 1, 1, 0});
  CHECK(b.labels == Ids{0, 1});
  CHECK(b.example_indices == std::vector<size_t>{1, 0});
}

TEST_CASE("pad: rows to the longest, token types optional, a reused batch keeps no old rows or labels") {
  const Ids a = {2, 10, 3}, b = {2, 11, 12, 13, 3}, b_types = {0, 0, 0, 1, 1};
  Batch batch;
  batch.labels = {7, 7};  // left from an earlier use
  pad(std::vector<Row>{{a}, {b, b_types}}, batch);
  CHECK(batch.B == 2);
  CHECK(batch.T == 5);
  CHECK(batch.real_tokens == 8);
  CHECK(batch.input_ids == Ids{2, 10, 3, 0, 0, /**/ 2, 11, 12, 13, 3});
  CHECK(batch.token_types == Ids{0, 0, 0, 0, 0, /**/ 0, 0, 0, 1, 1});
  CHECK(batch.attention_mask == Ids{1, 1, 1, 0, 0, /**/ 1, 1, 1, 1, 1});
  CHECK(batch.labels.empty());
  pad(std::vector<Row>{{a}}, batch);
  CHECK(batch.T == 3);
  CHECK(batch.input_ids == a);
  pad(std::vector<Row>{}, batch);
  CHECK((batch.B == 0 && batch.T == 0 && batch.input_ids.empty()));
  CHECK(error_of([&] { pad(std::vector<Row>{{b, a}}, batch); }) == "pad: a row has 5 ids but 3 token types");
}

TEST_CASE("batcher: each example once per epoch, deterministic, length-sorted") {
  const auto examples = make_examples(103);
  BatcherOptions options{.batch_size = 8, .seed = 42, .bucket_batches = 4};
  Batcher batcher(examples, options);
  CHECK(batcher.num_batches() == 13);
  auto plan0 = batcher.plan(0);
  CHECK(plan0 == Batcher(examples, options).plan(0));  // same seed, same batches
  CHECK(plan0 != batcher.plan(1));                     // a new epoch reshuffles
  options.seed = 43;
  CHECK(plan0 != Batcher(examples, options).plan(0));

  for (uint64_t epoch = 0; epoch < 3; ++epoch) {
    CAPTURE(epoch);
    batcher.start_epoch(epoch);
    std::vector<int> seen(examples.size(), 0);
    Batch b;
    size_t batches = 0, short_batches = 0;
    while (batcher.next(b)) {
      ++batches;
      short_batches += b.B < 8;
      size_t longest = 0;
      for (size_t row = 0; row < b.B; ++row) {
        const size_t i = b.example_indices[row];
        ++seen[i];
        longest = std::max(longest, examples[i].ids.size());
        // Row contents: the example's ids, then [PAD]; mask marks the real tokens.
        for (size_t t = 0; t < b.T; ++t) {
          const bool real = t < examples[i].ids.size();
          REQUIRE(b.input_ids[row * b.T + t] == (real ? examples[i].ids[t] : 0));
          REQUIRE(b.attention_mask[row * b.T + t] == (real ? 1 : 0));
        }
        REQUIRE(b.labels[row] == examples[i].label);
      }
      CHECK(b.T == longest);
    }
    CHECK(batches == 13);
    CHECK(short_batches == 1);
    CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
  }

  // Within a window the batches hold disjoint length ranges (sorted, then cut).
  Batcher one_window(examples, {.batch_size = 8, .seed = 7, .bucket_batches = 100});
  auto plan = one_window.plan(0);
  for (size_t a = 0; a < plan.size(); ++a)
    for (size_t b = a + 1; b < plan.size(); ++b) {
      auto range = [&](const std::vector<size_t>& batch) {
        size_t lo = SIZE_MAX, hi = 0;
        for (size_t i : batch) lo = std::min(lo, examples[i].ids.size()), hi = std::max(hi, examples[i].ids.size());
        return std::pair{lo, hi};
      };
      auto [lo_a, hi_a] = range(plan[a]);
      auto [lo_b, hi_b] = range(plan[b]);
      REQUIRE((hi_a <= lo_b || hi_b <= lo_a));
    }
}

TEST_CASE("batcher: drop_last and unshuffled order") {
  const auto examples = make_examples(20);
  Batcher dropping(examples, {.batch_size = 6, .drop_last = true});
  CHECK(dropping.num_batches() == 3);
  auto plan = dropping.plan(0);
  REQUIRE(plan.size() == 3);
  for (const auto& batch : plan) CHECK(batch.size() == 6);

  Batcher in_order(examples, {.batch_size = 6, .shuffle = false, .sort_by_length = false});
  auto ordered = in_order.plan(5);
  REQUIRE(ordered.size() == 4);
  CHECK(ordered[0] == std::vector<size_t>{0, 1, 2, 3, 4, 5});
  CHECK(ordered[3] == std::vector<size_t>{18, 19});
  CHECK(error_of([&] { Batcher(examples, {.batch_size = 0}); }) == "batcher: batch_size must be at least 1");
}

TEST_CASE("pair inputs: sequence1, sequence2, label") {
  const std::string path = write_file("pairs.csv", "sequence1,sequence2,label\nACGTA,TTGCA,1\nGGGCC,ACG,0\n");
  LabelledDataset ds = read_table(path);
  REQUIRE(ds.size() == 2);
  CHECK(ds.texts == std::vector<std::string>{"ACGTA", "GGGCC"});
  CHECK(ds.texts_b == std::vector<std::string>{"TTGCA", "ACG"});
  dnabert::tokenizer::KmerTokenizer tok(3);
  std::vector<Example> ex = tokenize_dataset(ds, tok);
  // [CLS] ACG CGT GTA [SEP] TTG TGC GCA [SEP], token types 0 up to the first [SEP], then 1.
  CHECK(ex[0].ids.size() == 9);
  CHECK(ex[0].ids[0] == dnabert::tokenizer::kClsId);
  CHECK(ex[0].ids[4] == dnabert::tokenizer::kSepId);
  CHECK(ex[0].ids[8] == dnabert::tokenizer::kSepId);
  CHECK(ex[0].token_types == std::vector<int32_t>{0, 0, 0, 0, 0, 1, 1, 1, 1});
  CHECK(ex[1].ids.size() == 7);  // [CLS] GGG GGC GCC [SEP] ACG [SEP]
  CHECK(error_of([&] { read_table(write_file("pairs_bad.csv", "sequence1,sequence2,label\nACGT,1\n")); }) ==
        temp_path("pairs_bad.csv") + ": line 2: expected 3 columns 'sequence1,sequence2,label', found 2");
}

TEST_CASE("sequence source in pieces: the pieces spell each record, and next() skips an unread rest") {
  const std::string fasta = write_file("pieces.fa", ">empty\n>five\nACGTA\n>ten\nACGTA\nCCGGT\n>twentythree\n" +
                                                        std::string(23, 'G') + "\n>last\nTTTT\n");
  const std::string lines = write_file("pieces.txt", "ACGTA\nACGTACCGGT\n" + std::string(23, 'G') +
                                                         "\nACG CGT GTA\nTTTT\n");
  for (const std::string& path : {fasta, lines}) {
    CAPTURE(path);
    const std::vector<std::string> expected = path == fasta
        ? std::vector<std::string>{"", "ACGTA", "ACGTACCGGT", std::string(23, 'G'), "TTTT"}
        : std::vector<std::string>{"ACGTA", "ACGTACCGGT", std::string(23, 'G'), "ACG CGT GTA", "TTTT"};
    // Every piece read: pieces of at most 4 bases that spell the sequence; a
    // k-mer sentence comes whole.
    dnabert::io::SequenceSource source(path);
    source.set_piece_bases(4);
    dnabert::io::SourceItem item;
    for (const std::string& want : expected) {
      REQUIRE(source.next(item));
      std::string got = item.text;
      CHECK(item.partial == (want.find(' ') == std::string::npos && want.size() >= 4));
      if (item.partial) {
        CHECK(item.text.size() == 4);
        while (source.more(item)) {
          CHECK(item.text.size() <= 4);
          got += item.text;
        }
        CHECK_FALSE(item.partial);
      }
      CHECK(got == want);
      CHECK_FALSE(source.more(item));
    }
    CHECK_FALSE(source.next(item));
    // Only first pieces read: next() goes on at the following sequence.
    dnabert::io::SequenceSource skipping(path);
    skipping.set_piece_bases(4);
    for (const std::string& want : expected) {
      REQUIRE(skipping.next(item));
      CHECK(item.text == (want.find(' ') == std::string::npos ? want.substr(0, 4) : want));
    }
    CHECK_FALSE(skipping.next(item));
  }
}
