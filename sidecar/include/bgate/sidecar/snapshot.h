#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bgate/drivers/driver.h"
#include "bgate/sidecar/config.h"

namespace bgate::sidecar {

enum class BackendState { kPending, kInitializing, kReady, kFailed };
inline constexpr std::array<BackendState, 4> kAllStates = {
    BackendState::kPending, BackendState::kInitializing, BackendState::kReady,
    BackendState::kFailed};
std::string_view StateName(BackendState state);

using WallTime = std::chrono::system_clock::time_point;

struct BackendStatus {
  std::string name;
  std::string driver;
  BackendState state = BackendState::kPending;
  // The reason of the last failed attempt while not ready (or of the last
  // failure counted towards the failure threshold while ready).
  std::optional<drivers::Reason> reason;
  std::string detail;
  int consecutive_failures = 0;
  int consecutive_successes = 0;
  std::uint64_t attempts = 0;
  std::optional<WallTime> last_success;
  std::optional<WallTime> last_transition;
  std::optional<std::uint64_t> free_bytes;
  bool in_flight = false;
  // A timed-out attempt that has not returned yet keeps its thread.
  bool hung = false;
};

// The state of every backend at one moment. Immutable, hence thread-safe;
// probes read it with one atomic load.
struct Snapshot {
  std::uint64_t generation = 0;
  std::vector<BackendStatus> backends;
  ReadinessPolicy policy = ReadinessPolicy::kAll;
  std::vector<std::string> required;
  bool shutting_down = false;

  const BackendStatus* Find(std::string_view name) const;
  // Ready by the policy, leaving out `exclude`: every required backend ready,
  // then all (or, for `any`, at least one) of the rest. An empty rest counts
  // as ready. Never ready while shutting down.
  bool Ready(const std::set<std::string, std::less<>>& exclude = {}) const;
};

// Holds the current snapshot. Thread-safe.
class SnapshotHolder {
 public:
  explicit SnapshotHolder(std::shared_ptr<const Snapshot> initial)
      : current_(std::move(initial)) {}
  std::shared_ptr<const Snapshot> Load() const { return current_.load(); }
  void Store(std::shared_ptr<const Snapshot> next) {
    current_.store(std::move(next));
  }

 private:
  std::atomic<std::shared_ptr<const Snapshot>> current_;
};

}  // namespace bgate::sidecar
