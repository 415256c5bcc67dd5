#include "io/data/sequence_source.h"

#include "base/error.h"
#include "io/data/dataset.h"
#include "io/formats/fasta.h"

namespace dnabert::io {

struct SequenceSource::Impl {
  enum class Kind { Fasta, Csv, Tsv, Lines } kind = Kind::Lines;
  std::string path;
  std::unique_ptr<FastaReader> fasta;
  std::unique_ptr<TextLineReader> lines;
  std::string pending;  // first line, already read while detecting the format
  bool has_pending = false;
  uint64_t count = 0;
  size_t min_bases = 0;  // require_kmer's k
  size_t piece = 0;      // set_piece_bases; 0 = whole
  // The current sequence's unread rest: in the FASTA reader, or of `line`.
  bool open = false;
  std::string line;
  size_t line_at = 0;
};

SequenceSource::SequenceSource(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  auto probe = std::make_unique<TextLineReader>(path);
  std::string first;
  while (probe->next(first) && first.find_first_not_of(" \t\r") == std::string::npos) {
  }
  if (!first.empty() && first.back() == '\r') first.pop_back();
  if (!first.empty() && (first[0] == '>' || first[0] == '@')) {
    impl_->kind = Impl::Kind::Fasta;
    impl_->fasta = continue_as_fasta(std::move(probe), first);
    return;
  }
  impl_->lines = std::move(probe);
  if (first.rfind("sequence,", 0) == 0 || first == "sequence") {
    impl_->kind = Impl::Kind::Csv;
  } else if (first.rfind("sequence\t", 0) == 0) {
    impl_->kind = Impl::Kind::Tsv;
  } else {
    impl_->kind = Impl::Kind::Lines;
    impl_->pending = first;
    impl_->has_pending = !first.empty();
  }
}

SequenceSource::~SequenceSource() = default;

const char* SequenceSource::format() const {
  switch (impl_->kind) {
    case Impl::Kind::Fasta: return "FASTA";
    case Impl::Kind::Csv: return "CSV";
    case Impl::Kind::Tsv: return "TSV";
    case Impl::Kind::Lines: break;
  }
  return "lines";
}

bool SequenceSource::next(SourceItem& item) {
  Impl& s = *impl_;
  if (s.kind == Impl::Kind::Fasta) {
    SequenceRecord rec;
    s.open = false;
    if (!s.fasta->next_record(rec)) return false;
    s.open = true;
    item.text.clear();
    item.partial = false;
    if (!more(item) || !item.partial) s.open = false;
    if (!item.partial && item.text.size() < s.min_bases)
      throw Error(s.path + ": line " + std::to_string(rec.line) + ": record " + rec.name + " has " +
                  std::to_string(item.text.size()) + " bases, fewer than k=" + std::to_string(s.min_bases) +
                  ", so it has no k-mer");
    item.id = rec.name;
    item.input = tokenizer::Input::Sequence;
    ++s.count;
    return true;
  }
  std::string line;
  for (;;) {
    if (s.has_pending) {
      line = std::move(s.pending);
      s.has_pending = false;
    } else if (!s.lines->next(line)) {
      return false;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) break;
  }
  const uint64_t lineno = s.lines->line_number();
  std::string& text = s.line;
  text = std::move(line);
  if (s.kind == Impl::Kind::Csv || s.kind == Impl::Kind::Tsv)
    text.resize(std::min(text.size(), text.find(s.kind == Impl::Kind::Csv ? ',' : '\t')));
  for (char c : text)
    if (c != ' ' && !is_nucleotide_letter(c))
      throw Error(s.path + ": line " + std::to_string(lineno) + ": invalid character " +
                  show_char(static_cast<unsigned char>(c)) + " in a sequence");
  if (text.empty()) throw Error(s.path + ": line " + std::to_string(lineno) + ": empty sequence");
  ++s.count;
  item.id = (s.kind == Impl::Kind::Lines ? "line" : "row") + std::to_string(s.count);
  item.input = tokenizer::detect_input(text);
  item.partial = false;
  s.line_at = 0;
  s.open = true;
  if (item.input == tokenizer::Input::Sentence || s.piece == 0) {
    item.text = std::move(text);  // a k-mer sentence is never cut
    s.open = false;
  } else {
    more(item);
  }
  if (item.input == tokenizer::Input::Sequence && item.text.size() < s.min_bases)
    throw Error(s.path + ": line " + std::to_string(lineno) + ": a sequence of " + std::to_string(item.text.size()) +
                " bases, fewer than k=" + std::to_string(s.min_bases) + ", so it has no k-mer");
  return true;
}

bool SequenceSource::more(SourceItem& item) {
  Impl& s = *impl_;
  item.text.clear();
  item.partial = false;
  if (!s.open) return false;
  const size_t want = s.piece ? s.piece : SIZE_MAX;
  if (s.kind == Impl::Kind::Fasta) {
    char buf[4096];
    while (item.text.size() < want) {
      const size_t got = s.fasta->read_bases(buf, std::min(sizeof buf, want - item.text.size()));
      if (got == 0) break;
      item.text.append(buf, got);
    }
  } else {
    item.text.assign(s.line, s.line_at, want);
    s.line_at += item.text.size();
  }
  item.partial = s.piece != 0 && item.text.size() == want;
  if (item.text.empty()) s.open = false;
  return !item.text.empty();
}

void SequenceSource::set_piece_bases(size_t bases) { impl_->piece = bases; }

void SequenceSource::require_kmer(int k) { impl_->min_bases = k > 0 ? static_cast<size_t>(k) : 0; }

}  // namespace dnabert::io
