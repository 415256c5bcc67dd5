// Helpers shared by the tests: paths in the source tree, a per-process scratch
// directory, whole-file reads and writes, error capture and CLI runs.
#pragma once
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "base/error.h"

namespace dnabert::testing {

// A file or folder of the source tree, e.g. source_path("tests/data/genomes/lambda_phage.fa.gz").
inline std::string source_path(const std::string& rel) { return std::string(DNABERT_SOURCE_DIR) + "/" + rel; }

// A path in this process's scratch folder, which is removed when the test program exits.
inline std::string temp_path(const std::string& name) {
  static struct ScratchDir {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("dnabert_test_" + std::to_string(::getpid()));
    ScratchDir() { std::filesystem::create_directories(path); }
    ~ScratchDir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } dir;
  return (dir.path / name).string();
}

// A fresh, empty directory temp_path(name) (removed first if it exists).
inline std::string scratch_dir(const std::string& name) {
  const std::string path = temp_path(name);
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  return path;
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `bytes` to temp_path(name) and returns that path.
inline std::string write_file(const std::string& name, const std::string& bytes) {
  const std::string path = temp_path(name);
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// A GUE-style CSV of 8 labelled 17-base sequences, labels 0 and 1 alternating,
// at temp_path(name).
inline std::string labelled_csv(const std::string& name) {
  std::string text = "sequence,label\n";
  for (int i = 0; i < 8; ++i)
    text += std::string(i % 2 ? "ACGTACGTTTGACCAGT" : "TTGACAGGCATACGGAC") + "," + (i % 2 ? "1" : "0") + "\n";
  return write_file(name, text);
}

// The message of the dnabert::Error that `f` throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const dnabert::Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Whether `text` (a command's output, a file) contains `part`.
inline bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

struct CliRun {
  int status = -1;
  std::string output;  // stdout and stderr together
};

// Runs the dnabert binary with `args` (shell syntax) and captures its output.
inline CliRun run_cli(const std::string& args) {
  const std::string cmd = std::string(DNABERT_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  CliRun r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  const int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  return r;
}

// The same, returning the output and setting `status`.
inline std::string run_cli(const std::string& args, int& status) {
  CliRun r = run_cli(args);
  status = r.status;
  return r.output;
}

}  // namespace dnabert::testing
