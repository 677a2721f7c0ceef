#include "bgate/sidecar/one_shot_check.h"

#include <gtest/gtest.h>

#include "test_driver.h"

namespace bgate::sidecar {
namespace {

using drivers::Outcome;
using drivers::Reason;
using std::chrono::milliseconds;
using testing::ScriptedDriver;

struct Fixture {
  Config config;
  std::vector<Supervisor::Backend> backends;
  std::vector<std::shared_ptr<ScriptedDriver>> drivers;

  void Add(const std::string& name, Outcome answer,
           milliseconds timeout = milliseconds(2000)) {
    BackendConfig b;
    b.name = name;
    b.driver = "scripted";
    b.check.timeout = timeout;
    config.backends.push_back(b);
    auto d = std::make_shared<ScriptedDriver>();
    d->AnswerAlways(std::move(answer));
    drivers.push_back(d);
    backends.push_back({b, d});
  }
};

TEST(OneShotTest, ReportsEveryBackendAndJudgesByPolicy) {
  Fixture f;
  f.Add("good", Outcome::Success("12 entries"));
  f.Add("bad", Outcome::Failure(Reason::kNotFound, "no such bucket"));
  auto report = RunOneShot(f.config, f.backends);
  ASSERT_EQ(report.results.size(), 2u);
  EXPECT_TRUE(report.results[0].outcome.ok);
  EXPECT_EQ(report.results[1].outcome.reason, Reason::kNotFound);
  EXPECT_FALSE(report.snapshot->Ready());
  EXPECT_FALSE(report.abandoned);
  for (auto& d : f.drivers) EXPECT_EQ(d->setups.load(), 1);

  f.config.policy = ReadinessPolicy::kAny;
  EXPECT_TRUE(RunOneShot(f.config, f.backends).snapshot->Ready());
}

TEST(OneShotTest, HungBackendTimesOutWithoutHoldingTheOthers) {
  Fixture f;
  f.Add("hung", Outcome::Success(), milliseconds(200));
  f.Add("good", Outcome::Success(), milliseconds(2000));
  f.drivers[0]->Hang(true);
  auto start = std::chrono::steady_clock::now();
  auto report = RunOneShot(f.config, f.backends);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1500));
  EXPECT_TRUE(report.abandoned);
  EXPECT_EQ(report.results[0].outcome.reason, Reason::kTimeout);
  EXPECT_TRUE(report.results[1].outcome.ok);
  f.drivers[0]->Hang(false);
  std::this_thread::sleep_for(milliseconds(20));
}

TEST(OneShotTest, TextIsAlignedAndJsonIsComplete) {
  Fixture f;
  f.Add("a", Outcome::Success("fine"));
  f.Add("longer-name", Outcome::Failure(Reason::kAuth, "denied"));
  auto report = RunOneShot(f.config, f.backends);
  auto text = FormatOneShotText(report);
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < text.size();) {
    auto end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].find("DRIVER"), lines[1].find("scripted"));
  EXPECT_EQ(lines[1].find("scripted"), lines[2].find("scripted"));
  EXPECT_NE(lines[2].find("failed"), std::string::npos);
  EXPECT_NE(lines[2].find("auth"), std::string::npos);
  auto j = OneShotJson(report);
  EXPECT_EQ(j["ready"], false);
  EXPECT_EQ(j["backends"][1]["reason"], "auth");
  EXPECT_EQ(j["backends"][0]["reason"], nullptr);
  EXPECT_EQ(j["backends"][0]["detail"], "fine");
}

}  // namespace
}  // namespace bgate::sidecar
