// Atomic outputs: a reader sees either the old file (or directory) or the
// complete new one, never a torn write, even after a crash or power loss.
//
// A file X is written as X.tmp.<pid>, fsync'd, renamed over X, and X's
// directory is fsync'd so the rename itself is durable. A directory is built
// as DIR.tmp.<pid>/ and renamed the same way. Every writer in the project goes
// through these helpers. Errors are dnabert::Error naming the path and errno.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace dnabert::io {

// Writes `bytes` to `path` atomically.
void write_file_atomic(const std::string& path, std::string_view bytes);

// Streaming variant: write() as often as needed, then commit(). Destroying an
// uncommitted AtomicFile removes the temporary file and leaves `path` untouched.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view bytes);
  // Overwrites bytes already written (e.g. a header patched at the end).
  void write_at(uint64_t offset, std::string_view bytes);
  uint64_t size() const { return size_; }
  // fsync, rename over `path`, fsync the directory.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  std::string path_, temp_path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool committed_ = false;
};

// A directory written atomically: fill temp_path() (e.g. with write_file_atomic
// on file(name)), then commit(). If `path` already exists it is moved aside to
// `path.old.<pid>` for the moment of the rename and deleted afterwards; the
// caller decides whether it may be replaced (a command's --out: io/formats/output_dir.h).
// Destroying an uncommitted AtomicDir deletes the temporary directory.
class AtomicDir {
 public:
  explicit AtomicDir(std::string path);  // creates temp_path(), empty
  ~AtomicDir();
  AtomicDir(const AtomicDir&) = delete;
  AtomicDir& operator=(const AtomicDir&) = delete;

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }
  // temp_path() + "/" + name
  std::string file(const std::string& name) const;
  // fsync every regular file and the temp dir, rename to path(), fsync the parent.
  void commit();

 private:
  std::string path_, temp_path_;
  bool committed_ = false;
};

// fsync a file or directory by path (throws naming the path on failure).
void fsync_path(const std::string& path);

}  // namespace dnabert::io
