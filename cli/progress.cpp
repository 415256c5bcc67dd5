#include "cli/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>

namespace dnabert::cli {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

size_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages_total = 0, pages_resident = 0;
  if (!(f >> pages_total >> pages_resident)) return 0;
  return pages_resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

void warn_truncated(const char* command, int64_t count, int max_tokens) {
  if (count > 0)
    std::fprintf(stderr, "%s: %lld sequences were longer than %d tokens and were truncated\n", command,
                 static_cast<long long>(count), max_tokens);
}

std::string format_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit, int64_t initial)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total > 0 ? total : 1), done_(initial),
      start_done_(initial),
      tty_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

void ProgressBar::update(int64_t done, const std::string& extra) {
  done_ = done;
  extra_ = extra;
  draw(false);
}

void ProgressBar::message(const std::string& text) {
  if (tty_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s\n", text.c_str());
  if (tty_ && done_ > 0 && !finished_) draw(true);
}

void ProgressBar::finish(const std::string& extra) {
  if (finished_) return;
  // Redraw only if the last line shown is not already the final state.
  const bool stale = done_ != total_ || (!extra.empty() && extra != extra_) || last_decile_ != 10;
  if (!extra.empty()) extra_ = extra;
  done_ = total_;
  if (stale || tty_) draw(true);
  if (tty_) std::fprintf(stderr, "\n");
  finished_ = true;
}

void ProgressBar::draw(bool force) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  const double frac = static_cast<double>(done_) / static_cast<double>(total_);
  const int decile = static_cast<int>(frac * 10);
  if (!force) {
    if (tty_ && since < 0.1 && done_ < total_) return;
    if (!tty_ && decile == last_decile_ && since < 30 && done_ < total_) return;
  }
  last_draw_ = now;
  last_decile_ = decile;
  const double new_work = static_cast<double>(done_ - start_done_);
  // Too early for a meaningful rate (e.g. the bar was created by its first update).
  const double rate = elapsed > 0.5 ? new_work / elapsed : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : NAN;
  const int width = 24, filled = static_cast<int>(frac * width + 0.5);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(static_cast<size_t>(width), '.');
  char head[256];
  std::snprintf(head, sizeof head, "%s [%s] %lld/%lld %3.0f%% | %.2f %s/s | %s elapsed | ETA %s", label_.c_str(),
                bar.c_str(), static_cast<long long>(done_), static_cast<long long>(total_), frac * 100, rate,
                unit_.c_str(), format_duration(elapsed).c_str(), format_duration(eta).c_str());
  std::string line = head;
  if (!extra_.empty()) line += " | " + extra_;
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace dnabert::cli
