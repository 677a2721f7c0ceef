#include "bgate/sidecar/snapshot.h"

#include <algorithm>

namespace bgate::sidecar {

std::string_view StateName(BackendState state) {
  switch (state) {
    case BackendState::kPending: return "pending";
    case BackendState::kInitializing: return "initializing";
    case BackendState::kReady: return "ready";
    case BackendState::kFailed: return "failed";
  }
  return "pending";
}

const BackendStatus* Snapshot::Find(std::string_view name) const {
  for (const auto& b : backends) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

bool Snapshot::Ready(const std::set<std::string, std::less<>>& exclude) const {
  if (shutting_down) return false;
  auto is_required = [&](const std::string& name) {
    return std::find(required.begin(), required.end(), name) != required.end();
  };
  bool any_rest = false;
  bool any_rest_ready = false;
  bool all_rest_ready = true;
  for (const auto& b : backends) {
    if (exclude.contains(b.name)) continue;
    bool ready = b.state == BackendState::kReady;
    if (is_required(b.name)) {
      if (!ready) return false;
      continue;
    }
    any_rest = true;
    any_rest_ready = any_rest_ready || ready;
    all_rest_ready = all_rest_ready && ready;
  }
  if (!any_rest) return true;
  return policy == ReadinessPolicy::kAll ? all_rest_ready : any_rest_ready;
}

}  // namespace bgate::sidecar
