#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "bgate/sidecar/events.h"
#include "bgate/sidecar/logger.h"

namespace bgate::sidecar {

// The snapshot as JSON, as written to the state file and printed by
// `check --output json`.
nlohmann::ordered_json SnapshotJson(const Snapshot& snapshot);

// Rewrites the state file atomically (temporary file, fsync, rename) on
// every transition and on shutdown, so a worker can look before it takes a
// job. Called on the supervisor's thread only.
class StateFileSink final : public EventSink {
 public:
  StateFileSink(std::string path, Logger& logger)
      : path_(std::move(path)), logger_(logger) {}
  void OnEvent(const Event& event, const Snapshot& snapshot) override;
  // Writes `snapshot` now; false (and a log line) on failure.
  bool Write(const Snapshot& snapshot);

 private:
  std::string path_;
  Logger& logger_;
  bool written_ = false;
};

}  // namespace bgate::sidecar
