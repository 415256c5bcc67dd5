#include "cli/commands.h"

#include <map>
#include <vector>

namespace dnabert::cli {

namespace {
std::vector<Setup>& setups() {
  static std::vector<Setup> s;
  return s;
}
std::map<CLI::App*, std::function<int()>>& runners() {
  static std::map<CLI::App*, std::function<int()>> r;
  return r;
}
}  // namespace

Registration::Registration(Setup setup) { setups().push_back(std::move(setup)); }

void register_commands(CLI::App& app) {
  for (auto& setup : setups()) {
    size_t before = app.get_subcommands({}).size();
    std::function<int()> run = setup(app);
    auto subs = app.get_subcommands({});
    if (subs.size() > before) runners()[subs.back()] = std::move(run);
  }
}

int run_selected(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands()) {
    auto it = runners().find(sub);
    if (it != runners().end()) return it->second();
  }
  return 0;
}

}  // namespace dnabert::cli
