#include "bgate/drivers/object_stores.h"

#include <dlfcn.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace bgate::drivers {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

struct Parsed {
  std::shared_ptr<const DriverOptions> options;
  std::vector<std::string> errors;
};

Parsed Parse(const DriverRegistry& registry, const std::string& driver,
             const std::string& yaml) {
  ErrorList errors;
  NodeReader reader(YAML::Load(yaml), "backends[0]", errors);
  Parsed parsed;
  parsed.options = registry.Find(driver)->parse(reader);
  parsed.errors = errors.errors();
  return parsed;
}

DriverRegistry OnUse(const std::string& module) {
  DriverRegistry registry;
  RegisterObjectStoresOnUse(registry, module);
  return registry;
}

constexpr char kS3[] = "{endpoint: 'https://s3.example.org', bucket: backups}";

// First in this file: the tests below load the module into the process.
TEST(ObjectStoresTest, RegisteringLoadsNothing) {
  DriverRegistry registry = OnUse(BGATE_TEST_MODULE);
  EXPECT_THAT(registry.Names(), ElementsAre("s3", "swift", "azure_blob"));
  EXPECT_EQ(dlopen(BGATE_TEST_MODULE, RTLD_NOW | RTLD_NOLOAD), nullptr);
}

TEST(ObjectStoresTest, ParsesWithTheModulesParsers) {
  DriverRegistry registry = OnUse(BGATE_TEST_MODULE);
  Parsed s3 = Parse(registry, "s3", kS3);
  ASSERT_NE(s3.options, nullptr);
  EXPECT_THAT(s3.errors, IsEmpty());
  EXPECT_FALSE(s3.options->Describe().empty());

  Parsed unknown =
      Parse(registry, "s3", "{endpoint: 'http://h', bucket: backups, x: 1}");
  EXPECT_EQ(unknown.options, nullptr);
  EXPECT_THAT(unknown.errors, ElementsAre("backends[0].x: unknown key"));
  Parsed azure = Parse(registry, "azure_blob", "{container: c}");
  EXPECT_EQ(azure.options, nullptr);
  EXPECT_THAT(azure.errors, Contains("backends[0].account: is required"));
}

TEST(ObjectStoresTest, MissingModuleIsAnErrorOnTheDriverField) {
  DriverRegistry registry =
      OnUse("/nonexistent/libbackup-gate-objectstores.so");
  for (const char* kind : {"s3", "swift"}) {
    Parsed parsed = Parse(registry, kind, kS3);
    EXPECT_EQ(parsed.options, nullptr);
    ASSERT_EQ(parsed.errors.size(), 1u);
    EXPECT_THAT(parsed.errors[0],
                StartsWith("backends[0].driver: " + std::string(kind) +
                           " needs /nonexistent/libbackup-gate-objectstores.so: "));
    EXPECT_THAT(parsed.errors[0], HasSubstr("No such file or directory"));
  }
}

TEST(ObjectStoresTest, RefusesAModuleOfAnotherBuild) {
  // Its register entry point aborts: the refusal must come before any call.
  DriverRegistry registry = OnUse(BGATE_TEST_FOREIGN_MODULE);
  Parsed parsed = Parse(registry, "s3", kS3);
  EXPECT_EQ(parsed.options, nullptr);
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_THAT(parsed.errors[0], StartsWith("backends[0].driver: s3 needs "));
  EXPECT_THAT(parsed.errors[0],
              HasSubstr("is from another build (\"0.0.0 elsewhere"));
}

TEST(ObjectStoresTest, ConcurrentFirstUsesShareOneLoad) {
  DriverRegistry registry = OnUse(BGATE_TEST_MODULE);
  std::vector<Parsed> results(8);
  std::vector<std::thread> threads;
  for (auto& result : results) {
    threads.emplace_back(
        [&registry, &result] { result = Parse(registry, "s3", kS3); });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& result : results) {
    EXPECT_NE(result.options, nullptr);
    EXPECT_THAT(result.errors, IsEmpty());
  }
}

}  // namespace
}  // namespace bgate::drivers
