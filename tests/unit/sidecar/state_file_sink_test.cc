#include "bgate/sidecar/state_file_sink.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace bgate::sidecar {
namespace {

nlohmann::json ReadJson(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

class StateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("bgate-state-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  Logger logger_{stderr, LogLevel::kError};
};

Snapshot Sample(BackendState state) {
  Snapshot s;
  BackendStatus b;
  b.name = "primary";
  b.driver = "posix";
  b.state = state;
  if (state == BackendState::kFailed) {
    b.reason = drivers::Reason::kPermission;
    b.detail = "write sentinel: Permission denied";
  }
  s.backends.push_back(b);
  return s;
}

TEST_F(StateFileTest, RewrittenOnTransitionsOnly) {
  auto path = dir_ / "state.json";
  StateFileSink sink(path, logger_);
  Event transition;
  transition.type = EventType::kTransition;
  sink.OnEvent(transition, Sample(BackendState::kReady));
  auto j = ReadJson(path);
  EXPECT_EQ(j["ready"], true);
  EXPECT_EQ(j["backends"][0]["state"], "ready");
  Event attempt;
  attempt.type = EventType::kAttempt;
  sink.OnEvent(attempt, Sample(BackendState::kFailed));
  EXPECT_EQ(ReadJson(path)["ready"], true) << "attempts do not rewrite it";
  sink.OnEvent(transition, Sample(BackendState::kFailed));
  j = ReadJson(path);
  EXPECT_EQ(j["ready"], false);
  EXPECT_EQ(j["backends"][0]["reason"], "permission");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "state.json.tmp"));
}

TEST_F(StateFileTest, FirstEventWritesEvenAnAttempt) {
  auto path = dir_ / "state.json";
  StateFileSink sink(path, logger_);
  Event attempt;
  attempt.type = EventType::kAttempt;
  sink.OnEvent(attempt, Sample(BackendState::kPending));
  EXPECT_EQ(ReadJson(path)["backends"][0]["state"], "pending");
}

TEST_F(StateFileTest, UnwritableDirectoryFailsCleanly) {
  StateFileSink sink(dir_ / "missing" / "state.json", logger_);
  EXPECT_FALSE(sink.Write(Sample(BackendState::kReady)));
}

}  // namespace
}  // namespace bgate::sidecar
