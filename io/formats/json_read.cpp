#include "io/formats/json_read.h"

#include <cmath>
#include <sstream>

#include "base/error.h"

namespace dnabert::io {

namespace {

// A short rendering of a value for messages (long arrays and strings cut).
std::string shown(const nlohmann::json& v) {
  std::string s = v.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

const char* type_name(const nlohmann::json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number_float()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

// The exact integer held by `v`, or false. Unsigned values above INT64_MAX and
// floats with a fraction (or beyond ±2^63) are not integers here.
bool exact_integer(const nlohmann::json& v, int64_t& out) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return false;
    out = static_cast<int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    out = v.get<int64_t>();
    return true;
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) >= 9.2e18) return false;
    out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

}  // namespace

std::string json_error_text(const std::exception& e) {
  std::string s = e.what();
  if (s.rfind("[json.exception.", 0) == 0) {
    size_t end = s.find("] ");
    if (end != std::string::npos) s = s.substr(end + 2);
  }
  return s;
}

JsonFields::JsonFields(const nlohmann::json& j, std::string file, std::string prefix)
    : j_(j), file_(std::move(file)), prefix_(std::move(prefix)) {
  if (!j_.is_object()) {
    if (prefix_.empty()) throw Error(file_ + ": expected a JSON object, got " + type_name(j_));
    throw Error(file_ + ": field '" + prefix_ + "': expected an object, got " + type_name(j_));
  }
}

std::string JsonFields::where(const std::string& key) const {
  return file_ + ": field '" + (prefix_.empty() ? key : prefix_ + "." + key) + "'";
}

void JsonFields::fail(const std::string& key, const std::string& what) const { throw Error(where(key) + ": " + what); }

bool JsonFields::has(const std::string& key) const { return j_.contains(key); }

const nlohmann::json& JsonFields::raw(const std::string& key) const {
  auto it = j_.find(key);
  if (it == j_.end()) fail(key, "missing");
  return *it;
}

int64_t JsonFields::integer(const std::string& key, int64_t lo, int64_t hi) const {
  const nlohmann::json& v = raw(key);
  int64_t x = 0;
  if (!exact_integer(v, x) || x < lo || x > hi)
    fail(key, "expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + shown(v));
  return x;
}

uint64_t JsonFields::unsigned_integer(const std::string& key, uint64_t hi) const {
  const nlohmann::json& v = raw(key);
  if (v.is_number_unsigned() && v.get<uint64_t>() <= hi) return v.get<uint64_t>();
  int64_t x = 0;
  if (exact_integer(v, x) && x >= 0 && static_cast<uint64_t>(x) <= hi) return static_cast<uint64_t>(x);
  fail(key, "expected an integer in 0.." + std::to_string(hi) + ", got " + shown(v));
}

double JsonFields::number(const std::string& key, double lo, double hi) const {
  const nlohmann::json& v = raw(key);
  if (!v.is_number()) fail(key, std::string("expected a number, got ") + type_name(v) + " " + shown(v));
  double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) {
    std::ostringstream range;
    range << "expected a finite number in [" << lo << ", " << hi << "], got " << shown(v);
    fail(key, range.str());
  }
  return d;
}

std::string JsonFields::string(const std::string& key) const {
  const nlohmann::json& v = raw(key);
  if (!v.is_string()) fail(key, std::string("expected a string, got ") + type_name(v) + " " + shown(v));
  return v.get<std::string>();
}

JsonFields JsonFields::object(const std::string& key) const {
  return JsonFields(raw(key), file_, prefix_.empty() ? key : prefix_ + "." + key);
}

std::vector<int64_t> JsonFields::integers(const std::string& key, size_t length, int64_t lo, int64_t hi) const {
  const nlohmann::json& v = raw(key);
  if (!v.is_array()) fail(key, std::string("expected an array, got ") + type_name(v));
  if (v.size() != length)
    fail(key, "expected " + std::to_string(length) + " entries, got " + std::to_string(v.size()));
  std::vector<int64_t> out(length);
  for (size_t i = 0; i < length; ++i) {
    int64_t x = 0;
    if (!exact_integer(v[i], x) || x < lo || x > hi)
      fail(key, "entry " + std::to_string(i) + ": expected an integer in " + std::to_string(lo) + ".." +
                    std::to_string(hi) + ", got " + shown(v[i]));
    out[i] = x;
  }
  return out;
}

}  // namespace dnabert::io
