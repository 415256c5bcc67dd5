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

void add_output_dir_options(CLI::App* command, std::string& out, bool& overwrite) {
  const std::string name = command->get_name();
  command->add_option("--out", out, "Output directory: created, or written into if " + name +
                                        " wrote it before (anything else needs --overwrite)")
      ->required();
  command->add_flag("--overwrite", overwrite,
                    "Write into --out even if it is a file or a directory that " + name +
                        " did not write (files of the same names are replaced, others kept; never a directory that "
                        "holds an input)");
}

int run_selected(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands()) {
    auto it = runners().find(sub);
    if (it != runners().end()) return it->second();
  }
  return 0;
}

}  // namespace dnabert::cli
