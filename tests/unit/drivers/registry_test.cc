#include "bgate/drivers/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace bgate::drivers {
namespace {

using ::testing::ElementsAre;

TEST(BuiltinDriversTest, RegistersEveryCompiledDriver) {
  DriverRegistry registry = BuiltinDrivers();
#ifdef BGATE_OBJECT_STORES
  EXPECT_THAT(registry.Names(),
              ElementsAre("posix", "exec", "s3", "swift", "azure_blob"));
#else
  EXPECT_THAT(registry.Names(), ElementsAre("posix", "exec"));
#endif
  EXPECT_EQ(registry.Find("nfs"), nullptr);
}

TEST(BuiltinDriversTest, EachKindParsesItsOwnKeys) {
  DriverRegistry registry = BuiltinDrivers();
  const struct {
    const char* driver;
    const char* yaml;
  } cases[] = {
      {"posix", "{path: /backups}"},
      {"exec", "{command: [/bin/true]}"},
  };
  for (const auto& c : cases) {
    const DriverKind* kind = registry.Find(c.driver);
    ASSERT_NE(kind, nullptr) << c.driver;
    ErrorList errors;
    NodeReader reader(YAML::Load(c.yaml), "backends[0]", errors);
    EXPECT_NE(kind->parse(reader), nullptr) << c.driver;
    EXPECT_TRUE(errors.empty()) << c.driver;
  }
}

TEST(BuiltinDriversTest, KindsRejectEachOthersKeys) {
  DriverRegistry registry = BuiltinDrivers();
  ErrorList errors;
  NodeReader reader(YAML::Load("{command: [/bin/true]}"), "backends[0]",
                    errors);
  EXPECT_EQ(registry.Find("posix")->parse(reader), nullptr);
}

}  // namespace
}  // namespace bgate::drivers
