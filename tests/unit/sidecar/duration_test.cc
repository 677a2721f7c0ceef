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

TEST(Utf8Test, AcceptsWellFormedText) {
  EXPECT_EQ(FirstInvalidUtf8(""), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8("plain ascii"), std::nullopt);
  // 2-, 3- and 4-byte sequences at the edges of their ranges.
  EXPECT_EQ(FirstInvalidUtf8("\xC2\x80 \xDF\xBF \xE0\xA0\x80 \xED\x9F\xBF "
                             "\xEE\x80\x80 \xF0\x90\x80\x80 \xF4\x8F\xBF\xBF"),
            std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8("gr\xC3\xBC\xC3\x9F \xE2\x82\xAC"), std::nullopt);
}

TEST(Utf8Test, NamesTheFirstBadByte) {
  EXPECT_EQ(FirstInvalidUtf8("ab\xFF"), 2u);                // never in UTF-8
  EXPECT_EQ(FirstInvalidUtf8("a\x80"), 1u);                 // lone continuation
  EXPECT_EQ(FirstInvalidUtf8("a\xC3"), 1u);                 // cut short
  EXPECT_EQ(FirstInvalidUtf8("a\xE2\x82"), 1u);            // cut short
  EXPECT_EQ(FirstInvalidUtf8("\xC3("), 0u);                 // bad continuation
  EXPECT_EQ(FirstInvalidUtf8("\xC0\xAF"), 0u);             // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8("\xE0\x80\xAF"), 0u);        // overlong
  EXPECT_EQ(FirstInvalidUtf8("\xF0\x80\x80\xAF"), 0u);   // overlong
  EXPECT_EQ(FirstInvalidUtf8("x\xED\xA0\x80"), 1u);       // surrogate U+D800
  EXPECT_EQ(FirstInvalidUtf8("\xF4\x90\x80\x80"), 0u);   // above U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("\xF5\x80\x80\x80"), 0u);
  EXPECT_EQ(FirstInvalidUtf8("ok\xE2\x82\xAC\xE2\x28\xA1"), 5u);
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
