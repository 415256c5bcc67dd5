#include "io/data/vcf.h"

#include <cctype>
#include <functional>

#include "base/error.h"
#include "io/data/dataset.h"

namespace dnabert::io {

namespace {

// Calls `row(fields, where)` for every data line of a tab-separated file
// (at most `max_fields` fields; the last keeps any further tabs).
void for_each_row(const std::string& path, size_t max_fields,
                  const std::function<void(const std::vector<std::string>&, const std::string&, uint64_t)>& row) {
  TextLineReader reader(path);
  std::string line;
  std::vector<std::string> cols;
  while (reader.next(line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    cols.clear();
    size_t start = 0;
    for (;;) {
      const size_t end = cols.size() + 1 < max_fields ? line.find('\t', start) : std::string::npos;
      cols.push_back(line.substr(start, end == std::string::npos ? std::string::npos : end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    row(cols, reader.path() + ": line " + std::to_string(reader.line_number()) + ": ", reader.line_number());
  }
}

std::string checked_bases(std::string allele, const std::string& what, const std::string& where) {
  const std::string as_written = allele;
  for (char& c : allele) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (c != 'A' && c != 'C' && c != 'G' && c != 'T' && c != 'N')
      throw Error(where + what + " '" + as_written + "' holds a character other than A, C, G, T, N");
  }
  return allele;
}

bool is_count(const std::string& text) {
  bool ok = !text.empty() && text.size() < 18;
  for (char c : text) ok = ok && std::isdigit(static_cast<unsigned char>(c));
  return ok;
}

int64_t parse_count(const std::string& text, const std::string& what, const std::string& where) {
  if (!is_count(text)) throw Error(where + what + " '" + text + "' is not a non-negative integer");
  return std::stoll(text);
}

bool is_symbolic(const std::string& allele) {
  return allele == "*" || allele == "." || allele.find_first_of("<>[]") != std::string::npos;
}

}  // namespace

VcfContents read_vcf(const std::string& path) {
  VcfContents out;
  for_each_row(path, 6, [&](const std::vector<std::string>& cols, const std::string& where, uint64_t line) {
    if (cols.size() < 5)
      throw Error(where + "expected at least 5 tab-separated columns (CHROM POS ID REF ALT), got " +
                  std::to_string(cols.size()));
    const int64_t pos = is_count(cols[1]) ? std::stoll(cols[1]) : -1;
    if (pos < 1) throw Error(where + "POS '" + cols[1] + "' is not a positive integer");
    if (cols[3].empty()) throw Error(where + "empty REF allele");
    const std::string ref = checked_bases(cols[3], "REF allele", where);
    size_t a = 0;
    while (a <= cols[4].size()) {
      size_t end = cols[4].find(',', a);
      if (end == std::string::npos) end = cols[4].size();
      const std::string alt = cols[4].substr(a, end - a);
      if (is_symbolic(alt))
        ++out.symbolic_skipped;
      else if (alt.empty())
        throw Error(where + "empty ALT allele");
      else
        out.records.push_back({cols[0], pos, cols[2], ref, checked_bases(alt, "ALT allele", where), line});
      a = end + 1;
    }
  });
  return out;
}

std::vector<Mutation> read_mutations(const std::string& path) {
  std::vector<Mutation> out;
  for_each_row(path, 5, [&](const std::vector<std::string>& cols, const std::string& where, uint64_t line) {
    // A deletion keeps its tab before the empty allele: a line of 3 columns is
    // more often a cut-off line than a deletion, and guessing would score the wrong mutation.
    if (cols.size() != 4)
      throw Error(where + "expected 4 tab-separated columns (index, start, end, allele; a deletion has an empty "
                          "allele after the last tab), got " +
                  std::to_string(cols.size()));
    Mutation m;
    m.index = static_cast<size_t>(parse_count(cols[0], "index", where));
    m.start = parse_count(cols[1], "start", where);
    m.end = parse_count(cols[2], "end", where);
    if (m.end < m.start) throw Error(where + "end " + cols[2] + " is before start " + cols[1]);
    m.allele = checked_bases(cols[3], "allele", where);
    m.line = line;
    out.push_back(std::move(m));
  });
  return out;
}

}  // namespace dnabert::io
