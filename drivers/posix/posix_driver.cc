#include "bgate/drivers/posix/posix_driver.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <system_error>
#include <utility>

namespace bgate::drivers::posix {
namespace {

// Longer instance ids are cut so the sentinel name stays below NAME_MAX.
constexpr std::size_t kMaxInstanceIdBytes = 128;

std::string ErrnoText(int error) {
  return std::generic_category().message(error);
}

Outcome FromErrno(std::string_view operation, int error) {
  return Outcome::Failure(ReasonForErrno(error),
                          std::string(operation) + ": " + ErrnoText(error));
}

// A syscall cannot be interrupted, so the deadline is checked between steps;
// the supervisor has already reported a hang that outlived it.
Outcome TimedOut(std::string_view step) {
  return Outcome::Failure(Reason::kTimeout,
                          "deadline passed during " + std::string(step));
}

std::string FormatBytes(std::uint64_t bytes) {
  static constexpr std::array<const char*, 7> kUnits = {
      "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  auto value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < kUnits.size()) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f %s", value, kUnits[unit]);
  return text;
}

// Instance ids come from pod names and the like; anything outside a portable
// file-name alphabet would make the sentinel path ambiguous or invalid.
std::string SentinelName(std::string_view instance_id) {
  std::string name(kSentinelPrefix);
  for (char c : instance_id.substr(0, kMaxInstanceIdBytes)) {
    bool portable = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                    c == '-';
    name.push_back(portable ? c : '_');
  }
  return name;
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

std::string CountText(std::size_t count, bool truncated) {
  std::string text = std::to_string(count);
  if (truncated) text += "+";
  return text + (count == 1 && !truncated ? " entry" : " entries");
}

Outcome WithFreeBytes(Outcome outcome, std::uint64_t free_bytes) {
  outcome.free_bytes = free_bytes;
  return outcome;
}

}  // namespace

Reason ReasonForErrno(int error) {
  switch (error) {
    case EACCES:
    case EPERM:
    case EROFS:
      return Reason::kPermission;
    case ENOSPC:
    case EDQUOT:
      return Reason::kNoSpace;
    case ENOENT:
    case ENOTDIR:
      return Reason::kNotFound;
    case ETIMEDOUT:
    case ESTALE:
    case EHOSTUNREACH:
    case ENOTCONN:
    case ECONNREFUSED:
      return Reason::kUnreachable;
    default:
      return Reason::kError;
  }
}

PosixOptions::PosixOptions(PosixConfig config, std::set<std::string> configured)
    : config_(std::move(config)), configured_(std::move(configured)) {}

std::vector<Setting> PosixOptions::Describe() const {
  auto source = [this](const std::string& key) {
    return configured_.contains(key) ? "config" : "default";
  };
  return {
      {"path", config_.path, "config"},
      {"write_probe", config_.write_probe ? "true" : "false",
       source("write_probe")},
      {"min_free_bytes", std::to_string(config_.min_free_bytes),
       source("min_free_bytes")},
  };
}

std::unique_ptr<Driver> PosixOptions::CreateDriver(
    const DriverContext& context) const {
  return std::make_unique<PosixDriver>(config_, context, RealFileSystem());
}

PosixDriver::PosixDriver(PosixConfig config, const DriverContext& context,
                         std::shared_ptr<FileSystem> fs)
    : config_(std::move(config)),
      sentinel_path_(JoinPath(config_.path, SentinelName(context.instance_id))),
      fs_(std::move(fs)),
      random_(std::random_device{}()) {}

Outcome PosixDriver::Setup(const Deadline& /*deadline*/) {
  // The options were validated when parsed, and touching the storage here
  // would only duplicate Check without its bookkeeping.
  return Outcome::Success();
}

Outcome PosixDriver::Check(const Deadline& deadline) {
  if (deadline.Expired()) return TimedOut("start");
  const std::string& path = config_.path;

  FileInfo info;
  if (int error = fs_->Stat(path, &info); error != 0) {
    return FromErrno("stat " + path, error);
  }
  if (deadline.Expired()) return TimedOut("stat");
  if (!info.is_directory) {
    return FromErrno("stat " + path, ENOTDIR);
  }

  std::vector<std::string> names;
  if (int error = fs_->ListDirectory(path, kMaxListedEntries, &names);
      error != 0) {
    return FromErrno("list " + path, error);
  }
  if (deadline.Expired()) return TimedOut("list directory");
  const bool truncated = names.size() >= kMaxListedEntries;
  const auto count = static_cast<std::size_t>(
      std::count_if(names.begin(), names.end(), [](const std::string& name) {
        return !name.starts_with(kSentinelPrefix);
      }));

  std::uint64_t free_bytes = 0;
  if (int error = fs_->StatVfs(path, &free_bytes); error != 0) {
    return FromErrno("statvfs " + path, error);
  }
  if (deadline.Expired()) {
    return WithFreeBytes(TimedOut("statvfs"), free_bytes);
  }
  if (free_bytes < config_.min_free_bytes) {
    return WithFreeBytes(
        Outcome::Failure(Reason::kNoSpace,
                         FormatBytes(free_bytes) +
                             " free, below min_free_bytes (" +
                             FormatBytes(config_.min_free_bytes) + ")"),
        free_bytes);
  }

  std::string detail =
      CountText(count, truncated) + ", " + FormatBytes(free_bytes) + " free";
  if (config_.write_probe) {
    Outcome probe = ProbeWrite(deadline);
    if (!probe.ok) return WithFreeBytes(std::move(probe), free_bytes);
    detail += ", write probe ok";
  }
  return WithFreeBytes(Outcome::Success(std::move(detail)), free_bytes);
}

Outcome PosixDriver::ProbeWrite(const Deadline& deadline) {
  // The name belongs to this instance alone, so a sentinel already there was
  // left by a crash or an abandoned check of ours and is safe to clear.
  if (int error = fs_->Remove(sentinel_path_);
      error != 0 && error != ENOENT) {
    return FromErrno("remove stale sentinel", error);
  }
  if (deadline.Expired()) return TimedOut("remove stale sentinel");

  const std::string content = NewSentinelContent();
  if (int error = fs_->WriteFileSync(sentinel_path_, content); error != 0) {
    // A failed write may still have created the file.
    fs_->Remove(sentinel_path_);
    return FromErrno("write sentinel", error);
  }
  Outcome read = ReadBack(content, deadline);
  int remove_error = fs_->Remove(sentinel_path_);
  if (!read.ok) return read;
  if (remove_error != 0) return FromErrno("remove sentinel", remove_error);
  if (deadline.Expired()) return TimedOut("remove sentinel");
  return Outcome::Success();
}

Outcome PosixDriver::ReadBack(const std::string& expected,
                              const Deadline& deadline) {
  if (deadline.Expired()) return TimedOut("write sentinel");
  std::string actual;
  // One byte more than written, so a longer file does not pass as equal.
  if (int error = fs_->ReadFile(sentinel_path_, expected.size() + 1, &actual);
      error != 0) {
    return FromErrno("read sentinel", error);
  }
  if (deadline.Expired()) return TimedOut("read sentinel");
  if (actual != expected) {
    return Outcome::Failure(
        Reason::kError, "read sentinel: content differs from what was written");
  }
  return Outcome::Success();
}

// Fresh random content on every probe, so a stale cache or a file left from
// an earlier check cannot pass for a successful round trip.
std::string PosixDriver::NewSentinelContent() {
  char text[64];
  std::snprintf(text, sizeof(text), "backup-gate sentinel %016" PRIx64
                "%016" PRIx64 "\n", static_cast<std::uint64_t>(random_()),
                static_cast<std::uint64_t>(random_()));
  return text;
}

std::shared_ptr<const DriverOptions> ParsePosixOptions(NodeReader& reader) {
  const std::size_t errors_before = reader.errors().errors().size();
  PosixConfig config;
  std::set<std::string> configured;

  if (auto path = reader.String("path", /*required=*/true)) {
    // A relative path would depend on the working directory of the process.
    if (path->empty() || path->front() != '/') {
      reader.errors().Add(reader.Field("path"), "must be an absolute path");
    }
    config.path = *path;
  }
  if (auto write_probe = reader.Bool("write_probe")) {
    config.write_probe = *write_probe;
    configured.insert("write_probe");
  }
  if (auto min_free = reader.UInt64("min_free_bytes")) {
    config.min_free_bytes = *min_free;
    configured.insert("min_free_bytes");
  }
  reader.RejectUnknown();

  if (reader.errors().errors().size() != errors_before) return nullptr;
  return std::make_shared<PosixOptions>(std::move(config),
                                        std::move(configured));
}

void Register(DriverRegistry& registry) {
  registry.Register({std::string(kDriverName), &ParsePosixOptions});
}

}  // namespace bgate::drivers::posix
