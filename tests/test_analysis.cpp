// models/analysis/embed and scan, io/data/token_lines, models/network/convert:
// the application logic behind embed, scan, tokenize and convert, tested
// without the binary.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "base/error.h"
#include "io/data/token_lines.h"
#include "io/formats/npy.h"
#include "models/analysis/embed.h"
#include "models/analysis/inference.h"
#include "models/analysis/interpret.h"
#include "models/analysis/motifs.h"
#include "models/analysis/scan.h"
#include "models/analysis/variants.h"
#include "models/network/convert.h"
#include "tests/tiny_model.h"

using namespace dnabert;
using namespace dnabert::testing;

namespace {
// The hidden states of one sequence at every layer, by a plain forward pass.
std::vector<engine::Tensor> all_layers(const models::LoadedModel& lm, const tokenizer::Encoding& e,
                                       engine::Arena& arena) {
  io::Batch batch;
  const std::vector<io::Row> rows = {{e.ids, e.token_types}};
  io::pad(rows, batch);
  engine::Tape tape(arena, engine::Tape::Mode::Inference);
  std::vector<engine::Tensor> layers;
  engine::Tensor last = lm.model->encode(tape, models::bert_inputs(batch, arena), {}, &layers);
  layers.push_back(last);
  return layers;
}
}  // namespace

TEST_CASE("Embedder: [CLS], mean and per-token rows of the chosen layer, L2 norm") {
  const models::LoadedModel lm = models::load_model(tiny_model_dir("an_embed", 0, 3), models::Heads::None);
  const int H = 32;
  engine::Arena arena;
  models::EmbedOptions o;
  o.max_len = 16;
  const std::vector<std::string> seqs = {"ACGTACGTTG", "TTTTGGGGCCCCAAAAGGGGTTTTACGT"};  // the second is truncated
  for (int layer : {-1, 0, 1}) {
    for (models::Pooling pooling : {models::Pooling::Cls, models::Pooling::Mean, models::Pooling::None}) {
      for (bool normalize : {false, true}) {
        if (normalize && pooling == models::Pooling::None) continue;
        CAPTURE(layer);
        CAPTURE(models::pooling_name(pooling));
        CAPTURE(normalize);
        o.layer = layer, o.pooling = pooling, o.normalize = normalize;
        const models::Embedder em(lm, o);
        CHECK(em.layer() == (layer < 0 ? 2 : layer));
        std::vector<tokenizer::Encoding> enc;
        for (const auto& s : seqs) enc.push_back(em.tokenizer().encode(s, tokenizer::Input::Sequence));
        CHECK(enc[1].truncated > 0);
        const engine::Tensor rows = em.embed(enc, arena);
        for (size_t b = 0; b < seqs.size(); ++b) {
          // Each row alone, by a forward pass of that sequence only (no padding).
          const engine::Tensor h = all_layers(lm, enc[b], arena)[static_cast<size_t>(em.layer())];
          const int64_t n = static_cast<int64_t>(enc[b].ids.size());
          std::vector<double> want(static_cast<size_t>(pooling == models::Pooling::None ? 16 * H : H), 0.0);
          for (int64_t t = 0; t < n; ++t)
            for (int c = 0; c < H; ++c) {
              const double v = h.f32()[t * H + c];
              if (pooling == models::Pooling::None) want[static_cast<size_t>(t * H + c)] = v;
              else if (pooling == models::Pooling::Cls && t == 0) want[static_cast<size_t>(c)] = v;
              else if (pooling == models::Pooling::Mean && t >= 1 && t < n - 1)
                want[static_cast<size_t>(c)] += v / static_cast<double>(n - 2);
            }
          if (normalize) {
            double ss = 0;
            for (double v : want) ss += v * v;
            for (double& v : want) v /= std::sqrt(ss);
          }
          const float* got = rows.f32() + static_cast<int64_t>(b) * static_cast<int64_t>(want.size());
          for (size_t i = 0; i < want.size(); ++i) REQUIRE(got[i] == doctest::Approx(want[i]).epsilon(1e-4));
        }
      }
    }
  }
  o = {};
  o.layer = 3;
  CHECK_THROWS_WITH_AS(models::Embedder(lm, o), doctest::Contains("--layer 3 is outside 0..2"), UsageError);
  o.layer = -4;
  CHECK_THROWS_AS(models::Embedder(lm, o), UsageError);
  o.layer = -3;  // -L-1 is the embeddings
  CHECK(models::Embedder(lm, o).layer() == 0);
  o.max_len = 65;
  CHECK_THROWS_AS(models::Embedder(lm, o), UsageError);
}

TEST_CASE("embed_file streams a file into .npy rows equal to embed()") {
  const models::LoadedModel lm = models::load_model(tiny_model_dir("an_embed_file", 0, 4), models::Heads::None);
  const std::string fa = write_file("an_embed.fa", ">a\nACGTACGTAC\nGGTT\n>b\nTTTTTTT\n>c\nACGTTGCAACGTTGCAACGTTGCAACGTAAAAA\n");
  models::EmbedOptions o;
  o.pooling = models::Pooling::Mean;
  o.max_len = 20;
  const models::Embedder em(lm, o);
  const std::string npy = temp_path("an_embed.npy");
  int64_t calls = 0;
  const models::EmbedSummary sum = models::embed_file(em, fa, npy, 2, [&](int64_t) { ++calls; });
  CHECK(sum.sequences == 3);
  CHECK(sum.truncated == 1);
  CHECK(calls == 2);
  CHECK(std::string(sum.format) == "FASTA");
  const engine::Tensor got = io::read_npy(npy);
  REQUIRE(got.shape() == engine::Dims{3, 32});
  engine::Arena arena;
  std::vector<tokenizer::Encoding> enc;
  for (const char* s : {"ACGTACGTACGGTT", "TTTTTTT", "ACGTTGCAACGTTGCAACGTTGCAACGTAAAAA"})
    enc.push_back(em.tokenizer().encode(s, tokenizer::Input::Sequence));
  const engine::Tensor want = em.embed(enc, arena);
  for (int64_t i = 0; i < 3 * 32; ++i) REQUIRE(got.f32()[i] == doctest::Approx(want.f32()[i]).epsilon(1e-5));
}

TEST_CASE("scan_genome: windows, centred steps, both strands, short records") {
  const std::string dir = tiny_model_dir("an_scan", 2, 5);
  const models::LoadedModel lm = models::load_model(dir, models::Heads::Classification);
  CHECK(models::reverse_complement("ACGTNa") == "NNACGT");
  const std::string chr1 = "ACGTTGCAACGTAGCTAGGATCCATGCAAGT";  // 31 bp
  const std::string fa = write_file("an_scan.fa", ">chr1\n" + chr1.substr(0, 20) + "\n" + chr1.substr(20) +
                                                     "\n>tiny\nACGT\n>chr2\nGGGGCCCCAAAATTTT\n");
  models::ScanOptions o;
  o.window = 12, o.stride = 5, o.batch = 3, o.positive = 1;
  struct Got {
    std::string chrom;
    int64_t start, end;
    double score;
  };
  for (bool both : {false, true}) {
    CAPTURE(both);
    o.both_strands = both;
    std::vector<Got> got;
    uint64_t last_bases = 0;
    const models::ScanSummary sum = models::scan_genome(
        lm, fa, o, [&](const models::ScanInterval& w) { got.push_back({*w.chrom, w.start, w.end, w.score}); },
        [&](uint64_t bases, uint64_t) { last_bases = bases; });
    CHECK(sum.bases == 31 + 4 + 16);
    CHECK(last_bases == sum.bases);
    CHECK(sum.short_records == 1);
    // chr1: starts 0, 5, 10, 15 (19 + 12 > 31); chr2: starts 0 (5 + 12 > 16).
    REQUIRE(sum.windows == 5);
    REQUIRE(got.size() == 5);
    const std::vector<std::pair<std::string, int64_t>> starts = {{"chr1", 0}, {"chr1", 5}, {"chr1", 10}, {"chr1", 15},
                                                                {"chr2", 0}};
    std::vector<std::string> windows, rc;
    for (const auto& [chrom, p] : starts) {
      windows.push_back((chrom == "chr1" ? chr1 : std::string("GGGGCCCCAAAATTTT")).substr(static_cast<size_t>(p), 12));
      rc.push_back(models::reverse_complement(windows.back()));
    }
    models::VariantScorer score(lm, 1, 8);
    const std::vector<double> p = score(windows), q = score(rc);
    for (size_t i = 0; i < starts.size(); ++i) {
      CAPTURE(i);
      CHECK(got[i].chrom == starts[i].first);
      const int64_t centre = starts[i].second + 6;
      CHECK(got[i].start == centre - 2);  // the step of 5 around the centre: [c - 2, c + 3)
      CHECK(got[i].end == centre + 3);
      CHECK(got[i].score == doctest::Approx(both ? (p[i] + q[i]) / 2 : p[i]).epsilon(1e-5));
    }
  }
  o.window = 2;
  CHECK_THROWS_AS(models::check_scan_options(lm, o), UsageError);
  o.window = 12, o.positive = 2;
  CHECK_THROWS_AS(models::check_scan_options(lm, o), UsageError);
}

TEST_CASE("write_token_lines: FASTA records and lines, truncation, sentences, bad letters") {
  tokenizer::TokenizerOptions opt;
  opt.max_len = 5;
  const tokenizer::KmerTokenizer tok(tokenizer::Vocab::kmer(3), opt);
  auto lines_of = [&](const std::string& path, bool as_tokens) {
    const std::string out = temp_path("an_tokens.txt");
    std::FILE* f = std::fopen(out.c_str(), "wb");
    REQUIRE(f != nullptr);
    io::write_token_lines(path, tok, as_tokens, f);
    std::fclose(f);
    return slurp(out);
  };
  // FASTA: one line per record, across its lines; max_len 5 keeps 3 k-mers.
  std::string want;
  for (const std::string s : {"ACGTA", "GGTTACGT"}) {
    const tokenizer::Encoding e = tok.encode(s, tokenizer::Input::Sequence);
    for (size_t i = 0; i < e.ids.size(); ++i) want += (i ? " " : "") + std::to_string(e.ids[i]);
    want += "\n";
  }
  CHECK(lines_of(write_file("an_tok.fa", ">x\nACG\nTA\n>y\nGGTTACGT\n"), false) == want);
  // Lines, with a blank one, and a k-mer sentence; tokens as strings.
  CHECK(lines_of(write_file("an_tok.txt", "ACGTA\n\nACG CGT\n"), true) ==
        "[CLS] ACG CGT GTA [SEP]\n[CLS] ACG CGT [SEP]\n");
  CHECK_THROWS_WITH_AS(lines_of(write_file("an_tok_bad.txt", "ACGT\nAC-T\n"), false),
                       doctest::Contains("an_tok_bad.txt: line 2: invalid character '-' at column 3"), Error);
}

TEST_CASE("convert: HF names, dropped tensors and missing ones, from the library") {
  std::vector<std::string> rules;
  CHECK(models::hf_tensor_name("encoder.layer.0.output.LayerNorm.gamma", rules) ==
        "bert.encoder.layer.0.output.LayerNorm.weight");
  CHECK(rules == std::vector<std::string>{"added the bert. prefix", "LayerNorm gamma/beta -> weight/bias"});
  rules.clear();
  CHECK(models::hf_tensor_name("cls.predictions.bias", rules) == "cls.predictions.bias");
  CHECK(rules.empty());

  // A tiny MLM model's own tensors, plus the extras a HF checkpoint carries.
  const std::string dir = tiny_model_dir("an_convert", 0, 6);
  io::SafetensorsFile f = io::read_safetensors(dir + "/model.safetensors");
  std::vector<io::NamedTensor> tensors;
  for (const auto& [name, t] : f.tensors) tensors.push_back({name, t});
  tensors.push_back({"bert.embeddings.position_ids", engine::Tensor::zeros({64})});
  tensors.push_back({"cls.predictions.decoder.weight", f.tensors.at("bert.embeddings.word_embeddings.weight")});
  tensors.push_back({"cls.seq_relationship.bias", engine::Tensor::zeros({2})});
  models::BertConfig config = tiny_config(0);
  const models::ConvertedWeights c = models::convert_tensor_names(tensors, {"an.extra: skipped"}, config, "src");
  CHECK(c.weights.size() == f.tensors.size());
  CHECK(c.renamed == 0);
  CHECK(c.groups == std::set<models::TensorGroup>{models::TensorGroup::Encoder, models::TensorGroup::MaskedLM});
  REQUIRE(c.dropped.size() == 4);
  CHECK(c.dropped[0] == "an.extra: skipped");
  std::string all;
  for (const auto& d : c.dropped) all += d + "\n";
  CHECK(all.find("position-id buffer") != std::string::npos);
  CHECK(all.find("tied to bert.embeddings.word_embeddings.weight (equal)") != std::string::npos);
  CHECK(all.find("next-sentence-prediction head") != std::string::npos);

  // Missing encoder tensors are listed, naming the source.
  std::vector<io::NamedTensor> partial;
  for (const auto& t : tensors)
    if (t.name != "bert.encoder.layer.1.output.dense.weight") partial.push_back(t);
  CHECK_THROWS_WITH_AS(models::convert_tensor_names(partial, {}, config, "src"),
                       doctest::Contains("src: missing tensor bert.encoder.layer.1.output.dense.weight"), Error);

  // A checkpoint directory: the same, read from model.safetensors.
  const models::ImportedCheckpoint in = models::import_hf_checkpoint(dir);
  CHECK(in.weights_file == dir + "/model.safetensors");
  CHECK(in.k == 3);
  CHECK(in.vocab_size == 69);
  CHECK(in.converted.weights.size() == f.tensors.size());
  CHECK_THROWS_WITH_AS(models::import_hf_checkpoint(temp_path("an_convert_none")), doctest::Contains("config.json"),
                       Error);
}

TEST_CASE("attention_rows: each sequence of a file, in order, as nucleotide_attention scores it") {
  const models::LoadedModel lm = models::load_model(tiny_model_dir("an_attention", 2, 8), models::Heads::None);
  tokenizer::TokenizerOptions opt;
  opt.max_len = 12;
  const tokenizer::KmerTokenizer tok(lm.vocab, opt);
  const std::string path = write_file("an_attention.txt", "ACGTACGTAC\nTTGGCCAATTGGCCAAGG\nACGT\n");
  const models::AttentionInput in = models::measure_attention_input(tok, path);
  CHECK(in.sequences == 3);
  CHECK(in.truncated == 1);
  CHECK(in.width == 12 - 2 + 3 - 1);  // the truncated row: 10 k-mers of 3 spell 12 bases
  const models::AttentionSpec spec = models::parse_attention_spec("", "", 2, 4);
  std::vector<std::string> ids, bases;
  std::vector<std::vector<float>> rows;
  models::attention_rows(*lm.model, tok, path, spec, 2,
                         [&](int64_t i, const std::string& id, const std::string& b, const std::vector<float>& s) {
                           CHECK(i == static_cast<int64_t>(rows.size()));
                           ids.push_back(id), bases.push_back(b), rows.push_back(s);
                         });
  REQUIRE(rows.size() == 3);
  CHECK(bases == std::vector<std::string>{"ACGTACGTAC", "TTGGCCAATTGG", "ACGT"});
  engine::Arena arena;
  std::vector<std::vector<int32_t>> enc;
  for (const auto& s : {"ACGTACGTAC", "TTGGCCAATTGGCCAAGG", "ACGT"}) enc.push_back(tok.encode(s, tokenizer::Input::Sequence).ids);
  const auto want = models::nucleotide_attention(*lm.model, enc, 3, spec, arena);
  for (size_t i = 0; i < 3; ++i) {
    REQUIRE(rows[i].size() == want[i].size());
    for (size_t j = 0; j < want[i].size(); ++j) CHECK(rows[i][j] == doctest::Approx(want[i][j]).epsilon(1e-5));
  }
  CHECK_THROWS_WITH_AS(models::measure_attention_input(tok, write_file("an_attention_short.txt", "ACGT\nAC\n")),
                       doctest::Contains("an_attention_short.txt: line 2: a sequence of 2 bases, fewer than k=3"), Error);
}

TEST_CASE("motif_inputs: positives with their attention rows, the others, background, mismatches named") {
  io::LabelledDataset data;
  data.texts = {"ACGTA", "GGGC", "TTAC", "ACG"};
  data.labels = {1, 0, 1, 0};
  engine::Tensor atten = engine::Tensor::zeros({4, 6});
  for (int64_t i = 0; i < 24; ++i) atten.f32()[i] = static_cast<float>(i);
  const models::MotifInputs in = models::motif_inputs(data, 1, atten, "a.npy", "d.csv");
  CHECK(in.positive == std::vector<std::string>{"ACGTA", "TTAC"});
  CHECK(in.negative == std::vector<std::string>{"GGGC", "ACG"});
  REQUIRE(in.scores.size() == 2);
  CHECK(in.scores[0] == std::vector<float>{0, 1, 2, 3, 4});
  CHECK(in.scores[1] == std::vector<float>{12, 13, 14, 15});
  // 16 bases: A 4, C 4, G 5, T 3.
  CHECK(in.background[0] == doctest::Approx(4.0 / 16));
  CHECK(in.background[1] == doctest::Approx(4.0 / 16));
  CHECK(in.background[2] == doctest::Approx(5.0 / 16));
  CHECK(in.background[3] == doctest::Approx(3.0 / 16));
  CHECK_THROWS_WITH_AS(models::motif_inputs(data, 1, engine::Tensor::zeros({3, 6}), "a.npy", "d.csv"),
                       doctest::Contains("a.npy: has 3 rows but d.csv has 4 sequences"), Error);
  CHECK_THROWS_WITH_AS(models::motif_inputs(data, 1, engine::Tensor::zeros({4, 4}), "a.npy", "d.csv"),
                       doctest::Contains("a.npy: rows hold 4 scores but sequence 1 of d.csv has 5 bases"), Error);
}
