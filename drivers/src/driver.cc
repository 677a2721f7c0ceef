#include "bgate/drivers/driver.h"

#include <algorithm>

namespace bgate::drivers {

std::string_view ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kTimeout: return "timeout";
    case Reason::kUnreachable: return "unreachable";
    case Reason::kAuth: return "auth";
    case Reason::kNotFound: return "not_found";
    case Reason::kPermission: return "permission";
    case Reason::kNoSpace: return "no_space";
    case Reason::kMisconfigured: return "misconfigured";
    case Reason::kError: return "error";
  }
  return "error";
}

std::optional<Reason> ParseReason(std::string_view name) {
  for (Reason r : kAllReasons) {
    if (ReasonName(r) == name) return r;
  }
  return std::nullopt;
}

std::chrono::nanoseconds Deadline::Remaining() const {
  auto left = at_ - std::chrono::steady_clock::now();
  return std::max(left, std::chrono::steady_clock::duration::zero());
}

Outcome Outcome::Success(std::string detail) {
  Outcome o;
  o.ok = true;
  o.detail = SanitizeDetail(detail);
  return o;
}

Outcome Outcome::Failure(Reason reason, std::string detail) {
  Outcome o;
  o.ok = false;
  o.reason = reason;
  o.detail = SanitizeDetail(detail);
  return o;
}

std::string SanitizeDetail(std::string_view text, std::size_t cap) {
  std::string out;
  out.reserve(std::min(text.size(), cap));
  bool space = false;
  for (unsigned char c : text) {
    // Control characters (newlines included) would let a detail forge log
    // lines or ?verbose entries; fold them into single spaces.
    if (c < 0x20 || c == 0x7f) {
      space = !out.empty();
      continue;
    }
    if (space) {
      out.push_back(' ');
      space = false;
    }
    out.push_back(static_cast<char>(c));
  }
  if (out.size() > cap) {
    // Cut on a UTF-8 boundary and mark the cut.
    std::size_t end = cap >= 3 ? cap - 3 : 0;
    while (end > 0 && (static_cast<unsigned char>(out[end]) & 0xC0) == 0x80) {
      --end;
    }
    out.resize(end);
    out += "...";
  }
  return out;
}

std::optional<std::size_t> FirstInvalidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    // Length, and the range the second byte must be in (which rules out
    // overlong forms, surrogates and code points above U+10FFFF).
    std::size_t len = 0;
    unsigned char low = 0x80, high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return i;
    }
    if (i + len > text.size()) return i;
    const auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < low || second > high) return i;
    for (std::size_t k = 2; k < len; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return i;
    }
    i += len;
  }
  return std::nullopt;
}

}  // namespace bgate::drivers
