// Line charts and heatmaps as standalone SVG (no dependency; opens in any browser).
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

// Rows of coloured cells, e.g. attention over the nucleotides of a sequence or
// a mutation effect per position and base. Colour runs from white (the lowest
// value) to dark red (the highest); with `diverging`, from blue (most
// negative) through white (0) to red (most positive).
struct Heatmap {
  std::string title;
  std::string x_label;
  std::vector<std::string> row_labels;
  std::vector<std::vector<double>> values;  // [rows][columns]; rows may differ in length
  std::vector<std::string> letters;         // optional: one character per cell, drawn in it
  bool diverging = false;
  int cell = 14;  // pixels per cell
};
std::string render_heatmap_svg(const Heatmap& heatmap);
void write_heatmap_svg(const std::string& path, const Heatmap& heatmap);

// SVG text helpers shared by the plotting files: XML escaping, short numbers.
std::string svg_escape(const std::string& text);
std::string svg_number(double v);

}  // namespace dnabert::io
