#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "bgate/sidecar/config.h"
#include "bgate/sidecar/events.h"
#include "bgate/sidecar/worker_gate.h"

namespace bgate::probes {

// The standard process_* metrics (CPU, memory, file descriptors, start
// time), read from /proc on every collection. Thread-safe.
class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

// Turns the transition stream into Prometheus metrics and renders the text
// exposition. Every labelled series exists from the start so that rate()
// and dashboards work before the first failure. OnEvent is called on the
// supervisor's thread, OnWorkerEvent on the worker's, Render on the
// server's; all are thread-safe. EnableWorker must come before the first
// Render.
class MetricsRecorder final : public sidecar::EventSink,
                              public sidecar::WorkerEventSink {
 public:
  MetricsRecorder(const sidecar::Config& config, const std::string& version,
                  const std::string& revision);

  void OnEvent(const sidecar::Event& event,
               const sidecar::Snapshot& snapshot) override;

  // Registers the backup_gate_worker_* series (`run` only: without a worker
  // they would only say "no worker").
  void EnableWorker();
  void OnWorkerEvent(const sidecar::WorkerEvent& event) override;

  // The text exposition, re-rendered when state changed or when the cached
  // text is older than `max_age`.
  std::string Render(std::chrono::milliseconds max_age =
                         std::chrono::milliseconds(1000));

 private:
  struct BackendMetrics {
    prometheus::Gauge* up = nullptr;
    std::map<sidecar::BackendState, prometheus::Gauge*> state;
    std::map<std::string, prometheus::Counter*> checks;  // by result
    prometheus::Histogram* duration = nullptr;
    prometheus::Gauge* consecutive_failures = nullptr;
    prometheus::Gauge* last_success = nullptr;
    prometheus::Gauge* last_transition = nullptr;
    std::map<std::pair<sidecar::BackendState, sidecar::BackendState>,
             prometheus::Counter*>
        transitions;
    prometheus::Gauge* timeout = nullptr;
    prometheus::Gauge* hung = nullptr;
    prometheus::Gauge* free_bytes = nullptr;  // created on first value
    prometheus::Labels labels;
  };

  void UpdateGauges(BackendMetrics& m, const sidecar::BackendStatus& status);

  std::shared_ptr<prometheus::Registry> registry_;
  ProcessCollector process_;
  prometheus::Family<prometheus::Gauge>* free_bytes_family_;
  prometheus::Gauge* ready_;
  std::map<std::string, BackendMetrics, std::less<>> backends_;
  struct WorkerMetrics {
    prometheus::Gauge* up = nullptr;
    prometheus::Counter* starts = nullptr;
    std::map<sidecar::StopReason, prometheus::Counter*> stops;
    prometheus::Gauge* last_exit_code = nullptr;
  };
  std::optional<WorkerMetrics> worker_;
  std::atomic<std::uint64_t> version_{1};

  std::mutex render_mutex_;
  std::string cached_;
  std::uint64_t cached_version_ = 0;
  std::chrono::steady_clock::time_point cached_at_;
};

}  // namespace bgate::probes
