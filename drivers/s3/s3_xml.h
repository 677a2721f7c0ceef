#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bgate::drivers::s3::detail {

// Readers of the S3 XML documents the driver needs. They take whatever
// bytes a server (or anything pretending to be one) sent and never throw:
// anything that is not the expected document gives nothing. Pure,
// thread-safe.

// <Error><Code>..</Code><Message>..</Message><Region>..</Region></Error>
struct ErrorBody {
  std::string code;  // empty when the body had none that looks like one
  // One line, not capped: the caller redacts secrets before it cuts, so a
  // cut cannot leave part of one. May be empty (Ceph omits it).
  std::string message;
  std::string region;  // the bucket's region, when the server tells it
};

// <ListBucketResult>: the first page of a ListObjectsV2 (or V1) answer.
struct Listing {
  std::vector<std::string> keys;  // the <Contents><Key> values
  bool is_truncated = false;
};

inline constexpr std::size_t kMaxErrorCodeBytes = 64;

std::optional<ErrorBody> ParseErrorBody(std::string_view body);
std::optional<Listing> ParseListing(std::string_view body);

}  // namespace bgate::drivers::s3::detail
