#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bgate/sidecar/snapshot.h"

namespace bgate::probes {

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones
};

// Where the handler reads its answers from. Every source answers from memory.
struct HandlerSources {
  const sidecar::SnapshotHolder* snapshot = nullptr;
  // False once the watchdog sees the supervisor loop stuck.
  std::function<bool()> live;
  // The Prometheus text exposition (may be cached by the callee).
  std::function<std::string()> metrics;
};

// Routes one request to its answer, kube-apiserver style: /livez, /readyz
// (?verbose, ?exclude=NAME, /readyz/NAME) and /metrics. Pure apart from its
// sources; never touches storage or sockets. Thread-safe if its sources are.
class Handler {
 public:
  explicit Handler(HandlerSources sources) : sources_(std::move(sources)) {}

  // `target` is the request-target as received ("/readyz?verbose").
  // HEAD answers like GET (same headers, the server drops the body).
  Response Handle(std::string_view method, std::string_view target) const;

 private:
  HandlerSources sources_;
};

}  // namespace bgate::probes
