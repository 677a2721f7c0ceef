#include "bgate/sidecar/worker_gate.h"

#include <sys/wait.h>

#include <algorithm>
#include <csignal>

namespace bgate::sidecar {

std::string_view StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kStorage:
      return "storage";
    case StopReason::kSignal:
      return "signal";
    case StopReason::kExited:
      break;
  }
  return "exited";
}

ExitStatus ExitStatus::FromWait(int status) {
  if (WIFSIGNALED(status)) return {true, WTERMSIG(status)};
  return {false, WIFEXITED(status) ? WEXITSTATUS(status) : 0};
}

WorkerGate::WorkerGate(WorkerConfig config) : config_(config) {}

void WorkerGate::SetReady(bool ready, SteadyTime now) {
  if (ready_ && !ready) not_ready_since_ = now;
  ready_ = ready;
}

void WorkerGate::Shutdown(int signal) {
  shutdown_signal_ = signal;
  forward_pending_ = true;
}

bool WorkerGate::running() const {
  return phase_ == Phase::kRunning || phase_ == Phase::kStopping ||
         phase_ == Phase::kKilling;
}

std::chrono::nanoseconds WorkerGate::Backoff(int exits) const {
  auto wait = config_.restart_initial;
  for (int i = 1; i < exits && wait < config_.restart_max; ++i) wait *= 2;
  return std::min(wait, config_.restart_max);
}

StopReason WorkerGate::Exited(ExitStatus status, SteadyTime now) {
  StopReason reason = StopReason::kExited;
  if (phase_ == Phase::kStopping || phase_ == Phase::kKilling) {
    reason = stop_reason_;
  } else if (shutdown_signal_) {
    reason = StopReason::kSignal;
  }
  kill_at_ = SteadyTime::max();
  if (shutdown_signal_) {
    phase_ = Phase::kExiting;
    exit_code_ = status.Code();
    return reason;
  }
  if (reason == StopReason::kStorage) {
    // Stopped on purpose: it starts again as soon as storage is back.
    phase_ = Phase::kIdle;
    restart_at_ = SteadyTime::min();
    return reason;
  }
  const bool done = config_.restart == RestartPolicy::kNever ||
                    (config_.restart == RestartPolicy::kOnFailure &&
                     status.Success());
  if (done) {
    phase_ = Phase::kExiting;
    exit_code_ = status.Code();
    return reason;
  }
  // A worker that ran for a while is not crash-looping: its next exit
  // starts the backoff afresh.
  if (started_at_ != SteadyTime::min() &&
      now - started_at_ >= config_.restart_max) {
    exits_ = 0;
  }
  ++exits_;
  restart_at_ = now + Backoff(exits_);
  phase_ = Phase::kIdle;
  return reason;
}

std::optional<std::chrono::nanoseconds> WorkerGate::RestartIn(
    SteadyTime now) const {
  if (phase_ != Phase::kIdle || shutdown_signal_ ||
      restart_at_ == SteadyTime::min()) {
    return std::nullopt;
  }
  return std::max<std::chrono::nanoseconds>(restart_at_ - now,
                                            std::chrono::nanoseconds(0));
}

void WorkerGate::BeginStop(int signal, StopReason reason, SteadyTime now,
                           std::vector<WorkerAction>& actions) {
  actions.push_back({WorkerAction::Kind::kSignal, signal, 0});
  stop_reason_ = reason;
  kill_at_ = now + config_.stop_timeout;
  phase_ = Phase::kStopping;
}

std::vector<WorkerAction> WorkerGate::Poll(SteadyTime now) {
  std::vector<WorkerAction> actions;
  switch (phase_) {
    case Phase::kIdle:
      if (shutdown_signal_) {
        phase_ = Phase::kDone;
        actions.push_back({WorkerAction::Kind::kExit, 0, 0});
      } else if (ready_ && now >= restart_at_) {
        phase_ = Phase::kRunning;
        started_at_ = now;
        actions.push_back({WorkerAction::Kind::kStart, 0, 0});
      }
      break;
    case Phase::kRunning:
      if (shutdown_signal_) {
        forward_pending_ = false;
        BeginStop(*shutdown_signal_, StopReason::kSignal, now, actions);
      } else if (!ready_ && now - not_ready_since_ >= config_.stop_after) {
        BeginStop(config_.stop_signal, StopReason::kStorage, now, actions);
      }
      break;
    case Phase::kStopping:
    case Phase::kKilling:
      if (forward_pending_) {
        forward_pending_ = false;
        actions.push_back({WorkerAction::Kind::kSignal, *shutdown_signal_, 0});
      }
      if (phase_ == Phase::kStopping && now >= kill_at_) {
        phase_ = Phase::kKilling;
        actions.push_back({WorkerAction::Kind::kSignal, SIGKILL, 0});
      }
      break;
    case Phase::kExiting:
      phase_ = Phase::kDone;
      actions.push_back({WorkerAction::Kind::kExit, 0, exit_code_});
      break;
    case Phase::kDone:
      break;
  }
  return actions;
}

SteadyTime WorkerGate::NextWake() const {
  switch (phase_) {
    case Phase::kIdle:
      if (shutdown_signal_) return SteadyTime::min();
      return ready_ ? restart_at_ : SteadyTime::max();
    case Phase::kRunning:
      if (shutdown_signal_) return SteadyTime::min();
      return ready_ ? SteadyTime::max() : not_ready_since_ + config_.stop_after;
    case Phase::kStopping:
      return forward_pending_ ? SteadyTime::min() : kill_at_;
    case Phase::kKilling:
      return forward_pending_ ? SteadyTime::min() : SteadyTime::max();
    case Phase::kExiting:
      return SteadyTime::min();
    case Phase::kDone:
      break;
  }
  return SteadyTime::max();
}

}  // namespace bgate::sidecar
