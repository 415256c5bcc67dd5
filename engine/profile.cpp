#include "engine/profile.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace dnabert::engine::profile {

namespace {

bool from_env() {
  const char* v = std::getenv("DNABERT_PROFILE");
  return v && *v && std::strcmp(v, "0") != 0;
}

struct Table {
  std::mutex mutex;
  std::map<std::string, Region> by_name;
};

Table& table() {
  static Table t;
  return t;
}

}  // namespace

bool g_enabled = from_env();

void set_enabled(bool on) { g_enabled = on; }

void add(const char* name, double seconds) {
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  Region& r = t.by_name[name];
  if (r.name.empty()) r.name = name;
  ++r.calls;
  r.seconds += seconds;
}

std::vector<Region> regions() {
  Table& t = table();
  std::vector<Region> out;
  {
    std::lock_guard<std::mutex> lock(t.mutex);
    for (const auto& [name, r] : t.by_name) out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [](const Region& a, const Region& b) { return a.seconds > b.seconds; });
  return out;
}

void reset() {
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  t.by_name.clear();
}

}  // namespace dnabert::engine::profile
