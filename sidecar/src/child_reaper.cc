#include "bgate/sidecar/child_reaper.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <string_view>

#include "bgate/drivers/spawn.h"

namespace bgate::sidecar {
namespace {

// The fields of /proc/PID/stat the reaper needs.
struct ProcStat {
  pid_t pid = 0;
  char state = '?';
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;
};

std::optional<ProcStat> ReadStat(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buffer[1024];
  ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  std::string_view text(buffer, static_cast<std::size_t>(n));
  // The command name may hold spaces and parentheses; it ends at the last ')'.
  auto close = text.rfind(')');
  if (close == std::string_view::npos || close + 2 >= text.size()) {
    return std::nullopt;
  }
  ProcStat stat;
  stat.pid = pid;
  stat.state = text[close + 2];
  const char* p = text.data() + close + 3;
  const char* end = text.data() + text.size();
  for (pid_t* field : {&stat.ppid, &stat.pgrp, &stat.session}) {
    while (p < end && *p == ' ') ++p;
    auto [next, ec] = std::from_chars(p, end, *field);
    if (ec != std::errc()) return std::nullopt;
    p = next;
  }
  return stat;
}

void ForEachProcess(const std::function<void(const ProcStat&)>& visit) {
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return;
  while (dirent* entry = ::readdir(dir)) {
    pid_t pid = 0;
    std::string_view name(entry->d_name);
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (ec != std::errc() || end != name.data() + name.size()) continue;
    if (auto stat = ReadStat(pid)) visit(*stat);
  }
  ::closedir(dir);
}

int ConfigureSpawn(posix_spawn_file_actions_t* actions,
                   posix_spawnattr_t* attr) {
  // A session of its own puts the worker's whole tree apart from the exec
  // driver's commands (see ChildReaper).
  return drivers::PrepareChildSpawn(actions, attr, POSIX_SPAWN_SETSID);
}

}  // namespace

int SpawnWorker(const std::vector<std::string>& argv, pid_t* pid) {
  if (argv.empty()) return EINVAL;
  posix_spawn_file_actions_t actions;
  if (int e = posix_spawn_file_actions_init(&actions)) return e;
  posix_spawnattr_t attr;
  if (int e = posix_spawnattr_init(&attr)) {
    posix_spawn_file_actions_destroy(&actions);
    return e;
  }
  int error = ConfigureSpawn(&actions, &attr);
  if (error == 0) {
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    error = ::posix_spawnp(pid, args[0], &actions, &attr, args.data(), environ);
  }
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return error;
}

void SignalSession(pid_t sid, int signal) {
  if (sid <= 0) return;
  ::kill(-sid, signal);
  ForEachProcess([&](const ProcStat& stat) {
    if (stat.session == sid && stat.pgrp != sid && stat.state != 'Z') {
      ::kill(stat.pid, signal);
    }
  });
}

ChildReaper::ChildReaper() : self_(::getpid()), own_session_(::getsid(0)) {}

bool ChildReaper::BecomeSubreaper() {
  return ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
}

std::vector<ChildReaper::Reaped> ChildReaper::Reap(pid_t leader) {
  std::vector<Reaped> reaped;
  // Cheap test first: most wake-ups come from exec checks, whose commands
  // the driver has usually reaped by now.
  siginfo_t info{};
  if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
      info.si_pid == 0) {
    return reaped;
  }
  std::vector<ProcStat> zombies;
  ForEachProcess([&](const ProcStat& stat) {
    const bool exec_command =
        stat.session == own_session_ && stat.pgrp == stat.pid;
    if (stat.ppid == self_ && stat.state == 'Z' && !exec_command) {
      zombies.push_back(stat);
    }
  });
  for (const auto& zombie : zombies) {
    if (leader > 0 && zombie.pid == leader) SignalSession(leader, SIGKILL);
    int status = 0;
    pid_t pid = 0;
    do {
      pid = ::waitpid(zombie.pid, &status, WNOHANG);
    } while (pid < 0 && errno == EINTR);
    if (pid == zombie.pid) reaped.push_back({pid, status});
  }
  return reaped;
}

}  // namespace bgate::sidecar
