#include <gtest/gtest.h>

#include "bgate/drivers/driver.h"
#include "bgate/drivers/options.h"

namespace bgate::drivers {
namespace {

using namespace std::chrono_literals;

TEST(DurationTest, ParsesTheDocumentedUnits) {
  EXPECT_EQ(ParseDuration("500ms"), 500ms);
  EXPECT_EQ(ParseDuration("10s"), 10s);
  EXPECT_EQ(ParseDuration("1m"), 1min);
  EXPECT_EQ(ParseDuration("1h"), 1h);
  EXPECT_EQ(ParseDuration("1m30s"), 90s);
  EXPECT_EQ(ParseDuration("1.5s"), 1500ms);
  EXPECT_EQ(ParseDuration("0s"), 0s);
}

TEST(DurationTest, RejectsEverythingElse) {
  for (const char* bad : {"", "10", "10q", "s", "-1s", "1.s", ".5s", "1..5s",
                          "1 s", "10S", "1d", "99999999999999h", "1s ", "ms"}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  }
}

TEST(DurationTest, FormatsBackToAParsableSpelling) {
  for (std::chrono::nanoseconds d : {std::chrono::nanoseconds(0ns), std::chrono::nanoseconds(500ms), std::chrono::nanoseconds(10s), std::chrono::nanoseconds(90s), std::chrono::nanoseconds(1h), std::chrono::nanoseconds(3723004ms)}) {
    EXPECT_EQ(ParseDuration(FormatDuration(d)), d) << FormatDuration(d);
  }
  EXPECT_EQ(FormatDuration(90s), "1m30s");
}

TEST(SanitizeDetailTest, OneLineCappedAndUtf8Safe) {
  EXPECT_EQ(SanitizeDetail("a\nb\r\n\tc"), "a b c");
  EXPECT_EQ(SanitizeDetail("\x1b[31mred"), "[31mred");
  std::string long_text(1000, 'x');
  EXPECT_EQ(SanitizeDetail(long_text, 10), "xxxxxxx...");
  // A cut never splits a multi-byte character.
  std::string accents;
  for (int i = 0; i < 10; ++i) accents += "\xc3\xa9";
  auto cut = SanitizeDetail(accents, 8);
  EXPECT_EQ(cut, "\xc3\xa9\xc3\xa9...");
}

TEST(ReasonTest, NamesRoundTrip) {
  for (auto r : kAllReasons) EXPECT_EQ(ParseReason(ReasonName(r)), r);
  EXPECT_FALSE(ParseReason("success"));
  EXPECT_EQ(ReasonName(Reason::kNoSpace), "no_space");
}

}  // namespace
}  // namespace bgate::drivers
