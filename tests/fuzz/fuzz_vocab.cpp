// libFuzzer target for the vocab.txt reader (tokenizer::Vocab::read). The
// input is the file. Errors must surface as dnabert::Error; anything else
// (crash, other exception, leak, UB, hang) is a finding, and so is a
// vocabulary that reads but breaks what vocab.h promises: 5 + 4^k tokens,
// k-mer ids and 2-bit codes inverse to each other, and the same vocabulary
// again from its own tokens.
#include <cstddef>
#include <cstdint>

#include "base/error.h"
#include "tests/fuzz/fuzz_util.h"
#include "tokenizer/vocab.h"

using dnabert::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dnabert::tokenizer;
  static dnabert::fuzz::TempFile file("fuzz_vocab");
  const std::string& path = file.write(dnabert::fuzz::as_text(data, size));
  try {
    const Vocab v = Vocab::read(path);
    check(v.k() >= kMinK && v.k() <= kMaxK && v.size() == kNumSpecial + num_kmers(v.k()));
    for (int32_t id = 0; id < kNumSpecial; ++id) check(v.token(id) == kSpecialTokens[id] && v.kmer_code(id) == -1);
    for (uint32_t code = 0; code < num_kmers(v.k()); ++code) {
      const int32_t id = v.kmer_id(code);
      check(v.kmer_code(id) == code && v.token(id) == kmer_string(code, v.k()) && v.find(v.token(id)) == id);
    }
    check(v.canonical() == (v == Vocab::kmer(v.k())));
    check(Vocab::from_tokens(v.tokens(), path) == v);
  } catch (const dnabert::Error&) {
  }
  return 0;
}
