#include "io/formats/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "base/error.h"

namespace fs = std::filesystem;

namespace dnabert::io {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what, int err) {
  throw Error(path + ": " + what + ": " + std::strerror(err));
}

[[noreturn]] void fail(const std::string& path, const std::string& what, const std::error_code& ec) {
  throw Error(path + ": " + what + ": " + ec.message());
}

std::string strip_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string temp_name(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }

std::string parent_dir(const std::string& path) {
  fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

void write_all(int fd, const char* data, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(path, "write failed", errno);
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open for fsync", errno);
  // Some file systems refuse fsync on directories (EINVAL); nothing more can be done there.
  if (::fsync(fd) != 0 && errno != EINVAL) {
    int err = errno;
    ::close(fd);
    fail(path, "fsync failed", err);
  }
  ::close(fd);
}

// ---- AtomicFile ----------------------------------------------------------

AtomicFile::AtomicFile(std::string path) : path_(strip_trailing_slashes(std::move(path))) {
  temp_path_ = temp_name(path_);
  // O_TRUNC: a temp file left by a crashed process that had our pid is stale.
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd_ < 0) fail(path_, "cannot create temporary file " + temp_path_, errno);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(std::string_view bytes) {
  if (fd_ < 0) throw Error(path_ + ": write after commit");
  write_all(fd_, bytes.data(), bytes.size(), path_);
  size_ += bytes.size();
}

void AtomicFile::write_at(uint64_t offset, std::string_view bytes) {
  if (fd_ < 0) throw Error(path_ + ": write after commit");
  if (offset + bytes.size() > size_) throw Error(path_ + ": write_at past the end of the data written so far");
  const char* data = bytes.data();
  size_t n = bytes.size();
  while (n > 0) {
    ssize_t w = ::pwrite(fd_, data, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(path_, "write failed", errno);
    }
    data += w;
    offset += static_cast<uint64_t>(w);
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  if (::fsync(fd_) != 0) fail(path_, "fsync failed", errno);
  int fd = fd_;
  fd_ = -1;
  // close() can report a delayed write error (NFS); the data would be lost.
  if (::close(fd) != 0) fail(path_, "close failed", errno);
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail(path_, "cannot rename " + temp_path_ + " to it", errno);
  committed_ = true;
  fsync_path(parent_dir(path_));
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

// ---- AtomicDir -----------------------------------------------------------

AtomicDir::AtomicDir(std::string path) : path_(strip_trailing_slashes(std::move(path))) {
  temp_path_ = temp_name(path_);
  std::error_code ec;
  fs::create_directories(parent_dir(path_), ec);
  if (ec) fail(path_, "cannot create parent directory", ec);
  fs::remove_all(temp_path_, ec);  // stale, from a crashed process with our pid
  if (ec) fail(path_, "cannot remove stale " + temp_path_, ec);
  fs::create_directory(temp_path_, ec);
  if (ec) fail(path_, "cannot create temporary directory " + temp_path_, ec);
}

AtomicDir::~AtomicDir() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(temp_path_, ec);
}

std::string AtomicDir::file(const std::string& name) const { return temp_path_ + "/" + name; }

void AtomicDir::commit() {
  if (committed_) return;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(temp_path_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file() || it->is_directory()) fsync_path(it->path().string());
  }
  if (ec) fail(temp_path_, "cannot list", ec);
  fsync_path(temp_path_);

  // rename() cannot replace a non-empty directory, so the old one steps aside.
  std::string old_path;
  if (fs::exists(path_, ec)) {
    old_path = path_ + ".old." + std::to_string(::getpid());
    fs::remove_all(old_path, ec);
    if (::rename(path_.c_str(), old_path.c_str()) != 0) fail(path_, "cannot move aside to " + old_path, errno);
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    if (!old_path.empty()) ::rename(old_path.c_str(), path_.c_str());
    fail(path_, "cannot rename " + temp_path_ + " to it", err);
  }
  committed_ = true;
  fsync_path(parent_dir(path_));
  if (!old_path.empty()) {
    fs::remove_all(old_path, ec);
    if (ec) fail(path_, "cannot delete the previous version " + old_path, ec);
  }
}

}  // namespace dnabert::io
