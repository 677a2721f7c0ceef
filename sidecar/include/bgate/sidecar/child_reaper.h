#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace bgate::sidecar {

// Starts `argv` (searched in PATH) as the worker: in a session, and so a
// process group, of its own, with the signal mask and dispositions reset,
// stdin, stdout and stderr inherited and every other descriptor closed.
// Returns 0 and sets `pid`, or an errno value.
int SpawnWorker(const std::vector<std::string>& argv, pid_t* pid);

// Sends `signal` to every process of the session `sid` (the worker's): its
// process group with one kill, then each process that moved to another
// group, found in /proc.
void SignalSession(pid_t sid, int signal);

// Reaps the zombies among this process's children, including orphans
// reparented to it as PID 1 or as a child subreaper, except one kind: a
// process of backup-gate's own session that leads its own process group.
// Those are the exec driver's check commands: the driver waits for each by
// pid (waitid with WNOWAIT, then waitpid on its group), and reaping one here
// would steal the status it waits for. Everything else is safe to reap: the
// worker and its tree live in the worker's session, a process that calls
// setsid() leaves ours, and the members of an exec command's group that are
// not its leader are only reaped by the driver as "whatever is left", which
// tolerates finding none. Thread-compatible: call from one thread.
class ChildReaper {
 public:
  struct Reaped {
    pid_t pid = 0;
    int status = 0;  // as waitpid returns it
  };

  ChildReaper();

  // Before the session leader `leader` is reaped, whatever is left of its
  // session is killed: nothing the worker started may outlive it, and its
  // pid, and so the session id, cannot be reused while it is a zombie.
  std::vector<Reaped> Reap(pid_t leader);

  // Makes orphaned descendants this process's children even when it is not
  // PID 1. Returns false when the kernel refuses.
  static bool BecomeSubreaper();

 private:
  pid_t self_;
  pid_t own_session_;
};

}  // namespace bgate::sidecar
