#include "bgate/sidecar/snapshot.h"

#include <gtest/gtest.h>

namespace bgate::sidecar {
namespace {

Snapshot Make(std::vector<std::pair<std::string, BackendState>> states,
              ReadinessPolicy policy = ReadinessPolicy::kAll,
              std::vector<std::string> required = {}) {
  Snapshot s;
  s.policy = policy;
  s.required = std::move(required);
  for (auto& [name, state] : states) {
    BackendStatus b;
    b.name = name;
    b.state = state;
    s.backends.push_back(b);
  }
  return s;
}

constexpr auto kReady = BackendState::kReady;
constexpr auto kFailed = BackendState::kFailed;
constexpr auto kPending = BackendState::kPending;

TEST(SnapshotTest, PolicyAll) {
  EXPECT_TRUE(Make({{"a", kReady}, {"b", kReady}}).Ready());
  EXPECT_FALSE(Make({{"a", kReady}, {"b", kFailed}}).Ready());
  EXPECT_FALSE(Make({{"a", kPending}}).Ready());
}

TEST(SnapshotTest, PolicyAny) {
  auto any = ReadinessPolicy::kAny;
  EXPECT_TRUE(Make({{"a", kReady}, {"b", kFailed}}, any).Ready());
  EXPECT_FALSE(Make({{"a", kFailed}, {"b", kFailed}}, any).Ready());
}

TEST(SnapshotTest, RequiredMustBeReadyWhateverThePolicy) {
  auto any = ReadinessPolicy::kAny;
  EXPECT_FALSE(Make({{"a", kReady}, {"b", kFailed}}, any, {"b"}).Ready());
  EXPECT_TRUE(Make({{"a", kFailed}, {"b", kReady}, {"c", kReady}}, any, {"b"}).Ready());
  // Only required backends: the rest is empty and counts as ready.
  EXPECT_TRUE(Make({{"a", kReady}}, ReadinessPolicy::kAll, {"a"}).Ready());
}

TEST(SnapshotTest, ExcludeRemovesBackendsRequiredOrNot) {
  auto s = Make({{"a", kReady}, {"b", kFailed}}, ReadinessPolicy::kAll, {"b"});
  EXPECT_FALSE(s.Ready());
  EXPECT_TRUE(s.Ready({"b"}));
  EXPECT_TRUE(s.Ready({"a", "b"}));
  EXPECT_TRUE(Make({{"a", kFailed}}).Ready({"a"}));
  EXPECT_FALSE(s.Ready({"nope"}));
}

TEST(SnapshotTest, NeverReadyWhileShuttingDown) {
  auto s = Make({{"a", kReady}});
  s.shutting_down = true;
  EXPECT_FALSE(s.Ready());
  EXPECT_FALSE(s.Ready({"a"}));
}

TEST(SnapshotTest, Find) {
  auto s = Make({{"a", kReady}});
  ASSERT_NE(s.Find("a"), nullptr);
  EXPECT_EQ(s.Find("b"), nullptr);
}

}  // namespace
}  // namespace bgate::sidecar
