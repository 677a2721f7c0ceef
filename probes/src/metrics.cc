#include "bgate/probes/metrics.h"

#include <sstream>

#include <prometheus/text_serializer.h>

namespace bgate::probes {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using sidecar::BackendState;

namespace {

double Seconds(sidecar::WallTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// The transitions the state machine can make.
constexpr std::pair<BackendState, BackendState> kTransitions[] = {
    {BackendState::kPending, BackendState::kInitializing},
    {BackendState::kInitializing, BackendState::kReady},
    {BackendState::kInitializing, BackendState::kFailed},
    {BackendState::kReady, BackendState::kFailed},
    {BackendState::kFailed, BackendState::kReady},
};

}  // namespace

MetricsRecorder::MetricsRecorder(const sidecar::Config& config,
                                 const std::string& version,
                                 const std::string& revision)
    : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  auto& up = BuildGauge()
                 .Name("backup_gate_backend_up")
                 .Help("1 when the backend is ready, 0 otherwise.")
                 .Register(r);
  auto& state = BuildGauge()
                    .Name("backup_gate_backend_state")
                    .Help("1 for the backend's current state, 0 for the others.")
                    .Register(r);
  auto& checks = BuildCounter()
                     .Name("backup_gate_backend_checks_total")
                     .Help("Initialization attempts (setup and check) by "
                           "result: success or a failure reason.")
                     .Register(r);
  auto& duration = BuildHistogram()
                       .Name("backup_gate_backend_check_duration_seconds")
                       .Help("Duration of initialization attempts.")
                       .Register(r);
  auto& failures = BuildGauge()
                       .Name("backup_gate_backend_consecutive_failures")
                       .Help("Failed attempts since the last success.")
                       .Register(r);
  auto& last_success =
      BuildGauge()
          .Name("backup_gate_backend_last_success_timestamp_seconds")
          .Help("Unix time of the last successful attempt (0 before one).")
          .Register(r);
  auto& last_transition =
      BuildGauge()
          .Name("backup_gate_backend_last_transition_timestamp_seconds")
          .Help("Unix time of the last state change.")
          .Register(r);
  auto& transitions = BuildCounter()
                          .Name("backup_gate_backend_transitions_total")
                          .Help("State changes by from and to state.")
                          .Register(r);
  auto& timeout = BuildGauge()
                      .Name("backup_gate_backend_check_timeout_seconds")
                      .Help("The configured deadline of one attempt.")
                      .Register(r);
  auto& hung = BuildGauge()
                   .Name("backup_gate_backend_attempt_hung")
                   .Help("1 while an attempt that passed its deadline has not "
                         "returned (it keeps its thread).")
                   .Register(r);
  free_bytes_family_ = &BuildGauge()
                            .Name("backup_gate_backend_free_bytes")
                            .Help("Free space available to the backup "
                                  "worker, where the driver can tell.")
                            .Register(r);
  ready_ = &BuildGauge()
                .Name("backup_gate_ready")
                .Help("1 when the pod is ready by the readiness policy.")
                .Register(r)
                .Add({});
  BuildGauge()
      .Name("backup_gate_build_info")
      .Help("Version and revision of the running binary; always 1.")
      .Register(r)
      .Add({{"version", version}, {"revision", revision}})
      .Set(1);

  const prometheus::Histogram::BucketBoundaries buckets = {
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  for (const auto& b : config.backends) {
    BackendMetrics m;
    m.labels = {{"backend", b.name}, {"driver", b.driver}};
    auto with = [&](const char* key, std::string value) {
      auto labels = m.labels;
      labels[key] = std::move(value);
      return labels;
    };
    m.up = &up.Add(m.labels);
    for (auto s : sidecar::kAllStates) {
      m.state[s] = &state.Add(with("state", std::string(sidecar::StateName(s))));
    }
    m.checks["success"] = &checks.Add(with("result", "success"));
    for (auto reason : drivers::kAllReasons) {
      std::string name(drivers::ReasonName(reason));
      m.checks[name] = &checks.Add(with("result", name));
    }
    m.duration = &duration.Add(m.labels, buckets);
    m.consecutive_failures = &failures.Add(m.labels);
    m.last_success = &last_success.Add(m.labels);
    m.last_transition = &last_transition.Add(m.labels);
    for (const auto& [from, to] : kTransitions) {
      auto labels = m.labels;
      labels["from"] = std::string(sidecar::StateName(from));
      labels["to"] = std::string(sidecar::StateName(to));
      m.transitions[{from, to}] = &transitions.Add(labels);
    }
    m.timeout = &timeout.Add(m.labels);
    m.timeout->Set(std::chrono::duration<double>(b.check.timeout).count());
    m.hung = &hung.Add(m.labels);
    m.state[BackendState::kPending]->Set(1);
    backends_.emplace(b.name, std::move(m));
  }
}

void MetricsRecorder::UpdateGauges(BackendMetrics& m,
                                   const sidecar::BackendStatus& status) {
  m.up->Set(status.state == BackendState::kReady ? 1 : 0);
  for (auto& [s, gauge] : m.state) gauge->Set(s == status.state ? 1 : 0);
  m.consecutive_failures->Set(status.consecutive_failures);
  if (status.last_success) m.last_success->Set(Seconds(*status.last_success));
  if (status.last_transition) {
    m.last_transition->Set(Seconds(*status.last_transition));
  }
  m.hung->Set(status.hung ? 1 : 0);
  if (status.free_bytes) {
    if (m.free_bytes == nullptr) m.free_bytes = &free_bytes_family_->Add(m.labels);
    m.free_bytes->Set(static_cast<double>(*status.free_bytes));
  }
}

void MetricsRecorder::OnEvent(const sidecar::Event& event,
                              const sidecar::Snapshot& snapshot) {
  ready_->Set(snapshot.Ready() ? 1 : 0);
  auto it = backends_.find(event.backend);
  if (it != backends_.end()) {
    BackendMetrics& m = it->second;
    if (event.type == sidecar::EventType::kAttempt) {
      std::string result =
          event.ok ? "success" : std::string(drivers::ReasonName(*event.reason));
      m.checks[result]->Increment();
      m.duration->Observe(std::chrono::duration<double>(event.duration).count());
    } else if (event.type == sidecar::EventType::kTransition) {
      auto t = m.transitions.find({event.from, event.to});
      if (t != m.transitions.end()) t->second->Increment();
    }
  }
  // Gauges mirror the whole snapshot, so they can never drift from /readyz.
  for (const auto& status : snapshot.backends) {
    auto b = backends_.find(status.name);
    if (b != backends_.end()) UpdateGauges(b->second, status);
  }
  version_.fetch_add(1, std::memory_order_release);
}

void MetricsRecorder::EnableWorker() {
  auto& r = *registry_;
  WorkerMetrics m;
  m.up = &BuildGauge()
              .Name("backup_gate_worker_up")
              .Help("1 while the worker of backup-gate run is running.")
              .Register(r)
              .Add({});
  m.starts = &BuildCounter()
                  .Name("backup_gate_worker_starts_total")
                  .Help("Starts of the worker.")
                  .Register(r)
                  .Add({});
  auto& stops = BuildCounter()
                    .Name("backup_gate_worker_stops_total")
                    .Help("Stops of the worker by reason: storage (stopped "
                          "while storage failed), exited (on its own), "
                          "signal (backup-gate was asked to stop).")
                    .Register(r);
  for (auto reason : sidecar::kAllStopReasons) {
    m.stops[reason] =
        &stops.Add({{"reason", std::string(sidecar::StopReasonName(reason))}});
  }
  m.last_exit_code = &BuildGauge()
                          .Name("backup_gate_worker_last_exit_code")
                          .Help("Exit code of the worker's last run (128 + "
                                "the signal when killed; 0 before one).")
                          .Register(r)
                          .Add({});
  worker_ = m;
  version_.fetch_add(1, std::memory_order_release);
}

void MetricsRecorder::OnWorkerEvent(const sidecar::WorkerEvent& event) {
  if (!worker_) return;
  if (event.type == sidecar::WorkerEvent::Type::kStarted) {
    worker_->starts->Increment();
    worker_->up->Set(1);
  } else {
    worker_->stops[event.reason]->Increment();
    worker_->up->Set(0);
    worker_->last_exit_code->Set(event.exit.Code());
  }
  version_.fetch_add(1, std::memory_order_release);
}

std::string MetricsRecorder::Render(std::chrono::milliseconds max_age) {
  std::lock_guard lock(render_mutex_);
  auto now = std::chrono::steady_clock::now();
  auto version = version_.load(std::memory_order_acquire);
  if (version == cached_version_ && now - cached_at_ < max_age) return cached_;
  auto families = registry_->Collect();
  auto process = process_.Collect();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  cached_ = out.str();
  cached_version_ = version;
  cached_at_ = now;
  return cached_;
}

}  // namespace bgate::probes
