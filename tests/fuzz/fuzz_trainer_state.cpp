// libFuzzer target for the --resume checks of trainer_state.json
// (models/training/resume_state.h). Byte 0 sets what the run expects: vocab_size
// 1..8 (bits 0-2) and --steps 0..31 (bits 3-7); the rest is the file, parsed
// as io::read_checkpoint parses it. Errors must surface as dnabert::Error;
// anything else (crash, other exception, leak, UB, hang) is a finding, and so
// is a state that passes the checks but then fails the reads pretraining
// makes (models/training/pretrain.cpp), which do not expect to throw.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/error.h"
#include "io/data/sampler.h"
#include "models/training/resume_state.h"
#include "tests/fuzz/fuzz_util.h"

using dnabert::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int vocab_size = 1 + (data[0] & 7);
  const int64_t steps = data[0] >> 3;
  nlohmann::json state;
  try {
    state = nlohmann::json::parse(dnabert::fuzz::as_text(data + 1, size - 1));
  } catch (const nlohmann::json::exception&) {
    return 0;  // io::read_checkpoint reports these as dnabert::Error
  }
  try {
    dnabert::models::check_resume_state(state, "trainer_state.json", steps, vocab_size);
  } catch (const dnabert::Error&) {
    return 0;
  }
  try {
    // The reads of pretrain() and read_resume_state(), in their order: the
    // lead rank sends the state as text, the others parse it back.
    nlohmann::json sent = state;
    sent["resumed_from"] = "checkpoint-1";
    const nlohmann::json st = nlohmann::json::parse(sent.dump());
    st.value("fingerprint", std::string());
    const int64_t step = st.at("step").get<int64_t>();
    check(step >= 0 && step <= steps);
    const auto unigram = st.at("unigram_counts").get<std::vector<int64_t>>();
    check(unigram.size() == static_cast<size_t>(vocab_size));
    for (int64_t count : unigram) check(count >= 0);
    const auto sampler = st.at("sampler").get<dnabert::io::SamplerState>();
    check(sampler.fingerprint == state["sampler"]["fingerprint"].get<std::string>());
    st.at("resumed_from").get<std::string>();
  } catch (const std::exception&) {
    dnabert::fuzz::violated();
  }
  return 0;
}
