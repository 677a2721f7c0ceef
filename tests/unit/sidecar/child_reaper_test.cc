#include "bgate/sidecar/child_reaper.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace bgate::sidecar {
namespace {

// Starts `script` the way the exec driver starts a check command: in a
// process group of its own, in this process's session.
pid_t SpawnLikeAnExecCheck(const char* script) {
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  const char* argv[] = {"/bin/sh", "-c", script, nullptr};
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, "/bin/sh", nullptr, &attr,
                        const_cast<char* const*>(argv), environ),
            0);
  posix_spawnattr_destroy(&attr);
  return pid;
}

bool IsZombie(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info,
                  WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

void WaitUntilZombie(pid_t pid) {
  for (int i = 0; i < 500 && !IsZombie(pid); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(IsZombie(pid));
}

TEST(ChildReaperTest, ReapsTheWorkerButLeavesExecChecksToTheirDriver) {
  pid_t check = SpawnLikeAnExecCheck("exit 4");
  pid_t worker = 0;
  ASSERT_EQ(SpawnWorker({"/bin/sh", "-c", "exit 3"}, &worker), 0);
  WaitUntilZombie(check);
  WaitUntilZombie(worker);

  ChildReaper reaper;
  auto reaped = reaper.Reap(worker);
  ASSERT_EQ(reaped.size(), 1u);
  EXPECT_EQ(reaped[0].pid, worker);
  EXPECT_EQ(WEXITSTATUS(reaped[0].status), 3);
  // The check's status is still there for the driver.
  int status = 0;
  ASSERT_EQ(::waitpid(check, &status, 0), check);
  EXPECT_EQ(WEXITSTATUS(status), 4);
}

TEST(ChildReaperTest, WorkerRunsInASessionOfItsOwn) {
  pid_t worker = 0;
  ASSERT_EQ(SpawnWorker({"sleep", "30"}, &worker), 0);
  EXPECT_EQ(::getsid(worker), worker);
  EXPECT_EQ(::getpgid(worker), worker);
  ::kill(worker, SIGKILL);
  ::waitpid(worker, nullptr, 0);
}

TEST(ChildReaperTest, SignalSessionReachesProcessesThatChangedGroup) {
  pid_t worker = 0;
  // The background job gets a group of its own (job control), but stays in
  // the worker's session.
  ASSERT_EQ(SpawnWorker({"/bin/sh", "-mc", "sleep 30 & wait"}, &worker), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  SignalSession(worker, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(worker, &status, 0), worker);
  EXPECT_TRUE(WIFSIGNALED(status));
}

TEST(ChildReaperTest, UnknownProgramIsAnError) {
  pid_t pid = 0;
  EXPECT_EQ(SpawnWorker({"/nonexistent/worker"}, &pid), ENOENT);
  EXPECT_EQ(SpawnWorker({}, &pid), EINVAL);
}

}  // namespace
}  // namespace bgate::sidecar
