#include "io/data/batch.h"

#include <algorithm>

#include "base/error.h"
#include "tokenizer/vocab.h"

namespace dnabert::io {

void pad(std::span<const Row> rows, Batch& out) {
  out.B = rows.size();
  out.T = 0;
  out.real_tokens = 0;
  for (const Row& r : rows) {
    if (!r.token_types.empty() && r.token_types.size() != r.ids.size())
      throw Error("pad: a row has " + std::to_string(r.ids.size()) + " ids but " +
                  std::to_string(r.token_types.size()) + " token types");
    out.T = std::max(out.T, r.ids.size());
    out.real_tokens += r.ids.size();
  }
  // Zero-filled first, so padding is [PAD]=0, token type 0, mask 0.
  out.input_ids.assign(out.B * out.T, tokenizer::kPadId);
  out.token_types.assign(out.B * out.T, 0);
  out.attention_mask.assign(out.B * out.T, 0);
  out.labels.clear();
  out.example_indices.clear();
  for (size_t row = 0; row < out.B; ++row) {
    const Row& r = rows[row];
    const auto offset = static_cast<ptrdiff_t>(row * out.T);
    std::copy(r.ids.begin(), r.ids.end(), out.input_ids.begin() + offset);
    std::copy(r.token_types.begin(), r.token_types.end(), out.token_types.begin() + offset);
    std::fill_n(out.attention_mask.begin() + offset, r.ids.size(), 1);
  }
}

}  // namespace dnabert::io
