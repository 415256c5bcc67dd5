#include "io/data/dataset.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_map>

#include "base/error.h"
#include "io/formats/json_read.h"
#include "io/formats/fasta.h"

namespace dnabert::io {

// ---- TextLineReader -------------------------------------------------------

struct TextLineReader::Impl {
  std::string path;
  gzFile file = nullptr;
  std::vector<char> buffer = std::vector<char>(1 << 16);
  size_t pos = 0, len = 0;
  bool eof = false;
  uint64_t line = 0;

  ~Impl() {
    if (file) gzclose(file);
  }
  bool fill() {
    if (eof) return false;
    int n = gzread(file, buffer.data(), static_cast<unsigned>(buffer.size()));
    // A truncated stream ends with n == 0 and Z_BUF_ERROR, so check at the end too.
    int code = Z_OK;
    const char* msg = gzerror(file, &code);
    if (n < 0 || (code != Z_OK && code != Z_STREAM_END))
      throw Error(path + ": line " + std::to_string(line + 1) + ": " +
                  (code == Z_ERRNO ? std::string(std::strerror(errno))
                                   : "corrupt or truncated gzip data (" + std::string(msg) + ")"));
    if (n == 0) eof = true;
    pos = 0;
    len = static_cast<size_t>(n);
    return n > 0;
  }
};

TextLineReader::TextLineReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path == "-" ? "<stdin>" : path;
  // zlib reads plain files transparently, so one path serves both.
  impl_->file = path == "-" ? gzdopen(::dup(STDIN_FILENO), "rb") : gzopen(path.c_str(), "rb");
  if (!impl_->file) throw Error("cannot open '" + path + "': " + std::strerror(errno));
  gzbuffer(impl_->file, 1 << 17);
}

TextLineReader::~TextLineReader() = default;

bool TextLineReader::next(std::string& line) {
  Impl& s = *impl_;
  line.clear();
  bool any = false;
  while (true) {
    if (s.pos == s.len && !s.fill()) {
      if (!any) return false;
      break;
    }
    any = true;
    const char* start = s.buffer.data() + s.pos;
    const auto* newline = static_cast<const char*>(std::memchr(start, '\n', s.len - s.pos));
    if (newline) {
      line.append(start, static_cast<size_t>(newline - start));
      s.pos += static_cast<size_t>(newline - start) + 1;
      break;
    }
    line.append(start, s.len - s.pos);
    s.pos = s.len;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  // A UTF-8 byte order mark, as some Windows editors write, carries no content.
  if (s.line == 0 && line.rfind("\xef\xbb\xbf", 0) == 0) line.erase(0, 3);
  ++s.line;
  return true;
}

size_t TextLineReader::read_rest(char* out, size_t n) {
  Impl& s = *impl_;
  if (s.pos == s.len && !s.fill()) return 0;
  const size_t k = std::min(n, s.len - s.pos);
  std::memcpy(out, s.buffer.data() + s.pos, k);
  s.pos += k;
  return k;
}

uint64_t TextLineReader::line_number() const { return impl_->line; }
const std::string& TextLineReader::path() const { return impl_->path; }

// ---- helpers --------------------------------------------------------------

namespace {

// Text from the file, shortened, with bytes that are not printable ASCII as
// \xNN (io::show_char), so a binary file does not garble the terminal.
std::string quote_text(std::string_view s) {
  constexpr size_t kShown = 60;
  std::string out = "'";
  for (size_t i = 0; i < std::min(s.size(), kShown); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out += c >= 0x20 && c < 0x7f ? std::string(1, s[i]) : show_char(c).substr(1, 4);
  }
  return out + (s.size() > kShown ? "...'" : "'");
}

// io::show_char, except that a blank is shown as one: it is what a sequence
// column most often holds by mistake.
std::string show_byte(char c) { return c == ' ' ? "' '" : show_char(static_cast<unsigned char>(c)); }

std::string at(const TextLineReader& r) { return r.path() + ": line " + std::to_string(r.line_number()) + ": "; }

// True for well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or code
// points above U+10FFFF). Labels must be: label_map.json holds them, and JSON
// text cannot hold anything else.
bool is_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t more = 0;                  // continuation bytes after the lead byte
    unsigned char lo = 0x80, hi = 0xbf;  // range of the first continuation byte
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      more = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      more = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
      more = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
      return false;
    }
    if (s.size() - i - 1 < more) return false;
    for (size_t k = 1; k <= more; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf)) return false;
    }
    i += more + 1;
  }
  return true;
}

bool is_blank(std::string_view s) { return s.find_first_not_of(" \t") == std::string_view::npos; }

std::string_view trim(std::string_view s) {
  size_t b = s.find_first_not_of(' ');
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(' ') - b + 1);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// IUPAC nucleotide letters in either case; all but ACGT become [UNK] k-mers.
const std::array<bool, 256>& nucleotide_letters() {
  static const std::array<bool, 256> table = [] {
    std::array<bool, 256> t{};
    for (char c : std::string_view("ACGTNRYKMSWBDHV")) {
      t[static_cast<unsigned char>(c)] = true;
      t[static_cast<unsigned char>(std::tolower(c))] = true;
    }
    return t;
  }();
  return table;
}

// Checks one sequence field; `column` is the 1-based column of its first character.
void check_sequence(std::string_view seq, const LabelledDataset& ds, const TextLineReader& r, size_t column) {
  const auto& letters = nucleotide_letters();
  const bool sentence = ds.input == tokenizer::Input::Sentence;
  for (size_t i = 0; i < seq.size(); ++i) {
    char c = seq[i];
    if (!(letters[static_cast<unsigned char>(c)] || (sentence && c == ' ')))
      throw Error(at(r) + "invalid character " + show_byte(c) + " in sequence at column " + std::to_string(column + i));
  }
  if (!sentence) return;
  for (size_t pos = 0; pos < seq.size();) {
    if (seq[pos] == ' ') {
      ++pos;
      continue;
    }
    size_t end = std::min(seq.find(' ', pos), seq.size());
    if (end - pos != static_cast<size_t>(ds.sentence_k))
      throw Error(at(r) + "k-mer " + quote_text(seq.substr(pos, end - pos)) + " has length " +
                  std::to_string(end - pos) + ", but the first row has " + std::to_string(ds.sentence_k) + "-mers");
    pos = end;
  }
}

std::optional<DatasetFormat> format_of_first_line(std::string_view line) {
  std::string_view s = trim(line);
  if (!s.empty() && (s[0] == '>' || s[0] == '@')) return DatasetFormat::Fasta;
  if (line.find('\t') != std::string_view::npos) return DatasetFormat::DnabertTsv;
  if (line.find(',') != std::string_view::npos) return DatasetFormat::GueCsv;
  return std::nullopt;
}

const char* kHeaderHelp = "expected a header 'sequence<TAB>label' (DNABERT TSV) or 'sequence,label' (GUE CSV)";

// Maps the labels read (raw strings, in example order) to ids.
void assign_labels(LabelledDataset& ds, const std::vector<std::string>& raw) {
  ds.label_map = LabelMap::from_labels(raw);
  std::unordered_map<std::string, int32_t> id_of;
  for (size_t i = 0; i < ds.label_map.size(); ++i) id_of.emplace(ds.label_map.names()[i], static_cast<int32_t>(i));
  ds.labels.reserve(raw.size());
  for (const auto& label : raw) ds.labels.push_back(id_of.at(label));
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error("cannot write '" + tmp + "': " + std::strerror(errno));
  bool ok =
      std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  int err = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) throw Error("cannot write '" + tmp + "': " + std::strerror(err ? err : errno));
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw Error("cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(errno));
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

bool is_nucleotide_letter(char c) { return nucleotide_letters()[static_cast<unsigned char>(c)]; }

std::unique_ptr<FastaReader> continue_as_fasta(std::unique_ptr<TextLineReader> lines, const std::string& first_line,
                                               FastaOptions options) {
  // The blank lines before the first keep the reader's line numbers true.
  std::string head(lines->line_number() - 1, '\n');
  head += first_line + '\n';
  std::shared_ptr<TextLineReader> rest(std::move(lines));
  const std::string name = rest->path();
  return std::make_unique<FastaReader>(
      StreamInput{name, std::move(head), [rest](char* out, size_t n) { return rest->read_rest(out, n); }}, options);
}

const char* format_name(DatasetFormat format) {
  switch (format) {
    case DatasetFormat::DnabertTsv:
      return "DNABERT TSV";
    case DatasetFormat::GueCsv:
      return "GUE CSV";
    case DatasetFormat::Fasta:
      return "FASTA";
  }
  return "?";
}

DatasetFormat detect_format(const std::string& path) {
  TextLineReader r(path);
  std::string line;
  while (r.next(line))
    if (!is_blank(line)) {
      if (auto f = format_of_first_line(line)) return *f;
      throw Error(at(r) + "unknown format: " + kHeaderHelp + ", or FASTA; found " + quote_text(line));
    }
  throw Error(path + ": empty file");
}

// ---- LabelMap ---------------------------------------------------------------

LabelMap LabelMap::from_labels(const std::vector<std::string>& labels) {
  std::set<std::string> distinct(labels.begin(), labels.end());
  std::vector<std::string> names(distinct.begin(), distinct.end());
  const size_t n = names.size();
  auto number = [n](const std::string& s) -> std::optional<size_t> {
    if (s.empty() || s.size() > 9 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
    if (!std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
    size_t v = std::stoul(s);
    return v < n ? std::optional<size_t>(v) : std::nullopt;
  };
  // Distinct numbers all below n are exactly 0..n-1.
  if (std::all_of(names.begin(), names.end(), [&](const std::string& s) { return number(s).has_value(); })) {
    std::vector<std::string> by_number(n);
    for (auto& s : names) by_number[*number(s)] = s;
    names = std::move(by_number);
  }
  return LabelMap(std::move(names));
}

const std::string& LabelMap::name(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= names_.size())
    throw Error("label id " + std::to_string(id) + " is outside the label map (" + std::to_string(names_.size()) +
                " labels)");
  return names_[static_cast<size_t>(id)];
}

std::optional<int32_t> LabelMap::find(std::string_view label) const {
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == label) return static_cast<int32_t>(i);
  return std::nullopt;
}

std::string LabelMap::to_json() const {
  nlohmann::ordered_json j;
  j["num_labels"] = names_.size();
  j["id2label"] = nlohmann::ordered_json::object();
  j["label2id"] = nlohmann::ordered_json::object();
  for (size_t i = 0; i < names_.size(); ++i) {
    j["id2label"][std::to_string(i)] = names_[i];
    j["label2id"][names_[i]] = i;
  }
  return j.dump(2) + "\n";
}

LabelMap LabelMap::from_json(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(source + ": invalid JSON: " + json_error_text(e));
  }
  if (!j.is_object() || !j.contains("id2label") || !j["id2label"].is_object())
    throw Error(source + ": expected an object with an \"id2label\" object");
  const auto& id2label = j["id2label"];
  std::vector<std::string> names(id2label.size());
  std::vector<bool> seen(names.size(), false);
  for (const auto& [key, value] : id2label.items()) {
    size_t id = names.size();
    auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    if (!key.empty() && key.size() < 10 && std::all_of(key.begin(), key.end(), is_digit)) id = std::stoul(key);
    if (id >= names.size() || seen[id])
      throw Error(source + ": id2label key \"" + key + "\": ids must be 0.." + std::to_string(names.size() - 1) +
                  ", each once");
    if (!value.is_string() || value.get<std::string>().empty())
      throw Error(source + ": id2label \"" + key + "\" must be a non-empty string");
    names[id] = value.get<std::string>();
    seen[id] = true;
  }
  if (std::set<std::string>(names.begin(), names.end()).size() != names.size())
    throw Error(source + ": id2label has a label twice");
  LabelMap map(std::move(names));
  if (j.contains("num_labels") && j["num_labels"] != map.size())
    throw Error(source + ": num_labels " + j["num_labels"].dump() + " but id2label has " + std::to_string(map.size()));
  if (j.contains("label2id")) {
    const auto& label2id = j["label2id"];
    bool consistent = label2id.is_object() && label2id.size() == map.size();
    for (size_t i = 0; consistent && i < map.size(); ++i)
      consistent = label2id.contains(map.names_[i]) && label2id[map.names_[i]] == i;
    if (!consistent) throw Error(source + ": label2id is not the inverse of id2label");
  }
  return map;
}

LabelMap LabelMap::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open label map '" + path + "': " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  return from_json(text.str(), path);
}

void LabelMap::save(const std::string& path) const { write_file_atomically(path, to_json()); }

// ---- readers ----------------------------------------------------------------

namespace {

// read_table, or nothing if the file is FASTA; the file is opened once.
std::optional<LabelledDataset> read_table_unless_fasta(const std::string& path, const DatasetOptions& options) {
  TextLineReader r(path);
  std::string line;
  bool found = false;
  while (!found && r.next(line)) found = !is_blank(line);
  if (!found) throw Error(path + ": empty file");
  auto format = format_of_first_line(line);
  if (format == DatasetFormat::Fasta) return std::nullopt;
  const char sep = format == DatasetFormat::DnabertTsv ? '\t' : ',';
  const char* sep_name = sep == '\t' ? "<TAB>" : ",";
  // Header: 'sequence<sep>label', or 'sequence1<sep>sequence2<sep>label' for pair inputs.
  std::vector<std::string> header;
  for (size_t start = 0;;) {
    size_t end = line.find(sep, start);
    header.push_back(lower(trim(std::string_view(line).substr(start, end == std::string::npos ? end : end - start))));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  const bool pair = header.size() == 3 && header[0] == "sequence1" && header[1] == "sequence2" && header[2] == "label";
  if (!format || (!pair && (header.size() != 2 || header[0] != "sequence" || header[1] != "label")))
    throw Error(at(r) + "missing header: " +
                (format ? "expected 'sequence" + std::string(sep_name) + "label' (or 'sequence1" + sep_name +
                              "sequence2" + sep_name + "label' for pairs)"
                        : std::string(kHeaderHelp)) +
                ", found " + quote_text(line));
  const size_t ncols = pair ? 3 : 2;
  const std::string columns = pair ? "'sequence1" + std::string(sep_name) + "sequence2" + sep_name + "label'"
                                   : "'sequence" + std::string(sep_name) + "label'";
  size_t cut = 0;

  LabelledDataset ds;
  ds.format = *format;
  std::vector<std::string> raw_labels;
  while (r.next(line)) {
    if (is_blank(line)) continue;
    const size_t found = static_cast<size_t>(std::count(line.begin(), line.end(), sep)) + 1;
    if (found == 1) throw Error(at(r) + "missing label: expected " + std::to_string(ncols) + " columns " + columns + ", found 1");
    if (found != ncols)
      throw Error(at(r) + "expected " + std::to_string(ncols) + " columns " + columns + ", found " + std::to_string(found));
    cut = line.rfind(sep);
    std::string_view full(line);
    std::string_view label = trim(full.substr(cut + 1)), first = full.substr(0, cut), second;
    if (pair) {
      const size_t mid = line.find(sep);
      second = trim(full.substr(mid + 1, cut - mid - 1));
      first = full.substr(0, mid);
    }
    std::string_view seq = trim(first);
    if (seq.empty() || (pair && second.empty())) throw Error(at(r) + "empty sequence");
    if (label.empty()) throw Error(at(r) + "missing label");
    if (!is_utf8(label)) throw Error(at(r) + "label " + quote_text(label) + " is not UTF-8 text");
    if (ds.texts.empty()) {
      ds.input = tokenizer::detect_input(seq);
      if (ds.input == tokenizer::Input::Sentence) {
        ds.sentence_k = static_cast<int>(seq.find(' '));
        if (ds.sentence_k < tokenizer::kMinK || ds.sentence_k > tokenizer::kMaxK)
          throw Error(at(r) + "k-mer " + quote_text(seq.substr(0, seq.find(' '))) + " has length " +
                      std::to_string(ds.sentence_k) + ", outside " + std::to_string(tokenizer::kMinK) + ".." +
                      std::to_string(tokenizer::kMaxK));
      }
    }
    check_sequence(seq, ds, r, static_cast<size_t>(seq.data() - full.data()) + 1);
    ds.texts.emplace_back(seq);
    if (pair) {
      check_sequence(second, ds, r, static_cast<size_t>(second.data() - full.data()) + 1);
      ds.texts_b.emplace_back(second);
    }
    if (options.label_map) {
      auto id = options.label_map->find(label);
      if (!id) throw Error(at(r) + "label " + quote_text(label) + " is not in the label map");
      ds.labels.push_back(*id);
    } else {
      raw_labels.emplace_back(label);
    }
  }
  if (ds.texts.empty()) throw Error(path + ": no examples after the header");
  if (options.label_map)
    ds.label_map = *options.label_map;
  else
    assign_labels(ds, raw_labels);
  return ds;
}

}  // namespace

LabelledDataset read_table(const std::string& path, const DatasetOptions& options) {
  if (auto ds = read_table_unless_fasta(path, options)) return std::move(*ds);
  throw Error(path + ": this is FASTA, which has no label column; give it as " + path + ":LABEL");
}

LabelledFasta parse_labelled_fasta(const std::string& spec) {
  size_t colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size())
    throw UsageError("'" + spec + "': expected FASTA:LABEL, e.g. pos.fa.gz:1");
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

LabelledDataset read_labelled_fasta(const std::vector<LabelledFasta>& files, const DatasetOptions& options) {
  LabelledDataset ds;
  ds.format = DatasetFormat::Fasta;
  std::vector<std::string> raw_labels;
  for (const auto& file : files) {
    std::optional<int32_t> id;
    if (!is_utf8(file.label)) throw Error(file.path + ": label " + quote_text(file.label) + " is not UTF-8 text");
    if (options.label_map && !(id = options.label_map->find(file.label)))
      throw Error(file.path + ": label " + quote_text(file.label) + " is not in the label map");
    FastaReader reader(file.path);
    SequenceRecord record;
    std::string sequence;
    size_t before = ds.texts.size();
    while (reader.next(record, sequence)) {
      if (sequence.empty())
        throw Error(file.path + ": line " + std::to_string(record.line) + ": record '" + record.name +
                    "' has an empty sequence");
      ds.texts.push_back(sequence);
      if (id)
        ds.labels.push_back(*id);
      else
        raw_labels.push_back(file.label);
    }
    if (ds.texts.size() == before) throw Error(file.path + ": no sequences");
  }
  if (ds.texts.empty()) throw Error("no FASTA files given");
  if (options.label_map)
    ds.label_map = *options.label_map;
  else
    assign_labels(ds, raw_labels);
  return ds;
}

LabelledDataset read_dataset(const std::vector<std::string>& inputs, const DatasetOptions& options) {
  if (inputs.empty()) throw UsageError("no dataset given");
  if (inputs.size() == 1 && file_exists(inputs[0])) {
    if (auto ds = read_table_unless_fasta(inputs[0], options)) return std::move(*ds);
    throw UsageError("'" + inputs[0] + "' is FASTA: give its label as " + inputs[0] + ":LABEL");
  }
  std::vector<LabelledFasta> files;
  for (const auto& input : inputs) {
    if (file_exists(input)) {
      if (detect_format(input) == DatasetFormat::Fasta)
        throw UsageError("'" + input + "' is FASTA: give its label as " + input + ":LABEL");
      throw UsageError("'" + input + "': give one table (TSV/CSV), or FASTA files as FILE:LABEL");
    }
    if (input.find(':') == std::string::npos)
      throw Error("cannot open '" + input + "': " + std::strerror(ENOENT));
    files.push_back(parse_labelled_fasta(input));
  }
  return read_labelled_fasta(files, options);
}

std::vector<std::string> dataset_files(const std::string& spec) {
  std::vector<std::string> files;
  std::istringstream in(spec);
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t colon = item.rfind(':');
    files.push_back(file_exists(item) || colon == std::string::npos ? item : item.substr(0, colon));
  }
  return files;
}

}  // namespace dnabert::io
