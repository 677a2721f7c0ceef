#include "request_target.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace bgate::probes::detail {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(ParseRequestTargetTest, SplitsPathAndQuery) {
  const auto target = ParseRequestTarget("/readyz?verbose&exclude=a");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->path, "/readyz");
  EXPECT_EQ(target->query, (Pairs{{"verbose", ""}, {"exclude", "a"}}));
}

TEST(ParseRequestTargetTest, PathWithoutQuery) {
  const auto target = ParseRequestTarget("/livez");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->path, "/livez");
  EXPECT_TRUE(target->query.empty());
}

TEST(ParseRequestTargetTest, EmptyQuery) {
  const auto target = ParseRequestTarget("/livez?");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->path, "/livez");
  EXPECT_TRUE(target->query.empty());
}

TEST(ParseRequestTargetTest, DecodesKeysAndValues) {
  const auto target =
      ParseRequestTarget("/readyz?ex%63lude=nfs%2Dmain&a+b=c+d&x=%2b");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->query,
            (Pairs{{"exclude", "nfs-main"}, {"a b", "c d"}, {"x", "+"}}));
}

TEST(ParseRequestTargetTest, SkipsEmptyPairsAndKeepsRepeats) {
  const auto target = ParseRequestTarget("/readyz?&exclude=a&&exclude=b&");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->query, (Pairs{{"exclude", "a"}, {"exclude", "b"}}));
}

TEST(ParseRequestTargetTest, ValueKeepsLaterEqualsSigns) {
  const auto target = ParseRequestTarget("/readyz?exclude=a=b");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->query, (Pairs{{"exclude", "a=b"}}));
}

TEST(ParseRequestTargetTest, RejectsTargetsThatAreNotOriginForm) {
  EXPECT_FALSE(ParseRequestTarget(""));
  EXPECT_FALSE(ParseRequestTarget("*"));
  EXPECT_FALSE(ParseRequestTarget("livez"));
  EXPECT_FALSE(ParseRequestTarget("http://host/livez"));
}

TEST(ParseRequestTargetTest, RejectsMalformedEscapes) {
  EXPECT_FALSE(ParseRequestTarget("/readyz?exclude=%"));
  EXPECT_FALSE(ParseRequestTarget("/readyz?exclude=%4"));
  EXPECT_FALSE(ParseRequestTarget("/readyz?exclude=%zz"));
  EXPECT_FALSE(ParseRequestTarget("/readyz?%g1=a"));
}

TEST(PercentDecodeTest, PlusIsSpaceOnlyWhenAsked) {
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
}

TEST(PercentDecodeTest, DecodesEitherCase) {
  EXPECT_EQ(PercentDecode("%2f%2F%41", false), "//A");
}

TEST(PercentDecodeTest, EscapeAtTheEnd) {
  EXPECT_EQ(PercentDecode("ab%41", false), "abA");
  EXPECT_FALSE(PercentDecode("ab%4", false));
}

}  // namespace
}  // namespace bgate::probes::detail
