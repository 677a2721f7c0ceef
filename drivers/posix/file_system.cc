#include "bgate/drivers/posix/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

#include "bgate/drivers/scoped_fd.h"

namespace bgate::drivers::posix {
namespace {

int OpenRetrying(const std::string& path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

class RealFs final : public FileSystem {
 public:
  int Stat(const std::string& path, FileInfo* info) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return errno;
    info->is_directory = S_ISDIR(st.st_mode);
    return 0;
  }

  int StatVfs(const std::string& path,
              std::uint64_t* available_bytes) override {
    struct statvfs vfs {};
    int rc;
    do {
      rc = ::statvfs(path.c_str(), &vfs);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) return errno;
    *available_bytes = static_cast<std::uint64_t>(vfs.f_bavail) *
                       static_cast<std::uint64_t>(vfs.f_frsize);
    return 0;
  }

  int ListDirectory(const std::string& path, std::size_t limit,
                    std::vector<std::string>* names) override {
    // Opening the descriptor ourselves keeps it close-on-exec, so a command
    // spawned meanwhile by another driver does not inherit it.
    ScopedFd fd(OpenRetrying(path, O_RDONLY | O_DIRECTORY));
    if (fd.get() < 0) return errno;
    DIR* dir = ::fdopendir(fd.get());
    if (dir == nullptr) return errno;
    fd.Release();
    names->clear();
    int result = 0;
    while (names->size() < limit) {
      errno = 0;
      const dirent* entry = ::readdir(dir);
      if (entry == nullptr) {
        result = errno;
        break;
      }
      std::string_view name = entry->d_name;
      if (name == "." || name == "..") continue;
      names->emplace_back(name);
    }
    ::closedir(dir);
    return result;
  }

  int WriteFileSync(const std::string& path, std::string_view data) override {
    ScopedFd fd(OpenRetrying(path, O_WRONLY | O_CREAT | O_EXCL, 0600));
    if (fd.get() < 0) return errno;
    while (!data.empty()) {
      ssize_t n = ::write(fd.get(), data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    if (::fsync(fd.get()) != 0) return errno;
    // Retrying close after EINTR could close a descriptor another thread has
    // just been given; Linux releases the descriptor either way.
    if (::close(fd.Release()) != 0 && errno != EINTR) return errno;
    return 0;
  }

  int ReadFile(const std::string& path, std::size_t limit,
               std::string* data) override {
    ScopedFd fd(OpenRetrying(path, O_RDONLY));
    if (fd.get() < 0) return errno;
    data->assign(limit, '\0');
    std::size_t got = 0;
    while (got < limit) {
      ssize_t n = ::read(fd.get(), data->data() + got, limit - got);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    data->resize(got);
    return 0;
  }

  int Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return errno;
    return 0;
  }
};

}  // namespace

std::shared_ptr<FileSystem> RealFileSystem() {
  static const std::shared_ptr<FileSystem> fs = std::make_shared<RealFs>();
  return fs;
}

}  // namespace bgate::drivers::posix
