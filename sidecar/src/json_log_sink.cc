#include "bgate/sidecar/json_log_sink.h"

#include <string.h>

#include <chrono>

namespace bgate::sidecar {

void JsonLogSink::OnEvent(const Event& event, const Snapshot& snapshot) {
  LogLevel level = LogLevel::kInfo;
  std::string msg;
  switch (event.type) {
    case EventType::kAttempt:
      level = LogLevel::kDebug;
      msg = event.ok ? "check passed" : "check failed";
      break;
    case EventType::kTransition:
      level = event.to == BackendState::kFailed ? LogLevel::kWarn
                                                : LogLevel::kInfo;
      msg = "backend " + std::string(StateName(event.to));
      break;
    case EventType::kInitialized:
      msg = "backend initialized";
      break;
    case EventType::kInitializationFailed:
      level = LogLevel::kWarn;
      msg = "backend initialization failed";
      break;
    case EventType::kLateResult:
      level = LogLevel::kDebug;
      msg = "timed-out attempt returned; result discarded";
      break;
    case EventType::kShutdown:
      logger_.Log(LogLevel::kInfo, "draining: readyz answers 503",
                  {{"event", EventName(event.type)}});
      return;
  }
  if (!logger_.Enabled(level)) return;
  nlohmann::ordered_json fields;
  fields["event"] = EventName(event.type);
  fields["backend"] = event.backend;
  fields["driver"] = event.driver;
  if (event.type == EventType::kTransition) {
    fields["from"] = StateName(event.from);
    fields["to"] = StateName(event.to);
    fields["ready"] = snapshot.Ready();
  } else {
    fields["state"] = StateName(event.to);
  }
  if (event.reason) fields["reason"] = drivers::ReasonName(*event.reason);
  if (!event.detail.empty()) fields["detail"] = event.detail;
  fields["attempt"] = event.attempt;
  if (event.duration.count() > 0) {
    fields["duration"] =
        std::chrono::duration<double>(event.duration).count();
  }
  logger_.Log(level, msg, std::move(fields));
}

void JsonLogSink::OnWorkerEvent(const WorkerEvent& event) {
  nlohmann::ordered_json fields;
  if (event.type == WorkerEvent::Type::kStarted) {
    fields["event"] = "worker_started";
    fields["pid"] = event.pid;
    logger_.Log(LogLevel::kInfo, "worker started", std::move(fields));
    return;
  }
  fields["event"] = "worker_stopped";
  fields["pid"] = event.pid;
  fields["reason"] = StopReasonName(event.reason);
  fields["exit_code"] = event.exit.Code();
  if (event.exit.signaled) {
    const char* name = sigabbrev_np(event.exit.value);
    fields["signal"] = name != nullptr ? "SIG" + std::string(name)
                                       : std::to_string(event.exit.value);
  }
  if (!event.detail.empty()) fields["detail"] = event.detail;
  if (event.restart_in) {
    fields["restart_in"] =
        std::chrono::duration<double>(*event.restart_in).count();
  }
  const bool failed =
      event.reason == StopReason::kExited && !event.exit.Success();
  logger_.Log(failed ? LogLevel::kWarn : LogLevel::kInfo, "worker stopped",
              std::move(fields));
}

}  // namespace bgate::sidecar
