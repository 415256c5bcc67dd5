#include "models/training/resume_state.h"

#include "base/error.h"
#include "io/formats/json_read.h"

namespace dnabert::models {

void check_resume_state(const nlohmann::json& state, const std::string& file, int64_t steps, int vocab_size) {
  const io::JsonFields f(state, file);
  f.string("fingerprint");
  const int64_t step = f.integer("step", 0, INT64_MAX);
  if (step > steps)
    throw UsageError(file + ": the checkpoint is at step " + std::to_string(step) + ", past --steps " +
                     std::to_string(steps) + "; resume with --steps " + std::to_string(step) + " or more");
  f.integers("unigram_counts", static_cast<size_t>(vocab_size), 0, INT64_MAX);
  const io::JsonFields sampler = f.object("sampler");
  sampler.string("fingerprint");
  for (const char* key : {"samples", "block", "position"}) sampler.unsigned_integer(key);
  const io::JsonFields cursor = sampler.object("cursor");
  for (const char* key : {"epoch", "file", "record", "offset", "rng_counter"}) cursor.unsigned_integer(key);
}

}  // namespace dnabert::models
