#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bgate/drivers/driver.h"
#include "bgate/sidecar/clock.h"
#include "bgate/sidecar/config.h"
#include "bgate/sidecar/events.h"
#include "bgate/sidecar/snapshot.h"

namespace bgate::sidecar {

// An attempt the machine wants run now.
struct AttemptPlan {
  std::uint64_t attempt = 0;
  bool run_setup = false;
  // When the attempt counts as a timeout.
  SteadyTime deadline;
  // The deadline handed to the driver: a little earlier, so that a driver
  // which honours it reports its own, more precise timeout first.
  SteadyTime driver_deadline;
};

// How much earlier than the attempt's deadline the driver's deadline falls.
std::chrono::nanoseconds DriverDeadlineMargin(std::chrono::nanoseconds timeout);

// What running an attempt produced.
struct AttemptResult {
  drivers::Outcome outcome;
  bool setup_ran = false;
  bool setup_ok = false;
  std::chrono::nanoseconds duration{0};
};

// The state machine of one backend: pending -> initializing -> ready |
// failed, thresholds, the retry schedule and the deadline of the attempt in
// flight. Pure: it owns no thread and reads no clock, so tests drive it with
// any times they like. Not thread-safe.
class BackendMachine {
 public:
  BackendMachine(std::string name, std::string driver, CheckSettings check,
                 std::uint64_t seed);

  // Starts an attempt when one is due and none is in flight (a timed-out
  // attempt that has not returned still counts as in flight).
  std::optional<AttemptPlan> MaybeStart(SteadyTime now, WallTime wall,
                                        std::vector<Event>& events);
  // Records the result of an attempt. The result of an attempt already
  // counted as a timeout is discarded, except what it says about setup; it
  // emits a kLateResult event so that observers see the attempt end.
  void Finish(std::uint64_t attempt, const AttemptResult& result,
              SteadyTime now, WallTime wall, std::vector<Event>& events);
  // Counts the attempt in flight as a timeout, once, when its deadline has
  // passed.
  void ExpireIfDue(SteadyTime now, WallTime wall, std::vector<Event>& events);

  // The next moment the machine needs attention; SteadyTime::max() if never.
  SteadyTime NextWake() const;
  const BackendStatus& status() const { return status_; }
  const CheckSettings& check() const { return check_; }

  // The wait before the retry that follows `failures` consecutive failures:
  // uniform between retry.initial and min(retry.max, retry.initial * 2^n).
  std::chrono::nanoseconds Backoff(int failures);

 private:
  void Record(const drivers::Outcome& outcome, std::chrono::nanoseconds took,
              SteadyTime now, WallTime wall, std::vector<Event>& events);
  void Transition(BackendState to, WallTime wall, std::vector<Event>& events);
  static void StampDuration(std::vector<Event>& events, std::size_t first,
                            std::chrono::nanoseconds took);
  Event MakeEvent(EventType type, WallTime wall) const;

  CheckSettings check_;
  std::mt19937_64 random_;
  BackendStatus status_;
  bool setup_done_ = false;
  bool ever_ready_ = false;
  // Retries of a first initialization that failed are off
  // (periodic_initialization: false).
  bool gave_up_ = false;
  SteadyTime next_attempt_ = SteadyTime::min();
  std::uint64_t in_flight_attempt_ = 0;
  SteadyTime deadline_;
  bool expired_ = false;
};

}  // namespace bgate::sidecar
