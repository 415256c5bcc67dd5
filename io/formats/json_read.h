// Typed, range-checked reads of JSON values from files we did not write
// ourselves in this process (config.json, trainer_state.json, ...). A value of
// the wrong type, out of range, not finite or missing is a dnabert::Error that
// names the file and the field ("ckpt/trainer_state.json: field
// 'sampler.cursor.file': expected an integer in 0..3, got -1"), never a raw
// nlohmann exception, a wrapped integer or a silently truncated fraction.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace dnabert::io {

// nlohmann's message without its "[json.exception.type.N] " prefix, for errors users read.
std::string json_error_text(const std::exception& e);

class JsonFields {
 public:
  // `j` must be an object; `file` names it in errors, `prefix` is the dotted
  // path of `j` inside the file ("" for the top level).
  JsonFields(const nlohmann::json& j, std::string file, std::string prefix = "");

  bool has(const std::string& key) const;
  const nlohmann::json& raw(const std::string& key) const;  // must exist
  // Integers: a JSON integer, or a float with an integral value, in [lo, hi].
  int64_t integer(const std::string& key, int64_t lo, int64_t hi) const;
  uint64_t unsigned_integer(const std::string& key, uint64_t hi = UINT64_MAX) const;
  // A finite number in [lo, hi].
  double number(const std::string& key, double lo, double hi) const;
  std::string string(const std::string& key) const;
  JsonFields object(const std::string& key) const;
  // An array of exactly `length` integers, each in [lo, hi].
  std::vector<int64_t> integers(const std::string& key, size_t length, int64_t lo, int64_t hi) const;

  // "file: field 'prefix.key'" for messages.
  std::string where(const std::string& key) const;
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;

 private:
  const nlohmann::json& j_;
  std::string file_, prefix_;
};

}  // namespace dnabert::io
