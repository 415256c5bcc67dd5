#include "io/formats/output_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "base/error.h"
#include "io/formats/atomic_file.h"

namespace fs = std::filesystem;

namespace dnabert::io {
namespace {

// What each command writes into its --out, for directories written before the
// marker existed. In a name, '#' stands for one or more digits and '*' for any
// text. Keep these lists in step with the writers named beside them.
struct WrittenNames {
  const char* command;
  bool replaces_whole;  // the directory is replaced as a whole (AtomicDir), not written into
  // Whether the names alone identify an unmarked directory as this command's.
  // Not for convert and split: any HF model folder holds config.json and
  // model.safetensors, any dataset folder train.csv, and those are the user's.
  bool names_identify;
  std::vector<const char*> names;
};

const std::vector<WrittenNames>& written_names() {
  static const std::vector<WrittenNames> table = {
      // io/formats/checkpoint.cpp write_checkpoint
      {"convert", true, false,
       {"config.json", "model.safetensors", "vocab.txt", "optimizer.safetensors", "trainer_state.json"}},
      // models/training/pretrain.cpp: numbered checkpoints, the final model, the log and the loss curve
      {"pretrain", false, true, {"checkpoint-#", "model", "log.jsonl", "loss.svg"}},
      // models/training/finetune.cpp: the best checkpoint, the log and the results
      {"finetune", false, true, {"best", "log.jsonl", "eval_results.json", "eval_results.tsv", "confusion_matrix.txt"}},
      // cli/motifs.cpp
      {"motifs", false, true, {"motif_*.txt", "motif_*_logo.svg", "motifs.tsv", "motifs.meme", "candidates.tsv"}},
      // io/data/split.cpp write_split
      {"split", false, false, {"train.csv", "dev.csv", "test.csv"}},
  };
  return table;
}

const WrittenNames* find_command(const std::string& command) {
  for (const WrittenNames& w : written_names())
    if (command == w.command) return &w;
  return nullptr;
}

bool matches(std::string_view pattern, std::string_view name) {
  if (pattern.empty()) return name.empty();
  if (pattern[0] == '*') {
    for (size_t i = 0; i <= name.size(); ++i)
      if (matches(pattern.substr(1), name.substr(i))) return true;
    return false;
  }
  if (pattern[0] == '#') {
    size_t digits = 0;
    while (digits < name.size() && std::isdigit(static_cast<unsigned char>(name[digits]))) ++digits;
    for (size_t i = 1; i <= digits; ++i)
      if (matches(pattern.substr(1), name.substr(i))) return true;
    return false;
  }
  return !name.empty() && name[0] == pattern[0] && matches(pattern.substr(1), name.substr(1));
}

// A name `command` writes, or a temporary one of io/formats/atomic_file.cpp (X.tmp.<pid>,
// X.old.<pid>) that a crashed run of it left behind.
bool written_by(const WrittenNames* w, const std::string& name) {
  if (name == kOutputMarker) return true;
  if (!w) return false;
  for (const char* n : w->names)
    for (const char* suffix : {"", ".tmp.#", ".old.#"})
      if (matches(std::string(n) + suffix, name)) return true;
  return false;
}

std::string strip_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot read: " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The commands a marker lists, one per line.
std::vector<std::string> marker_commands(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    line.erase(std::remove_if(line.begin(), line.end(), [](unsigned char c) { return std::isspace(c); }), line.end());
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

bool contains(const fs::path& outer, const fs::path& inner) {
  return std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end()).first == outer.end();
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) s += (i ? sep : "") + items[i];
  return s;
}

// This process's command line, for the lock file: "" where /proc is missing.
std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(s.begin(), s.end(), '\0', ' ');
  while (!s.empty() && s.back() == ' ') s.pop_back();
  constexpr size_t kMax = 400;
  if (s.size() > kMax) s = s.substr(0, kMax) + "...";
  return s;
}

std::string read_fd(int fd) {
  std::string s;
  char buf[512];
  ssize_t n;
  off_t at = 0;
  while ((n = ::pread(fd, buf, sizeof buf, at)) > 0 && s.size() < 4096) s.append(buf, static_cast<size_t>(n)), at += n;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

constexpr std::string_view kLockPrefix = "pid ";

}  // namespace

void check_output_dir(const std::string& out_arg, const std::string& command, bool overwrite,
                      const std::vector<std::string>& inputs, const std::string& flag) {
  const std::string out = strip_trailing_slashes(out_arg);
  const std::string what = flag + " " + out;
  std::error_code ec;
  const fs::file_status link = fs::symlink_status(out, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) throw Error(what + ": cannot inspect: " + ec.message());
  if (!fs::exists(link)) return;

  const fs::path out_real = fs::weakly_canonical(out, ec);
  for (const std::string& input : inputs) {
    if (input.empty() || !fs::exists(input, ec)) continue;
    const fs::path input_real = fs::canonical(input, ec);
    if (!ec && !out_real.empty() && contains(out_real, input_real))
      throw UsageError(what + " contains the input " + input +
                       "; writing there could delete it, so choose another " + flag +
                       " (--overwrite does not change this)");
  }
  if (overwrite) return;

  const WrittenNames* w = find_command(command);
  const bool replaces = w && w->replaces_whole;
  const std::string consent = "choose another " + flag + ", or pass --overwrite to " +
                              (replaces ? "replace it" : "write into it anyway");
  if (!fs::is_directory(fs::status(out, ec))) throw UsageError(what + ": exists and is not a directory; " + consent);

  std::vector<std::string> entries;
  for (auto it = fs::directory_iterator(out, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    entries.push_back(it->path().filename().string());
  if (ec) throw Error(what + ": cannot list: " + ec.message());
  if (entries.empty()) return;
  std::sort(entries.begin(), entries.end());

  const std::string marker = (fs::path(out) / kOutputMarker).string();
  if (std::find(entries.begin(), entries.end(), kOutputMarker) != entries.end()) {
    const std::vector<std::string> writers = marker_commands(read_text(marker));
    if (std::find(writers.begin(), writers.end(), command) == writers.end())
      throw UsageError(what + ": written by dnabert " + (writers.empty() ? "(unknown)" : join(writers, ", ")) +
                       ", not by dnabert " + command + "; " + consent);
    // Writing into the directory leaves files of other origins alone.
    if (!replaces) return;
  }
  const bool marked = std::find(entries.begin(), entries.end(), kOutputMarker) != entries.end();
  std::vector<std::string> foreign;
  for (const std::string& e : entries)
    if (!written_by(w, e)) foreign.push_back(e);
  if (foreign.empty()) {
    if (marked || !w || w->names_identify) return;
    throw UsageError(what + ": a non-empty directory without dnabert's " + kOutputMarker + " marker, so not one that " +
                     "dnabert " + command + " wrote; " + consent);
  }
  constexpr size_t kShown = 3;
  const auto shown_end = foreign.begin() + static_cast<ptrdiff_t>(std::min(foreign.size(), kShown));
  std::string holds = join(std::vector<std::string>(foreign.begin(), shown_end), ", ");
  if (foreign.size() > kShown) holds += " and " + std::to_string(foreign.size() - kShown) + " more";
  throw UsageError(what + ": a non-empty directory with files dnabert " + command + " did not write (" + holds + "); " +
                   consent);
}

// ---- OutputLock ------------------------------------------------------------

OutputLock::OutputLock(const std::string& out_arg, const std::string& flag) {
  const std::string out = strip_trailing_slashes(out_arg);
  std::error_code ec;
  // Every spelling of the path (relative, through a symbolic link) meets at one lock file.
  const fs::path real = fs::weakly_canonical(fs::absolute(out, ec), ec);
  if (ec || !real.has_filename()) throw UsageError(flag + " " + out + ": not a usable output path");
  path_ = real.string() + ".lock";
  fs::create_directories(real.parent_path(), ec);
  if (ec) throw Error(flag + " " + out + ": cannot create its parent directory: " + ec.message());
  for (;;) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd_ < 0)
      throw Error(path_ + ": cannot create the lock file of " + flag + " " + out + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const std::string holder = read_fd(fd_);
      ::close(fd_);
      if (err != EWOULDBLOCK) throw Error(path_ + ": cannot lock: " + std::strerror(err));
      throw Error(flag + " " + out + " is in use by another dnabert run (" +
                  (holder.empty() ? std::string("pid unknown") : holder) + "), which holds " + path_ +
                  "; wait for it to finish, or choose another " + flag);
    }
    // The previous holder removes the file before releasing it: if that came
    // between our open and our flock, we hold a file nobody else can find.
    struct stat held {}, named {};
    if (::fstat(fd_, &held) == 0 && ::stat(path_.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
        held.st_ino == named.st_ino)
      break;
    ::close(fd_);
  }
  // A file of this name that a lock never wrote is the user's: leave it be.
  const std::string before = read_fd(fd_);
  if (!before.empty() && before.compare(0, kLockPrefix.size(), kLockPrefix) != 0) {
    ::close(fd_);
    fd_ = -1;
    throw UsageError(flag + " " + out + ": " + path_ + " exists and is not a dnabert lock file; move it away, or "
                     "choose another " + flag);
  }
  const std::string text = std::string(kLockPrefix) + std::to_string(::getpid()) + ": " + command_line() + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    const int err = errno;
    ::unlink(path_.c_str());
    ::close(fd_);
    fd_ = -1;
    throw Error(path_ + ": cannot write the lock file: " + std::strerror(err));
  }
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());
  ::close(fd_);
}

// ---- OutputDir -------------------------------------------------------------

OutputDir::OutputDir(std::string out, std::string command, bool overwrite, const std::vector<std::string>& inputs,
                     const std::string& flag)
    : lock_(out, flag), out_(strip_trailing_slashes(std::move(out))), command_(std::move(command)) {
  check_output_dir(out_, command_, overwrite, inputs, flag);
}

OutputDir::~OutputDir() {
  if (!created_) return;
  std::error_code ec;
  size_t entries = 0;
  for (auto it = fs::directory_iterator(out_, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (++entries > 1 || it->path().filename() != kOutputMarker) return;
  if (ec) return;
  fs::remove(fs::path(out_) / kOutputMarker, ec);
  fs::remove(out_, ec);
}

void OutputDir::create() {
  std::error_code ec;
  const fs::file_status link = fs::symlink_status(out_, ec);
  if (fs::exists(link) && !fs::is_directory(fs::status(out_, ec))) {
    fs::remove(out_, ec);
    if (ec) throw Error(out_ + ": cannot remove to make a directory there: " + ec.message());
  }
  created_ = fs::create_directories(out_, ec);
  if (ec) throw Error(out_ + ": cannot create directory: " + ec.message());
  const std::string marker = (fs::path(out_) / kOutputMarker).string();
  std::vector<std::string> writers;
  if (fs::exists(marker, ec)) writers = marker_commands(read_text(marker));
  if (std::find(writers.begin(), writers.end(), command_) != writers.end()) return;
  writers.push_back(command_);
  write_file_atomic(marker, join(writers, "\n") + "\n");
}

std::string OutputDir::marker_text() const { return command_ + "\n"; }

}  // namespace dnabert::io
