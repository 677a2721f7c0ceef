#pragma once

#include "bgate/sidecar/events.h"
#include "bgate/sidecar/logger.h"

namespace bgate::sidecar {

// Writes the transition stream as JSON log lines: transitions and the
// outcome of initialization at info (warn when a backend fails), every
// attempt at debug. Called on the supervisor's thread only.
class JsonLogSink final : public EventSink {
 public:
  explicit JsonLogSink(Logger& logger) : logger_(logger) {}
  void OnEvent(const Event& event, const Snapshot& snapshot) override;

 private:
  Logger& logger_;
};

}  // namespace bgate::sidecar
