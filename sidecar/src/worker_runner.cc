#include "bgate/sidecar/worker_runner.h"

#include <signal.h>

#include <cerrno>
#include <cstring>

namespace bgate::sidecar {
namespace {

// Readiness is read from the snapshot, which costs one atomic load; looking
// this often keeps the worker within a tenth of a second of /readyz.
constexpr std::chrono::milliseconds kReadinessPoll{100};

// What a shell answers when a command cannot be run.
int SpawnErrorCode(int error) { return error == ENOENT ? 127 : 126; }

timespec ToTimespec(std::chrono::nanoseconds d) {
  return {static_cast<time_t>(d.count() / 1'000'000'000),
          static_cast<long>(d.count() % 1'000'000'000)};
}

}  // namespace

WorkerRunner::WorkerRunner(const WorkerConfig& config,
                           std::vector<std::string> command, const Clock& clock,
                           const SnapshotHolder& snapshots,
                           std::vector<WorkerEventSink*> sinks, Logger& logger)
    : gate_(config),
      command_(std::move(command)),
      clock_(clock),
      snapshots_(snapshots),
      sinks_(std::move(sinks)),
      logger_(logger) {}

int WorkerRunner::Run(const sigset_t& signals,
                      const std::function<void(int)>& on_signal) {
  while (true) {
    SteadyTime now = clock_.Now();
    gate_.SetReady(snapshots_.Load()->Ready(), now);
    for (const auto& action : gate_.Poll(now)) {
      switch (action.kind) {
        case WorkerAction::Kind::kStart:
          Start(now);
          break;
        case WorkerAction::Kind::kSignal:
          Signal(action.signal);
          break;
        case WorkerAction::Kind::kExit:
          return action.exit_code;
      }
    }
    // NextWake may be SteadyTime::min() or max(): compare before subtracting.
    const SteadyTime wake = gate_.NextWake();
    const SteadyTime after = clock_.Now();
    std::chrono::nanoseconds wait{0};
    if (wake > after) {
      wait = wake - after < kReadinessPoll
                 ? std::chrono::nanoseconds(wake - after)
                 : std::chrono::nanoseconds(kReadinessPoll);
    }
    const timespec timeout = ToTimespec(wait);
    const int sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig == SIGTERM || sig == SIGINT) {
      logger_.Log(LogLevel::kInfo, "signal received, stopping worker",
                  {{"event", "shutdown"},
                   {"signal", strsignal(sig)},
                   {"pid", pid_}});
      on_signal(sig);
      gate_.Shutdown(sig);
    }
    // Every turn, not only on SIGCHLD: signals of one kind coalesce.
    ReapChildren();
  }
}

void WorkerRunner::Start(SteadyTime now) {
  pid_t pid = 0;
  if (int error = SpawnWorker(command_, &pid); error != 0) {
    ExitStatus status{false, SpawnErrorCode(error)};
    StopReason reason = gate_.Exited(status, now);
    Stopped(0, status, reason, now, "cannot start " + command_.front() + ": " +
                           std::strerror(error));
    return;
  }
  pid_ = pid;
  WorkerEvent event;
  event.type = WorkerEvent::Type::kStarted;
  event.time = clock_.WallNow();
  event.pid = pid;
  Emit(event);
}

void WorkerRunner::Signal(int signal) {
  if (pid_ == 0) return;
  logger_.Log(signal == SIGKILL ? LogLevel::kWarn : LogLevel::kInfo,
              "signalling worker",
              {{"event", "worker_signal"},
               {"pid", pid_},
               {"signal", signal == SIGKILL ? std::string("SIGKILL")
                                            : StopSignalName(signal)},
               {"reason", StopReasonName(gate_.stop_reason())}});
  if (signal == SIGKILL) {
    SignalSession(pid_, SIGKILL);
  } else {
    ::kill(-pid_, signal);
  }
}

void WorkerRunner::ReapChildren() {
  for (const auto& reaped : reaper_.Reap(pid_)) {
    if (reaped.pid != pid_) {
      logger_.Log(LogLevel::kDebug, "reaped orphan",
                  {{"event", "reaped"}, {"pid", reaped.pid}});
      continue;
    }
    const int pid = pid_;
    pid_ = 0;
    ExitStatus status = ExitStatus::FromWait(reaped.status);
    const SteadyTime now = clock_.Now();
    StopReason reason = gate_.Exited(status, now);
    Stopped(pid, status, reason, now, "");
  }
}

void WorkerRunner::Stopped(int pid, ExitStatus status, StopReason reason,
                           SteadyTime now, std::string detail) {
  Emit({.type = WorkerEvent::Type::kStopped,
        .time = clock_.WallNow(),
        .pid = pid,
        .reason = reason,
        .exit = status,
        .detail = std::move(detail),
        .restart_in = gate_.RestartIn(now)});
}

void WorkerRunner::Emit(const WorkerEvent& event) {
  for (auto* sink : sinks_) sink->OnWorkerEvent(event);
}

}  // namespace bgate::sidecar
