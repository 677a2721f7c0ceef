#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bgate::drivers::posix {

// What Stat reports about a path.
struct FileInfo {
  bool is_directory = false;
};

// Every file-system call the posix driver makes, so that tests can swap in a
// store that fails or hangs on demand. Each method returns 0 or an errno
// value and leaves its outputs unspecified on failure. Implementations must be
// thread-safe: an abandoned check may still be inside a call when the next
// one starts.
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Follows symlinks, so a link to a directory counts as a directory.
  virtual int Stat(const std::string& path, FileInfo* info) = 0;
  // Bytes an unprivileged writer may still use: a backup job never runs as
  // root, so the reserved blocks are not counted.
  virtual int StatVfs(const std::string& path,
                      std::uint64_t* available_bytes) = 0;
  // At most `limit` entry names, without "." and "..", in directory order.
  virtual int ListDirectory(const std::string& path, std::size_t limit,
                            std::vector<std::string>* names) = 0;
  // Creates `path` (failing with EEXIST if it is there), writes `data`, makes
  // it durable with fsync and closes it, reporting close errors too: network
  // file systems report deferred write failures there.
  virtual int WriteFileSync(const std::string& path, std::string_view data) = 0;
  // Reads at most `limit` bytes from the start of `path`.
  virtual int ReadFile(const std::string& path, std::size_t limit,
                       std::string* data) = 0;
  virtual int Remove(const std::string& path) = 0;
};

// The host's file system. Stateless, hence thread-safe; shared by all
// drivers.
std::shared_ptr<FileSystem> RealFileSystem();

}  // namespace bgate::drivers::posix
