#include "bgate/sidecar/logger.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "bgate/sidecar/json_log_sink.h"

namespace bgate::sidecar {
namespace {

// Collects what a Logger writes through a memory stream.
class Captured {
 public:
  Captured() { file_ = open_memstream(&buffer_, &size_); }
  ~Captured() {
    std::fclose(file_);
    std::free(buffer_);
  }
  std::FILE* file() { return file_; }
  std::vector<nlohmann::ordered_json> Lines() {
    std::fflush(file_);
    std::vector<nlohmann::ordered_json> out;
    std::string text(buffer_, size_);
    std::size_t start = 0;
    while (start < text.size()) {
      auto end = text.find('\n', start);
      out.push_back(nlohmann::ordered_json::parse(text.substr(start, end - start)));
      start = end + 1;
    }
    return out;
  }

 private:
  char* buffer_ = nullptr;
  std::size_t size_ = 0;
  std::FILE* file_;
};

TEST(LoggerTest, WritesOneJsonObjectPerLineAndFiltersByLevel) {
  Captured out;
  Logger logger(out.file(), LogLevel::kInfo);
  logger.Log(LogLevel::kDebug, "hidden");
  logger.Log(LogLevel::kWarn, "line\nbreak", {{"backend", "a"}});
  auto lines = out.Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["level"], "warn");
  EXPECT_EQ(lines[0]["msg"], "line\nbreak");
  EXPECT_EQ(lines[0]["backend"], "a");
  EXPECT_TRUE(lines[0]["time"].get<std::string>().ends_with("Z"));
}

TEST(LoggerTest, InvalidUtf8DoesNotThrow) {
  Captured out;
  Logger logger(out.file());
  logger.Log(LogLevel::kInfo, "x", {{"detail", "\xff\xfe"}});
  EXPECT_EQ(out.Lines().size(), 1u);
}

TEST(LoggerTest, FormatTime) {
  auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  EXPECT_EQ(FormatTime(t), "2023-11-14T22:13:20.123Z");
}

TEST(JsonLogSinkTest, TransitionLineCarriesEveryField) {
  Captured out;
  Logger logger(out.file(), LogLevel::kInfo);
  JsonLogSink sink(logger);
  Snapshot snapshot;
  Event e;
  e.type = EventType::kTransition;
  e.backend = "primary";
  e.driver = "posix";
  e.from = BackendState::kReady;
  e.to = BackendState::kFailed;
  e.reason = drivers::Reason::kNotFound;
  e.detail = "stat /x: No such file or directory";
  e.attempt = 7;
  e.duration = std::chrono::milliseconds(250);
  sink.OnEvent(e, snapshot);
  e.type = EventType::kAttempt;
  sink.OnEvent(e, snapshot);  // debug: filtered out at info
  auto lines = out.Lines();
  ASSERT_EQ(lines.size(), 1u);
  const auto& l = lines[0];
  EXPECT_EQ(l["level"], "warn");
  EXPECT_EQ(l["event"], "transition");
  EXPECT_EQ(l["backend"], "primary");
  EXPECT_EQ(l["driver"], "posix");
  EXPECT_EQ(l["from"], "ready");
  EXPECT_EQ(l["to"], "failed");
  EXPECT_EQ(l["reason"], "not_found");
  EXPECT_EQ(l["detail"], "stat /x: No such file or directory");
  EXPECT_EQ(l["attempt"], 7);
  EXPECT_DOUBLE_EQ(l["duration"].get<double>(), 0.25);
  // Fields keep the documented order.
  std::vector<std::string> keys;
  for (auto& [k, v] : l.items()) keys.push_back(k);
  std::vector<std::string> want = {"time",  "level",  "msg",    "event", "backend",
                                   "driver", "from", "to", "ready", "reason",
                                   "detail", "attempt", "duration"};
  EXPECT_EQ(keys, want);
}

TEST(JsonLogSinkTest, AttemptsAtDebugCarryDuration) {
  Captured out;
  Logger logger(out.file(), LogLevel::kDebug);
  JsonLogSink sink(logger);
  Event e;
  e.type = EventType::kAttempt;
  e.ok = true;
  e.duration = std::chrono::milliseconds(1500);
  sink.OnEvent(e, Snapshot());
  auto lines = out.Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["level"], "debug");
  EXPECT_DOUBLE_EQ(lines[0]["duration"].get<double>(), 1.5);
}

}  // namespace
}  // namespace bgate::sidecar
