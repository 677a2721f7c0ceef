#include "bgate/drivers/exec/exec_driver.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace bgate::drivers::exec {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

long OpenDescriptors() {
  return static_cast<long>(
      std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                    std::filesystem::directory_iterator()));
}

// Parses the process group id a test command printed after the last ": ".
pid_t GroupFromDetail(const std::string& detail) {
  std::size_t colon = detail.rfind(": ");
  std::string number =
      colon == std::string::npos ? detail : detail.substr(colon + 2);
  return static_cast<pid_t>(std::stol(number));
}

// Reads a "SigBlk: <hex>" line of /proc/<pid>/status; whatever launched the
// test may have set other bits, so only the one signal counts.
bool SignalInMask(const std::string& status_line, int signal) {
  std::size_t colon = status_line.find(':');
  EXPECT_NE(colon, std::string::npos) << status_line;
  unsigned long long mask =
      std::stoull(status_line.substr(colon + 1), nullptr, 16);
  return ((mask >> (signal - 1)) & 1) != 0;
}

bool GroupIsGone(pid_t pgid) {
  return ::kill(-pgid, 0) == -1 && errno == ESRCH;
}

class ExecDriverTest : public ::testing::Test {
 protected:
  // Orphans then become our children, as they would if the sidecar ran as
  // PID 1 in its container: the driver's own reaping is what keeps the
  // group from lingering as zombies.
  static void SetUpTestSuite() {
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0) << std::strerror(errno);
  }

  static Outcome Run(std::vector<std::string> command,
                     milliseconds budget = milliseconds(5000)) {
    ExecDriver driver({std::move(command)});
    Outcome setup = driver.Setup(Deadline::After(budget));
    if (!setup.ok) return setup;
    return driver.Check(Deadline::After(budget));
  }

  static Outcome Shell(const std::string& script,
                       milliseconds budget = milliseconds(5000)) {
    return Run({"/bin/sh", "-c", script}, budget);
  }

  static void ExpectNoChildLeft() {
    EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD) << "a child was left unreaped";
  }
};

TEST_F(ExecDriverTest, ZeroExitIsReady) {
  Outcome outcome = Run({"/bin/true"});
  EXPECT_TRUE(outcome.ok) << outcome.detail;
  EXPECT_EQ(outcome.detail, "");
  ExpectNoChildLeft();
}

TEST_F(ExecDriverTest, NonZeroExitIsErrorWithStatus) {
  Outcome outcome = Run({"/bin/false"});
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kError);
  EXPECT_EQ(outcome.detail, "exit status 1");
  ExpectNoChildLeft();
}

TEST_F(ExecDriverTest, ProgramIsFoundThroughPath) {
  Outcome outcome = Run({"true"});
  EXPECT_TRUE(outcome.ok) << outcome.detail;
}

TEST_F(ExecDriverTest, FirstLineOfOutputIsTheDetail) {
  Outcome outcome =
      Shell("printf '\\n  \\nmount is stale\\nsecond line\\n'; exit 3");
  EXPECT_EQ(outcome.reason, Reason::kError);
  EXPECT_EQ(outcome.detail, "exit status 3: mount is stale");
}

TEST_F(ExecDriverTest, SuccessKeepsFirstLineToo) {
  Outcome outcome = Shell("echo '12 backups, newest 2h old'; echo more");
  EXPECT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.detail, "12 backups, newest 2h old");
}

TEST_F(ExecDriverTest, StandardErrorIsCaptured) {
  Outcome outcome = Shell("echo 'permission denied' >&2; exit 2");
  EXPECT_EQ(outcome.detail, "exit status 2: permission denied");
}

TEST_F(ExecDriverTest, LongFirstLineIsCapped) {
  Outcome outcome = Shell("head -c 5000 /dev/zero | tr '\\0' x; exit 1");
  EXPECT_THAT(outcome.detail, StartsWith("exit status 1: xxx"));
  EXPECT_LE(outcome.detail.size(), 256u);
}

TEST_F(ExecDriverTest, DeathBySignalIsReported) {
  Outcome outcome = Shell("kill -TERM $$");
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kError);
  EXPECT_EQ(outcome.detail, "killed by signal 15");
}

TEST_F(ExecDriverTest, StdinIsDevNull) {
  Outcome outcome = Run({"/bin/readlink", "/proc/self/fd/0"});
  EXPECT_TRUE(outcome.ok) << outcome.detail;
  EXPECT_EQ(outcome.detail, "/dev/null");
}

TEST_F(ExecDriverTest, InheritableDescriptorsDoNotReachTheCommand) {
  int leaked = ::open("/dev/null", O_RDONLY);  // deliberately not O_CLOEXEC
  ASSERT_GE(leaked, 0);
  Outcome outcome = Shell("[ ! -e /proc/self/fd/" + std::to_string(leaked) +
                          " ] || { echo inherited; exit 1; }");
  ::close(leaked);
  EXPECT_TRUE(outcome.ok) << outcome.detail;
}

// A process may block signals for a signal-handling thread and ignore
// SIGPIPE; neither may change how the command behaves.
TEST_F(ExecDriverTest, SignalMaskAndIgnoredSignalsAreNotInherited) {
  sigset_t term, previous_mask;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &term, &previous_mask), 0);
  struct sigaction ignore {}, previous_action {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &previous_action), 0);

  Outcome blocked = Run({"grep", "SigBlk", "/proc/self/status"});
  Outcome ignored = Run({"grep", "SigIgn", "/proc/self/status"});

  ::sigaction(SIGPIPE, &previous_action, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
  EXPECT_FALSE(SignalInMask(blocked.detail, SIGTERM)) << blocked.detail;
  EXPECT_FALSE(SignalInMask(ignored.detail, SIGPIPE)) << ignored.detail;
}

TEST_F(ExecDriverTest, TimeoutKillsTheCommandQuickly) {
  const auto start = Clock::now();
  Outcome outcome = Shell("echo $$; exec sleep 30", milliseconds(300));
  const auto elapsed = Clock::now() - start;
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kTimeout);
  EXPECT_THAT(outcome.detail, StartsWith("no answer within 300ms: "));
  EXPECT_LT(elapsed, milliseconds(1500));
  EXPECT_TRUE(GroupIsGone(GroupFromDetail(outcome.detail)));
  ExpectNoChildLeft();
}

TEST_F(ExecDriverTest, TimeoutKillsGrandchildren) {
  Outcome outcome = Shell("echo $$; sleep 30 & sleep 30", milliseconds(300));
  EXPECT_EQ(outcome.reason, Reason::kTimeout);
  EXPECT_TRUE(GroupIsGone(GroupFromDetail(outcome.detail)));
  ExpectNoChildLeft();
}

// The background sleep keeps the pipe open after the command exits; the check
// must end with the command, not with the pipe.
TEST_F(ExecDriverTest, BackgroundProcessesDieWithTheCommand) {
  const auto start = Clock::now();
  Outcome outcome = Shell("echo $$; sleep 30 & exit 0");
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
  EXPECT_TRUE(outcome.ok) << outcome.detail;
  EXPECT_TRUE(GroupIsGone(GroupFromDetail(outcome.detail)));
  ExpectNoChildLeft();
}

TEST_F(ExecDriverTest, HugeOutputDoesNotBlock) {
  const auto start = Clock::now();
  Outcome outcome = Run({"head", "-c", "10000000", "/dev/zero"});
  EXPECT_TRUE(outcome.ok) << outcome.detail;
  EXPECT_LT(Clock::now() - start, milliseconds(4000));
}

TEST_F(ExecDriverTest, HugeOutputKeepsTheFirstLine) {
  Outcome outcome =
      Shell("echo first; head -c 10000000 /dev/zero | tr '\\0' y; exit 4");
  EXPECT_EQ(outcome.detail, "exit status 4: first");
}

TEST_F(ExecDriverTest, MissingProgramIsMisconfigured) {
  Outcome outcome = Run({"/nonexistent/check-backups"});
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured);
  EXPECT_EQ(outcome.detail,
            "command /nonexistent/check-backups: No such file or directory");
}

TEST_F(ExecDriverTest, ProgramNotInPathIsMisconfigured) {
  Outcome outcome = Run({"bgate-no-such-program"});
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured);
  EXPECT_EQ(outcome.detail, "command bgate-no-such-program: not found in PATH");
}

TEST_F(ExecDriverTest, CheckWithoutSetupStillResolves) {
  ExecDriver driver({{"/nonexistent/check-backups"}});
  Outcome outcome = driver.Check(Deadline::After(milliseconds(1000)));
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured);
}

class ExecFileTest : public ExecDriverTest {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "bgate-exec-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content,
                    mode_t mode) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    ::chmod(path.c_str(), mode);
    return path;
  }

  std::string dir_;
};

TEST_F(ExecFileTest, ScriptPrintsFirstLine) {
  std::string script =
      Write("check.sh", "#!/bin/sh\necho \"checked $1\"\necho noise\n", 0755);
  Outcome outcome = Run({script, "nfs"});
  EXPECT_TRUE(outcome.ok) << outcome.detail;
  EXPECT_EQ(outcome.detail, "checked nfs");
}

TEST_F(ExecFileTest, NonExecutableFileIsMisconfigured) {
  std::string script = Write("check.sh", "#!/bin/sh\nexit 0\n", 0644);
  Outcome outcome = Run({script});
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured);
  EXPECT_THAT(outcome.detail, HasSubstr("Permission denied"));
}

// Setup cannot tell a script without an interpreter line; the spawn can.
TEST_F(ExecFileTest, ScriptWithoutInterpreterIsMisconfigured) {
  std::string script = Write("check", "exit 0\n", 0755);
  Outcome outcome = Run({script});
  EXPECT_EQ(outcome.reason, Reason::kMisconfigured) << outcome.detail;
  EXPECT_THAT(outcome.detail, StartsWith("run " + script + ": "));
}

TEST_F(ExecDriverTest, ExpiredDeadlineStartsNothing) {
  ExecDriver driver({{"/bin/true"}});
  ASSERT_TRUE(driver.Setup(Deadline::After(milliseconds(1000))).ok);
  Outcome outcome = driver.Check(Deadline::After(milliseconds(0)));
  EXPECT_EQ(outcome.reason, Reason::kTimeout);
}

TEST_F(ExecDriverTest, NoDescriptorLeaks) {
  const long before = OpenDescriptors();
  Run({"/bin/true"});
  Run({"/bin/false"});
  Run({"/nonexistent/check-backups"});
  Shell("sleep 30 & sleep 30", milliseconds(100));
  Shell("sleep 30 & exit 0");
  EXPECT_EQ(OpenDescriptors(), before);
  ExpectNoChildLeft();
}

TEST_F(ExecDriverTest, DriverCanBeReused) {
  ExecDriver driver({{"/bin/sh", "-c", "echo run"}});
  ASSERT_TRUE(driver.Setup(Deadline::After(milliseconds(1000))).ok);
  for (int i = 0; i < 3; ++i) {
    Outcome outcome = driver.Check(Deadline::After(milliseconds(2000)));
    EXPECT_TRUE(outcome.ok);
    EXPECT_EQ(outcome.detail, "run");
  }
}

class ExecOptionsTest : public ::testing::Test {
 protected:
  std::shared_ptr<const DriverOptions> Parse(const std::string& yaml) {
    YAML::Node root = YAML::Load(yaml);
    NodeReader reader(root["backends"][0], "backends[0]", errors_);
    return ParseExecOptions(reader);
  }

  ErrorList errors_;
};

TEST_F(ExecOptionsTest, CommandIsDescribed) {
  auto options =
      Parse("backends: [{command: [/usr/bin/check, --dir, 'my backups']}]");
  ASSERT_NE(options, nullptr) << ::testing::PrintToString(errors_.errors());
  auto settings = options->Describe();
  ASSERT_EQ(settings.size(), 1u);
  EXPECT_EQ(settings[0].key, "command");
  EXPECT_EQ(settings[0].value, "/usr/bin/check --dir 'my backups'");
  EXPECT_EQ(settings[0].source, "config");
}

TEST_F(ExecOptionsTest, CreatesAWorkingDriver) {
  auto options = Parse("backends: [{command: [true]}]");
  ASSERT_NE(options, nullptr);
  auto driver = options->CreateDriver({"primary", "pod-1"});
  ASSERT_TRUE(driver->Setup(Deadline::After(milliseconds(1000))).ok);
  EXPECT_TRUE(driver->Check(Deadline::After(milliseconds(2000))).ok);
}

TEST_F(ExecOptionsTest, MissingCommandIsNamed) {
  EXPECT_EQ(Parse("backends: [{}]"), nullptr);
  EXPECT_THAT(errors_.errors(),
              ElementsAre(StartsWith("backends[0].command:")));
}

TEST_F(ExecOptionsTest, EmptyCommandIsRejected) {
  EXPECT_EQ(Parse("backends: [{command: []}]"), nullptr);
  EXPECT_THAT(errors_.errors(),
              ElementsAre(StartsWith("backends[0].command:")));
}

TEST_F(ExecOptionsTest, CommandMustBeAList) {
  EXPECT_EQ(Parse("backends: [{command: /bin/true}]"), nullptr);
  EXPECT_THAT(errors_.errors(),
              ElementsAre(StartsWith("backends[0].command:")));
}

TEST_F(ExecOptionsTest, NonStringElementIsNamedByIndex) {
  EXPECT_EQ(Parse("backends: [{command: [/bin/echo, [a]]}]"), nullptr);
  EXPECT_THAT(errors_.errors(),
              ElementsAre(StartsWith("backends[0].command[1]:")));
}

TEST_F(ExecOptionsTest, RelativeProgramPathIsRejected) {
  EXPECT_EQ(Parse("backends: [{command: [./check.sh]}]"), nullptr);
  EXPECT_THAT(errors_.errors(),
              ElementsAre(StartsWith("backends[0].command[0]:")));
}

TEST_F(ExecOptionsTest, EmptyProgramIsRejected) {
  EXPECT_EQ(Parse("backends: [{command: ['']}]"), nullptr);
  EXPECT_THAT(errors_.errors(),
              ElementsAre("backends[0].command[0]: must not be empty"));
}

TEST_F(ExecOptionsTest, UnknownKeyIsNamed) {
  EXPECT_EQ(Parse("backends: [{command: [true], shell: true}]"), nullptr);
  EXPECT_THAT(errors_.errors(), ElementsAre(StartsWith("backends[0].shell:")));
}

}  // namespace
}  // namespace bgate::drivers::exec
