#pragma once

#include <string>

#include "bgate/drivers/registry.h"

// The s3, swift and azure_blob drivers, with cpprestsdk, OpenSSL and pugixml
// behind them, are built as a module of their own that the binary loads only
// when a config names one of them: a gate with posix and exec backends alone
// never maps those libraries.

namespace bgate::drivers {

// Registers s3, swift and azure_blob as kinds whose parsers load `module` on
// first use and hand the backend to the module's own parser. `module` is a
// file name, searched for as dlopen does (the executable's rpath finds the
// installed module), or a path. The module is loaded at most once per call of
// this function and never unloaded. When it cannot be loaded, or comes from
// another build, each backend of these kinds gets an error on its `driver`
// field saying why. Parsers may run concurrently, like any registry reads.
void RegisterObjectStoresOnUse(DriverRegistry& registry, std::string module);

}  // namespace bgate::drivers

// The module's entry points, looked up by name with dlsym.
extern "C" {
// The build the module belongs to (version, revision and a hash of the driver
// API headers); the binary loads nothing from a module whose tag differs from
// its own.
const char* bgate_object_stores_abi();
// Adds the s3, swift and azure_blob kinds to `registry`.
void bgate_object_stores_register(bgate::drivers::DriverRegistry& registry);
}
