// Overlays the loss curves of several `dnabert pretrain` runs (their
// log.jsonl) in one SVG: the per-step training loss as a line and the
// held-out loss as dots, one colour per run. Not a timing benchmark: it lives
// in bench/ to draw the comparison figures of docs/ (docs/bf16.md), and is
// built by the bench glob.
// Usage: bench_plot_losses OUT.svg TITLE LABEL=RUN/log.jsonl [LABEL=RUN/log.jsonl ...]
#include <cstdio>
#include <exception>
#include <fstream>
#include <stdexcept>
#include <nlohmann/json.hpp>
#include <string>

#include "io/report/plot.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_plot_losses OUT.svg TITLE LABEL=log.jsonl [LABEL=log.jsonl ...]\n");
    return 2;
  }
  const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};
  dnabert::io::Chart chart;
  chart.title = argv[2];
  chart.x_label = "step";
  chart.y_label = "masked-LM cross-entropy (nats)";
  try {
    for (int a = 3; a < argc; ++a) {
      const std::string arg = argv[a];
      const size_t eq = arg.find('=');
      if (eq == std::string::npos) throw std::runtime_error(arg + ": expected LABEL=log.jsonl");
      const std::string label = arg.substr(0, eq), path = arg.substr(eq + 1), color = colors[(a - 3) % 4];
      dnabert::io::Series train{label + " train", color, {}, {}, false}, heldout{label + " held-out", color, {}, {}, true};
      std::ifstream in(path);
      if (!in) throw std::runtime_error(path + ": cannot open");
      std::string line;
      for (int n = 1; std::getline(in, line); ++n) {
        nlohmann::json j;
        try {
          j = nlohmann::json::parse(line);
        } catch (const std::exception& e) {
          throw std::runtime_error(path + ":" + std::to_string(n) + ": not JSON: " + e.what());
        }
        if (j.contains("eval_loss"))
          heldout.x.push_back(j["step"].get<double>()), heldout.y.push_back(j["eval_loss"].get<double>());
        else if (j.contains("loss"))
          train.x.push_back(j["step"].get<double>()), train.y.push_back(j["loss"].get<double>());
      }
      chart.series.push_back(train);
      chart.series.push_back(heldout);
    }
    dnabert::io::write_svg(argv[1], chart);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dnabert: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
