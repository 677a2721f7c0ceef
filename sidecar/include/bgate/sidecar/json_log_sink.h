#pragma once

#include "bgate/sidecar/events.h"
#include "bgate/sidecar/logger.h"
#include "bgate/sidecar/worker_gate.h"

namespace bgate::sidecar {

// Writes the transition stream as JSON log lines: transitions and the
// outcome of initialization at info (warn when a backend fails), every
// attempt at debug; and every start and stop of the worker of `run`.
// OnEvent is called on the supervisor's thread, OnWorkerEvent on the
// worker's; the logger keeps their lines apart.
class JsonLogSink final : public EventSink, public WorkerEventSink {
 public:
  explicit JsonLogSink(Logger& logger) : logger_(logger) {}
  void OnEvent(const Event& event, const Snapshot& snapshot) override;
  void OnWorkerEvent(const WorkerEvent& event) override;

 private:
  Logger& logger_;
};

}  // namespace bgate::sidecar
