#include "bgate/sidecar/supervisor.h"

#include <algorithm>
#include <deque>
#include <exception>

namespace bgate::sidecar {

using drivers::Deadline;
using drivers::Outcome;
using drivers::Reason;

AttemptResult RunAttempt(drivers::Driver& driver, bool run_setup,
                         const Deadline& deadline) {
  AttemptResult result;
  const auto start = std::chrono::steady_clock::now();
  try {
    if (run_setup) {
      result.setup_ran = true;
      result.outcome = driver.Setup(deadline);
      result.setup_ok = result.outcome.ok;
    }
    if (!run_setup || result.setup_ok) {
      result.outcome = driver.Check(deadline);
    }
  } catch (const std::exception& e) {
    result.outcome = Outcome::Failure(Reason::kError,
                                      std::string("driver error: ") + e.what());
  } catch (...) {
    result.outcome = Outcome::Failure(Reason::kError, "driver error");
  }
  result.duration = std::chrono::steady_clock::now() - start;
  return result;
}

// What the loop and the workers share. Workers may outlive the Supervisor
// (stuck in storage I/O), so they hold it by shared_ptr.
struct Supervisor::Shared {
  std::mutex mutex;
  std::condition_variable wake_loop;
  bool stop = false;
  bool shutdown_requested = false;
  struct Done {
    std::size_t index;
    std::uint64_t attempt;
    AttemptResult result;
  };
  std::deque<Done> done;
};

struct Supervisor::Worker {
  std::size_t index = 0;
  std::shared_ptr<drivers::Driver> driver;
  std::shared_ptr<Shared> shared;
  std::condition_variable wake;  // guarded by shared->mutex
  std::optional<AttemptPlan> plan;

  void Run() {
    std::unique_lock lock(shared->mutex);
    while (true) {
      wake.wait(lock, [&] { return shared->stop || plan.has_value(); });
      if (shared->stop) return;
      AttemptPlan p = *plan;
      plan.reset();
      lock.unlock();
      AttemptResult result = RunAttempt(*driver, p.run_setup, Deadline(p.driver_deadline));
      lock.lock();
      shared->done.push_back({index, p.attempt, std::move(result)});
      shared->wake_loop.notify_one();
    }
  }
};

Supervisor::Supervisor(const Config& config, std::vector<Backend> backends,
                       const Clock& clock, std::vector<EventSink*> sinks,
                       SnapshotHolder& snapshots, std::uint64_t seed)
    : clock_(clock),
      policy_(config.policy),
      required_(config.required),
      sinks_(std::move(sinks)),
      snapshots_(snapshots),
      shared_(std::make_shared<Shared>()) {
  for (std::size_t i = 0; i < backends.size(); ++i) {
    auto& b = backends[i];
    machines_.emplace_back(b.config.name, b.config.driver, b.config.check,
                           seed + i);
    auto worker = std::make_shared<Worker>();
    worker->index = i;
    worker->driver = std::move(b.driver);
    worker->shared = shared_;
    workers_.push_back(std::move(worker));
  }
}

Supervisor::~Supervisor() { Stop(); }

std::shared_ptr<const Snapshot> Supervisor::InitialSnapshot(
    const Config& config) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->policy = config.policy;
  snapshot->required = config.required;
  for (const auto& b : config.backends) {
    BackendStatus status;
    status.name = b.name;
    status.driver = b.driver;
    snapshot->backends.push_back(std::move(status));
  }
  return snapshot;
}

void Supervisor::Start() {
  heartbeat_ns_ = clock_.Now().time_since_epoch().count();
  for (auto& worker : workers_) {
    worker_threads_.emplace_back([w = worker] { w->Run(); });
  }
  loop_ = std::thread([this] { Loop(); });
}

void Supervisor::BeginShutdown() {
  {
    // Readiness drops now, not when the loop next turns.
    std::lock_guard publish(publish_mutex_);
    shutting_down_ = true;
    auto next = std::make_shared<Snapshot>(*snapshots_.Load());
    next->shutting_down = true;
    next->generation = ++generation_;
    snapshots_.Store(std::move(next));
  }
  std::lock_guard lock(shared_->mutex);
  shared_->shutdown_requested = true;
  shared_->wake_loop.notify_one();
}

bool Supervisor::Stop() {
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->stop && !loop_.joinable() && worker_threads_.empty()) {
      return true;
    }
    shared_->stop = true;
    shared_->wake_loop.notify_one();
    for (auto& w : workers_) w->wake.notify_one();
  }
  if (loop_.joinable()) loop_.join();
  // A worker blocked in storage I/O cannot be interrupted; give the others a
  // moment to leave and detach the rest.
  bool all_joined = true;
  {
    std::unique_lock lock(shared_->mutex);
    for (std::size_t i = 0; i < machines_.size(); ++i) {
      if (machines_[i].status().in_flight) all_joined = false;
    }
  }
  for (std::size_t i = 0; i < worker_threads_.size(); ++i) {
    if (machines_[i].status().in_flight) {
      worker_threads_[i].detach();
    } else {
      worker_threads_[i].join();
    }
  }
  worker_threads_.clear();
  return all_joined;
}

bool Supervisor::Alive(std::chrono::nanoseconds stall) const {
  auto beat = SteadyTime(SteadyTime::duration(heartbeat_ns_.load()));
  return clock_.Now() - beat < stall;
}

void Supervisor::Loop() {
  std::vector<Event> events;
  Publish(events);
  std::unique_lock lock(shared_->mutex);
  while (!shared_->stop) {
    const SteadyTime now = clock_.Now();
    const WallTime wall = clock_.WallNow();
    heartbeat_ns_ = now.time_since_epoch().count();
    while (!shared_->done.empty()) {
      auto d = std::move(shared_->done.front());
      shared_->done.pop_front();
      machines_[d.index].Finish(d.attempt, d.result, now, wall, events);
    }
    bool shutdown_now = shared_->shutdown_requested && !shutdown_announced_;
    SteadyTime next = now + std::chrono::seconds(1);  // watchdog pace
    for (std::size_t i = 0; i < machines_.size(); ++i) {
      auto& machine = machines_[i];
      machine.ExpireIfDue(now, wall, events);
      if (auto plan = machine.MaybeStart(now, wall, events)) {
        workers_[i]->plan = *plan;
        workers_[i]->wake.notify_one();
      }
      next = std::min(next, machine.NextWake());
    }
    if (!events.empty() || shutdown_now) {
      if (shutdown_now) {
        shutdown_announced_ = true;
        Event e;
        e.type = EventType::kShutdown;
        e.time = wall;
        events.push_back(e);
      }
      // Sinks may write files and logs: never hold the lock workers need.
      lock.unlock();
      Publish(events);
      lock.lock();
      continue;
    }
    shared_->wake_loop.wait_until(lock, next, [&] {
      return shared_->stop || !shared_->done.empty() ||
             (shared_->shutdown_requested && !shutdown_announced_);
    });
  }
}

void Supervisor::Publish(std::vector<Event>& events) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->policy = policy_;
  snapshot->required = required_;
  for (const auto& m : machines_) snapshot->backends.push_back(m.status());
  {
    std::lock_guard publish(publish_mutex_);
    snapshot->generation = ++generation_;
    snapshot->shutting_down = shutting_down_;
    snapshots_.Store(snapshot);
  }
  for (const auto& event : events) {
    for (auto* sink : sinks_) sink->OnEvent(event, *snapshot);
  }
  events.clear();
}

}  // namespace bgate::sidecar
