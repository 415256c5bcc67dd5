#include "io/report/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "io/formats/atomic_file.h"

namespace dnabert::io {

std::string svg_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string svg_number(double v) {
  char buf[32];
  if (v != 0 && (std::fabs(v) >= 1e5 || std::fabs(v) < 1e-3))
    std::snprintf(buf, sizeof buf, "%.2g", v);
  else
    std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

namespace {

std::string escape(const std::string& s) { return svg_escape(s); }
std::string num(double v) { return svg_number(v); }

// About five round tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi) {
  double span = hi - lo;
  if (!(span > 0)) return {lo};
  double step = std::pow(10.0, std::floor(std::log10(span / 5)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (span / (step * m) <= 6) {
      step *= m;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(v);
  return t;
}

}  // namespace

std::string render_svg(const Chart& c) {
  const double left = 70, right = 20, top = 40, bottom = 50;
  const double W = c.width, H = c.height, pw = W - left - right, ph = H - top - bottom;
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  auto ty = [&](double y) { return c.log_y ? std::log10(std::max(y, 1e-12)) : y; };
  for (const auto& s : c.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]), xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, ty(s.y[i])), ymax = std::max(ymax, ty(s.y[i]));
    }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymax = ymin + 1;
  const double pad = (ymax - ymin) * 0.05;
  ymin -= pad, ymax += pad;
  auto px = [&](double x) { return left + (x - xmin) / (xmax - xmin) * pw; };
  auto py = [&](double y) { return top + (1 - (ty(y) - ymin) / (ymax - ymin)) * ph; };

  std::string o;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                c.width, c.height, c.width, c.height);
  o += buf;
  o += "<text x=\"" + num(W / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" + escape(c.title) + "</text>\n";
  // Grid and tick labels.
  for (double v : ticks(xmin, xmax)) {
    std::snprintf(buf, sizeof buf, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", px(v), top,
                  px(v), top + ph);
    o += buf;
    o += "<text x=\"" + num(px(v)) + "\" y=\"" + num(top + ph + 16) + "\" text-anchor=\"middle\">" + num(v) + "</text>\n";
  }
  for (double v : ticks(ymin, ymax)) {
    const double yv = c.log_y ? std::pow(10.0, v) : v;
    std::snprintf(buf, sizeof buf, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left,
                  py(yv), left + pw, py(yv));
    o += buf;
    o += "<text x=\"" + num(left - 6) + "\" y=\"" + num(py(yv) + 4) + "\" text-anchor=\"end\">" + num(yv) + "</text>\n";
  }
  std::snprintf(buf, sizeof buf, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n",
                left, top, pw, ph);
  o += buf;
  o += "<text x=\"" + num(left + pw / 2) + "\" y=\"" + num(H - 10) + "\" text-anchor=\"middle\">" + escape(c.x_label) +
       "</text>\n";
  o += "<text transform=\"translate(16," + num(top + ph / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
       escape(c.y_label) + "</text>\n";
  // Series and legend.
  double ly = top + 14;
  for (const auto& s : c.series) {
    std::string pts;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      std::snprintf(buf, sizeof buf, "%.1f,%.1f ", px(s.x[i]), py(s.y[i]));
      pts += buf;
      if (s.markers) {
        std::snprintf(buf, sizeof buf, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(s.x[i]), py(s.y[i]),
                      s.color.c_str());
        o += buf;
      }
    }
    o += "<polyline fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"1.5\" points=\"" + pts + "\"/>\n";
    std::snprintf(buf, sizeof buf, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>\n",
                  left + pw - 170, ly - 4, left + pw - 150, ly - 4, s.color.c_str());
    o += buf;
    o += "<text x=\"" + num(left + pw - 145) + "\" y=\"" + num(ly) + "\">" + escape(s.label) + "</text>\n";
    ly += 16;
  }
  o += "</svg>\n";
  return o;
}

void write_svg(const std::string& path, const Chart& chart) { write_file_atomic(path, render_svg(chart)); }

namespace {

// White -> dark red for t in [0, 1]; blue -> white -> red for t in [-1, 1] when diverging.
std::string heat_colour(double t, bool diverging) {
  auto mix = [](double a, double b, double f) { return static_cast<int>(std::lround(a + (b - a) * f)); };
  int r, g, b;
  if (!diverging || t >= 0) {
    t = std::clamp(t, 0.0, 1.0);
    r = mix(255, 165, t), g = mix(255, 15, t), b = mix(255, 21, t);
  } else {
    t = std::clamp(-t, 0.0, 1.0);
    r = mix(255, 33, t), g = mix(255, 102, t), b = mix(255, 172, t);
  }
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", r, g, b);
  return buf;
}

}  // namespace

std::string render_heatmap_svg(const Heatmap& h) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  size_t columns = 0;
  for (const auto& row : h.values) {
    columns = std::max(columns, row.size());
    for (double v : row)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  const double span = hi > lo ? hi - lo : 1.0, absmax = std::max({std::fabs(lo), std::fabs(hi), 1e-30});
  auto colour = [&](double v) { return h.diverging ? heat_colour(v / absmax, true) : heat_colour((v - lo) / span, false); };
  size_t label_chars = 0;
  for (const auto& l : h.row_labels) label_chars = std::max(label_chars, l.size());
  const double c = h.cell, left = 10 + 7.0 * static_cast<double>(label_chars), top = 40;
  const double W = left + c * static_cast<double>(columns) + 90, rows = static_cast<double>(h.values.size());
  const double H = top + c * rows + 50;
  std::string o = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(W) + "\" height=\"" + num(H) +
                  "\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o += "<text x=\"" + num(W / 2) + "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">" + escape(h.title) + "</text>\n";
  for (size_t r = 0; r < h.values.size(); ++r) {
    const double y = top + c * static_cast<double>(r);
    if (r < h.row_labels.size())
      o += "<text x=\"" + num(left - 4) + "\" y=\"" + num(y + c * 0.75) + "\" text-anchor=\"end\">" +
           escape(h.row_labels[r]) + "</text>\n";
    for (size_t j = 0; j < h.values[r].size(); ++j) {
      const double x = left + c * static_cast<double>(j);
      const double v = h.values[r][j];
      o += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(c) + "\" height=\"" + num(c) +
           "\" fill=\"" + (std::isfinite(v) ? colour(v) : std::string("#cccccc")) + "\"><title>" + std::to_string(j) + ": " +
           num(v) + "</title></rect>\n";
      if (r < h.letters.size() && j < h.letters[r].size())
        o += "<text x=\"" + num(x + c / 2) + "\" y=\"" + num(y + c * 0.75) + "\" text-anchor=\"middle\" font-family=\"monospace\">" +
             escape(std::string(1, h.letters[r][j])) + "</text>\n";
    }
  }
  // Position ticks every 10 columns, then the colour scale.
  const double axis_y = top + c * rows;
  for (size_t j = 0; j < columns; j += 10)
    o += "<text x=\"" + num(left + c * (static_cast<double>(j) + 0.5)) + "\" y=\"" + num(axis_y + 14) +
         "\" text-anchor=\"middle\">" + std::to_string(j) + "</text>\n";
  o += "<text x=\"" + num(left + c * static_cast<double>(columns) / 2) + "\" y=\"" + num(axis_y + 32) +
       "\" text-anchor=\"middle\">" + escape(h.x_label) + "</text>\n";
  const double bx = left + c * static_cast<double>(columns) + 20, bh = std::max(60.0, c * rows);
  for (int i = 0; i < 20; ++i) {
    const double f = 1.0 - i / 19.0;
    const double v = h.diverging ? -absmax + 2 * absmax * f : lo + span * f;
    o += "<rect x=\"" + num(bx) + "\" y=\"" + num(top + bh * i / 20.0) + "\" width=\"12\" height=\"" + num(bh / 20.0 + 0.5) +
         "\" fill=\"" + colour(v) + "\"/>\n";
  }
  o += "<text x=\"" + num(bx + 16) + "\" y=\"" + num(top + 10) + "\">" + num(h.diverging ? absmax : hi) + "</text>\n";
  o += "<text x=\"" + num(bx + 16) + "\" y=\"" + num(top + bh) + "\">" + num(h.diverging ? -absmax : lo) + "</text>\n";
  o += "</svg>\n";
  return o;
}

void write_heatmap_svg(const std::string& path, const Heatmap& heatmap) {
  write_file_atomic(path, render_heatmap_svg(heatmap));
}

}  // namespace dnabert::io
