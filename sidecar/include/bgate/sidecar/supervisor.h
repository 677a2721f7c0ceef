#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "bgate/drivers/driver.h"
#include "bgate/sidecar/backend_machine.h"
#include "bgate/sidecar/clock.h"
#include "bgate/sidecar/config.h"
#include "bgate/sidecar/events.h"
#include "bgate/sidecar/snapshot.h"

namespace bgate::sidecar {

// Runs setup (when asked) then check under one deadline, turning exceptions
// into `error` outcomes. Blocks as long as the driver does.
AttemptResult RunAttempt(drivers::Driver& driver, bool run_setup,
                         const drivers::Deadline& deadline);

// Owns the backends' state machines and the threads that run their
// attempts: one loop thread that keeps the schedule and publishes snapshots,
// and one worker per backend, so at most one attempt per backend is in
// flight and the thread count stays bounded whatever storage does (a hung
// attempt keeps its worker; the backend stays failed with `timeout` until it
// returns). Sinks are called on the loop thread. Thread-safe.
class Supervisor {
 public:
  struct Backend {
    BackendConfig config;
    std::shared_ptr<drivers::Driver> driver;
  };

  Supervisor(const Config& config, std::vector<Backend> backends,
             const Clock& clock, std::vector<EventSink*> sinks,
             SnapshotHolder& snapshots, std::uint64_t seed);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  void Start();
  // Readiness drops at once and stays down; checks go on.
  void BeginShutdown();
  // Stops the loop and idle workers. Workers stuck in storage I/O are left
  // behind (they hold only shared state); returns false if any were.
  bool Stop();
  // False when the loop has not turned for `stall` (the /livez watchdog).
  bool Alive(std::chrono::nanoseconds stall) const;

  // The initial snapshot (all pending) for a config, before Start.
  static std::shared_ptr<const Snapshot> InitialSnapshot(const Config& config);

 private:
  struct Shared;
  struct Worker;
  void Loop();
  void Publish(std::vector<Event>& events);

  const Clock& clock_;
  ReadinessPolicy policy_;
  std::vector<std::string> required_;
  std::vector<EventSink*> sinks_;
  SnapshotHolder& snapshots_;
  std::vector<BackendMachine> machines_;  // loop thread only
  std::shared_ptr<Shared> shared_;
  std::vector<std::shared_ptr<Worker>> workers_;
  std::vector<std::thread> worker_threads_;
  std::thread loop_;
  std::atomic<std::int64_t> heartbeat_ns_{0};
  std::mutex publish_mutex_;  // orders snapshot stores
  std::uint64_t generation_ = 0;  // guarded by publish_mutex_
  std::atomic<bool> shutting_down_{false};
  bool shutdown_announced_ = false;  // loop thread only
};

}  // namespace bgate::sidecar
