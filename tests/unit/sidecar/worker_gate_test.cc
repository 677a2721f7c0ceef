#include "bgate/sidecar/worker_gate.h"

#include <csignal>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace bgate::sidecar {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Kind = WorkerAction::Kind;

const WorkerAction kStart{Kind::kStart, 0, 0};
WorkerAction Sig(int signal) { return {Kind::kSignal, signal, 0}; }
WorkerAction Exit(int code) { return {Kind::kExit, 0, code}; }

WorkerConfig Config(RestartPolicy restart = RestartPolicy::kAlways) {
  WorkerConfig c;
  c.stop_after = seconds(60);
  c.stop_timeout = seconds(30);
  c.restart = restart;
  c.restart_initial = seconds(1);
  c.restart_max = seconds(8);
  return c;
}

// Drives a gate with a fake clock that only moves when told.
class WorkerGateTest : public ::testing::Test {
 protected:
  std::vector<WorkerAction> At(std::chrono::nanoseconds t, bool ready) {
    now_ = SteadyTime(t);
    gate_.SetReady(ready, now_);
    return gate_.Poll(now_);
  }
  StopReason ExitAt(std::chrono::nanoseconds t, ExitStatus status) {
    now_ = SteadyTime(t);
    return gate_.Exited(status, now_);
  }
  void Reset(WorkerConfig config) { gate_ = WorkerGate(config); }

  SteadyTime now_;
  WorkerGate gate_{Config()};
};

TEST_F(WorkerGateTest, NotStartedWhileNotReady) {
  EXPECT_THAT(At(seconds(0), false), IsEmpty());
  EXPECT_THAT(At(seconds(500), false), IsEmpty());
  EXPECT_FALSE(gate_.running());
  EXPECT_EQ(gate_.NextWake(), SteadyTime::max());
}

TEST_F(WorkerGateTest, StartedOnceReady) {
  EXPECT_THAT(At(seconds(0), false), IsEmpty());
  EXPECT_THAT(At(seconds(3), true), ElementsAre(kStart));
  EXPECT_TRUE(gate_.running());
  EXPECT_THAT(At(seconds(4), true), IsEmpty());
}

TEST_F(WorkerGateTest, StoppedOnlyAfterStopAfterOfContinuousUnreadiness) {
  At(seconds(0), true);
  EXPECT_THAT(At(seconds(10), false), IsEmpty());
  EXPECT_EQ(gate_.NextWake(), SteadyTime(seconds(70)));
  EXPECT_THAT(At(seconds(69) + milliseconds(999), false), IsEmpty());
  EXPECT_THAT(At(seconds(70), false), ElementsAre(Sig(SIGTERM)));
  EXPECT_THAT(At(seconds(71), false), IsEmpty());
}

TEST_F(WorkerGateTest, BlipShorterThanStopAfterLeavesItRunning) {
  At(seconds(0), true);
  EXPECT_THAT(At(seconds(10), false), IsEmpty());
  EXPECT_THAT(At(seconds(69), true), IsEmpty());
  // The clock starts over with the next failure.
  EXPECT_THAT(At(seconds(80), false), IsEmpty());
  EXPECT_THAT(At(seconds(139), false), IsEmpty());
  EXPECT_THAT(At(seconds(140), false), ElementsAre(Sig(SIGTERM)));
}

TEST_F(WorkerGateTest, KilledAfterStopTimeoutThenStartedWhenReady) {
  WorkerConfig c = Config();
  c.stop_signal = SIGQUIT;
  Reset(c);
  At(seconds(0), true);
  At(seconds(1), false);
  EXPECT_THAT(At(seconds(61), false), ElementsAre(Sig(SIGQUIT)));
  EXPECT_EQ(gate_.NextWake(), SteadyTime(seconds(91)));
  EXPECT_THAT(At(seconds(90), false), IsEmpty());
  EXPECT_THAT(At(seconds(91), false), ElementsAre(Sig(SIGKILL)));
  EXPECT_THAT(At(seconds(200), false), IsEmpty());
  EXPECT_EQ(ExitAt(seconds(91), {true, SIGKILL}), StopReason::kStorage);
  EXPECT_FALSE(gate_.running());
  EXPECT_THAT(At(seconds(300), false), IsEmpty());
  // Stopped on purpose: no backoff when storage comes back.
  EXPECT_THAT(At(seconds(301), true), ElementsAre(kStart));
}

TEST_F(WorkerGateTest, ExitWithinStopTimeoutNeedsNoKill) {
  At(seconds(0), true);
  At(seconds(1), false);
  At(seconds(61), false);
  EXPECT_EQ(ExitAt(seconds(62), {false, 0}), StopReason::kStorage);
  EXPECT_THAT(At(seconds(100), false), IsEmpty());
}

TEST_F(WorkerGateTest, AlwaysRestartsWithGrowingBackoff) {
  At(seconds(0), true);
  EXPECT_EQ(ExitAt(seconds(1), {false, 0}), StopReason::kExited);
  EXPECT_EQ(gate_.RestartIn(now_), seconds(1));
  EXPECT_THAT(At(seconds(1) + milliseconds(999), true), IsEmpty());
  EXPECT_THAT(At(seconds(2), true), ElementsAre(kStart));
  ExitAt(seconds(2), {false, 3});
  EXPECT_EQ(gate_.restart_at(), SteadyTime(seconds(4)));
  EXPECT_THAT(At(seconds(4), true), ElementsAre(kStart));
  ExitAt(seconds(4), {true, SIGSEGV});
  EXPECT_EQ(gate_.restart_at(), SteadyTime(seconds(8)));
  EXPECT_EQ(gate_.Backoff(4), seconds(8));
  EXPECT_EQ(gate_.Backoff(40), seconds(8));
  // A run as long as the backoff's max starts it afresh.
  EXPECT_THAT(At(seconds(8), true), ElementsAre(kStart));
  ExitAt(seconds(16), {false, 1});
  EXPECT_EQ(gate_.restart_at(), SteadyTime(seconds(17)));
}

TEST_F(WorkerGateTest, RestartWaitsForStorageToo) {
  At(seconds(0), true);
  ExitAt(seconds(1), {false, 1});
  EXPECT_THAT(At(seconds(5), false), IsEmpty());
  EXPECT_THAT(At(seconds(6), true), ElementsAre(kStart));
}

TEST_F(WorkerGateTest, OnFailureRestartsFailuresOnly) {
  Reset(Config(RestartPolicy::kOnFailure));
  At(seconds(0), true);
  ExitAt(seconds(1), {false, 2});
  EXPECT_THAT(At(seconds(2), true), ElementsAre(kStart));
  ExitAt(seconds(3), {true, SIGKILL});
  EXPECT_THAT(At(seconds(5), true), ElementsAre(kStart));
  EXPECT_EQ(ExitAt(seconds(6), {false, 0}), StopReason::kExited);
  EXPECT_EQ(gate_.RestartIn(now_), std::nullopt);
  EXPECT_THAT(At(seconds(6), true), ElementsAre(Exit(0)));
  EXPECT_THAT(At(seconds(7), true), IsEmpty());
}

TEST_F(WorkerGateTest, NeverExitsWithTheWorkersStatus) {
  Reset(Config(RestartPolicy::kNever));
  At(seconds(0), true);
  ExitAt(seconds(1), {false, 7});
  EXPECT_EQ(gate_.NextWake(), SteadyTime::min());
  EXPECT_THAT(At(seconds(1), true), ElementsAre(Exit(7)));

  Reset(Config(RestartPolicy::kNever));
  At(seconds(0), true);
  ExitAt(seconds(1), {true, SIGSEGV});
  EXPECT_THAT(At(seconds(1), true), ElementsAre(Exit(128 + SIGSEGV)));
}

TEST_F(WorkerGateTest, StorageStopIsNotAnExitEvenWithNever) {
  Reset(Config(RestartPolicy::kNever));
  At(seconds(0), true);
  At(seconds(1), false);
  At(seconds(61), false);
  EXPECT_EQ(ExitAt(seconds(62), {true, SIGTERM}), StopReason::kStorage);
  EXPECT_THAT(At(seconds(63), true), ElementsAre(kStart));
}

TEST_F(WorkerGateTest, ShutdownForwardsTheSignalAndExitsWithTheStatus) {
  At(seconds(0), true);
  gate_.Shutdown(SIGINT);
  EXPECT_EQ(gate_.NextWake(), SteadyTime::min());
  EXPECT_THAT(At(seconds(1), false), ElementsAre(Sig(SIGINT)));
  // A second signal is forwarded again.
  gate_.Shutdown(SIGTERM);
  EXPECT_THAT(At(seconds(2), false), ElementsAre(Sig(SIGTERM)));
  EXPECT_THAT(At(seconds(31), false), ElementsAre(Sig(SIGKILL)));
  EXPECT_EQ(ExitAt(seconds(31), {true, SIGKILL}), StopReason::kSignal);
  EXPECT_THAT(At(seconds(31), false), ElementsAre(Exit(137)));
}

TEST_F(WorkerGateTest, ShutdownDuringAStorageStopKeepsItsKillTime) {
  At(seconds(0), true);
  At(seconds(1), false);
  At(seconds(61), false);
  gate_.Shutdown(SIGTERM);
  EXPECT_THAT(At(seconds(62), false), ElementsAre(Sig(SIGTERM)));
  EXPECT_THAT(At(seconds(91), false), ElementsAre(Sig(SIGKILL)));
  ExitAt(seconds(91), {false, 0});
  EXPECT_THAT(At(seconds(91), false), ElementsAre(Exit(0)));
}

TEST_F(WorkerGateTest, ShutdownWithoutAWorkerExitsAtOnce) {
  At(seconds(0), false);
  gate_.Shutdown(SIGTERM);
  EXPECT_THAT(At(seconds(1), false), ElementsAre(Exit(0)));
}

TEST_F(WorkerGateTest, ExitStatusFollowsTheShell) {
  EXPECT_EQ((ExitStatus{false, 3}).Code(), 3);
  EXPECT_EQ((ExitStatus{true, SIGTERM}).Code(), 143);
  EXPECT_EQ(ExitStatus::FromWait(3 << 8).Code(), 3);
  EXPECT_EQ(ExitStatus::FromWait(SIGKILL).Code(), 137);
}

}  // namespace
}  // namespace bgate::sidecar
