#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bgate::drivers {

// The closed set of failure reasons. The same words appear in logs, ?verbose
// output and the `result` metric label, so they never change once released.
enum class Reason {
  kTimeout,
  kUnreachable,
  kAuth,
  kNotFound,
  kPermission,
  kNoSpace,
  kMisconfigured,
  kError,
};

inline constexpr std::array<Reason, 8> kAllReasons = {
    Reason::kTimeout,    Reason::kUnreachable, Reason::kAuth,
    Reason::kNotFound,   Reason::kPermission,  Reason::kNoSpace,
    Reason::kMisconfigured, Reason::kError,
};

std::string_view ReasonName(Reason reason);
std::optional<Reason> ParseReason(std::string_view name);

using SteadyTime = std::chrono::steady_clock::time_point;

// The moment by which an attempt must be over. Drivers do real I/O, so it is
// measured against the real steady clock. Immutable, hence thread-safe.
class Deadline {
 public:
  explicit Deadline(SteadyTime at) : at_(at) {}
  static Deadline After(std::chrono::nanoseconds d) {
    return Deadline(std::chrono::steady_clock::now() + d);
  }

  SteadyTime at() const { return at_; }
  // Time left, never negative.
  std::chrono::nanoseconds Remaining() const;
  bool Expired() const { return Remaining().count() == 0; }

 private:
  SteadyTime at_;
};

// The result of one driver step. `detail` is for people: one line, capped,
// never a secret (drivers scrub it before it leaves them).
struct Outcome {
  bool ok = true;
  Reason reason = Reason::kError;
  std::string detail;
  // Free space seen by the check, for drivers that can tell (posix).
  std::optional<std::uint64_t> free_bytes;

  static Outcome Success(std::string detail = {});
  static Outcome Failure(Reason reason, std::string detail);
};

// Folds a human detail into one printable line of at most `cap` bytes.
std::string SanitizeDetail(std::string_view text, std::size_t cap = 256);

// The byte offset of the first byte of `text` that does not start a
// well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF), or nullopt when all of it is UTF-8.
std::optional<std::size_t> FirstInvalidUtf8(std::string_view text);

// One storage protocol. A driver knows its protocol and nothing else: no
// threads, retries, metrics or logging policy. Not thread-safe: the supervisor
// calls one method at a time for a given driver, Setup until it succeeds (and
// again after an `auth` failure), then Check on every attempt.
class Driver {
 public:
  virtual ~Driver() = default;
  // Validates what needs the environment (credentials, clients) and prepares
  // for Check. Must return by the deadline where the platform allows it.
  virtual Outcome Setup(const Deadline& deadline) = 0;
  // Reaches the storage and confirms it is usable.
  virtual Outcome Check(const Deadline& deadline) = 0;
};

// What a driver is told about where it runs.
struct DriverContext {
  std::string backend_name;
  // Unique per running process (pod name, pid, random), for sentinel names.
  std::string instance_id;
};

// One effective setting of a backend, for `validate`. `source` says where
// the value came from ("config", "default", "env FOO", "flag --x").
struct Setting {
  std::string key;
  std::string value;
  std::string source;
};

// A driver's parsed, validated options. Immutable once parsed, hence
// thread-safe.
class DriverOptions {
 public:
  virtual ~DriverOptions() = default;
  // Effective values with their sources; secrets appear as paths, never as
  // contents.
  virtual std::vector<Setting> Describe() const = 0;
  virtual std::unique_ptr<Driver> CreateDriver(
      const DriverContext& context) const = 0;
};

}  // namespace bgate::drivers
