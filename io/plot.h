// Line charts as standalone SVG (no dependency; opens in any browser).
#pragma once
#include <string>
#include <vector>

namespace dnabert::io {

struct Series {
  std::string label;
  std::string color;  // CSS colour, e.g. "#1f77b4"
  std::vector<double> x, y;
  bool markers = false;  // dots at each point (for sparse series such as evaluations)
};

struct Chart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<Series> series;
  bool log_y = false;
  int width = 720;
  int height = 420;
};

// The SVG text of a chart.
std::string render_svg(const Chart& chart);
// Renders and writes atomically.
void write_svg(const std::string& path, const Chart& chart);

}  // namespace dnabert::io
