#include "bgate/sidecar/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace bgate::sidecar {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::Contains;
using ::testing::HasSubstr;

const drivers::DriverRegistry& Registry() {
  static const auto registry = drivers::BuiltinDrivers();
  return registry;
}

ConfigResult Parse(const std::string& yaml) { return ParseConfig(yaml, Registry()); }

std::vector<std::string> Errors(const std::string& yaml) {
  auto r = Parse(yaml);
  EXPECT_FALSE(r.config.has_value()) << yaml;
  return r.errors;
}

constexpr char kMinimal[] = R"(
backends:
  - name: primary
    driver: posix
    path: /var/lib/backups
)";

TEST(ConfigTest, MinimalConfigGetsDefaults) {
  auto r = Parse(kMinimal);
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  const Config& c = *r.config;
  EXPECT_EQ(c.server.address, "0.0.0.0:8080");
  EXPECT_EQ(c.server.port, 8080);
  EXPECT_EQ(c.server.drain_delay, seconds(5));
  EXPECT_EQ(c.check.interval, seconds(30));
  EXPECT_EQ(c.check.timeout, seconds(10));
  EXPECT_EQ(c.check.failure_threshold, 1);
  EXPECT_EQ(c.check.success_threshold, 1);
  EXPECT_EQ(c.check.retry_initial, seconds(1));
  EXPECT_EQ(c.check.retry_max, seconds(60));
  EXPECT_TRUE(c.check.periodic_initialization);
  EXPECT_EQ(c.policy, ReadinessPolicy::kAll);
  EXPECT_TRUE(c.required.empty());
  EXPECT_EQ(c.state_file, "");
  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_EQ(c.backends[0].name, "primary");
  EXPECT_EQ(c.backends[0].driver, "posix");
  EXPECT_NE(c.backends[0].options, nullptr);
}

TEST(ConfigTest, FullConfigFromTheReference) {
  auto r = Parse(R"(
server:
  address: "0.0.0.0:9090"
  drain_delay: 2s
check:
  interval: 1m
  timeout: 500ms
  failure_threshold: 3
  success_threshold: 2
  retry: {initial: 2s, max: 1h}
  periodic_initialization: false
readiness:
  policy: any
  required: [custom]
state_file: /run/backup-gate/state.json
backends:
  - name: primary
    driver: posix
    path: /var/lib/backups
    write_probe: true
    min_free_bytes: 1000
  - name: custom
    driver: exec
    command: ["/usr/bin/rbd", "ls", "backups"]
    check: {timeout: 5s}
)");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  const Config& c = *r.config;
  EXPECT_EQ(c.server.port, 9090);
  EXPECT_EQ(c.server.drain_delay, seconds(2));
  EXPECT_EQ(c.policy, ReadinessPolicy::kAny);
  EXPECT_EQ(c.required, std::vector<std::string>{"custom"});
  EXPECT_EQ(c.state_file, "/run/backup-gate/state.json");
  // The backend override replaces only what it names.
  const auto& custom = c.backends[1].check;
  EXPECT_EQ(custom.timeout, seconds(5));
  EXPECT_EQ(custom.interval, std::chrono::minutes(1));
  EXPECT_EQ(custom.failure_threshold, 3);
  EXPECT_EQ(custom.success_threshold, 2);
  EXPECT_EQ(custom.retry_initial, seconds(2));
  EXPECT_EQ(custom.retry_max, std::chrono::hours(1));
  EXPECT_FALSE(custom.periodic_initialization);
  EXPECT_EQ(c.backends[0].check.timeout, milliseconds(500));
}

TEST(ConfigTest, BadDurationNamesTheField) {
  auto errors = Errors(R"(
backends:
  - name: a
    driver: posix
    path: /a
  - name: b
    driver: posix
    path: /b
    check: {timeout: 10q}
)");
  EXPECT_THAT(errors, Contains(HasSubstr(
                          "backends[1].check.timeout: \"10q\" is not a duration")));
}

TEST(ConfigTest, EveryErrorIsReportedTogether) {
  auto errors = Errors(R"(
server: {address: nowhere, drain_delay: soon}
check: {interval: 0s, failure_threshold: 0, success_threshold: x,
        retry: {initial: 5s, max: 1s, jitter: 2}, periodic_initialization: maybe}
readiness: {policy: most, required: [ghost]}
extra: 1
backends:
  - name: Bad Name
    driver: posix
    path: /a
  - name: dup
    driver: nfs
  - name: dup
    driver: posix
    path: /b
    colour: blue
)");
  const std::vector<std::string> fields = {
      "server.address:", "server.drain_delay:", "check.interval:",
      "check.failure_threshold:", "check.success_threshold:",
      "check.retry.jitter: unknown key", "check.retry: initial",
      "check.periodic_initialization:", "readiness.policy:",
      "readiness.required[0]: \"ghost\" is not the name of a backend",
      "extra: unknown key", "backends[0].name:", "backends[1].driver: unknown driver \"nfs\"",
      "backends[2].name: \"dup\" is used by another backend",
      "backends[2].colour: unknown key"};
  for (const auto& field : fields) {
    EXPECT_THAT(errors, Contains(HasSubstr(field))) << field;
  }
}

TEST(ConfigTest, ZeroBackendsIsAnError) {
  EXPECT_THAT(Errors("server: {address: \"127.0.0.1:1\"}\n"),
              Contains(HasSubstr("backends: at least one backend is required")));
  EXPECT_THAT(Errors("backends: []\n"),
              Contains(HasSubstr("backends: at least one backend is required")));
  EXPECT_THAT(Errors("backends: {a: 1}\n"), Contains(HasSubstr("backends: must be a list")));
}

TEST(ConfigTest, DuplicateKeysAreErrorsWhereverTheyAre) {
  // yaml-cpp would keep the first and ignore the rest without a word.
  auto errors = Errors(R"(check: {interval: 1s}
check: {interval: 5s}
backends:
  - {name: a, driver: posix, path: /x, path: /y}
  - name: b
    driver: posix
    path: /z
    check:
      timeout: 1s
      timeout: 2s
)");
  EXPECT_THAT(errors, Contains("check: duplicate key (line 2; first at line 1)"));
  EXPECT_THAT(errors, Contains(HasSubstr("backends[0].path: duplicate key (line 4;")));
  EXPECT_THAT(errors,
              Contains("backends[1].check.timeout: duplicate key (line 10; first at line 9)"));
  EXPECT_EQ(errors.size(), 3u);
  // The same key in different mappings is no repetition.
  EXPECT_TRUE(Parse(R"(check: {timeout: 1s}
backends:
  - {name: a, driver: posix, path: /x, check: {timeout: 2s}}
  - {name: b, driver: posix, path: /y, check: {timeout: 3s}}
)").config.has_value());
}

TEST(ConfigTest, MissingNameAndDriver) {
  auto errors = Errors("backends:\n  - path: /x\n");
  EXPECT_THAT(errors, Contains(HasSubstr("backends[0].name: is required")));
  EXPECT_THAT(errors, Contains(HasSubstr("backends[0].driver: is required")));
}

TEST(ConfigTest, WrongShapes) {
  EXPECT_THAT(Errors("- a\n- b\n"), Contains(HasSubstr("must be a mapping")));
  EXPECT_THAT(Errors("server: [1]\nbackends: [{name: a, driver: posix, path: /a}]\n"),
              Contains(HasSubstr("server: must be a mapping")));
  EXPECT_THAT(Errors("check: {retry: 5s}\nbackends: [{name: a, driver: posix, path: /a}]\n"),
              Contains(HasSubstr("check.retry: must be a mapping")));
  EXPECT_THAT(Errors("readiness: {required: nope}\nbackends: [{name: a, driver: posix, path: /a}]\n"),
              Contains(HasSubstr("readiness.required: must be a list")));
  EXPECT_THAT(Errors("backends: [{name: [a], driver: posix, path: /a}]\n"),
              Contains(HasSubstr("backends[0].name: must be a single value")));
  EXPECT_THAT(Errors("backends: [7]\n"), Contains(HasSubstr("backends[0]: must be a mapping")));
}

TEST(ConfigTest, InvalidYamlSaysWhere) {
  auto errors = Errors("backends:\n  - name: a\n   bad: [\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("invalid YAML at line"));
}

TEST(ConfigTest, NameRules) {
  std::string long_name(64, 'a');
  EXPECT_THAT(Errors("backends: [{name: " + long_name + ", driver: posix, path: /a}]\n"),
              Contains(HasSubstr("must match [a-z0-9_-]{1,63}")));
  auto ok = Parse("backends: [{name: " + std::string(63, 'a') +
                  ", driver: posix, path: /a}, {name: b_2-x, driver: posix, path: /b}]\n");
  EXPECT_TRUE(ok.config) << ::testing::PrintToString(ok.errors);
}

TEST(ConfigTest, AddressForms) {
  EXPECT_EQ(SplitHostPort("0.0.0.0:8080")->second, 8080);
  EXPECT_EQ(SplitHostPort("[::1]:9")->first, "::1");
  EXPECT_EQ(SplitHostPort(":8080")->first, "0.0.0.0");
  EXPECT_EQ(SplitHostPort("localhost:0")->second, 0);
  EXPECT_FALSE(SplitHostPort("8080"));
  EXPECT_FALSE(SplitHostPort("host:"));
  EXPECT_FALSE(SplitHostPort("host:65536"));
  EXPECT_FALSE(SplitHostPort("host:80x"));
  EXPECT_FALSE(SplitHostPort("::1:80"));
  EXPECT_FALSE(SplitHostPort("[::1]80"));
  EXPECT_FALSE(SplitHostPort("[]:80"));
}

TEST(ConfigTest, DefaultConfigIsValid) {
  auto r = Parse(DefaultConfigYaml("/tmp/a \"quoted\" dir"));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->server.host, "127.0.0.1");
  EXPECT_EQ(r.config->server.port, 8080);
  ASSERT_EQ(r.config->backends.size(), 1u);
  EXPECT_EQ(r.config->backends[0].driver, "posix");
  EXPECT_THAT(DescribeConfig(*r.config), HasSubstr("/tmp/a \"quoted\" dir"));
}

TEST(ConfigTest, DescribeShowsEffectiveValuesAndSources) {
  auto r = Parse(kMinimal);
  ASSERT_TRUE(r.config);
  r.config->overrides.push_back({"server.address", "127.0.0.1:1", "flag --address"});
  std::string text = DescribeConfig(*r.config);
  EXPECT_THAT(text, HasSubstr("interval: 30s"));
  EXPECT_THAT(text, HasSubstr("from flag --address"));
  EXPECT_THAT(text, HasSubstr("path: /var/lib/backups"));
  // What validate prints parses back to the same config.
  auto again = Parse(text);
  ASSERT_TRUE(again.config) << text << ::testing::PrintToString(again.errors);
  EXPECT_EQ(again.config->check.retry_max, seconds(60));
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("bgate-config-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigFileTest, ReadsAFile) {
  auto r = LoadConfigFile(Write("gate.yaml", kMinimal), Registry());
  EXPECT_TRUE(r.config) << ::testing::PrintToString(r.errors);
}

TEST_F(ConfigFileTest, RejectsWhatIsNotAConfigFile) {
  auto one = [&](const std::string& path) {
    auto r = LoadConfigFile(path, Registry());
    EXPECT_FALSE(r.config);
    return r.errors.empty() ? std::string() : r.errors[0];
  };
  EXPECT_THAT(one((dir_ / "missing.yaml").string()), HasSubstr("No such file"));
  EXPECT_THAT(one(dir_.string()), HasSubstr("not a regular file"));
  EXPECT_THAT(one(Write("empty.yaml", "")), HasSubstr("empty"));
  EXPECT_THAT(one(Write("latin1.yaml", "backends: [\xe9]\n")), HasSubstr("not valid UTF-8"));
  EXPECT_THAT(one(Write("big.yaml", "# " + std::string(kMaxConfigBytes, 'x') + "\n")),
              HasSubstr("larger than"));
  if (::geteuid() != 0) {
    auto path = Write("secret.yaml", kMinimal);
    ::chmod(path.c_str(), 0);
    EXPECT_THAT(one(path), HasSubstr("Permission denied"));
  }
}

TEST(ConfigTest, WorkerDefaults) {
  auto r = Parse(kMinimal);
  ASSERT_TRUE(r.config);
  const WorkerConfig& w = r.config->worker;
  EXPECT_EQ(w.stop_after, seconds(60));
  EXPECT_EQ(w.stop_signal, SIGTERM);
  EXPECT_EQ(w.stop_timeout, seconds(30));
  EXPECT_EQ(w.restart, RestartPolicy::kAlways);
  EXPECT_EQ(w.restart_initial, seconds(1));
  EXPECT_EQ(w.restart_max, seconds(60));
}

TEST(ConfigTest, WorkerSection) {
  auto r = Parse(std::string(kMinimal) + R"(
worker:
  stop_after: 2s
  stop_signal: QUIT
  stop_timeout: 500ms
  restart: on-failure
  restart_backoff: {initial: 100ms, max: 5s}
)");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  const WorkerConfig& w = r.config->worker;
  EXPECT_EQ(w.stop_after, seconds(2));
  EXPECT_EQ(w.stop_signal, SIGQUIT);
  EXPECT_EQ(w.stop_timeout, milliseconds(500));
  EXPECT_EQ(w.restart, RestartPolicy::kOnFailure);
  EXPECT_EQ(w.restart_initial, milliseconds(100));
  EXPECT_EQ(w.restart_max, seconds(5));
  std::string text = DescribeConfig(*r.config);
  EXPECT_THAT(text, HasSubstr("stop_signal: SIGQUIT"));
  EXPECT_THAT(text, HasSubstr("restart: on-failure"));
  EXPECT_THAT(text, HasSubstr("restart_backoff: {initial: 100ms, max: 5s}"));
  auto again = Parse(text);
  ASSERT_TRUE(again.config) << ::testing::PrintToString(again.errors);
  EXPECT_EQ(again.config->worker.stop_signal, SIGQUIT);
}

TEST(ConfigTest, WorkerErrorsNameTheirFields) {
  auto errors = Errors(std::string(kMinimal) + R"(
worker:
  stop_after: 0s
  stop_signal: SIGKILL
  restart: sometimes
  restart_backoff: {initial: 10s, max: 1s}
  grace: 1s
)");
  EXPECT_THAT(errors, Contains(HasSubstr("worker.stop_after: must be greater than 0")));
  EXPECT_THAT(errors, Contains(HasSubstr("worker.stop_signal: \"SIGKILL\" is not one of")));
  EXPECT_THAT(errors, Contains(HasSubstr("worker.restart: \"sometimes\"")));
  EXPECT_THAT(errors, Contains(HasSubstr("worker.restart_backoff: initial (10s)")));
  EXPECT_THAT(errors, Contains(HasSubstr("worker.grace")));
}

}  // namespace
}  // namespace bgate::sidecar
