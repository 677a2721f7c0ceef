#pragma once

#include <signal.h>
#include <spawn.h>
#include <unistd.h>

namespace bgate::drivers {

// What every child this process starts (exec checks, the worker of `run`)
// needs on top of its own actions and `flags` (POSIX_SPAWN_SETPGROUP,
// POSIX_SPAWN_SETSID, ...): descriptors above stderr closed, since other
// parts of the process (the probe server's sockets) open some without
// O_CLOEXEC; no blocked signals and every signal at its default, since
// blocked and ignored signals survive exec and this process blocks its
// signals for one thread and ignores SIGPIPE, which must not change how the
// child behaves. Add the descriptor actions that must come first (dup2s)
// before calling this. Returns 0 or an error number.
inline int PrepareChildSpawn(posix_spawn_file_actions_t* actions,
                             posix_spawnattr_t* attr, short flags) {
  if (int e = posix_spawn_file_actions_addclosefrom_np(actions,
                                                       STDERR_FILENO + 1)) {
    return e;
  }
  if (int e = posix_spawnattr_setflags(
          attr, static_cast<short>(flags | POSIX_SPAWN_SETSIGMASK |
                                   POSIX_SPAWN_SETSIGDEF))) {
    return e;
  }
  sigset_t none;
  sigemptyset(&none);
  if (int e = posix_spawnattr_setsigmask(attr, &none)) return e;
  sigset_t all;
  sigfillset(&all);
  return posix_spawnattr_setsigdefault(attr, &all);
}

}  // namespace bgate::drivers
