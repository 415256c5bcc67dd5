// Token lines: each sequence of a file as one line of k-mer token ids (or
// token strings), [CLS] and [SEP] included, written as the ids arrive.
//
// Input (a file, or stdin for "-"; plain or gzip):
//   FASTA/FASTQ  if the first non-blank line starts with '>' or '@'; read in
//                pieces: a record of any length is written as it is read, and
//                only what the tokenizer's max_len keeps is read at all;
//   otherwise    one sequence per line, blank lines skipped; a line with
//                spaces is a DNABERT k-mer sentence ("ACGTAC CGTACG ...").
#pragma once
#include <cstdio>
#include <string>

#include "tokenizer/kmer.h"

namespace dnabert::io {

// Writes the token lines of `path` to `out` with `tokenizer` (its max_len,
// drop_last and lowercase_unknown apply). Throws dnabert::Error naming the
// file, line and column of a character that is not a nucleotide letter, or a
// failed write.
void write_token_lines(const std::string& path, const tokenizer::KmerTokenizer& tokenizer, bool as_tokens,
                       std::FILE* out);

}  // namespace dnabert::io
