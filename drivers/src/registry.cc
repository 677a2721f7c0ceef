#include "bgate/drivers/registry.h"

namespace bgate::drivers {

void DriverRegistry::Register(DriverKind kind) {
  kinds_.push_back(std::move(kind));
}

const DriverKind* DriverRegistry::Find(std::string_view name) const {
  for (const auto& kind : kinds_) {
    if (kind.name == name) return &kind;
  }
  return nullptr;
}

std::vector<std::string> DriverRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& kind : kinds_) names.push_back(kind.name);
  return names;
}

}  // namespace bgate::drivers
