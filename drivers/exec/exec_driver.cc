#include "bgate/drivers/exec/exec_driver.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <ratio>
#include <system_error>
#include <thread>
#include <utility>

#include "bgate/drivers/scoped_fd.h"
#include "bgate/drivers/spawn.h"

namespace bgate::drivers::exec {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A grandchild may hold the pipe open after the command exits, so EOF alone
// does not tell that it is over; the loop looks at the child this often.
constexpr milliseconds kExitPollInterval{10};
// How long SIGKILLed processes get to be reaped before later checks take
// over; only a process stuck in uninterruptible sleep needs more.
constexpr milliseconds kReapGrace{200};
// Bounded so that a command writing without pause cannot keep the loop from
// noticing the deadline.
constexpr int kReadsPerWake = 16;
constexpr std::size_t kReadChunkBytes = 64 * 1024;
// What execvp searches when PATH is unset.
constexpr std::string_view kDefaultPath = "/bin:/usr/bin";

std::string ErrnoText(int error) {
  return std::generic_category().message(error);
}

// Errors that say the command itself is wrong, which no retry will fix.
bool IsMisconfiguration(int error) {
  switch (error) {
    case ENOENT:
    case ENOTDIR:
    case EACCES:
    case EPERM:
    case ENOEXEC:
    case ELOOP:
    case ENAMETOOLONG:
      return true;
    default:
      return false;
  }
}

int CheckExecutable(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return EACCES;
  if (::access(path.c_str(), X_OK) != 0) return errno;
  return 0;
}

// Searches like execvp, so that Setup reports what Check would run into.
int ResolveProgram(const std::string& name, std::string* resolved) {
  if (name.find('/') != std::string::npos) {
    int error = CheckExecutable(name);
    if (error == 0) *resolved = name;
    return error;
  }
  const char* path_env = std::getenv("PATH");
  std::string_view dirs = path_env != nullptr ? path_env : kDefaultPath;
  int result = ENOENT;
  while (true) {
    std::size_t colon = dirs.find(':');
    std::string_view dir = dirs.substr(0, colon);
    std::string candidate =
        (dir.empty() ? std::string(".") : std::string(dir)) + "/" + name;
    int error = CheckExecutable(candidate);
    if (error == 0) {
      *resolved = std::move(candidate);
      return 0;
    }
    // A match that cannot be run explains more than a later miss.
    if (error == EACCES) result = EACCES;
    if (colon == std::string_view::npos) return result;
    dirs.remove_prefix(colon + 1);
  }
}

int ConfigureSpawn(posix_spawn_file_actions_t* actions,
                   posix_spawnattr_t* attr, int output_fd) {
  // The dup2s come first in case output_fd is 0 itself.
  if (int e = posix_spawn_file_actions_adddup2(actions, output_fd,
                                               STDOUT_FILENO)) {
    return e;
  }
  if (int e = posix_spawn_file_actions_adddup2(actions, output_fd,
                                               STDERR_FILENO)) {
    return e;
  }
  if (int e = posix_spawn_file_actions_addopen(actions, STDIN_FILENO,
                                               "/dev/null", O_RDONLY, 0)) {
    return e;
  }
  // A group of its own lets the whole tree be killed with one signal.
  if (int e = posix_spawnattr_setpgroup(attr, 0)) return e;
  return PrepareChildSpawn(actions, attr, POSIX_SPAWN_SETPGROUP);
}

int Spawn(const std::string& program, const std::vector<std::string>& args,
          int output_fd, pid_t* pid) {
  posix_spawn_file_actions_t actions;
  if (int e = posix_spawn_file_actions_init(&actions)) return e;
  posix_spawnattr_t attr;
  if (int e = posix_spawnattr_init(&attr)) {
    posix_spawn_file_actions_destroy(&actions);
    return e;
  }
  int error = ConfigureSpawn(&actions, &attr, output_fd);
  if (error == 0) {
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    error = ::posix_spawn(pid, program.c_str(), &actions, &attr, argv.data(),
                          environ);
  }
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return error;
}

// How the child ended, once it has. WNOWAIT leaves it a zombie, which keeps
// its pid, and so its group id, from being reused before the group is killed.
std::optional<siginfo_t> PeekExit(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info,
               WEXITED | WNOHANG | WNOWAIT) != 0 ||
      info.si_pid != pid) {
    return std::nullopt;
  }
  return info;
}

// Reaps the group's processes that are our children: the command itself and,
// when this process is PID 1 or a subreaper, the orphans it left. Returns true
// once none is left.
bool ReapGroup(pid_t pgid, Clock::time_point give_up) {
  while (true) {
    pid_t reaped = ::waitpid(-pgid, nullptr, WNOHANG);
    if (reaped > 0) continue;
    if (reaped < 0) {
      if (errno == EINTR) continue;
      return true;
    }
    if (Clock::now() >= give_up) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
}

// The process groups of the commands running now, in every exec driver, so
// that a process leaving without waiting for its attempts can take them
// along (KillRunningCommands).
class RunningGroups {
 public:
  static RunningGroups& Get() {
    // Never destroyed: the process may leave with _Exit while checks run.
    static RunningGroups* groups = new RunningGroups;
    return *groups;
  }

  void Add(pid_t pgid) {
    std::lock_guard lock(mutex_);
    pgids_.push_back(pgid);
  }
  void Remove(pid_t pgid) {
    std::lock_guard lock(mutex_);
    std::erase(pgids_, pgid);
  }
  void KillAll() {
    std::lock_guard lock(mutex_);
    for (pid_t pgid : pgids_) ::kill(-pgid, SIGKILL);
  }

 private:
  std::mutex mutex_;
  std::vector<pid_t> pgids_;
};

std::string_view Trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\f\v";
  std::size_t start = text.find_first_not_of(kSpace);
  if (start == std::string_view::npos) return {};
  return text.substr(start, text.find_last_not_of(kSpace) - start + 1);
}

// Keeps the start of the command's output and drops the rest.
class OutputBuffer {
 public:
  OutputBuffer() : chunk_(kReadChunkBytes) {}

  // Reads what the pipe holds now. Returns false once it is at EOF or broken.
  bool Drain(int fd) {
    for (int i = 0; i < kReadsPerWake; ++i) {
      ssize_t n = ::read(fd, chunk_.data(), chunk_.size());
      if (n > 0) {
        std::size_t keep = std::min(static_cast<std::size_t>(n),
                                    kKeptOutputBytes - kept_.size());
        kept_.append(chunk_.data(), keep);
        continue;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    return true;
  }

  // The first line with printable content, capped: scripts often start with
  // a blank line, and bytes such as NULs would make an empty detail.
  std::string FirstLine() const {
    std::string_view rest = kept_;
    while (!rest.empty()) {
      std::size_t end = rest.find('\n');
      std::string line = SanitizeDetail(Trim(rest.substr(0, end)),
                                        kFirstLineBytes);
      if (!line.empty()) return line;
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
    return {};
  }

 private:
  std::vector<char> chunk_;
  std::string kept_;
};

std::string WithOutput(std::string detail, const std::string& line) {
  if (line.empty()) return detail;
  return detail + ": " + line;
}

// Deadlines are made a moment before the check starts; rounding to
// centiseconds turns 4.998s back into the configured 5s.
std::string FormatBudget(std::chrono::nanoseconds budget) {
  return FormatDuration(
      std::chrono::round<std::chrono::duration<std::int64_t, std::centi>>(
          budget));
}

std::string JoinCommand(const std::vector<std::string>& command) {
  std::string text;
  for (const auto& arg : command) {
    if (!text.empty()) text += ' ';
    bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"\\") ==
                                     std::string::npos;
    text += plain ? arg : "'" + arg + "'";
  }
  return text;
}

}  // namespace

ExecOptions::ExecOptions(ExecConfig config) : config_(std::move(config)) {}

std::vector<Setting> ExecOptions::Describe() const {
  return {{"command", JoinCommand(config_.command), "config"}};
}

std::unique_ptr<Driver> ExecOptions::CreateDriver(
    const DriverContext& /*context*/) const {
  return std::make_unique<ExecDriver>(config_);
}

ExecDriver::ExecDriver(ExecConfig config) : config_(std::move(config)) {}

ExecDriver::~ExecDriver() { ReapLeftovers(); }

Outcome ExecDriver::Setup(const Deadline& /*deadline*/) {
  if (config_.command.empty()) {
    return Outcome::Failure(Reason::kMisconfigured, "command is empty");
  }
  const std::string& name = config_.command.front();
  std::string resolved;
  if (int error = ResolveProgram(name, &resolved); error != 0) {
    std::string why = error == ENOENT && name.find('/') == std::string::npos
                          ? "not found in PATH"
                          : ErrnoText(error);
    return Outcome::Failure(
        IsMisconfiguration(error) ? Reason::kMisconfigured : Reason::kError,
        "command " + name + ": " + why);
  }
  program_ = std::move(resolved);
  return Outcome::Success();
}

Outcome ExecDriver::Check(const Deadline& deadline) {
  ReapLeftovers();
  if (program_.empty()) {
    if (Outcome setup = Setup(deadline); !setup.ok) return setup;
  }
  const std::chrono::nanoseconds budget = deadline.Remaining();
  if (budget.count() == 0) {
    return Outcome::Failure(Reason::kTimeout,
                            "deadline passed before the command started");
  }

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return Outcome::Failure(Reason::kError, "pipe: " + ErrnoText(errno));
  }
  ScopedFd read_end(fds[0]);
  ScopedFd write_end(fds[1]);
  // Only our end: a non-blocking stdout would make the command's writes fail
  // with EAGAIN whenever it outpaces us.
  if (::fcntl(read_end.get(), F_SETFL, O_NONBLOCK) != 0) {
    return Outcome::Failure(Reason::kError, "pipe: " + ErrnoText(errno));
  }

  pid_t pid = 0;
  const int spawn_error =
      Spawn(program_, config_.command, write_end.get(), &pid);
  // From here on only the command's group holds the write end.
  write_end.Reset();
  if (spawn_error != 0) {
    return Outcome::Failure(IsMisconfiguration(spawn_error)
                                ? Reason::kMisconfigured
                                : Reason::kError,
                            "run " + program_ + ": " + ErrnoText(spawn_error));
  }

  RunningGroups::Get().Add(pid);
  OutputBuffer output;
  bool reading = true;
  std::optional<siginfo_t> ended = PeekExit(pid);
  while (!ended) {
    const std::chrono::nanoseconds remaining = deadline.Remaining();
    if (remaining.count() == 0) break;
    const auto wait = std::chrono::ceil<milliseconds>(
        std::min<std::chrono::nanoseconds>(remaining, kExitPollInterval));
    pollfd pfd{read_end.get(), POLLIN, 0};
    if (::poll(&pfd, reading ? 1 : 0, static_cast<int>(wait.count())) > 0) {
      reading = output.Drain(read_end.get());
    }
    ended = PeekExit(pid);
  }
  // What the command wrote just before it exited is still in the pipe.
  if (reading) output.Drain(read_end.get());
  // Nothing the command started may outlive the check: after a timeout the
  // whole tree goes, and after an exit whatever it left in the background.
  ::kill(-pid, SIGKILL);
  RunningGroups::Get().Remove(pid);
  if (!ReapGroup(pid, Clock::now() + kReapGrace)) {
    leftover_groups_.push_back(pid);
  }

  const std::string line = output.FirstLine();
  if (!ended) {
    return Outcome::Failure(
        Reason::kTimeout,
        WithOutput("no answer within " + FormatBudget(budget), line));
  }
  if (ended->si_code == CLD_EXITED) {
    if (ended->si_status == 0) return Outcome::Success(line);
    return Outcome::Failure(
        Reason::kError,
        WithOutput("exit status " + std::to_string(ended->si_status), line));
  }
  return Outcome::Failure(
      Reason::kError,
      WithOutput("killed by signal " + std::to_string(ended->si_status), line));
}

void ExecDriver::ReapLeftovers() {
  std::erase_if(leftover_groups_,
                [](pid_t pgid) { return ReapGroup(pgid, Clock::now()); });
}

std::shared_ptr<const DriverOptions> ParseExecOptions(NodeReader& reader) {
  const std::size_t errors_before = reader.errors().errors().size();
  ExecConfig config;
  if (auto command = reader.StringList("command", /*required=*/true)) {
    if (command->empty()) {
      reader.errors().Add(reader.Field("command"), "must not be empty");
    } else if (command->front().empty()) {
      reader.errors().Add(reader.Field("command", 0), "must not be empty");
    } else if (command->front().find('/') != std::string::npos &&
               command->front().front() != '/') {
      // A relative path would depend on the working directory.
      reader.errors().Add(
          reader.Field("command", 0),
          "must be an absolute path or a program name looked up in PATH");
    }
    config.command = std::move(*command);
  }
  reader.RejectUnknown();

  if (reader.errors().errors().size() != errors_before) return nullptr;
  return std::make_shared<ExecOptions>(std::move(config));
}

void KillRunningCommands() { RunningGroups::Get().KillAll(); }

void Register(DriverRegistry& registry) {
  registry.Register({std::string(kDriverName), &ParseExecOptions});
}

}  // namespace bgate::drivers::exec
