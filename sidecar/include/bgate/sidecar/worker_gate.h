#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bgate/sidecar/clock.h"
#include "bgate/sidecar/config.h"
#include "bgate/sidecar/snapshot.h"

namespace bgate::sidecar {

// Why a worker stopped: backup-gate stopped it because storage stayed down,
// it exited on its own, or backup-gate itself was asked to stop.
enum class StopReason { kStorage, kExited, kSignal };
inline constexpr std::array<StopReason, 3> kAllStopReasons = {
    StopReason::kStorage, StopReason::kExited, StopReason::kSignal};
std::string_view StopReasonName(StopReason reason);

// How a process ended.
struct ExitStatus {
  bool signaled = false;
  int value = 0;  // the exit code, or the number of the signal

  // The shell's convention, which Kubernetes reports too: the code, or 128
  // plus the signal.
  int Code() const { return signaled ? 128 + value : value; }
  bool Success() const { return !signaled && value == 0; }
  // From a waitpid status.
  static ExitStatus FromWait(int status);
};

// A worker started or stopped.
struct WorkerEvent {
  enum class Type { kStarted, kStopped };
  Type type = Type::kStarted;
  WallTime time;
  int pid = 0;
  StopReason reason = StopReason::kExited;  // kStopped only
  ExitStatus exit;                          // kStopped only
  std::string detail;                       // e.g. why it could not start
  // kStopped only: when it will be started again, if storage allows.
  std::optional<std::chrono::nanoseconds> restart_in;
};

// A subscriber to worker starts and stops. Called on the thread that runs
// the worker, one event at a time; must not block for long.
class WorkerEventSink {
 public:
  virtual ~WorkerEventSink() = default;
  virtual void OnWorkerEvent(const WorkerEvent& event) = 0;
};

// Something the gate wants done to the worker.
struct WorkerAction {
  enum class Kind {
    kStart,   // start the worker (then Exited() if that fails)
    kSignal,  // send `signal` to the worker's processes
    kExit,    // leave with `exit_code`
  };
  Kind kind = Kind::kStart;
  int signal = 0;
  int exit_code = 0;

  bool operator==(const WorkerAction&) const = default;
};

// Decides when the worker runs: started once the pod is ready, stopped
// (stop signal, then SIGKILL after stop_timeout) once it has been not ready
// for stop_after without a break, started again when ready, restarted with
// backoff after it exits on its own as the restart policy says, and taken
// down on shutdown. Pure: it owns no process and reads no clock; the caller
// feeds it readiness, exits and times, and carries out the actions Poll
// returns. Not thread-safe.
class WorkerGate {
 public:
  explicit WorkerGate(WorkerConfig config);

  void SetReady(bool ready, SteadyTime now);
  // backup-gate was asked to stop with `signal`: the signal goes to the
  // worker, and once it has stopped the gate asks to exit with its status
  // (0 when none was running). Each call forwards the signal again.
  void Shutdown(int signal);
  // The worker ended (or could not be started). Returns why it stopped.
  StopReason Exited(ExitStatus status, SteadyTime now);

  // What to do now; the gate assumes every action is carried out.
  std::vector<WorkerAction> Poll(SteadyTime now);
  // The next moment Poll may have something to do, given no new input;
  // SteadyTime::max() if none.
  SteadyTime NextWake() const;

  bool running() const;
  // The wait before the restart that follows `exits` consecutive exits:
  // min(restart_backoff.max, restart_backoff.initial * 2^(exits-1)).
  std::chrono::nanoseconds Backoff(int exits) const;
  // When the next start may happen (after an exit, the backoff).
  SteadyTime restart_at() const { return restart_at_; }
  // After an exit: how long until the worker is started again (if storage
  // allows); nothing when it waits for storage or is not to be restarted.
  std::optional<std::chrono::nanoseconds> RestartIn(SteadyTime now) const;
  // Why the stop under way was begun.
  StopReason stop_reason() const { return stop_reason_; }

 private:
  enum class Phase { kIdle, kRunning, kStopping, kKilling, kExiting, kDone };

  void BeginStop(int signal, StopReason reason, SteadyTime now,
                 std::vector<WorkerAction>& actions);

  WorkerConfig config_;
  Phase phase_ = Phase::kIdle;
  bool ready_ = false;
  SteadyTime not_ready_since_ = SteadyTime::min();
  std::optional<int> shutdown_signal_;
  bool forward_pending_ = false;
  StopReason stop_reason_ = StopReason::kStorage;
  SteadyTime kill_at_ = SteadyTime::max();
  SteadyTime restart_at_ = SteadyTime::min();
  SteadyTime started_at_ = SteadyTime::min();
  int exits_ = 0;  // consecutive exits on its own
  int exit_code_ = 0;
};

}  // namespace bgate::sidecar
