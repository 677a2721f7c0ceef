#include "bgate/sidecar/backend_machine.h"

#include <gtest/gtest.h>

namespace bgate::sidecar {
namespace {

using drivers::Outcome;
using drivers::Reason;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Drives one machine with a fake clock and scripted outcomes.
class MachineTest : public ::testing::Test {
 protected:
  void Make(CheckSettings check) {
    check_ = check;
    machine_.emplace("primary", "posix", check, 42);
  }
  // Starts the due attempt; fails the test if none is due.
  AttemptPlan Start() {
    auto plan = machine_->MaybeStart(now_, WallTime(), events_);
    EXPECT_TRUE(plan.has_value()) << "no attempt due at t=" << Ms();
    return plan.value_or(AttemptPlan{});
  }
  void Finish(const AttemptPlan& plan, Outcome outcome, bool setup_ran = false) {
    AttemptResult r;
    r.outcome = std::move(outcome);
    r.setup_ran = setup_ran;
    r.setup_ok = setup_ran && r.outcome.ok;
    machine_->Finish(plan.attempt, r, now_, WallTime(), events_);
  }
  void Succeed() { Finish(Start(), Outcome::Success()); }
  void Fail(Reason reason = Reason::kUnreachable) {
    Finish(Start(), Outcome::Failure(reason, "down"));
  }
  // Moves the clock to the machine's next wake-up and returns the wait.
  milliseconds AdvanceToNext() {
    auto next = machine_->NextWake();
    auto wait = std::chrono::duration_cast<milliseconds>(next - now_);
    now_ = next;
    machine_->ExpireIfDue(now_, WallTime(), events_);
    return wait;
  }
  BackendState state() const { return machine_->status().state; }
  long long Ms() const {
    return std::chrono::duration_cast<milliseconds>(now_.time_since_epoch()).count();
  }
  int Count(EventType type) const {
    int n = 0;
    for (const auto& e : events_) n += e.type == type ? 1 : 0;
    return n;
  }

  CheckSettings check_;
  std::optional<BackendMachine> machine_;
  SteadyTime now_ = SteadyTime(seconds(1000));
  std::vector<Event> events_;
};

TEST_F(MachineTest, DriverDeadlineFallsJustBeforeTheAttemptDeadline) {
  CheckSettings c;
  c.timeout = seconds(10);
  Make(c);
  auto plan = Start();
  EXPECT_EQ(plan.deadline - plan.driver_deadline, milliseconds(100));
  CheckSettings short_timeout;
  short_timeout.timeout = milliseconds(200);
  Make(short_timeout);
  plan = Start();
  EXPECT_EQ(plan.deadline - plan.driver_deadline, milliseconds(10));
}

TEST_F(MachineTest, FirstSuccessMakesReadyAndReverifiesAtInterval) {
  Make({});
  EXPECT_EQ(state(), BackendState::kPending);
  auto plan = Start();
  EXPECT_TRUE(plan.run_setup);
  EXPECT_EQ(plan.deadline, now_ + seconds(10));
  EXPECT_EQ(state(), BackendState::kInitializing);
  Finish(plan, Outcome::Success(), true);
  EXPECT_EQ(state(), BackendState::kReady);
  EXPECT_EQ(Count(EventType::kInitialized), 1);
  EXPECT_EQ(AdvanceToNext(), seconds(30));
  auto next = Start();
  EXPECT_FALSE(next.run_setup) << "setup succeeded once; only check again";
}

TEST_F(MachineTest, FirstFailureFailsAndRetriesWithBackoff) {
  Make({});
  Fail();
  EXPECT_EQ(state(), BackendState::kFailed);
  EXPECT_EQ(Count(EventType::kInitializationFailed), 1);
  auto wait = AdvanceToNext();
  EXPECT_GE(wait, seconds(1));
  EXPECT_LE(wait, seconds(2));
  Fail();
  EXPECT_EQ(Count(EventType::kInitializationFailed), 1) << "only the first";
}

TEST_F(MachineTest, BackoffStaysWithinBoundsAndGrows) {
  CheckSettings c;
  c.retry_initial = seconds(1);
  c.retry_max = seconds(60);
  Make(c);
  for (int failures = 1; failures <= 12; ++failures) {
    auto high = std::min<std::chrono::nanoseconds>(seconds(60),
                                                   seconds(1) * (1LL << failures));
    std::set<long long> seen;
    for (int i = 0; i < 200; ++i) {
      auto d = machine_->Backoff(failures);
      ASSERT_GE(d, seconds(1)) << "failures=" << failures;
      ASSERT_LE(d, high) << "failures=" << failures;
      seen.insert(d.count());
    }
    // Jitter: retries of many pods do not line up.
    EXPECT_GT(seen.size(), 150u) << "failures=" << failures;
  }
  EXPECT_LE(machine_->Backoff(1000), seconds(60));
}

TEST_F(MachineTest, JitterSpreadsOverTheWholeRange) {
  CheckSettings c;
  c.retry_initial = seconds(1);
  c.retry_max = seconds(8);
  Make(c);
  std::chrono::nanoseconds low = seconds(100), high{0};
  for (int i = 0; i < 2000; ++i) {
    auto d = machine_->Backoff(5);
    low = std::min(low, d);
    high = std::max(high, d);
  }
  EXPECT_LT(low, milliseconds(1100));
  EXPECT_GT(high, milliseconds(7900));
}

TEST_F(MachineTest, FailureThresholdKeepsReadyThroughOneSlowAnswer) {
  CheckSettings c;
  c.failure_threshold = 3;
  Make(c);
  Succeed();
  AdvanceToNext();
  Fail(Reason::kTimeout);
  EXPECT_EQ(state(), BackendState::kReady);
  EXPECT_EQ(machine_->status().consecutive_failures, 1);
  // The confirmation comes at the retry pace, not a whole interval later.
  EXPECT_LE(AdvanceToNext(), seconds(2));
  Fail();
  EXPECT_EQ(state(), BackendState::kReady);
  AdvanceToNext();
  Fail();
  EXPECT_EQ(state(), BackendState::kFailed);
  EXPECT_EQ(machine_->status().reason, Reason::kUnreachable);
}

TEST_F(MachineTest, SuccessInBetweenResetsFailureCount) {
  CheckSettings c;
  c.failure_threshold = 2;
  Make(c);
  Succeed();
  AdvanceToNext();
  Fail();
  AdvanceToNext();
  Succeed();
  AdvanceToNext();
  Fail();
  EXPECT_EQ(state(), BackendState::kReady);
}

TEST_F(MachineTest, SuccessThresholdNeedsConsecutiveSuccessesToRecover) {
  CheckSettings c;
  c.success_threshold = 3;
  Make(c);
  Succeed();
  AdvanceToNext();
  Fail();
  ASSERT_EQ(state(), BackendState::kFailed);
  AdvanceToNext();
  Succeed();
  EXPECT_EQ(state(), BackendState::kFailed);
  EXPECT_EQ(AdvanceToNext(), seconds(1)) << "recovery is confirmed at retry.initial";
  Succeed();
  EXPECT_EQ(state(), BackendState::kFailed);
  AdvanceToNext();
  Fail();
  AdvanceToNext();
  Succeed();
  AdvanceToNext();
  Succeed();
  EXPECT_EQ(state(), BackendState::kFailed) << "the failure reset the count";
  AdvanceToNext();
  Succeed();
  EXPECT_EQ(state(), BackendState::kReady);
  EXPECT_FALSE(machine_->status().reason.has_value());
}

TEST_F(MachineTest, FirstInitializationSucceedsAtOnceWhateverTheThreshold) {
  CheckSettings c;
  c.success_threshold = 5;
  Make(c);
  Succeed();
  EXPECT_EQ(state(), BackendState::kReady);
}

TEST_F(MachineTest, PeriodicInitializationOffStopsRetriesOfFirstInitialization) {
  CheckSettings c;
  c.periodic_initialization = false;
  Make(c);
  Fail();
  EXPECT_EQ(state(), BackendState::kFailed);
  EXPECT_EQ(machine_->NextWake(), SteadyTime::max());
  now_ += std::chrono::hours(24);
  EXPECT_FALSE(machine_->MaybeStart(now_, WallTime(), events_).has_value());
}

TEST_F(MachineTest, PeriodicInitializationOffStillRetriesAfterLaterFailure) {
  CheckSettings c;
  c.periodic_initialization = false;
  Make(c);
  Succeed();
  AdvanceToNext();
  Fail();
  EXPECT_EQ(state(), BackendState::kFailed);
  EXPECT_NE(machine_->NextWake(), SteadyTime::max());
  AdvanceToNext();
  Succeed();
  EXPECT_EQ(state(), BackendState::kReady);
}

TEST_F(MachineTest, TimeoutCountsOnceAtTheDeadlineAndLateResultIsDiscarded) {
  CheckSettings c;
  c.timeout = seconds(5);
  Make(c);
  Succeed();
  AdvanceToNext();
  auto hung = Start();
  EXPECT_EQ(machine_->NextWake(), now_ + seconds(5));
  now_ += milliseconds(4999);
  machine_->ExpireIfDue(now_, WallTime(), events_);
  EXPECT_EQ(state(), BackendState::kReady) << "not before the deadline";
  AdvanceToNext();
  EXPECT_EQ(state(), BackendState::kFailed);
  EXPECT_EQ(machine_->status().reason, Reason::kTimeout);
  EXPECT_TRUE(machine_->status().hung);
  auto failures = machine_->status().consecutive_failures;
  // Still hung: nothing more is counted and nothing new starts.
  for (int i = 0; i < 10; ++i) {
    now_ += seconds(10);
    machine_->ExpireIfDue(now_, WallTime(), events_);
    EXPECT_FALSE(machine_->MaybeStart(now_, WallTime(), events_).has_value())
        << "an attempt would pile up on the hung one";
  }
  EXPECT_EQ(machine_->status().consecutive_failures, failures);
  // The late success is discarded: the backend stays failed.
  const auto attempts_before = Count(EventType::kAttempt);
  Finish(hung, Outcome::Success());
  EXPECT_EQ(state(), BackendState::kFailed);
  EXPECT_FALSE(machine_->status().hung);
  EXPECT_EQ(Count(EventType::kAttempt), attempts_before) << "not counted twice";
  ASSERT_EQ(events_.back().type, EventType::kLateResult)
      << "observers learn that the hung attempt ended";
  EXPECT_TRUE(events_.back().ok);
  // The overdue retry starts at once.
  auto next = machine_->MaybeStart(now_, WallTime(), events_);
  ASSERT_TRUE(next.has_value());
  Finish(*next, Outcome::Success());
  EXPECT_EQ(state(), BackendState::kReady);
}

TEST_F(MachineTest, AuthFailureRunsSetupAgain) {
  Make({});
  Finish(Start(), Outcome::Success(), /*setup_ran=*/true);
  AdvanceToNext();
  auto plan = Start();
  EXPECT_FALSE(plan.run_setup);
  Finish(plan, Outcome::Failure(Reason::kAuth, "signature does not match"));
  AdvanceToNext();
  EXPECT_TRUE(Start().run_setup) << "rotated credentials are read again";
}

TEST_F(MachineTest, FailedSetupIsRetried) {
  Make({});
  auto plan = Start();
  AttemptResult r;
  r.outcome = Outcome::Failure(Reason::kMisconfigured, "no credentials");
  r.setup_ran = true;
  r.setup_ok = false;
  machine_->Finish(plan.attempt, r, now_, WallTime(), events_);
  AdvanceToNext();
  EXPECT_TRUE(Start().run_setup);
}

TEST_F(MachineTest, TransitionsAreEmittedInOrder) {
  Make({});
  Succeed();
  AdvanceToNext();
  Fail(Reason::kNotFound);
  std::vector<std::pair<BackendState, BackendState>> seen;
  for (const auto& e : events_) {
    if (e.type == EventType::kTransition) seen.emplace_back(e.from, e.to);
  }
  std::vector<std::pair<BackendState, BackendState>> want = {
      {BackendState::kPending, BackendState::kInitializing},
      {BackendState::kInitializing, BackendState::kReady},
      {BackendState::kReady, BackendState::kFailed}};
  EXPECT_EQ(seen, want);
  EXPECT_EQ(events_.back().reason, Reason::kNotFound);
  EXPECT_EQ(Count(EventType::kAttempt), 2);
}

TEST_F(MachineTest, TransitionCarriesTheDurationOfItsAttempt) {
  Make({});
  auto plan = Start();
  AttemptResult r;
  r.outcome = Outcome::Failure(Reason::kPermission, "denied");
  r.duration = milliseconds(1234);
  machine_->Finish(plan.attempt, r, now_, WallTime(), events_);
  int stamped = 0;
  for (const auto& e : events_) {
    if (e.type == EventType::kTransition && e.to == BackendState::kFailed) {
      EXPECT_EQ(e.duration, milliseconds(1234));
      ++stamped;
    }
    if (e.type == EventType::kInitializationFailed) {
      EXPECT_EQ(e.duration, milliseconds(1234));
      ++stamped;
    }
  }
  EXPECT_EQ(stamped, 2);
}

TEST_F(MachineTest, DetectionWithinIntervalPlusTimeout) {
  CheckSettings c;
  c.interval = seconds(30);
  c.timeout = seconds(10);
  Make(c);
  Succeed();
  const SteadyTime storage_lost = now_;
  // The storage hangs from now on: the next attempt never returns.
  AdvanceToNext();
  Start();
  while (state() == BackendState::kReady) AdvanceToNext();
  EXPECT_LE(now_ - storage_lost, seconds(40));
}

}  // namespace
}  // namespace bgate::sidecar
