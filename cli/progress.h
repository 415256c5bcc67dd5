// A progress bar on stderr: fraction, rate, ETA and any extra fields. On a
// terminal it redraws one line; otherwise (logs, CI) it prints a line every
// 10% or 30 seconds, so piped output stays readable.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace dnabert::cli {

class ProgressBar {
 public:
  // `initial`: work already done before this run (a resumed run); the rate counts new work only.
  ProgressBar(std::string label, int64_t total, std::string unit = "it", int64_t initial = 0);
  // Sets the count done so far; `extra` is shown after the bar ("loss 2.31 | 12k tok/s").
  void update(int64_t done, const std::string& extra = "");
  // Prints a message above the bar without breaking it.
  void message(const std::string& text);
  void finish(const std::string& extra = "");

 private:
  void draw(bool force);
  std::string label_, unit_, extra_;
  int64_t total_, done_, start_done_;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int last_decile_ = -1;
};

// "1:02:03" / "4:05"
std::string format_duration(double seconds);
// Resident set size of this process, in bytes (0 if unknown).
size_t resident_bytes();
// "1.2 GiB"
std::string format_bytes(double bytes);
// To stderr, if count > 0: "<command>: N sequences were longer than T tokens and were truncated".
void warn_truncated(const char* command, int64_t count, int max_tokens);

}  // namespace dnabert::cli
