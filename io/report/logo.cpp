#include "io/report/logo.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "io/formats/atomic_file.h"
#include "io/report/plot.h"

namespace dnabert::io {

double information_bits(const std::array<double, 4>& f) {
  double h = 0;
  for (double p : f)
    if (p > 0) h -= p * std::log2(p);
  return std::max(0.0, 2.0 - h);
}

std::string render_logo_svg(const std::vector<std::array<double, 4>>& columns, const std::string& title) {
  static const char kLetters[4] = {'A', 'C', 'G', 'T'};
  static const char* kColours[4] = {"#109648", "#255c99", "#f7b32b", "#d62839"};
  const double col_w = 28, bit_h = 60, left = 50, top = 36, plot_h = 2 * bit_h;
  const double W = left + col_w * static_cast<double>(columns.size()) + 20, H = top + plot_h + 40;
  std::string o = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + svg_number(W) + "\" height=\"" + svg_number(H) +
                  "\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o += "<text x=\"" + svg_number(W / 2) + "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">" + svg_escape(title) +
       "</text>\n";
  // y axis in bits
  const double base = top + plot_h;
  o += "<line x1=\"" + svg_number(left - 4) + "\" y1=\"" + svg_number(top) + "\" x2=\"" + svg_number(left - 4) + "\" y2=\"" +
       svg_number(base) + "\" stroke=\"#333\"/>\n";
  for (int b = 0; b <= 2; ++b)
    o += "<text x=\"" + svg_number(left - 8) + "\" y=\"" + svg_number(base - b * bit_h + 4) + "\" text-anchor=\"end\">" +
         std::to_string(b) + "</text>\n";
  o += "<text transform=\"translate(14," + svg_number(top + plot_h / 2) + ") rotate(-90)\" text-anchor=\"middle\">bits</text>\n";
  // Letters are drawn as text scaled so that their cap height (about 0.72 em
  // in common sans-serif bold faces) fills the stack slot.
  const double em = 100, cap = 0.72 * em;
  for (size_t j = 0; j < columns.size(); ++j) {
    const double bits = information_bits(columns[j]), x = left + col_w * static_cast<double>(j);
    std::array<int, 4> order;
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return columns[j][static_cast<size_t>(a)] < columns[j][static_cast<size_t>(b)]; });
    double y = base;
    for (int b : order) {
      const double h = columns[j][static_cast<size_t>(b)] * bits * bit_h;
      if (h < 0.5) continue;
      const double sx = col_w / (0.72 * em), sy = h / cap;
      o += "<text transform=\"translate(" + svg_number(x) + "," + svg_number(y) + ") scale(" + svg_number(sx) + "," +
           svg_number(sy) + ")\" font-size=\"" + svg_number(em) + "\" font-weight=\"bold\" textLength=\"" +
           svg_number(0.72 * em) + "\" lengthAdjust=\"spacingAndGlyphs\" fill=\"" + kColours[b] + "\">" + kLetters[b] +
           "</text>\n";
      y -= h;
    }
    if (j % 5 == 0)
      o += "<text x=\"" + svg_number(x + col_w / 2) + "\" y=\"" + svg_number(base + 16) + "\" text-anchor=\"middle\">" +
           std::to_string(j + 1) + "</text>\n";
  }
  o += "</svg>\n";
  return o;
}

void write_logo_svg(const std::string& path, const std::vector<std::array<double, 4>>& columns, const std::string& title) {
  write_file_atomic(path, render_logo_svg(columns, title));
}

}  // namespace dnabert::io
