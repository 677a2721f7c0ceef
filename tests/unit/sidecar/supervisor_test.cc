#include "bgate/sidecar/supervisor.h"

#include <gtest/gtest.h>

#include <thread>

#include "test_driver.h"

namespace bgate::sidecar {
namespace {

using drivers::Outcome;
using drivers::Reason;
using std::chrono::milliseconds;
using testing::ScriptedDriver;

class RecordingSink final : public EventSink {
 public:
  void OnEvent(const Event& event, const Snapshot&) override {
    std::lock_guard lock(mutex);
    events.push_back(event);
  }
  int Count(EventType type) {
    std::lock_guard lock(mutex);
    int n = 0;
    for (const auto& e : events) n += e.type == type;
    return n;
  }
  std::mutex mutex;
  std::vector<Event> events;
};

// Waits (generously) for a condition on the published snapshot.
template <typename Pred>
bool WaitFor(SnapshotHolder& holder, Pred pred,
             milliseconds limit = milliseconds(5000)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred(*holder.Load())) return true;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return pred(*holder.Load());
}

class SupervisorTest : public ::testing::Test {
 protected:
  void Build(int n, CheckSettings check) {
    config_.check = check;
    std::vector<Supervisor::Backend> backends;
    for (int i = 0; i < n; ++i) {
      BackendConfig b;
      b.name = "b" + std::to_string(i);
      b.driver = "scripted";
      b.check = check;
      config_.backends.push_back(b);
      drivers_.push_back(std::make_shared<ScriptedDriver>());
      backends.push_back({b, drivers_.back()});
    }
    holder_ = std::make_unique<SnapshotHolder>(Supervisor::InitialSnapshot(config_));
    supervisor_ = std::make_unique<Supervisor>(config_, std::move(backends), clock_,
                                               std::vector<EventSink*>{&sink_},
                                               *holder_, 7);
  }
  void TearDown() override {
    for (auto& d : drivers_) d->Hang(false);
    if (supervisor_) supervisor_->Stop();
  }
  static CheckSettings Fast() {
    CheckSettings c;
    c.interval = milliseconds(20);
    c.timeout = milliseconds(200);
    c.retry_initial = milliseconds(10);
    c.retry_max = milliseconds(40);
    return c;
  }

  Config config_;
  SystemClock clock_;
  RecordingSink sink_;
  std::vector<std::shared_ptr<ScriptedDriver>> drivers_;
  std::unique_ptr<SnapshotHolder> holder_;
  std::unique_ptr<Supervisor> supervisor_;
};

TEST_F(SupervisorTest, InitializesEveryBackendAndKeepsVerifying) {
  Build(3, Fast());
  EXPECT_FALSE(holder_->Load()->Ready());
  supervisor_->Start();
  ASSERT_TRUE(WaitFor(*holder_, [](const Snapshot& s) { return s.Ready(); }));
  EXPECT_EQ(sink_.Count(EventType::kInitialized), 3);
  for (auto& d : drivers_) EXPECT_EQ(d->setups.load(), 1);
  auto checks = drivers_[0]->checks.load();
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_GT(drivers_[0]->checks.load(), checks + 2) << "re-verification runs";
  EXPECT_EQ(drivers_[0]->setups.load(), 1);
  EXPECT_TRUE(supervisor_->Alive(std::chrono::seconds(5)));
}

TEST_F(SupervisorTest, FailureAndRecoveryArePublished) {
  Build(1, Fast());
  supervisor_->Start();
  ASSERT_TRUE(WaitFor(*holder_, [](const Snapshot& s) { return s.Ready(); }));
  drivers_[0]->AnswerAlways(Outcome::Failure(Reason::kNotFound, "bucket gone"));
  ASSERT_TRUE(WaitFor(*holder_, [](const Snapshot& s) {
    return s.backends[0].state == BackendState::kFailed;
  }));
  auto s = holder_->Load();
  EXPECT_FALSE(s->Ready());
  EXPECT_EQ(s->backends[0].reason, Reason::kNotFound);
  EXPECT_EQ(s->backends[0].detail, "bucket gone");
  drivers_[0]->AnswerAlways(Outcome::Success());
  ASSERT_TRUE(WaitFor(*holder_, [](const Snapshot& x) { return x.Ready(); }));
}

TEST_F(SupervisorTest, HungCheckTimesOutOnceAndDoesNotPileUp) {
  auto c = Fast();
  c.timeout = milliseconds(100);
  Build(2, c);
  drivers_[0]->Hang(true);
  supervisor_->Start();
  ASSERT_TRUE(WaitFor(*holder_, [](const Snapshot& s) {
    return s.backends[0].state == BackendState::kFailed &&
           s.backends[1].state == BackendState::kReady;
  }));
  auto s = holder_->Load();
  EXPECT_EQ(s->backends[0].reason, Reason::kTimeout);
  EXPECT_TRUE(s->backends[0].hung);
  // Many retry periods later the hung check is still the only one.
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(drivers_[0]->checks.load(), 1);
  EXPECT_EQ(holder_->Load()->backends[0].consecutive_failures, 1);
  // The other backend is not held up by the hung one.
  EXPECT_GT(drivers_[1]->checks.load(), 5);
  drivers_[0]->Hang(false);
  ASSERT_TRUE(WaitFor(*holder_, [](const Snapshot& x) { return x.Ready(); }));
  EXPECT_FALSE(holder_->Load()->backends[0].hung);
}

TEST_F(SupervisorTest, ShutdownDropsReadinessAtOnce) {
  Build(1, Fast());
  supervisor_->Start();
  ASSERT_TRUE(WaitFor(*holder_, [](const Snapshot& s) { return s.Ready(); }));
  supervisor_->BeginShutdown();
  EXPECT_FALSE(holder_->Load()->Ready());
  EXPECT_TRUE(holder_->Load()->shutting_down);
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_FALSE(holder_->Load()->Ready()) << "later snapshots keep it down";
  EXPECT_EQ(sink_.Count(EventType::kShutdown), 1);
}

TEST_F(SupervisorTest, StopLeavesAHungWorkerBehindWithoutBlocking) {
  Build(1, Fast());
  drivers_[0]->Hang(true);
  supervisor_->Start();
  ASSERT_TRUE(WaitFor(*holder_, [](const Snapshot& s) {
    return s.backends[0].state == BackendState::kFailed;
  }));
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(supervisor_->Stop());
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
  EXPECT_FALSE(supervisor_->Alive(milliseconds(0)));
  drivers_[0]->Hang(false);  // the detached worker finishes safely
  std::this_thread::sleep_for(milliseconds(50));
}

TEST(RunAttemptTest, TurnsExceptionsIntoErrors) {
  class Throwing final : public drivers::Driver {
   public:
    Outcome Setup(const drivers::Deadline&) override { return Outcome::Success(); }
    Outcome Check(const drivers::Deadline&) override {
      throw std::runtime_error("boom");
    }
  } driver;
  auto r = RunAttempt(driver, true, drivers::Deadline::After(milliseconds(100)));
  EXPECT_TRUE(r.setup_ran);
  EXPECT_TRUE(r.setup_ok);
  EXPECT_FALSE(r.outcome.ok);
  EXPECT_EQ(r.outcome.reason, Reason::kError);
  EXPECT_EQ(r.outcome.detail, "driver error: boom");
}

TEST(RunAttemptTest, FailedSetupSkipsCheck) {
  class SetupFails final : public drivers::Driver {
   public:
    Outcome Setup(const drivers::Deadline&) override {
      return Outcome::Failure(Reason::kMisconfigured, "no key");
    }
    Outcome Check(const drivers::Deadline&) override {
      ADD_FAILURE() << "check after failed setup";
      return Outcome::Success();
    }
  } driver;
  auto r = RunAttempt(driver, true, drivers::Deadline::After(milliseconds(100)));
  EXPECT_FALSE(r.setup_ok);
  EXPECT_EQ(r.outcome.reason, Reason::kMisconfigured);
}

}  // namespace
}  // namespace bgate::sidecar
