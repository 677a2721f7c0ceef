#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bgate/drivers/driver.h"
#include "bgate/drivers/options.h"
#include "bgate/drivers/posix/file_system.h"
#include "bgate/drivers/registry.h"

namespace bgate::drivers::posix {

inline constexpr std::string_view kDriverName = "posix";
// Entries counted per check: enough to tell an empty store from a populated
// one without reading a huge directory on every probe.
inline constexpr std::size_t kMaxListedEntries = 10000;
// Sentinels are not backups, so the entry count leaves them out.
inline constexpr std::string_view kSentinelPrefix = ".backup-gate-sentinel-";

struct PosixConfig {
  std::string path;
  bool write_probe = false;
  std::uint64_t min_free_bytes = 0;
};

// The reason a failed file-system call stands for.
Reason ReasonForErrno(int error);

// Parsed posix options. Immutable, hence thread-safe.
class PosixOptions final : public DriverOptions {
 public:
  // `configured` names the keys the config spelled out; the others hold their
  // defaults.
  PosixOptions(PosixConfig config, std::set<std::string> configured);

  const PosixConfig& config() const { return config_; }
  std::vector<Setting> Describe() const override;
  std::unique_ptr<Driver> CreateDriver(
      const DriverContext& context) const override;

 private:
  PosixConfig config_;
  std::set<std::string> configured_;
};

// Checks a mounted directory (local disk, NFS, CephFS): it exists, can be
// listed, has room and, optionally, takes a durable write. Not thread-safe,
// like every Driver.
class PosixDriver final : public Driver {
 public:
  PosixDriver(PosixConfig config, const DriverContext& context,
              std::shared_ptr<FileSystem> fs);

  Outcome Setup(const Deadline& deadline) override;
  Outcome Check(const Deadline& deadline) override;

  // Where the write probe puts its file; one name per instance, so pods
  // sharing a volume never touch each other's sentinel.
  const std::string& sentinel_path() const { return sentinel_path_; }

 private:
  Outcome ProbeWrite(const Deadline& deadline);
  Outcome ReadBack(const std::string& expected, const Deadline& deadline);
  std::string NewSentinelContent();

  PosixConfig config_;
  std::string sentinel_path_;
  std::shared_ptr<FileSystem> fs_;
  std::mt19937_64 random_;
};

// Reads `path` (required, absolute), `write_probe` and `min_free_bytes`.
// Returns nullptr when it recorded errors.
std::shared_ptr<const DriverOptions> ParsePosixOptions(NodeReader& reader);

void Register(DriverRegistry& registry);

}  // namespace bgate::drivers::posix
