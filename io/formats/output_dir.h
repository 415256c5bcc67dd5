// The output directory (--out) of a command that writes one: convert,
// pretrain, finetune, motifs and split. Two rules keep a run from losing data:
//
// 1. A command writes only where it destroys nothing it did not create. --out
//    may be absent, an empty directory, or a directory that this command wrote
//    before. Such a directory holds the marker file .dnabert-output, which
//    lists the commands that wrote into it, one per line. A directory from a
//    version before the marker qualifies when every entry has a name that the
//    command writes, and those names are its own (pretrain, finetune, motifs;
//    not convert's config.json or split's train.csv, which a user's model or
//    dataset folder holds too). A command that replaces the whole directory (convert)
//    also needs every entry to be one of its names, whatever the marker says.
//    Anything else, such as a file, another command's directory or a folder of
//    unrelated files, needs --overwrite. A --out that is or contains an input
//    of the run is refused even then, because writing it could delete the
//    input.
// 2. One run at a time. The run holds an exclusive flock on OUT.lock for its
//    whole length. The lock file sits beside --out and not inside it, because
//    convert replaces the directory by rename. The file holds the holder's pid
//    and command line, so that a second run can say which process is in its way.
#pragma once
#include <string>
#include <vector>

namespace dnabert::io {

inline constexpr const char* kOutputMarker = ".dnabert-output";

// Throws dnabert::UsageError naming `out` (given as `flag`) and the reason,
// unless `command` may write there under the rules above. Inputs that do not
// exist (a preset name, a "FASTA:LABEL" spec) are skipped.
void check_output_dir(const std::string& out, const std::string& command, bool overwrite,
                      const std::vector<std::string>& inputs, const std::string& flag = "--out");

// An exclusive lock on an output path, held by this process until destroyed.
class OutputLock {
 public:
  // Takes OUT.lock (creating OUT's parent directory if needed). Throws
  // dnabert::Error naming `out` and the holder if another process holds it.
  OutputLock(const std::string& out, const std::string& flag);
  ~OutputLock();  // removes the lock file while still holding it, then releases it
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// One command's claim on its --out for the whole run: locks it, then checks
// it (check_output_dir). Construct it before any work starts.
class OutputDir {
 public:
  OutputDir(std::string out, std::string command, bool overwrite, const std::vector<std::string>& inputs,
            const std::string& flag = "--out");
  // If create() made the directory and nothing but the marker was written
  // into it (the command failed early), removes it again.
  ~OutputDir();
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;

  // For commands that write files into --out: creates the directory and adds
  // this command to its marker. A non-directory at --out (which the check lets
  // through only under --overwrite) is removed first.
  void create();
  // The marker's contents for a directory that this command builds elsewhere
  // and renames into place (convert's AtomicDir).
  std::string marker_text() const;

 private:
  OutputLock lock_;
  std::string out_, command_;
  bool created_ = false;
};

}  // namespace dnabert::io
