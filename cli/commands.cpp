#include "cli/commands.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <vector>

#include "base/error.h"
#include "engine/distributed.h"

namespace dnabert::cli {

int run_job(const std::function<int()>& body) {
  engine::dist::start_job();
  if (engine::dist::size() == 1) return body();
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dnabert: error: rank %d of %d: %s. Aborting the job; checkpoints already written are "
                 "complete.\n", engine::dist::rank(), engine::dist::size(), e.what());
    std::fflush(stderr);
    engine::dist::abort_job(dynamic_cast<const UsageError*>(&e) ? 2 : dynamic_cast<const CommError*>(&e) ? 3 : 1);
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

namespace {
std::string shown(const std::string& text) { return text.empty() ? "nothing" : text; }
}  // namespace

CLI::Validator integer_check(int64_t lo, uint64_t hi, bool hi_is_type_limit) {
  const std::string range = std::to_string(lo) + ".." + std::to_string(hi);
  auto describe = [=](bool beyond_hi) {
    return !hi_is_type_limit || beyond_hi ? "must be an integer in " + range
                                          : "must be an integer >= " + std::to_string(lo);
  };
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        const bool negative = !text.empty() && text[0] == '-';
        const char* first = text.data() + (!text.empty() && (text[0] == '-' || text[0] == '+'));
        const char* last = text.data() + text.size();
        uint64_t magnitude = 0;
        const auto [end, ec] = std::from_chars(first, last, magnitude);
        if (first == last || end != last || (ec != std::errc() && ec != std::errc::result_out_of_range))
          return describe(false) + ", got " + shown(text);
        const bool too_large = !negative && (ec == std::errc::result_out_of_range || magnitude > hi);
        // -lo as unsigned, written so that INT64_MIN does not overflow.
        const uint64_t lo_magnitude = lo < 0 ? static_cast<uint64_t>(-(lo + 1)) + 1 : 0;
        const bool too_small =
            negative ? magnitude > 0 && (ec == std::errc::result_out_of_range || lo >= 0 || magnitude > lo_magnitude)
                     : lo > 0 && magnitude < static_cast<uint64_t>(lo);
        if (too_large || too_small) return describe(too_large) + ", got " + shown(text);
        return "";
      },
      hi_is_type_limit ? ">=" + std::to_string(lo) : range);
}

CLI::Validator number_in(double lo, double hi, const std::string& ends) {
  const bool lo_open = ends[0] == '(', hi_open = ends[1] == ')';
  char bound[96];
  if (std::isinf(hi))
    std::snprintf(bound, sizeof bound, "%s %g", lo_open ? ">" : ">=", lo);
  else
    std::snprintf(bound, sizeof bound, "in %c%g, %g%c", ends[0], lo, hi, ends[1]);
  const std::string rule = std::string("must be a finite number ") + bound;
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const double v = std::strtod(text.c_str(), &end);
        const bool parsed = !text.empty() && end == text.c_str() + text.size();
        const bool inside = std::isfinite(v) && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
        return parsed && inside ? "" : rule + ", got " + shown(text);
      },
      std::string(bound));
}

void check_max_len(int64_t max_len, int64_t lo, int64_t max_position_embeddings, const std::string& model_dir) {
  if (max_len < lo || max_len > max_position_embeddings)
    throw UsageError("--max-len: must be an integer in " + std::to_string(lo) + ".." +
                     std::to_string(max_position_embeddings) + " (max_position_embeddings of " + model_dir + "), got " +
                     std::to_string(max_len));
}

void require_regular_file(const std::string& option, const std::string& path, const std::string& why) {
  std::error_code ec;
  if (path != "-" && std::filesystem::is_regular_file(path, ec)) return;
  throw UsageError(option + " " + path + ": must be a regular file, not standard input, a pipe or a FIFO: " + why);
}

void flush_stdout() {
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    throw Error(std::string("cannot write to standard output: ") + std::strerror(errno ? errno : EIO));
}

}  // namespace dnabert::cli
