#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bgate/drivers/driver.h"
#include "bgate/drivers/options.h"

namespace bgate::drivers {

// Reads a driver's own keys from a backend's mapping. The common keys (name,
// driver, check) are already consumed; the parser must read its keys and call
// reader.RejectUnknown(). Returns nullptr when it recorded errors.
using OptionsParser =
    std::function<std::shared_ptr<const DriverOptions>(NodeReader& reader)>;

struct DriverKind {
  std::string name;  // stable lowercase word: config value and metric label
  OptionsParser parse;
};

// Driver kinds by name, registered explicitly (never by static
// initialisers). Thread-safe for reads once built.
class DriverRegistry {
 public:
  void Register(DriverKind kind);
  const DriverKind* Find(std::string_view name) const;
  std::vector<std::string> Names() const;

 private:
  std::vector<DriverKind> kinds_;
};

// Every driver of this binary. s3, swift and azure_blob, when built, load
// their module on first use (object_stores.h).
DriverRegistry BuiltinDrivers();

}  // namespace bgate::drivers
