#include "bgate/sidecar/events.h"

namespace bgate::sidecar {

std::string_view EventName(EventType type) {
  switch (type) {
    case EventType::kAttempt: return "attempt";
    case EventType::kTransition: return "transition";
    case EventType::kInitialized: return "initialization_succeeded";
    case EventType::kInitializationFailed: return "initialization_failed";
    case EventType::kLateResult: return "late_result";
    case EventType::kShutdown: return "shutdown";
  }
  return "attempt";
}

}  // namespace bgate::sidecar
