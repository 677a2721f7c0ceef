// Any bytes as what a client sends on one connection: the framing answers
// them (or rejects them) without a crash, over the real handler.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "bgate/drivers/driver.h"
#include "bgate/probes/handler.h"
#include "bgate/sidecar/snapshot.h"
#include "request_stream.h"

namespace {

using bgate::sidecar::BackendState;
using bgate::sidecar::BackendStatus;
using bgate::sidecar::Snapshot;

BackendStatus Backend(std::string name, BackendState state) {
  BackendStatus backend;
  backend.name = std::move(name);
  backend.driver = "posix";
  backend.state = state;
  if (state == BackendState::kFailed) {
    backend.reason = bgate::drivers::Reason::kUnreachable;
    backend.detail = "no route to host";
  }
  return backend;
}

// Two backends, one failed, so /readyz takes both its branches.
std::shared_ptr<const Snapshot> TwoBackends() {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->generation = 1;
  snapshot->backends.push_back(Backend("primary", BackendState::kReady));
  snapshot->backends.push_back(Backend("secondary", BackendState::kFailed));
  snapshot->required = {"primary"};
  return snapshot;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static const bgate::sidecar::SnapshotHolder holder(TwoBackends());
  static const bgate::probes::Handler handler(bgate::probes::HandlerSources{
      &holder, [] { return true; },
      [] { return std::string("# TYPE backup_gate_up gauge\nbackup_gate_up 1\n"); }});
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  bgate::probes::detail::AnswerAll(handler, input, 16384);
  return 0;
}
