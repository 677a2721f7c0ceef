#include "bgate/sidecar/state_file_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bgate::sidecar {

nlohmann::ordered_json SnapshotJson(const Snapshot& snapshot) {
  nlohmann::ordered_json out;
  out["ready"] = snapshot.Ready();
  out["shutting_down"] = snapshot.shutting_down;
  out["policy"] = PolicyName(snapshot.policy);
  out["required"] = snapshot.required;
  out["generation"] = snapshot.generation;
  out["backends"] = nlohmann::ordered_json::array();
  for (const auto& b : snapshot.backends) {
    nlohmann::ordered_json j = {
        {"name", b.name},
        {"driver", b.driver},
        {"state", StateName(b.state)},
        {"ready", b.state == BackendState::kReady},
        {"consecutive_failures", b.consecutive_failures},
        {"attempts", b.attempts},
    };
    j["reason"] = b.reason ? nlohmann::ordered_json(drivers::ReasonName(*b.reason))
                           : nlohmann::ordered_json(nullptr);
    j["detail"] = b.detail;
    if (b.last_success) j["last_success"] = FormatTime(*b.last_success);
    if (b.last_transition) j["last_transition"] = FormatTime(*b.last_transition);
    if (b.free_bytes) j["free_bytes"] = *b.free_bytes;
    out["backends"].push_back(std::move(j));
  }
  return out;
}

void StateFileSink::OnEvent(const Event& event, const Snapshot& snapshot) {
  // Attempts change counters, not the state a worker looks at.
  bool routine = event.type == EventType::kAttempt ||
                 event.type == EventType::kLateResult;
  if (routine && written_) return;
  Write(snapshot);
}

bool StateFileSink::Write(const Snapshot& snapshot) {
  std::string text =
      SnapshotJson(snapshot).dump(2, ' ', false,
                                  nlohmann::ordered_json::error_handler_t::replace) +
      "\n";
  std::string tmp = path_ + ".tmp";
  auto fail = [&](const char* step) {
    logger_.Log(LogLevel::kError, "cannot write state file",
                {{"path", path_}, {"step", step}, {"error", std::strerror(errno)}});
    return false;
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail("open");
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      errno = err;
      return fail("write");
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    errno = err;
    return fail("fsync");
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    errno = err;
    return fail("rename");
  }
  written_ = true;
  return true;
}

}  // namespace bgate::sidecar
