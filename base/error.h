// One exception hierarchy below every layer (base/: nothing else here). Messages
// carry their context ("linear: x [4, 8] vs weight [16, 7]", "file.fa.gz: line 12: ...").
#pragma once
#include <stdexcept>
#include <string>

namespace dnabert {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Wrong use of the library: mismatched shapes, bad dtypes, bad arguments.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// Bad command-line usage; the CLI exits with status 2 for these.
class UsageError : public Error {
 public:
  using Error::Error;
};

// Communication with the other ranks of an MPI job failed: usually a peer that
// died (killed, out of memory) while this rank waited for it.
class CommError : public Error {
 public:
  using Error::Error;
};

}  // namespace dnabert
