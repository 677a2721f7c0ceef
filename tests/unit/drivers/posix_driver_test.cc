#include "bgate/drivers/posix/posix_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <ostream>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace bgate::drivers::posix {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr std::uint64_t kGiB = 1024ull * 1024 * 1024;

enum class Op { kStat, kStatVfs, kList, kWrite, kRead, kRemove };

// An in-memory directory whose calls can be made to fail or to hang.
class FakeFileSystem final : public FileSystem {
 public:
  // Makes call number `call` (0-based, counted per operation) of `op` fail
  // with `error`; every call when `call` is negative.
  void Fail(Op op, int error, int call = -1) { faults_[op] = {error, call}; }
  // Makes every call of `op` take `delay` before it succeeds.
  void Hang(Op op, std::chrono::nanoseconds delay) { hangs_[op] = delay; }

  int Stat(const std::string& path, FileInfo* info) override {
    if (int error = Enter(Op::kStat); error != 0) return error;
    stat_paths.push_back(path);
    info->is_directory = is_directory;
    return 0;
  }
  int StatVfs(const std::string& /*path*/,
              std::uint64_t* available_bytes) override {
    if (int error = Enter(Op::kStatVfs); error != 0) return error;
    *available_bytes = free_bytes;
    return 0;
  }
  int ListDirectory(const std::string& /*path*/, std::size_t limit,
                    std::vector<std::string>* names) override {
    if (int error = Enter(Op::kList); error != 0) return error;
    names->assign(entries.begin(),
                  entries.begin() + static_cast<std::ptrdiff_t>(
                                        std::min(limit, entries.size())));
    return 0;
  }
  int WriteFileSync(const std::string& path, std::string_view data) override {
    if (files.contains(path)) return EEXIST;
    int error = Enter(Op::kWrite);
    // Like a real disk filling up, a failed write leaves a partial file.
    files[path] = std::string(data.substr(0, error == 0 ? data.size() : 3));
    written.emplace_back(data);
    return error;
  }
  int ReadFile(const std::string& path, std::size_t limit,
               std::string* data) override {
    if (int error = Enter(Op::kRead); error != 0) return error;
    auto it = files.find(path);
    if (it == files.end()) return ENOENT;
    *data = it->second.substr(0, limit);
    if (corrupt_reads && !data->empty()) (*data)[0] ^= 1;
    return 0;
  }
  int Remove(const std::string& path) override {
    if (int error = Enter(Op::kRemove); error != 0) return error;
    return files.erase(path) == 1 ? 0 : ENOENT;
  }

  bool is_directory = true;
  std::vector<std::string> entries;
  std::uint64_t free_bytes = 5 * kGiB;
  std::map<std::string, std::string> files;
  bool corrupt_reads = false;
  std::vector<std::string> stat_paths;
  std::vector<std::string> written;
  std::map<Op, int> calls;

 private:
  struct Fault {
    int error;
    int call;
  };

  int Enter(Op op) {
    int call = calls[op]++;
    if (auto hang = hangs_.find(op); hang != hangs_.end()) {
      std::this_thread::sleep_for(hang->second);
    }
    auto fault = faults_.find(op);
    if (fault == faults_.end()) return 0;
    if (fault->second.call >= 0 && fault->second.call != call) return 0;
    return fault->second.error;
  }

  std::map<Op, Fault> faults_;
  std::map<Op, std::chrono::nanoseconds> hangs_;
};

class PosixDriverTest : public ::testing::Test {
 protected:
  PosixDriverTest() : fs_(std::make_shared<FakeFileSystem>()) {
    config_.path = "/backups";
  }

  Outcome RunCheck(milliseconds budget = milliseconds(2000)) {
    PosixDriver driver(config_, {"primary", "pod-1"}, fs_);
    EXPECT_TRUE(driver.Setup(Deadline::After(budget)).ok);
    return driver.Check(Deadline::After(budget));
  }

  PosixConfig config_;
  std::shared_ptr<FakeFileSystem> fs_;
};

TEST_F(PosixDriverTest, ReadyReportsEntriesAndFreeSpace) {
  fs_->entries = {"2024-01-01.tar", "2024-01-02.tar"};
  Outcome outcome = RunCheck();
  EXPECT_TRUE(outcome.ok) << outcome.detail;
  EXPECT_EQ(outcome.detail, "2 entries, 5.0 GiB free");
  EXPECT_EQ(outcome.free_bytes, 5 * kGiB);
  EXPECT_THAT(fs_->stat_paths, ElementsAre("/backups"));
}

TEST_F(PosixDriverTest, SingleEntryIsSingular) {
  fs_->entries = {"only.tar"};
  fs_->free_bytes = 512;
  EXPECT_EQ(RunCheck().detail, "1 entry, 512 B free");
}

TEST_F(PosixDriverTest, SentinelsOfOtherPodsAreNotCounted) {
  fs_->entries = {"a.tar", std::string(kSentinelPrefix) + "pod-2", "b.tar"};
  EXPECT_THAT(RunCheck().detail, StartsWith("2 entries,"));
}

TEST_F(PosixDriverTest, ListingIsBounded) {
  fs_->entries.assign(kMaxListedEntries + 5, "x");
  EXPECT_THAT(RunCheck().detail, StartsWith("10000+ entries,"));
}

TEST_F(PosixDriverTest, WithoutWriteProbeNothingIsWritten) {
  EXPECT_TRUE(RunCheck().ok);
  EXPECT_EQ(fs_->calls[Op::kWrite], 0);
  EXPECT_EQ(fs_->calls[Op::kRemove], 0);
}

TEST_F(PosixDriverTest, FileInsteadOfDirectoryIsNotFound) {
  fs_->is_directory = false;
  Outcome outcome = RunCheck();
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kNotFound);
  EXPECT_EQ(outcome.detail, "stat /backups: Not a directory");
}

TEST_F(PosixDriverTest, BelowMinFreeBytesIsNoSpace) {
  fs_->free_bytes = 100 * 1024 * 1024;
  config_.min_free_bytes = kGiB;
  Outcome outcome = RunCheck();
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kNoSpace);
  EXPECT_EQ(outcome.detail,
            "100.0 MiB free, below min_free_bytes (1.0 GiB)");
  EXPECT_EQ(outcome.free_bytes, 100 * 1024 * 1024);
}

TEST_F(PosixDriverTest, ExactlyMinFreeBytesIsEnough) {
  fs_->free_bytes = kGiB;
  config_.min_free_bytes = kGiB;
  EXPECT_TRUE(RunCheck().ok);
}

TEST_F(PosixDriverTest, WriteProbeRoundTripLeavesNothingBehind) {
  config_.write_probe = true;
  Outcome outcome = RunCheck();
  EXPECT_TRUE(outcome.ok) << outcome.detail;
  EXPECT_EQ(outcome.detail, "0 entries, 5.0 GiB free, write probe ok");
  EXPECT_EQ(fs_->calls[Op::kWrite], 1);
  EXPECT_EQ(fs_->calls[Op::kRead], 1);
  EXPECT_THAT(fs_->files, IsEmpty());
}

TEST_F(PosixDriverTest, SentinelIsNamedAfterTheInstance) {
  PosixDriver driver(config_, {"primary", "pod/a b"}, fs_);
  EXPECT_EQ(driver.sentinel_path(), "/backups/.backup-gate-sentinel-pod_a_b");
  config_.path = "/backups/";
  PosixDriver trailing_slash(config_, {"primary", "p"}, fs_);
  EXPECT_EQ(trailing_slash.sentinel_path(), "/backups/.backup-gate-sentinel-p");
}

TEST_F(PosixDriverTest, StaleSentinelIsReplaced) {
  config_.write_probe = true;
  const std::string sentinel = "/backups/.backup-gate-sentinel-pod-1";
  fs_->files[sentinel] = "left by a crash";
  Outcome outcome = RunCheck();
  EXPECT_TRUE(outcome.ok) << outcome.detail;
  EXPECT_THAT(fs_->files, IsEmpty());
}

TEST_F(PosixDriverTest, SentinelContentChangesEveryCheck) {
  config_.write_probe = true;
  PosixDriver driver(config_, {"primary", "pod-1"}, fs_);
  ASSERT_TRUE(driver.Check(Deadline::After(milliseconds(2000))).ok);
  ASSERT_TRUE(driver.Check(Deadline::After(milliseconds(2000))).ok);
  ASSERT_EQ(fs_->written.size(), 2u);
  EXPECT_NE(fs_->written[0], fs_->written[1]);
}

TEST_F(PosixDriverTest, SentinelMismatchIsError) {
  config_.write_probe = true;
  fs_->corrupt_reads = true;
  Outcome outcome = RunCheck();
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kError);
  EXPECT_EQ(outcome.detail,
            "read sentinel: content differs from what was written");
  EXPECT_THAT(fs_->files, IsEmpty());
  EXPECT_EQ(outcome.free_bytes, 5 * kGiB);
}

TEST_F(PosixDriverTest, ExpiredDeadlineTouchesNothing) {
  PosixDriver driver(config_, {"primary", "pod-1"}, fs_);
  Outcome outcome = driver.Check(Deadline::After(milliseconds(0)));
  EXPECT_EQ(outcome.reason, Reason::kTimeout);
  EXPECT_THAT(fs_->calls, IsEmpty());
}

struct HangCase {
  const char* name;
  Op op;
  std::string detail;
};

void PrintTo(const HangCase& c, std::ostream* os) { *os << c.name; }

class PosixHangTest : public PosixDriverTest,
                      public ::testing::WithParamInterface<HangCase> {};

// A call that returns after the deadline has already been reported as a hang
// by the supervisor; the driver must not turn it into a late success.
TEST_P(PosixHangTest, CallReturningAfterDeadlineIsTimeout) {
  config_.write_probe = true;
  fs_->Hang(GetParam().op, milliseconds(80));
  Outcome outcome = RunCheck(milliseconds(40));
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kTimeout);
  EXPECT_EQ(outcome.detail, GetParam().detail);
  EXPECT_THAT(fs_->files, IsEmpty()) << "sentinel left behind";
}

INSTANTIATE_TEST_SUITE_P(
    Steps, PosixHangTest,
    ::testing::Values(
        HangCase{"Stat", Op::kStat, "deadline passed during stat"},
        HangCase{"List", Op::kList, "deadline passed during list directory"},
        HangCase{"StatVfs", Op::kStatVfs, "deadline passed during statvfs"},
        HangCase{"Write", Op::kWrite,
                 "deadline passed during write sentinel"},
        HangCase{"Read", Op::kRead, "deadline passed during read sentinel"}),
    [](const ::testing::TestParamInfo<HangCase>& param) {
      return std::string(param.param.name);
    });

// One injected failure: which call fails, with what, and what comes out.
struct FaultCase {
  std::string name;
  Op op;
  int call;
  int error;
  Reason reason;
  std::string operation;
};

void PrintTo(const FaultCase& c, std::ostream* os) { *os << c.name; }

std::string ErrnoText(int error) {
  return std::generic_category().message(error);
}

class PosixFaultTest : public PosixDriverTest,
                       public ::testing::WithParamInterface<FaultCase> {};

TEST_P(PosixFaultTest, FailureNamesOperationAndReason) {
  const FaultCase& c = GetParam();
  config_.write_probe = true;
  fs_->Fail(c.op, c.error, c.call);
  Outcome outcome = RunCheck();
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, c.reason) << outcome.detail;
  EXPECT_EQ(outcome.detail, c.operation + ": " + ErrnoText(c.error));
  if (c.op != Op::kRemove) {
    EXPECT_THAT(fs_->files, IsEmpty()) << "sentinel left behind";
  }
}

std::vector<FaultCase> AllFaults() {
  struct Step {
    const char* name;
    Op op;
    int call;
    const char* operation;
  };
  const Step steps[] = {
      {"Stat", Op::kStat, -1, "stat /backups"},
      {"List", Op::kList, -1, "list /backups"},
      {"StatVfs", Op::kStatVfs, -1, "statvfs /backups"},
      {"RemoveStale", Op::kRemove, 0, "remove stale sentinel"},
      {"Write", Op::kWrite, -1, "write sentinel"},
      {"Read", Op::kRead, -1, "read sentinel"},
      {"Remove", Op::kRemove, 1, "remove sentinel"},
  };
  struct Error {
    const char* name;
    int error;
    Reason reason;
  };
  const Error errors[] = {
      {"EACCES", EACCES, Reason::kPermission},
      {"EROFS", EROFS, Reason::kPermission},
      {"ENOSPC", ENOSPC, Reason::kNoSpace},
      {"EIO", EIO, Reason::kError},
      {"ENOENT", ENOENT, Reason::kNotFound},
      {"ESTALE", ESTALE, Reason::kUnreachable},
  };
  std::vector<FaultCase> cases;
  for (const Step& step : steps) {
    for (const Error& error : errors) {
      // A stale sentinel that is already gone is the normal case.
      if (step.op == Op::kRemove && step.call == 0 && error.error == ENOENT) {
        continue;
      }
      cases.push_back({std::string(step.name) + "_" + error.name, step.op,
                       step.call, error.error, error.reason, step.operation});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(
    StepsAndErrors, PosixFaultTest, ::testing::ValuesIn(AllFaults()),
    [](const ::testing::TestParamInfo<FaultCase>& param) {
      return param.param.name;
    });

TEST_F(PosixDriverTest, MissingStaleSentinelIsNormal) {
  config_.write_probe = true;
  fs_->Fail(Op::kRemove, ENOENT, 0);
  EXPECT_TRUE(RunCheck().ok);
}

TEST(ReasonForErrnoTest, MapsEveryDocumentedErrno) {
  const std::map<int, Reason> expected = {
      {EACCES, Reason::kPermission},     {EPERM, Reason::kPermission},
      {EROFS, Reason::kPermission},      {ENOSPC, Reason::kNoSpace},
      {EDQUOT, Reason::kNoSpace},        {ENOENT, Reason::kNotFound},
      {ENOTDIR, Reason::kNotFound},      {ETIMEDOUT, Reason::kUnreachable},
      {ESTALE, Reason::kUnreachable},    {EHOSTUNREACH, Reason::kUnreachable},
      {ENOTCONN, Reason::kUnreachable},  {ECONNREFUSED, Reason::kUnreachable},
      {EIO, Reason::kError},             {EINVAL, Reason::kError},
  };
  for (const auto& [error, reason] : expected) {
    EXPECT_EQ(ReasonForErrno(error), reason) << ErrnoText(error);
  }
}

// Options, read the way the config loader hands them over: the backend's
// mapping with its field path.
class PosixOptionsTest : public ::testing::Test {
 protected:
  std::shared_ptr<const DriverOptions> Parse(const std::string& yaml) {
    YAML::Node root = YAML::Load(yaml);
    NodeReader reader(root["backends"][0], "backends[0]", errors_);
    return ParsePosixOptions(reader);
  }

  ErrorList errors_;
};

TEST_F(PosixOptionsTest, DefaultsAreDescribedAsDefaults) {
  auto options = Parse("backends: [{path: /backups}]");
  ASSERT_NE(options, nullptr) << ::testing::PrintToString(errors_.errors());
  std::vector<std::string> described;
  for (const Setting& s : options->Describe()) {
    described.push_back(s.key + "=" + s.value + " (" + s.source + ")");
  }
  EXPECT_THAT(described, ElementsAre("path=/backups (config)",
                                     "write_probe=false (default)",
                                     "min_free_bytes=0 (default)"));
}

TEST_F(PosixOptionsTest, ConfiguredValuesAreDescribedAsConfig) {
  auto options = Parse(
      "backends: [{path: /b, write_probe: true, min_free_bytes: 1048576}]");
  ASSERT_NE(options, nullptr) << ::testing::PrintToString(errors_.errors());
  const auto& config = dynamic_cast<const PosixOptions&>(*options).config();
  EXPECT_EQ(config.path, "/b");
  EXPECT_TRUE(config.write_probe);
  EXPECT_EQ(config.min_free_bytes, 1048576u);
  for (const Setting& s : options->Describe()) {
    EXPECT_EQ(s.source, "config") << s.key;
  }
}

TEST_F(PosixOptionsTest, MissingPathIsNamed) {
  EXPECT_EQ(Parse("backends: [{write_probe: true}]"), nullptr);
  EXPECT_THAT(errors_.errors(), ElementsAre(HasSubstr("backends[0].path")));
}

TEST_F(PosixOptionsTest, RelativePathIsRejected) {
  EXPECT_EQ(Parse("backends: [{path: backups}]"), nullptr);
  EXPECT_THAT(errors_.errors(),
              ElementsAre("backends[0].path: must be an absolute path"));
}

TEST_F(PosixOptionsTest, WrongTypesAreNamed) {
  EXPECT_EQ(Parse("backends: [{path: [a], write_probe: maybe, "
                  "min_free_bytes: -1}]"),
            nullptr);
  EXPECT_THAT(errors_.errors(),
              ElementsAre(StartsWith("backends[0].path:"),
                          StartsWith("backends[0].write_probe:"),
                          StartsWith("backends[0].min_free_bytes:")));
}

TEST_F(PosixOptionsTest, UnknownKeyIsNamed) {
  EXPECT_EQ(Parse("backends: [{path: /b, writeprobe: true}]"), nullptr);
  EXPECT_THAT(errors_.errors(),
              ElementsAre(StartsWith("backends[0].writeprobe:")));
}

TEST_F(PosixOptionsTest, EarlierErrorsOfOtherBackendsDoNotFailThisOne) {
  errors_.Add("backends[1].driver", "unknown driver");
  EXPECT_NE(Parse("backends: [{path: /b}]"), nullptr);
}

}  // namespace
}  // namespace bgate::drivers::posix
