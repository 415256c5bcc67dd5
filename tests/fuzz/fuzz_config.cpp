// libFuzzer target for the config.json reader (BertConfig::load, through
// io::JsonFields). The input is the file. Errors must surface as
// dnabert::Error; anything else (crash, other exception, leak, UB, hang, a
// huge allocation) is a finding, and so is a config that loads but fails its
// own validation or does not survive being written and read back.
#include <cstddef>
#include <cstdint>

#include "base/error.h"
#include "models/network/config.h"
#include "tests/fuzz/fuzz_util.h"

using dnabert::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using dnabert::models::BertConfig;
  static dnabert::fuzz::TempFile file("fuzz_config");
  const std::string& path = file.write(dnabert::fuzz::as_text(data, size));
  BertConfig config;
  try {
    config = BertConfig::load(path);
  } catch (const dnabert::Error&) {
    return 0;
  }
  // A loaded config is a usable one, and save() then load() gives it back.
  try {
    config.validate(path);
    const nlohmann::json written = nlohmann::json::parse(config.to_json().dump(2));
    check(BertConfig::from_json(written, path).to_json() == config.to_json());
  } catch (const dnabert::Error&) {
    dnabert::fuzz::violated();
  }
  check(config.head_dim() > 0);
  return 0;
}
