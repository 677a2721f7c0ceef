// Entry points of libbackup-gate-objectstores.so, the module that holds the
// s3, swift and azure_blob drivers (see bgate/drivers/object_stores.h).

#include "bgate/drivers/object_stores.h"

#include "bgate/drivers/azure_blob/azure_blob_driver.h"
#include "bgate/drivers/s3/s3_driver.h"
#include "bgate/drivers/swift/swift_driver.h"

extern "C" const char* bgate_object_stores_abi() {
  return BGATE_OBJECT_STORES_ABI;
}

extern "C" void bgate_object_stores_register(
    bgate::drivers::DriverRegistry& registry) {
  bgate::drivers::s3::Register(registry);
  bgate::drivers::swift::Register(registry);
  bgate::drivers::azure_blob::Register(registry);
}
