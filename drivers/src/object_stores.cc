#include "bgate/drivers/object_stores.h"

#include <dlfcn.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace bgate::drivers {
namespace {

constexpr std::string_view kAbi = BGATE_OBJECT_STORES_ABI;

std::string LastDlError() {
  const char* error = dlerror();
  return error != nullptr ? error : "unknown dynamic loader error";
}

// Loads the module on the first Kinds() call, from whichever thread, and
// keeps what it gave: its kinds, or why there are none. Thread-safe.
class ModuleLoader {
 public:
  explicit ModuleLoader(std::string module) : module_(std::move(module)) {}

  const std::string& module() const { return module_; }

  // The module's kinds; empty, with error() set, when it could not be used.
  const DriverRegistry& Kinds() {
    std::call_once(once_, [this] { Load(); });
    return kinds_;
  }
  const std::string& error() const { return error_; }

 private:
  void Load() {
    // RTLD_NOW: a symbol missing from the module or its libraries fails here,
    // while the config is read, rather than at the first check. RTLD_LOCAL:
    // its libraries stay out of the global scope. Never closed: the parsed
    // options and the drivers it creates run its code for the whole process.
    void* handle = dlopen(module_.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      error_ = LastDlError();
      return;
    }
    void* abi_symbol = dlsym(handle, "bgate_object_stores_abi");
    void* add_symbol = dlsym(handle, "bgate_object_stores_register");
    if (abi_symbol == nullptr || add_symbol == nullptr) {
      error_ = LastDlError();
      return;
    }
    auto* abi =
        reinterpret_cast<decltype(&bgate_object_stores_abi)>(abi_symbol);
    auto* add =
        reinterpret_cast<decltype(&bgate_object_stores_register)>(add_symbol);
    // Types cross between the binary and the module by layout, so a module
    // of another build could corrupt memory instead of failing: refuse it
    // before calling anything that passes one.
    if (std::string_view(abi()) != kAbi) {
      Dl_info info{};
      const std::string path =
          dladdr(abi_symbol, &info) != 0 ? info.dli_fname : module_;
      error_ = path + " is from another build (\"" + abi() +
               "\"; this binary is \"" + std::string(kAbi) + "\")";
      return;
    }
    add(kinds_);
  }

  std::string module_;
  std::once_flag once_;
  DriverRegistry kinds_;
  std::string error_;
};

OptionsParser LoadOnUse(std::shared_ptr<ModuleLoader> loader,
                        std::string kind) {
  return [loader = std::move(loader), kind = std::move(kind)](
             NodeReader& reader) -> std::shared_ptr<const DriverOptions> {
    const DriverKind* loaded = loader->Kinds().Find(kind);
    if (loaded == nullptr) {
      const std::string why =
          loader->error().empty() ? "it has no such driver" : loader->error();
      reader.errors().Add(reader.Field("driver"),
                          kind + " needs " + loader->module() + ": " + why);
      return nullptr;
    }
    return loaded->parse(reader);
  };
}

}  // namespace

void RegisterObjectStoresOnUse(DriverRegistry& registry, std::string module) {
  auto loader = std::make_shared<ModuleLoader>(std::move(module));
  for (const char* kind : {"s3", "swift", "azure_blob"}) {
    registry.Register({kind, LoadOnUse(loader, kind)});
  }
}

}  // namespace bgate::drivers
