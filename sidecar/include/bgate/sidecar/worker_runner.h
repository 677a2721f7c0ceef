#pragma once

#include <signal.h>
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "bgate/sidecar/child_reaper.h"
#include "bgate/sidecar/clock.h"
#include "bgate/sidecar/config.h"
#include "bgate/sidecar/logger.h"
#include "bgate/sidecar/snapshot.h"
#include "bgate/sidecar/worker_gate.h"

namespace bgate::sidecar {

// Runs the worker of `backup-gate run` as a child: carries out what the
// WorkerGate decides from the readiness snapshot, reaps children, and turns
// SIGTERM/SIGINT into a shutdown of the worker. Lives on the thread that
// takes the process's signals. Not thread-safe.
class WorkerRunner {
 public:
  WorkerRunner(const WorkerConfig& config, std::vector<std::string> command,
               const Clock& clock, const SnapshotHolder& snapshots,
               std::vector<WorkerEventSink*> sinks, Logger& logger);

  // Runs until the gate asks to exit, and returns the exit code. `signals`
  // holds SIGTERM, SIGINT and SIGCHLD and is blocked in every thread.
  // `on_signal` is called on each SIGTERM/SIGINT before it is forwarded.
  int Run(const sigset_t& signals, const std::function<void(int)>& on_signal);

 private:
  void Start(SteadyTime now);
  void Signal(int signal);
  void ReapChildren();
  void Stopped(int pid, ExitStatus status, StopReason reason,
               SteadyTime now, std::string detail);
  void Emit(const WorkerEvent& event);

  WorkerGate gate_;
  std::vector<std::string> command_;
  const Clock& clock_;
  const SnapshotHolder& snapshots_;
  std::vector<WorkerEventSink*> sinks_;
  Logger& logger_;
  ChildReaper reaper_;
  pid_t pid_ = 0;  // the running worker, 0 when none
};

}  // namespace bgate::sidecar
