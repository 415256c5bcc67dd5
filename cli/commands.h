// Subcommand registry. Each cli/<name>.cpp adds a `static Registration` that
// creates its CLI11 subcommand and binds the function to run when it is chosen.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace dnabert::cli {

using Setup = std::function<std::function<int()>(CLI::App& app)>;

struct Registration {
  explicit Registration(Setup setup);
};

void register_commands(CLI::App& app);
int run_selected(CLI::App& app);

}  // namespace dnabert::cli
