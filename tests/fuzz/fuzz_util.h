// Shared by the libFuzzer targets in this folder. A parser that takes a path
// reads the input from one temporary file per process: created once with
// mkstemp under /tmp, rewritten for every input, removed at exit.
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace dnabert::fuzz {

// A failed self-check of a fuzz target: libFuzzer (and the replay driver)
// report the trap as a crash, with the input that caused it.
[[noreturn]] inline void violated() { __builtin_trap(); }
inline void check(bool ok) {
  if (!ok) violated();
}

class TempFile {
 public:
  explicit TempFile(const char* stem) {
    path_ = std::string("/tmp/") + stem + ".XXXXXX";
    fd_ = ::mkstemp(path_.data());
    if (fd_ < 0) {
      std::perror(path_.c_str());
      std::abort();
    }
  }
  ~TempFile() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  // Replaces the file's contents with `bytes`; returns its path. Truncating
  // after writing, not to 0 before: ext4 flushes a file truncated to 0 to
  // disk when a descriptor of it closes (auto_da_alloc), once per input.
  const std::string& write(std::string_view bytes) {
    for (size_t done = 0; done < bytes.size();) {
      const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    if (::ftruncate(fd_, static_cast<off_t>(bytes.size())) != 0) std::abort();
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace dnabert::fuzz
