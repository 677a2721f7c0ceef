// Stands for an object-store module of another build: the entry points are
// there, the build tag is not the binary's.

#include <cstdlib>

namespace bgate::drivers {
class DriverRegistry;
}

extern "C" const char* bgate_object_stores_abi() {
  return "0.0.0 elsewhere api 0000000000000000";
}

extern "C" void bgate_object_stores_register(bgate::drivers::DriverRegistry&) {
  std::abort();
}
