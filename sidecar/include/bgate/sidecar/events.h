#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "bgate/drivers/driver.h"
#include "bgate/sidecar/snapshot.h"

namespace bgate::sidecar {

enum class EventType {
  kAttempt,               // every finished (or timed-out) attempt
  kTransition,            // a backend changed state
  kInitialized,           // first successful initialization of a backend
  kInitializationFailed,  // first failed initialization of a backend
  kLateResult,            // a timed-out attempt returned (result discarded)
  kShutdown,              // draining began
};
std::string_view EventName(EventType type);

struct Event {
  EventType type = EventType::kAttempt;
  WallTime time;
  std::string backend;
  std::string driver;
  BackendState from = BackendState::kPending;
  BackendState to = BackendState::kPending;
  bool ok = false;
  std::optional<drivers::Reason> reason;
  std::string detail;
  std::uint64_t attempt = 0;
  std::chrono::nanoseconds duration{0};
  std::optional<std::uint64_t> free_bytes;
};

// A subscriber to the transition stream (log, metrics, state file, ...).
// Called on the supervisor's thread, one event at a time, with the snapshot
// that the event produced; must not block for long.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void OnEvent(const Event& event, const Snapshot& snapshot) = 0;
};

}  // namespace bgate::sidecar
