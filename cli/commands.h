// Subcommand registry. Each cli/<name>.cpp adds a `static Registration` that
// creates its CLI11 subcommand and binds the function to run when it is chosen.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace dnabert::cli {

using Setup = std::function<std::function<int()>(CLI::App& app)>;

struct Registration {
  explicit Registration(Setup setup);
};

void register_commands(CLI::App& app);
int run_selected(CLI::App& app);

// --out (required) and --overwrite of a command that writes files into an
// output directory (io/output_dir.h has the rules).
void add_output_dir_options(CLI::App* command, std::string& out, bool& overwrite);

}  // namespace dnabert::cli
