#include "bgate/sidecar/backend_machine.h"

#include <algorithm>

namespace bgate::sidecar {

using drivers::Outcome;
using drivers::Reason;
using std::chrono::nanoseconds;

std::chrono::nanoseconds DriverDeadlineMargin(std::chrono::nanoseconds timeout) {
  return std::min<nanoseconds>(timeout / 20, std::chrono::milliseconds(100));
}

BackendMachine::BackendMachine(std::string name, std::string driver,
                               CheckSettings check, std::uint64_t seed)
    : check_(check), random_(seed) {
  status_.name = std::move(name);
  status_.driver = std::move(driver);
}

std::optional<AttemptPlan> BackendMachine::MaybeStart(
    SteadyTime now, WallTime wall, std::vector<Event>& events) {
  if (status_.in_flight || gave_up_ || now < next_attempt_) return std::nullopt;
  if (status_.state == BackendState::kPending) {
    Transition(BackendState::kInitializing, wall, events);
  }
  AttemptPlan plan;
  plan.attempt = ++status_.attempts;
  plan.run_setup = !setup_done_;
  plan.deadline = now + check_.timeout;
  plan.driver_deadline = plan.deadline - DriverDeadlineMargin(check_.timeout);
  status_.in_flight = true;
  in_flight_attempt_ = plan.attempt;
  deadline_ = plan.deadline;
  expired_ = false;
  return plan;
}

void BackendMachine::Finish(std::uint64_t attempt, const AttemptResult& result,
                            SteadyTime now, WallTime wall,
                            std::vector<Event>& events) {
  if (!status_.in_flight || attempt != in_flight_attempt_) return;
  status_.in_flight = false;
  status_.hung = false;
  if (result.setup_ran) setup_done_ = result.setup_ok;
  // Rotated credentials are read again by the next setup.
  if (!result.outcome.ok && result.outcome.reason == Reason::kAuth) {
    setup_done_ = false;
  }
  if (expired_) {  // already counted as a timeout
    Event late = MakeEvent(EventType::kLateResult, wall);
    late.ok = result.outcome.ok;
    if (!result.outcome.ok) late.reason = result.outcome.reason;
    late.detail = result.outcome.detail;
    late.duration = result.duration;
    events.push_back(late);
    return;
  }
  Record(result.outcome, result.duration, now, wall, events);
}

void BackendMachine::ExpireIfDue(SteadyTime now, WallTime wall,
                                 std::vector<Event>& events) {
  if (!status_.in_flight || expired_ || now < deadline_) return;
  expired_ = true;
  status_.hung = true;
  Record(Outcome::Failure(Reason::kTimeout,
                          "no answer within " + drivers::FormatDuration(
                                                    check_.timeout)),
         check_.timeout, now, wall, events);
}

SteadyTime BackendMachine::NextWake() const {
  if (status_.in_flight) {
    // A hung attempt wakes the machine when it returns, not by time.
    return expired_ ? SteadyTime::max() : deadline_;
  }
  return gave_up_ ? SteadyTime::max() : next_attempt_;
}

nanoseconds BackendMachine::Backoff(int failures) {
  nanoseconds low = check_.retry_initial;
  nanoseconds high = check_.retry_max;
  // Doubling stops well before it could overflow.
  if (failures < 40) {
    high = std::min(high, low * (std::int64_t{1} << std::max(failures, 1)));
  }
  high = std::max(high, low);
  std::uniform_int_distribution<std::int64_t> pick(low.count(), high.count());
  return nanoseconds(pick(random_));
}

void BackendMachine::Record(const Outcome& outcome, nanoseconds took,
                            SteadyTime now, WallTime wall,
                            std::vector<Event>& events) {
  if (outcome.free_bytes) status_.free_bytes = outcome.free_bytes;
  if (outcome.ok) {
    status_.consecutive_failures = 0;
    ++status_.consecutive_successes;
    status_.last_success = wall;
  } else {
    status_.consecutive_successes = 0;
    ++status_.consecutive_failures;
  }
  // Keep the last failure on show while a backend recovers, so ?verbose can
  // tell why it is still out; clear it once it is ready again.
  if (!outcome.ok) {
    status_.reason = outcome.reason;
    status_.detail = outcome.detail;
  }
  const std::size_t first_event = events.size();
  Event attempt = MakeEvent(EventType::kAttempt, wall);
  attempt.ok = outcome.ok;
  if (!outcome.ok) attempt.reason = outcome.reason;
  attempt.detail = outcome.detail;
  attempt.duration = took;
  attempt.free_bytes = outcome.free_bytes;
  events.push_back(attempt);

  const BackendState state = status_.state;
  if (outcome.ok) {
    bool become_ready =
        state == BackendState::kInitializing ||
        (state == BackendState::kFailed &&
         status_.consecutive_successes >= check_.success_threshold);
    if (become_ready) {
      status_.reason.reset();
      status_.detail = outcome.detail;
      Transition(BackendState::kReady, wall, events);
      if (!ever_ready_) {
        ever_ready_ = true;
        events.push_back(MakeEvent(EventType::kInitialized, wall));
      }
    } else if (state == BackendState::kReady) {
      status_.reason.reset();
      status_.detail = outcome.detail;
    }
    // Confirm a recovering backend at the retry pace, not the interval.
    next_attempt_ = now + (status_.state == BackendState::kReady
                               ? check_.interval
                               : check_.retry_initial);
    StampDuration(events, first_event, took);
    return;
  }

  if (state == BackendState::kInitializing) {
    Transition(BackendState::kFailed, wall, events);
    Event failed = MakeEvent(EventType::kInitializationFailed, wall);
    failed.reason = outcome.reason;
    failed.detail = outcome.detail;
    events.push_back(failed);
  } else if (state == BackendState::kReady &&
             status_.consecutive_failures >= check_.failure_threshold) {
    Transition(BackendState::kFailed, wall, events);
  }
  StampDuration(events, first_event, took);
  if (!ever_ready_ && !check_.periodic_initialization) {
    gave_up_ = true;
    return;
  }
  next_attempt_ = now + Backoff(status_.consecutive_failures);
}

void BackendMachine::StampDuration(std::vector<Event>& events,
                                   std::size_t first, nanoseconds took) {
  // Transitions caused by an attempt carry its duration.
  for (std::size_t i = first; i < events.size(); ++i) {
    events[i].duration = took;
  }
}

void BackendMachine::Transition(BackendState to, WallTime wall,
                                std::vector<Event>& events) {
  Event e = MakeEvent(EventType::kTransition, wall);
  e.from = status_.state;
  e.to = to;
  e.reason = status_.reason;
  e.detail = status_.detail;
  status_.state = to;
  status_.last_transition = wall;
  e.to = to;
  events.push_back(e);
}

Event BackendMachine::MakeEvent(EventType type, WallTime wall) const {
  Event e;
  e.type = type;
  e.time = wall;
  e.backend = status_.name;
  e.driver = status_.driver;
  e.from = status_.state;
  e.to = status_.state;
  e.attempt = status_.attempts;
  return e;
}

}  // namespace bgate::sidecar
