#include <fcntl.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bgate/drivers/posix/file_system.h"
#include "bgate/drivers/posix/posix_driver.h"

namespace bgate::drivers::posix {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

// A fresh directory per test, removed afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "bgate-posix-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Touch(const std::string& name, const std::string& content = "x") {
    std::ofstream(dir_ / name) << content;
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      names.push_back(entry.path().filename());
    }
    return names;
  }

  fs::path dir_;
  std::shared_ptr<FileSystem> real_ = RealFileSystem();
};

using RealFileSystemTest = TempDirTest;

TEST_F(RealFileSystemTest, StatTellsDirectoriesFromFiles) {
  Touch("file");
  FileInfo info;
  ASSERT_EQ(real_->Stat(dir_, &info), 0);
  EXPECT_TRUE(info.is_directory);
  ASSERT_EQ(real_->Stat(dir_ / "file", &info), 0);
  EXPECT_FALSE(info.is_directory);
  EXPECT_EQ(real_->Stat(dir_ / "missing", &info), ENOENT);
}

TEST_F(RealFileSystemTest, StatVfsReportsSpace) {
  std::uint64_t free_bytes = 0;
  ASSERT_EQ(real_->StatVfs(dir_, &free_bytes), 0);
  EXPECT_GT(free_bytes, 0u);
  EXPECT_EQ(real_->StatVfs(dir_ / "missing", &free_bytes), ENOENT);
}

TEST_F(RealFileSystemTest, ListDirectorySkipsDotsAndHonoursLimit) {
  Touch("a");
  Touch("b");
  Touch("c");
  std::vector<std::string> names;
  ASSERT_EQ(real_->ListDirectory(dir_, 100, &names), 0);
  EXPECT_THAT(names, UnorderedElementsAre("a", "b", "c"));
  ASSERT_EQ(real_->ListDirectory(dir_, 2, &names), 0);
  EXPECT_EQ(names.size(), 2u);
  EXPECT_EQ(real_->ListDirectory(dir_ / "a", 100, &names), ENOTDIR);
  EXPECT_EQ(real_->ListDirectory(dir_ / "missing", 100, &names), ENOENT);
}

TEST_F(RealFileSystemTest, WriteIsExclusiveAndReadIsBounded) {
  const std::string path = dir_ / "sentinel";
  ASSERT_EQ(real_->WriteFileSync(path, "hello world"), 0);
  EXPECT_EQ(real_->WriteFileSync(path, "again"), EEXIST);
  std::string data;
  ASSERT_EQ(real_->ReadFile(path, 5, &data), 0);
  EXPECT_EQ(data, "hello");
  ASSERT_EQ(real_->ReadFile(path, 100, &data), 0);
  EXPECT_EQ(data, "hello world");
  EXPECT_EQ(real_->ReadFile(dir_ / "missing", 5, &data), ENOENT);
}

TEST_F(RealFileSystemTest, RemoveReportsMissingFiles) {
  Touch("gone");
  EXPECT_EQ(real_->Remove(dir_ / "gone"), 0);
  EXPECT_EQ(real_->Remove(dir_ / "gone"), ENOENT);
}

TEST_F(RealFileSystemTest, LeavesNoDescriptorOpen) {
  auto count_fds = [] {
    return std::distance(fs::directory_iterator("/proc/self/fd"),
                         fs::directory_iterator());
  };
  const auto before = count_fds();
  Touch("a");
  std::vector<std::string> names;
  std::string data;
  FileInfo info;
  std::uint64_t free_bytes;
  real_->Stat(dir_, &info);
  real_->StatVfs(dir_, &free_bytes);
  real_->ListDirectory(dir_, 10, &names);
  real_->WriteFileSync(dir_ / "s", "data");
  real_->WriteFileSync(dir_ / "s", "data");  // EEXIST path
  real_->ReadFile(dir_ / "s", 10, &data);
  real_->ReadFile(dir_ / "missing", 10, &data);
  real_->ListDirectory(dir_ / "a", 10, &names);  // ENOTDIR path
  EXPECT_EQ(count_fds(), before);
}

// The posix driver end to end on a real directory.
class PosixOnDiskTest : public TempDirTest {
 protected:
  Outcome RunCheck(PosixConfig config) {
    PosixDriver driver(std::move(config), {"primary", "pod-1"}, real_);
    EXPECT_TRUE(driver.Setup(Deadline::After(milliseconds(2000))).ok);
    return driver.Check(Deadline::After(milliseconds(2000)));
  }
};

TEST_F(PosixOnDiskTest, ReadyDirectoryWithWriteProbeLeavesNoSentinel) {
  Touch("backup-1.tar");
  Touch("backup-2.tar");
  Outcome outcome = RunCheck({dir_, /*write_probe=*/true, 0});
  EXPECT_TRUE(outcome.ok) << outcome.detail;
  EXPECT_THAT(outcome.detail, StartsWith("2 entries, "));
  EXPECT_THAT(outcome.detail, ::testing::EndsWith(" free, write probe ok"));
  ASSERT_TRUE(outcome.free_bytes.has_value());
  EXPECT_GT(*outcome.free_bytes, 0u);
  EXPECT_THAT(Names(), UnorderedElementsAre("backup-1.tar", "backup-2.tar"));
}

TEST_F(PosixOnDiskTest, LeftoverSentinelOfThisPodIsCleared) {
  Touch(".backup-gate-sentinel-pod-1", "from a crashed run");
  Outcome outcome = RunCheck({dir_, /*write_probe=*/true, 0});
  EXPECT_TRUE(outcome.ok) << outcome.detail;
  EXPECT_TRUE(Names().empty());
}

TEST_F(PosixOnDiskTest, MissingDirectoryIsNotFound) {
  Outcome outcome = RunCheck({dir_ / "missing", false, 0});
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kNotFound);
  EXPECT_EQ(outcome.detail, "stat " + (dir_ / "missing").string() +
                                ": No such file or directory");
}

TEST_F(PosixOnDiskTest, FileInsteadOfDirectoryIsNotFound) {
  Touch("plain");
  Outcome outcome = RunCheck({dir_ / "plain", true, 0});
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kNotFound);
  EXPECT_THAT(outcome.detail, ::testing::EndsWith(": Not a directory"));
}

TEST_F(PosixOnDiskTest, HugeMinFreeBytesIsNoSpace) {
  Outcome outcome = RunCheck({dir_, false, UINT64_MAX});
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.reason, Reason::kNoSpace);
}

TEST_F(PosixOnDiskTest, OptionsCreateARealDriver) {
  ErrorList errors;
  YAML::Node node = YAML::Load("{path: " + dir_.string() +
                               ", write_probe: true}");
  NodeReader reader(node, "backends[0]", errors);
  auto options = ParsePosixOptions(reader);
  ASSERT_NE(options, nullptr);
  auto driver = options->CreateDriver({"primary", "pod-1"});
  Outcome outcome = driver->Check(Deadline::After(milliseconds(2000)));
  EXPECT_TRUE(outcome.ok) << outcome.detail;
  EXPECT_TRUE(Names().empty());
}

}  // namespace
}  // namespace bgate::drivers::posix
